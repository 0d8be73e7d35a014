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


@pytest.fixture
def celery_worker_process(aws: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.skip("end-to-end tests run on the Redis broker (CELERY_BROKER_URL=redis://...)")
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "CELERY_BROKER_URL": broker,
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "diep_portal",
            "worker",
            "--pool=solo",
            "-Q",
            "runs,etl",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
            "-n",
            f"e2e-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        if worker.returncode not in (0, -15):
            print((tmp_path / "worker.log").read_text()[-5000:])


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("condition not reached in time")
