"""End-to-end fixtures: a real Celery worker process on Redis, against the moto server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    *, aws_url: str, log: Path, queues: str = "runs,etl", extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A real Celery worker process (solo pool) on the test database and Redis broker."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.skip("end-to-end tests run on the Redis broker (CELERY_BROKER_URL=redis://...)")
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "CELERY_BROKER_URL": broker,
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "diep_portal", "worker", "--pool=solo"]
    command += ["-Q", queues, "--without-heartbeat", "--without-mingle", "--without-gossip"]
    command += ["-l", "info", "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def stop_process(process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    if log is not None and process.returncode not in (0, -15):
        print(log.read_text()[-5000:])


@pytest.fixture
def celery_worker_process(aws: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path / "worker.log"
    worker = start_worker(aws_url=aws, log=log)
    try:
        yield worker
    finally:
        stop_process(worker, log)


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("condition not reached in time")
