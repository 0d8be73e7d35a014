"""README command 1: the embedded stack (`python -m diep_portal.embedded`, what `make run`
runs) from an empty data folder to a demo run SUCCEEDED with Parquet output, stopped with
Ctrl-C, then started again on the same state."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import free_port
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def start(data: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "diep_portal.embedded"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
    )


def ctrl_c(stack: subprocess.Popen[bytes]) -> None:
    os.killpg(stack.pid, signal.SIGINT)
    try:
        stack.wait(45)
    except subprocess.TimeoutExpired:
        os.killpg(stack.pid, signal.SIGKILL)
        raise


def runs(data: Path) -> list[tuple[str, str]]:
    database = data / "diep.sqlite3"
    if not database.exists():
        return []
    with sqlite3.connect(database, timeout=5) as connection:
        try:
            return connection.execute("SELECT state, metrics FROM jobs_jobrun").fetchall()
        except sqlite3.OperationalError:
            return []  # not migrated yet


GRANTS = "grants:\n  - {location: 's3://acme-raw/', access: read}\n"
ACME = {"bucket": "acme-raw", "prefix": "orders/", "suffix": ".csv"}
OVERLAPPING = {"bucket": "diep-raw", "prefix": "orders/eu/"}
BAD_JOB = {
    "engine": "local",
    "source": {"uri": "s3://acme-raw/orders/", "format": "csv"},
    "destination": {"uri": "s3://diep-curated/elsewhere/"},
}


def duplicates(log: str) -> int:
    """Events the consumer found already in the ledger, over all its batches."""
    return sum(int(n) for n in re.findall(r"consumer\.batch .*?duplicate=(\d+)", log))


def write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_command_to_a_succeeded_demo_run(tmp_path: Path) -> None:
    data, log = tmp_path / "var", tmp_path / "stack.log"
    moto_port, web_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "AWS_ENDPOINT_URL", "CACHE_URL"}
    }
    env.update(
        DIEP_DATA_DIR=str(data),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DIEP_PORT=str(web_port),
        DIEP_MOTO_PORT=str(moto_port),
        DIEP_ADMIN_PASSWORD="embedded-test-pw",
    )
    stack = start(data, env, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(s == "SUCCEEDED" for s, _ in runs(data)):
            assert stack.poll() is None, log.read_text()[-4000:]
            time.sleep(1)
        assert any(s == "SUCCEEDED" for s, _ in runs(data)), log.read_text()[-4000:]
        s3: Any = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto_port}",
            region_name="us-east-1",
            aws_access_key_id="embedded",
            aws_secret_access_key="embedded",
        )
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="diep-curated")["Contents"]]
        assert any(k.startswith("orders/order_date=") and k.endswith(".parquet") for k in keys)
    finally:
        ctrl_c(stack)
    first_log = log.read_text()
    assert "Admin user 'admin'" not in first_log  # the password came from the environment
    assert f"http://127.0.0.1:{web_port}/admin/" in first_log
    assert "API token:" in first_log

    # Two jobs provisioning cannot serve: a trigger on a bucket nobody made (the README's
    # example) and one overlapping the demo job's. The stack must start all the same.
    manage(env, "apply_grants", str(write(tmp_path / "grants.yaml", GRANTS)), "--apply")
    for name, trigger in (("acme-orders", ACME), ("overlapping", OVERLAPPING)):
        body = {**BAD_JOB, "name": name, "trigger": trigger}
        manage(env, "create_job", "--file", str(write(tmp_path / f"{name}.json", body)))

    # Again, on the same state. The local AWS starts empty (moto keeps no state), so web
    # provisions it and uploads the sample files again; the file ledger in the database
    # knows them, so their events start no second run.
    log.write_text("")
    again = start(data, env, log)
    try:
        # Until the sample files' events are seen (under load the provisioning's test
        # event may come in a batch of its own, well before them), then a coalescing
        # window (5 s) and a flush tick, time for a wrong second run to appear.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and duplicates(log.read_text()) < 2:
            time.sleep(1)
        time.sleep(8)
    finally:
        ctrl_c(again)
    second_log = log.read_text()
    # The same token as the first start printed: one stored token, not one per start.
    first_token = re.search(r"API token: (\S+)", first_log)
    second_token = re.search(r"API token: (\S+)", second_log)
    assert first_token
    assert second_token
    assert second_token.group(1) == first_token.group(1)
    assert oct((data / "api-token").stat().st_mode & 0o777) == "0o600"
    # Both sample files seen again as duplicates, in one batch or two.
    assert duplicates(second_log) == 2, second_log[-4000:]
    assert [state for state, _ in runs(data)] == ["SUCCEEDED"]
    assert "skipped   job acme-orders (no trigger notification): its trigger bucket" in (second_log)
    assert "skipped   job overlapping (no trigger notification): its trigger overlaps job" in (
        second_log
    )
