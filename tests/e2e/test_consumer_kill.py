"""A consumer process killed with SIGKILL mid-stream and restarted: every file is
recorded exactly once and bound to exactly one run (moto server, real SQS and S3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from diep_portal.aws.session import get_client
from ingestion.models import FileState, IngestedFile
from jobs.models import JobRun
from tests.conftest import subprocess_database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
FILES = 120


def start_consumer(aws: str, queue_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # A killed batch comes back after this; the broker is not needed here.
        "DIEP_CONSUMER_VISIBILITY_SECONDS": "3",
        # One receive per transaction, so the kill lands between batches and inside one.
        "DIEP_CONSUMER_MAX_BATCH": "10",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_events",
            "--queue",
            queue_url,
            "--wait-seconds",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def queue_empty(queue_url: str) -> bool:
    attributes = get_client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    aws: str, make_job: Any, tmp_path: Path
) -> None:
    s3, sqs = get_client("s3"), get_client("sqs")
    for bucket in ("diep-raw", settings.DIEP_ARTIFACTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName="diep-ingest-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket="diep-raw",
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    job = make_job(
        trigger={"bucket": "diep-raw", "prefix": "k/", "window_seconds": 0, "max_files": 3},
        max_concurrent_runs=100,
    )
    for index in range(FILES):
        s3.put_object(Bucket="diep-raw", Key=f"k/file {index:02d}.csv", Body=b"a,b\n1,2\n")

    log = tmp_path / "consumer.log"
    consumer = start_consumer(aws, queue_url, log)
    deadline = time.monotonic() + 60
    while IngestedFile.objects.count() < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    consumer.send_signal(signal.SIGKILL)  # mid-stream, no chance to clean up
    consumer.wait(10)
    killed_at = IngestedFile.objects.count()
    assert 0 < killed_at < FILES, "kill the consumer while it is still working"

    consumer = start_consumer(aws, queue_url, log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if IngestedFile.objects.count() == FILES and queue_empty(queue_url):
                break
            time.sleep(0.5)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(30)
    files = IngestedFile.objects.filter(job=job)
    assert files.count() == FILES, log.read_text()[-3000:]
    assert files.values("key").distinct().count() == FILES  # each exactly once
    assert not files.exclude(state=FileState.BATCHED).exists()  # each bound to a run
    bound = 0
    for run in JobRun.objects.filter(job=job):
        manifest_uri = run.arguments["--diep_manifest"]
        bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        ledger = {f"s3://diep-raw/{k}" for k in files.filter(run=run).values_list("key", flat=True)}
        assert {f["uri"] for f in manifest["files"]} == ledger
        bound += len(ledger)
    assert bound == FILES  # no file in two runs
    assert consumer.returncode == 0
