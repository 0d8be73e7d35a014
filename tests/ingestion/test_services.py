"""Event-driven ingestion on the moto server over HTTP: S3 PutObject → real bucket
notification → SQS → consumer → file ledger → coalesced run with a manifest."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from diep_portal.aws.session import get_client
from diep_portal.aws.sqs import sqs_send
from ingestion.consumer import Consumer
from ingestion.models import ConsumedMessageStat, FileState, IngestedFile
from ingestion.services import files_flush
from jobs.models import JobRun, RunState
from jobs.runs.state import transition_run
from jobs.triggers import jobs_for_key, trigger_overlaps

pytestmark = pytest.mark.django_db

RAW = "diep-raw"


@pytest.fixture
def stack(aws: str, monkeypatch: Any, settings: Any) -> str:
    """Buckets, the event queue and a notification of the raw bucket to it."""
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    s3, sqs = get_client("s3"), get_client("sqs")
    for bucket in (RAW, settings.DIEP_ARTIFACTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(
        QueueName="diep-ingest-events", Attributes={"VisibilityTimeout": "60"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=RAW,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "diep-orders",
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    return str(queue_url)


def consume(queue_url: str, rounds: int = 6) -> dict[str, int]:
    consumer = Consumer(queue_url=queue_url, wait_seconds=1)
    totals: dict[str, int] = {}
    for _ in range(rounds):
        report = consumer.run_once()
        for name, count in report.counts.items():
            totals[name] = totals.get(name, 0) + count
        if not report.received:
            break
    return totals


def test_objects_become_one_coalesced_run_with_a_manifest(stack: str, make_job: Any) -> None:
    job = make_job(
        trigger={
            "bucket": RAW,
            "prefix": "orders/",
            "suffix": ".csv",
            "window_seconds": 0,
            "max_files": 100,
            "max_bytes": 10**9,
        }
    )
    keys = [
        "orders/a b.csv",
        "orders/x+y.csv",
        "orders/été 2026/ünï.csv",
        "orders/skip.json",
        "other/c.csv",
    ]
    for key in keys:
        get_client("s3").put_object(Bucket=RAW, Key=key, Body=b"id,amount\n1,2\n")
    totals = consume(stack)
    files = IngestedFile.objects.filter(job=job)
    assert sorted(files.values_list("key", flat=True)) == sorted(keys[:3])  # decoded, routed
    assert totals["test_event"] == 1  # sent by S3 when the notification was configured
    assert totals["unrouted"] == 2
    runs = JobRun.objects.filter(job=job)
    assert runs.count() >= 1
    assert set(files.values_list("state", flat=True)) == {FileState.BATCHED}
    assert files.values("run").distinct().count() == runs.count()  # each file in one run
    run = runs.first()
    assert run is not None
    manifest_uri = run.arguments["--diep_manifest"]
    bucket, _, key = manifest_uri.removeprefix("s3://").partition("/")
    manifest = json.loads(get_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert {f["uri"] for f in manifest["files"]} <= {f"s3://{RAW}/{k}" for k in keys[:3]}
    assert all(f["size"] == 14 for f in manifest["files"])
    assert (
        get_client("sqs").get_queue_attributes(
            QueueUrl=stack, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )  # deleted after commit


def test_redelivered_and_duplicate_events_are_no_ops(stack: str, make_job: Any) -> None:
    make_job(trigger={"bucket": RAW, "prefix": "in/", "window_seconds": 3600})
    get_client("s3").put_object(Bucket=RAW, Key="in/one.csv", Body=b"x")
    consume(stack)
    assert IngestedFile.objects.count() == 1
    body = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-29T03:00:00.000Z",
                    "s3": {
                        "bucket": {"name": RAW},
                        "object": {
                            "key": "in/one.csv",
                            "size": 1,
                            "eTag": IngestedFile.objects.get().etag,
                        },
                    },
                }
            ]
        }
    )
    sqs_send(queue_url=stack, body=body)
    sqs_send(queue_url=stack, body=body)
    totals = consume(stack)
    assert totals["duplicate"] == 2
    assert IngestedFile.objects.count() == 1


def test_rejected_messages_are_counted_and_left_for_the_dlq(stack: str, make_job: Any) -> None:
    consume(stack)  # the test event
    sqs_send(queue_url=stack, body="not json at all")
    report = Consumer(queue_url=stack, wait_seconds=1).run_once()
    assert report.left_for_redrive == 1
    assert report.deleted == 0
    assert ConsumedMessageStat.objects.get(outcome="rejected:not_json").count == 1


def test_window_limits_and_files_follow_their_run(stack: str, make_job: Any) -> None:
    job = make_job(
        trigger={
            "bucket": RAW,
            "prefix": "w/",
            "window_seconds": 600,
            "max_files": 2,
            "max_bytes": 10**9,
        }
    )
    for index in range(5):
        get_client("s3").put_object(Bucket=RAW, Key=f"w/{index}.csv", Body=b"1")
    consume(stack)
    # Two full batches of 2 went at once; the fifth file waits for its window.
    assert JobRun.objects.filter(job=job).count() == 2
    assert IngestedFile.objects.filter(state=FileState.RECEIVED).count() == 1
    assert files_flush() == []
    later = timezone.now() + timedelta(seconds=601)
    assert len(files_flush(now=later)) == 1
    assert not IngestedFile.objects.filter(state=FileState.RECEIVED).exists()
    run = JobRun.objects.filter(job=job, state=RunState.PENDING).first()
    assert run is not None
    transition_run(run=run, to=RunState.STARTING, source="test")
    transition_run(run=run, to=RunState.SUCCEEDED, source="test")
    assert set(IngestedFile.objects.filter(run=run).values_list("state", flat=True)) == {
        FileState.PROCESSED
    }


def test_routing_and_overlaps(make_job: Any) -> None:
    orders = make_job(trigger={"bucket": RAW, "prefix": "orders/", "suffix": ".csv"})
    make_job(name="disabled", enabled=False, trigger={"bucket": RAW, "prefix": "orders/"})
    assert jobs_for_key(RAW, "orders/2026/a.csv") == [orders]
    assert jobs_for_key(RAW, "orders/a.json") == []
    assert jobs_for_key("elsewhere", "orders/a.csv") == []
    overlaps = trigger_overlaps(bucket=RAW, prefix="orders/2026/", suffix="")
    assert {o.job_name for o, _ in overlaps} == {"orders-daily", "disabled"}
    assert trigger_overlaps(bucket=RAW, prefix="clicks/", suffix=".csv") == []


def test_api_lists_files_and_matches_keys(stack: str, make_job: Any, api: Any) -> None:
    make_job(trigger={"bucket": RAW, "prefix": "api/", "window_seconds": 3600})
    get_client("s3").put_object(Bucket=RAW, Key="api/one two.csv", Body=b"x")
    consume(stack)
    listed = api.get("/api/v1/files/?bucket=diep-raw&key=api/&state=RECEIVED").json()
    assert [f["key"] for f in listed["results"]] == ["api/one two.csv"]
    assert api.get("/api/v1/files/?state=NOPE").status_code == 400
    match = api.get("/api/v1/triggers/match", {"bucket": RAW, "key": "api/x.csv"}).json()
    assert [job["name"] for job in match["jobs"]] == ["orders-daily"]
    assert api.get("/api/v1/triggers/match?bucket=diep-raw").status_code == 400


def test_reprocess_sends_files_again_in_a_new_run(
    stack: str, make_job: Any, api: Any, viewer: Any, client_for: Any
) -> None:
    job = make_job(trigger={"bucket": RAW, "prefix": "re/", "window_seconds": 0})
    get_client("s3").put_object(Bucket=RAW, Key="re/a.csv", Body=b"x")
    consume(stack)
    original = IngestedFile.objects.get(job=job)
    assert original.state == FileState.BATCHED
    denied = client_for(viewer).post(
        "/api/v1/files/reprocess/", {"file_ids": [original.pk]}, format="json"
    )
    assert denied.status_code == 403
    response = api.post("/api/v1/files/reprocess/", {"file_ids": [original.pk]}, format="json")
    assert response.status_code == 202, response.content
    [run_id] = response.json()["run_ids"]
    copy = IngestedFile.objects.get(run__run_id=run_id)
    assert (copy.key, copy.source, copy.state) == ("re/a.csv", "reprocess", FileState.BATCHED)
    original.refresh_from_db()
    assert original.run_id != copy.run_id  # history kept
    assert (
        api.post("/api/v1/files/reprocess/", {"file_ids": [999999]}, format="json").status_code
        == 400
    )


def test_overlapping_trigger_is_reported_on_save(api: Any) -> None:
    from tests.conftest import job_body

    first = api.post(
        "/create_job/",
        job_body(name="first", trigger={"bucket": RAW, "prefix": "o/"}),
        format="json",
    )
    assert first.json()["warnings"] == []
    second = api.post(
        "/create_job/",
        job_body(name="second", trigger={"bucket": RAW, "prefix": "o/deeper/", "suffix": ".csv"}),
        format="json",
    )
    assert second.status_code == 201
    [warning] = second.json()["warnings"]
    assert "'first'" in warning
    moved = api.patch("/api/v1/jobs/second/", {"trigger": {"prefix": "p/"}}, format="json")
    assert moved.json()["warnings"] == []


def test_backfill_skips_what_was_processed_unless_forced(
    stack: str, make_job: Any, api: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from ingestion.backfill import backfill_run

    monkeypatch.setattr(
        "ingestion.tasks.backfill_run.delay",
        lambda backfill_id: backfill_run(backfill_id=backfill_id),
    )
    job = make_job(
        trigger={
            "bucket": RAW,
            "prefix": "bf/",
            "suffix": ".csv",
            "window_seconds": 0,
            "max_files": 100,
        }
    )
    get_client("s3").put_object(Bucket=RAW, Key="bf/old.csv", Body=b"x")
    consume(stack)  # arrived by event: already in the ledger
    get_client("sqs").purge_queue(QueueUrl=stack)  # later objects arrive only by backfill
    for key in ("bf/2026/a.csv", "bf/2026/b.csv", "bf/2026/skip.txt"):
        get_client("s3").put_object(Bucket=RAW, Key=key, Body=b"x")

    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"/api/v1/jobs/{job.name}/backfill/", {}, format="json")
    assert started.status_code == 202, started.content
    progress = api.get(f"/api/v1/jobs/{job.name}/backfill/").json()["results"][0]
    assert (progress["state"], progress["listed"], progress["recorded"], progress["skipped"]) == (
        "DONE",
        3,
        2,
        1,
    )
    assert IngestedFile.objects.filter(job=job).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        forced = api.post(
            f"/api/v1/jobs/{job.name}/backfill/",
            {"prefix": "bf/2026/", "force": True},
            format="json",
        )
    assert forced.status_code == 202
    assert IngestedFile.objects.filter(job=job, source="backfill").count() == 4
    assert not IngestedFile.objects.filter(state=FileState.RECEIVED).exists()

    outside = api.post(
        f"/api/v1/jobs/{job.name}/backfill/", {"prefix": "elsewhere/"}, format="json"
    )
    assert outside.status_code == 400
    assert "prefix" in outside.json()["fields"]


def test_dlq_console_redrives_and_deletes_with_an_audit_trail(
    aws: str, operator: Any, viewer: Any, admin_user: Any
) -> None:
    from django.test import Client
    from django.urls import reverse

    from ingestion.models import DlqAction

    sqs = get_client("sqs")
    dlq_url = sqs.create_queue(QueueName="diep-ingest-events-dlq")["QueueUrl"]
    main_url = sqs.create_queue(QueueName="diep-ingest-events")["QueueUrl"]
    ids = [
        sqs.send_message(QueueUrl=dlq_url, MessageBody=f"poison {n}")["MessageId"] for n in range(3)
    ]
    url = reverse("admin:ingestion_dlq_console")
    as_operator = Client()
    as_operator.force_login(operator)
    assert b"poison 0" not in as_operator.get(url).content  # maps to no job: admins only
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(url)
    assert page.status_code == 200
    assert b"poison 0" in page.content
    browser.post(url, {"action": "redrive", "message_id": [ids[0]]})
    browser.post(url, {"action": "delete", "message_id": [ids[1]]})
    moved = sqs.receive_message(QueueUrl=main_url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in moved] == ["poison 0"]
    browser.post(url, {"action": "redrive_all"})
    assert set(DlqAction.objects.values_list("action", flat=True)) == {
        "redrive",
        "delete",
        "redrive_all",
    }
    assert DlqAction.objects.get(action="delete").actor == admin_user
    viewer.is_staff = True
    viewer.save()
    other = Client()
    other.force_login(viewer)
    assert other.get(url).status_code == 403


def test_drain_events_task_consumes_the_queue_once_at_a_time(
    stack: str, make_job: Any, settings: Any
) -> None:
    import threading

    from django.db import connection

    from diep_portal.locks import single_flight
    from ingestion.tasks import drain_events

    make_job(trigger={"bucket": RAW, "prefix": "drain/", "window_seconds": 60})
    get_client("s3").put_object(Bucket=RAW, Key="drain/one.csv", Body=b"a\n1\n")
    settings.DIEP_INGEST_QUEUE = "diep-ingest-events"
    held, release = threading.Event(), threading.Event()

    def other_drainer() -> None:  # a thread has its own database session
        with single_flight("ingestion.drain_events", timeout_seconds=60):
            held.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=other_drainer)
    holder.start()
    assert held.wait(10)
    try:
        assert drain_events(max_seconds=1) == 0  # another drainer holds it: nothing done
    finally:
        release.set()
        holder.join(10)
    assert not IngestedFile.objects.exists()
    assert drain_events(max_seconds=2) >= 1
    assert IngestedFile.objects.filter(key="drain/one.csv", state=FileState.RECEIVED).count() == 1
