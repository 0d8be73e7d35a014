"""The local engine's worker on the moto server: the ETL runs in the worker's task body,
the run ends with metrics, and Stop and timeouts are honoured while it runs."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from ingestion.events import ObjectCreated
from ingestion.models import FileState, IngestedFile
from ingestion.services import files_flush, files_record
from jobs import services
from jobs.engines.local.worker import execute_local_run
from jobs.models import FireSource, JobRun, RunState
from jobs.runs.outcome import run_stop
from jobs.runs.start import run_start
from jobs.runs.state import transition_run
from tests.jobs.engines.local.conftest import CURATED, RAW, fire_and_run, local_job

# The heartbeat thread has its own database connection: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline_worker(monkeypatch: Any, settings: Any) -> list[str]:
    """`jobs.run_local` runs at once in this process, as the etl worker would."""
    settings.DIEP_LOCAL_HEARTBEAT_SECONDS = 0.1
    ran: list[str] = []

    def run_now(run_id: str) -> None:
        ran.append(run_id)
        execute_local_run(run_id=run_id)

    monkeypatch.setattr("jobs.engines.local.tasks.run_local.delay", run_now)
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    return ran


def curated(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket=CURATED, Prefix="orders/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_a_local_run_writes_partitioned_parquet_and_succeeds_with_metrics(
    buckets: Any, make_job: Any, inline_worker: list[str]
) -> None:
    buckets.put_object(
        Bucket=RAW, Key="orders/a b.csv", Body=b"id,region,amount\n1,eu,1.5\n2,us,x\n4,us,2\n"
    )
    buckets.put_object(Bucket=RAW, Key="orders/é.csv", Body=b"id,region,amount\n3,eu,3\n")
    run = fire_and_run(local_job(make_job))
    assert run.state == RunState.SUCCEEDED, run.error_message
    assert run.external_run_id == f"local-{run.run_id}"
    assert run.metrics["files"] == 2
    assert run.metrics["rows_in"] == 4
    assert run.metrics["rows_out"] == 3
    assert run.metrics["rows_rejected"] == 1
    assert run.metrics["partitions"] == 2
    assert run.execution_seconds is not None
    keys = curated(buckets)
    assert keys == [
        f"orders/region=eu/part-{run.run_id}-0.parquet",
        f"orders/region=us/part-{run.run_id}-0.parquet",
    ]
    body = buckets.get_object(Bucket=CURATED, Key=keys[0])["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert sorted(table.column("order_id").to_pylist()) == [1, 3]
    assert [e.to_state for e in run.events.order_by("id")] == [
        RunState.PENDING,
        RunState.STARTING,
        RunState.RUNNING,
        RunState.SUCCEEDED,
    ]


def test_an_error_quoting_a_nul_is_recorded_as_itself(
    buckets: Any, make_job: Any, inline_worker: list[str]
) -> None:
    # pyarrow's parse error quotes the bad row, NUL and all: the failure is saved anyway.
    buckets.put_object(
        Bucket=RAW, Key="orders/a.csv", Body=b"id,region,amount\n1,eu,1\n2,e\x00u,2,9\n"
    )
    run = fire_and_run(local_job(make_job, max_retries=0))
    assert run.state == RunState.FAILED
    assert "Expected 3 columns, got 4" in run.error_message
    assert "e\\x00u" in run.error_message
    assert "e\\x00u" in run.events.get(to_state=RunState.FAILED).message


def test_a_file_deleted_before_its_run_is_skipped_and_marked_missing(
    buckets: Any, artifacts: str, make_job: Any, inline_worker: list[str]
) -> None:
    job = local_job(make_job, trigger={"bucket": RAW, "prefix": "orders/", "window_seconds": 1})
    created = []
    for name in ("kept.csv", "deleted.csv"):
        key = f"orders/{name}"
        buckets.put_object(Bucket=RAW, Key=key, Body=b"id,region,amount\n1,eu,1\n")
        created.append(
            ObjectCreated(RAW, key, 22, name, None, name, "ObjectCreated:Put", None, "s3")
        )
    files_record(events=created)
    buckets.delete_object(Bucket=RAW, Key="orders/deleted.csv")  # gone before its run
    [run] = files_flush(job_ids=[job.pk], now=timezone.now() + timedelta(seconds=5))
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.error_message
    assert (run.metrics["files"], run.metrics["files_missing"]) == (1, 1)
    assert run.metrics["missing_files"] == [f"s3://{RAW}/orders/deleted.csv"]
    states = dict(IngestedFile.objects.values_list("key", "state"))
    assert states == {"orders/kept.csv": FileState.PROCESSED, "orders/deleted.csv": "MISSING"}


def test_a_source_with_no_files_fails_the_run_clearly(
    buckets: Any, make_job: Any, inline_worker: list[str]
) -> None:
    run = fire_and_run(local_job(make_job, max_retries=0))  # nothing under orders/
    assert run.state == RunState.FAILED
    assert "holds no data files" in run.error_message


def test_failed_checks_fail_the_run_with_the_report_and_retry_the_same_input(
    buckets: Any, make_job: Any, inline_worker: list[str]
) -> None:
    buckets.put_object(Bucket=RAW, Key="orders/a.csv", Body=b"id,region,amount\n1,eu,1\n1,eu,2\n")
    job = local_job(
        make_job,
        max_retries=1,
        transform={"checks": [{"type": "unique", "columns": ["id"]}]},
    )
    run = services.job_fire(
        job=job,
        parameters={},
        trigger=FireSource.EVENT,
        manifest_uri=f"s3://{RAW}/manifest.json",
    ).run
    buckets.put_object(
        Bucket=RAW,
        Key="manifest.json",
        Body=b'{"files": [{"uri": "s3://diep-raw/orders/a.csv", "size": 30}]}',
    )
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "unique(id)" in run.error_message
    assert run.metrics["checks"][0]["failing_rows"] == 1
    assert curated(buckets) == []
    retry = JobRun.objects.get(retry_of=run)
    assert retry.arguments["--diep_manifest"] == f"s3://{RAW}/manifest.json"
    assert retry.arguments["--diep_run_id"] == str(retry.run_id)


def test_stop_while_running_ends_stopped_and_publishes_nothing(
    buckets: Any, make_job: Any, inline_worker: list[str], monkeypatch: Any
) -> None:
    buckets.put_object(Bucket=RAW, Key="orders/a.csv", Body=b"id,region,amount\n1,eu,1\n")
    buckets.put_object(Bucket=RAW, Key="orders/b.csv", Body=b"id,region,amount\n2,eu,1\n")
    from etl import transform

    original = transform.Transform.apply

    def stop_after_first_batch(self: Any, batch: Any, source_file: str) -> Any:
        running = JobRun.objects.filter(state=RunState.RUNNING).first()
        if running is not None:
            run_stop(run=running, user=None, source="api")
            time.sleep(0.5)  # the heartbeat notices before the next batch
        return original(self, batch, source_file)

    monkeypatch.setattr(transform.Transform, "apply", stop_after_first_batch)
    monkeypatch.setattr("jobs.runs.tasks.run_stop.delay", lambda run_id: None)
    run = fire_and_run(local_job(make_job))
    assert run.state == RunState.STOPPED
    assert curated(buckets) == []
    listed = buckets.list_objects_v2(Bucket=CURATED).get("Contents", [])
    # Not even the temporary files (pyarrow may leave an empty "_diep_tmp/" marker).
    assert [item["Key"] for item in listed if item["Size"]] == []


def test_a_run_stopped_before_its_task_ran_never_runs(
    buckets: Any, make_job: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("jobs.engines.local.tasks.run_local.delay", lambda run_id: None)
    monkeypatch.setattr("jobs.runs.tasks.run_stop.delay", lambda run_id: None)
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    run = fire_and_run(local_job(make_job))
    assert run.state == RunState.STARTING
    run_stop(run=run, user=None, source="api")
    execute_local_run(run_id=str(run.run_id))
    run.refresh_from_db()
    assert run.state == RunState.STOPPED


def test_a_bookmarked_source_reads_only_files_since_the_last_success(
    buckets: Any, make_job: Any, inline_worker: list[str]
) -> None:
    job = local_job(
        make_job,
        source={"uri": f"s3://{RAW}/orders/", "format": "csv", "options": {"bookmark": True}},
    )
    buckets.put_object(Bucket=RAW, Key="orders/1.csv", Body=b"id,region,amount\n1,eu,1\n")
    first = fire_and_run(job)
    assert first.state == RunState.SUCCEEDED
    assert "--diep_bookmark" not in first.arguments
    time.sleep(1.1)  # S3 modification times have a one-second resolution
    buckets.put_object(Bucket=RAW, Key="orders/2.csv", Body=b"id,region,amount\n2,eu,1\n")
    second = fire_and_run(job)
    assert second.arguments["--diep_bookmark"] == first.metrics["bookmark"]
    assert second.state == RunState.SUCCEEDED
    assert second.metrics["files"] == 1
    assert second.metrics["rows_out"] == 1


def test_a_timeout_while_running_ends_timeout(
    buckets: Any, make_job: Any, inline_worker: list[str], monkeypatch: Any
) -> None:
    buckets.put_object(Bucket=RAW, Key="orders/a.csv", Body=b"id,region,amount\n1,eu,1\n")
    buckets.put_object(Bucket=RAW, Key="orders/b.csv", Body=b"id,region,amount\n2,eu,1\n")
    from etl import transform

    original = transform.Transform.apply

    def overdue_after_first_batch(self: Any, batch: Any, source_file: str) -> Any:
        running = JobRun.objects.filter(state=RunState.RUNNING).first()
        if running is not None:  # what recover_lost_local_runs does to an overdue run
            transition_run(
                run=running, to=RunState.STOPPING, source="timeout", stop_reason="timeout"
            )
            time.sleep(0.5)
        return original(self, batch, source_file)

    monkeypatch.setattr(transform.Transform, "apply", overdue_after_first_batch)
    run = fire_and_run(local_job(make_job))
    assert run.state == RunState.TIMEOUT
