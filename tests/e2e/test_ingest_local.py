"""End to end, data moving: provision the infrastructure (twice: the second plan is all
unchanged, a foreign notification survives) → POST /create_job/ for a local-engine job
with a trigger → CSV files land in the raw bucket → real S3 notifications → SQS → the
consumer → one coalesced run → a real Celery worker runs the ETL → partitioned Parquet
in the curated bucket → SUCCEEDED with metrics → the DynamoDB mirror holds the run."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import call_command

from diep_portal.aws.session import get_client
from diep_portal.aws.sqs import sqs_queue_url
from ingestion.consumer import Consumer
from ingestion.models import FileState, IngestedFile
from ingestion.services import files_flush
from jobs.models import JobRun, RunState
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FILES = {
    "orders/day 1/a b.csv": b"id,region,amount\n1,eu,10.5\n2,us,x\n",
    "orders/été/ünï+1.csv": b"id,region,amount\n3,eu,7\n4,ap,1.25\n",
}


def provision(*args: str) -> str:
    out = io.StringIO()
    call_command("provision", *args, stdout=out)
    return out.getvalue()


def test_files_landing_in_s3_end_as_partitioned_parquet(
    aws: str, celery_worker_process: Any, operator: Any, client_for: Any, tmp_path: Path
) -> None:
    from diep_portal.aws.dynamodb import dynamodb_get_item
    from jobs import mirror

    s3, sqs = get_client("s3"), get_client("sqs")
    raw, curated = settings.DIEP_RAW_BUCKET, settings.DIEP_CURATED_BUCKET
    # Somebody else's notification on the raw bucket, which provisioning must keep.
    s3.create_bucket(Bucket=raw)
    theirs = sqs.create_queue(QueueName="analytics-team")["QueueUrl"]
    their_arn = sqs.get_queue_attributes(QueueUrl=theirs, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=raw,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "analytics",
                    "QueueArn": their_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "logs/"}]}},
                }
            ]
        },
    )
    first = provision()  # buckets, queue + DLQ and policy, tables, Glue artifacts and job
    assert "create    queue diep-ingest-events" in first

    created = client_for(operator).post(
        "/create_job/",
        {
            "name": "orders-local",
            "engine": "local",
            "source": {"uri": f"s3://{raw}/orders/", "format": "csv"},
            "destination": {
                "uri": f"s3://{curated}/orders/",
                "format": "parquet",
                "partition_by": ["region"],
            },
            "transform": {
                "rename": {"id": "order_id"},
                "cast": {
                    "order_id": "int",
                    "amount": {"type": "decimal", "precision": 10, "scale": 2},
                },
                "metadata": ["source_file"],
                "checks": [{"type": "not_null", "columns": ["order_id"]}],
            },
            "trigger": {
                "bucket": raw,
                "prefix": "orders/",
                "suffix": ".csv",
                "window_seconds": 1,
                "max_files": 10,
            },
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    job_id = created.json()["job_id"]
    applied = provision()  # the new job's notification
    assert "create    notification" in applied or "update    notification" in applied
    plan = provision("--plan")
    assert "0 to create, 0 to update" in plan
    config = s3.get_bucket_notification_configuration(Bucket=raw)
    assert {q["Id"] for q in config["QueueConfigurations"]} == {"analytics", "diep-orders-local"}

    for key, body in FILES.items():
        s3.put_object(Bucket=raw, Key=key, Body=body)
    s3.put_object(Bucket=raw, Key="orders/readme.txt", Body=b"not a csv")  # suffix filter

    consumer = Consumer(
        queue_url=sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE), wait_seconds=1
    )
    wait_for(
        lambda: consumer.run_once() is not None and IngestedFile.objects.count() == len(FILES),
        timeout=60,
    )
    time.sleep(1.1)  # the coalescing window closes
    (run,) = files_flush()
    assert set(IngestedFile.objects.values_list("key", flat=True)) == set(FILES)

    def finished() -> bool:
        return JobRun.objects.get(pk=run.pk).is_terminal

    try:
        wait_for(finished, timeout=90)
    except AssertionError:
        print((tmp_path / "worker.log").read_text()[-5000:])
        raise
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.error_message
    assert run.metrics["files"] == 2
    assert run.metrics["rows_in"] == 4
    assert run.metrics["rows_out"] == 3
    assert run.metrics["rows_rejected"] == 1  # "x" is no amount
    assert run.metrics["checks"][0]["passed"]
    assert set(IngestedFile.objects.values_list("state", flat=True)) == {FileState.PROCESSED}

    listed = s3.list_objects_v2(Bucket=curated, Prefix="orders/")["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert keys == [
        f"orders/region={region}/part-{run.run_id}-0.parquet" for region in ("ap", "eu")
    ]
    rows = []
    for key in keys:
        body = s3.get_object(Bucket=curated, Key=key)["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    assert sorted((row["order_id"], str(row["amount"])) for row in rows) == [
        (1, "10.50"),
        (3, "7.00"),
        (4, "1.25"),
    ]
    assert {row["source_file"] for row in rows} == {f"s3://{raw}/{key}" for key in FILES}

    mirror.mirror_drain()
    item = dynamodb_get_item(
        table=settings.DIEP_DYNAMODB_RUNS_TABLE,
        key={"job_id": job_id, "run_key": mirror.run_key(run)},
    )
    assert item is not None
    assert item["state"] == "SUCCEEDED"
