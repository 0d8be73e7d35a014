"""SIGKILL the Celery worker and the event consumer at random moments while thousands of
S3 events flow through to finished local-engine runs, restarting them each time.
Afterwards every file is in the ledger exactly once, bound to exactly one run, and
processed; every run is terminal; no run was started twice.

DIEP_RELIABILITY_EVENTS sets the number of files (2,000 by default)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from diep_portal.aws.session import get_client
from ingestion.models import FileState, IngestedFile
from jobs.models import JobRun, RunEvent, RunState
from tests.conftest import subprocess_database_url
from tests.e2e.conftest import ROOT, start_worker, stop_process

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("DIEP_RELIABILITY_EVENTS", "2000"))
SWEEPS = """
import time, django
django.setup()
from ingestion.services import files_flush
from jobs.engines.local.tracking import recover_lost_local_runs
from jobs.runs.admission import admit_due_queued_runs
from jobs.runs.recovery import recover_stale_starts

while True:  # what Beat does, faster
    files_flush()
    recover_lost_local_runs()
    recover_stale_starts()
    admit_due_queued_runs()
    time.sleep(1)
"""


def test_killing_worker_and_consumer_loses_and_duplicates_nothing(
    aws: str, buckets: Any, artifacts: str, make_job: Any, tmp_path: Path, capsys: Any
) -> None:
    sqs = get_client("sqs")
    queue = sqs.create_queue(QueueName="diep-ingest-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    buckets.put_bucket_notification_configuration(
        Bucket="diep-raw",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "diep-kills",
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    job = make_job(
        engine="local",
        glue_job_name="",
        source={"uri": "s3://diep-raw/in/", "format": "csv"},
        destination={"uri": "s3://diep-curated/out/", "partition_by": ["region"]},
        transform={},
        parameters={},
        parameters_schema={},
        max_concurrent_runs=50,
        max_retries=5,
        trigger={"bucket": "diep-raw", "prefix": "in/", "window_seconds": 2, "max_files": 100},
    )
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "AWS_ENDPOINT_URL": aws,
        "DIEP_CONSUMER_VISIBILITY_SECONDS": "5",
        "DIEP_LOCAL_HEARTBEAT_SECONDS": "1",
        "DIEP_LOCAL_STALE_SECONDS": "5",
        "DIEP_STALE_START_SECONDS": "3",
        "DIEP_RETRY_BACKOFF_SECONDS": "1",
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "DIEP_LOG_LEVEL": "WARNING",
    }
    full_env = {
        **os.environ,
        **env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
    }
    log = tmp_path / "stack.log"

    def consumer() -> subprocess.Popen[bytes]:
        command = [sys.executable, "manage.py", "consume_events", "--queue", queue]
        return subprocess.Popen(
            [*command, "--wait-seconds", "1"],
            cwd=ROOT,
            env=full_env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def worker() -> subprocess.Popen[bytes]:
        return start_worker(aws_url=aws, log=log, queues="runs,etl", extra_env=env)

    sweeps = subprocess.Popen(
        [sys.executable, "-c", SWEEPS],
        cwd=ROOT,
        env=full_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    processes = {"worker": worker(), "consumer": consumer()}
    chaos = random.Random(11)
    kill_at = {EVENTS * k // 9 for k in range(1, 9)}
    kills: Counter[str] = Counter()
    began = time.monotonic()
    try:
        for n in range(EVENTS):
            buckets.put_object(
                Bucket="diep-raw", Key=f"in/part {n:05d}.csv", Body=f"id,region\n{n},r{n % 4}\n"
            )
            if n in kill_at:  # eight times during the stream, a random victim each time
                victim = chaos.choice(sorted(processes))
                processes[victim].send_signal(signal.SIGKILL)
                processes[victim].wait(10)
                kills[victim] += 1
                processes[victim] = worker() if victim == "worker" else consumer()
        connection.close()
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            files = Counter(IngestedFile.objects.values_list("state", flat=True))
            runs_open = JobRun.objects.filter(job=job).exclude(
                state__in=[s for s in RunState.values if s in _TERMINAL]
            )
            if files.get(FileState.PROCESSED, 0) == EVENTS and not runs_open.exists():
                break
            time.sleep(2)
    finally:
        for process in (*processes.values(), sweeps):
            stop_process(process)
    elapsed = time.monotonic() - began
    ledger = list(IngestedFile.objects.values_list("key", "state", "run_id"))
    runs = JobRun.objects.filter(job=job)
    starts = Counter(
        RunEvent.objects.filter(run__job=job, to_state=RunState.RUNNING).values_list(
            "run_id", flat=True
        )
    )
    states = Counter(runs.values_list("state", flat=True))
    rows_out = sum(r.metrics.get("rows_out", 0) for r in runs.filter(state=RunState.SUCCEEDED))
    with capsys.disabled():
        print(
            f"\nkills: {EVENTS} events, {dict(kills)} killed, {runs.count()} runs {dict(states)},"
            f" {rows_out} rows out, {elapsed:.0f} s"
        )
    assert len(ledger) == EVENTS, log.read_text()[-3000:]
    assert len({key for key, _, _ in ledger}) == EVENTS  # each file exactly once
    assert {state for _, state, _ in ledger} == {FileState.PROCESSED}
    assert all(run_id is not None for _, _, run_id in ledger)  # bound to one run
    assert all(run.is_terminal for run in runs)
    assert max(starts.values()) == 1  # no run ran twice
    assert rows_out == EVENTS  # every row written once, by the run that succeeded with it
    assert sum(kills.values()) == 8


_TERMINAL = {"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"}
