"""Health, readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from diep_portal.aws.session import get_client, reset_clients
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_auth() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_broker_and_aws(aws: str, settings: Any) -> None:
    get_client("sqs").create_queue(QueueName=settings.DIEP_INGEST_QUEUE)
    ready = Client().get("/readyz")
    assert ready.status_code == 200, ready.content
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "aws": "ok"}
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.AWS_MAX_ATTEMPTS = 1
    reset_clients()
    not_ready = Client().get("/readyz")
    assert not_ready.status_code == 503
    body = not_ready.json()
    assert body["checks"]["aws"].startswith("failing")
    assert body["checks"]["database"] == "ok"
    assert "127.0.0.1" not in json.dumps(body)  # no endpoints or secrets in the answer


def test_metrics_expose_runs_latency_events_and_queues(
    aws: str, settings: Any, make_job: Any, no_enqueue: Any, api: Any
) -> None:
    settings.DIEP_METRICS_PUBLIC = True
    sqs = get_client("sqs")
    for queue in (settings.DIEP_INGEST_QUEUE, settings.DIEP_INGEST_DLQ):
        sqs.create_queue(QueueName=queue)
    job = make_job()
    assert api.post(f"/fire_job/{job.job_id}", {}, format="json").status_code == 202
    run = job.runs.get()
    transition_run(run=run, to="STARTING", source="test", started_at=timezone.now())
    transition_run(run=run, to="SUCCEEDED", source="test")
    from diep_portal import observability

    observability._depth_cache.clear()
    response = Client().get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert f'diep_runs{{job="{job.name}",state="SUCCEEDED"}} 1.0' in text
    assert f'diep_run_duration_seconds_count{{job="{job.name}"}} 1.0' in text
    assert (
        'diep_http_request_duration_seconds_count{method="POST",status="2xx",view="fire-job"}'
        in text
    )
    assert f'diep_queue_depth{{queue="{settings.DIEP_INGEST_DLQ}"}} 0.0' in text
    assert "diep_files_waiting 0.0" in text


def test_request_ids_are_returned_and_logged(api: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO):
        response = api.get("/api/v1/jobs/", HTTP_X_REQUEST_ID="trace-123")
    assert response["X-Request-ID"] == "trace-123"
    made_up = api.get("/api/v1/jobs/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert made_up["X-Request-ID"] != "bad id\nwith newline"
    assert len(made_up["X-Request-ID"]) == 32


def test_json_log_lines_carry_request_and_run_ids(settings: Any) -> None:
    import logging.config

    from diep_portal.log import RequestIdFilter, request_id

    config = settings.LOGGING["formatters"]["json"]
    formatter_class = config["()"]
    module, _, name = formatter_class.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(
        config["fmt"], rename_fields=config["rename_fields"]
    )
    record = logging.LogRecord(
        "jobs.services", logging.INFO, __file__, 1, "run.started", None, None
    )
    record.run_id = "r-1"
    token = request_id.set("req-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(formatter.format(record))
    assert line["message"] == "run.started"
    assert line["level"] == "INFO"
    assert line["logger"] == "jobs.services"
    assert (line["run_id"], line["request_id"]) == ("r-1", "req-9")
    assert logging.config  # the settings' dictConfig accepts it (Django loaded it at start)


def test_latency_labels_stay_bounded_whatever_method_is_sent(settings: Any) -> None:
    settings.DIEP_METRICS_PUBLIC = True
    client = Client()
    for method in ("BREW", "X-EVIL-1", "X-EVIL-2"):
        client.generic(method, "/api/v1/jobs/")
    text = client.get("/metrics").content.decode()
    assert 'method="other"' in text
    assert "BREW" not in text
    assert "X-EVIL" not in text


def test_metrics_are_closed_unless_a_token_is_set_or_they_are_opened(settings: Any) -> None:
    settings.DIEP_METRICS_TOKEN, settings.DIEP_METRICS_PUBLIC = "", False
    closed = Client().get("/metrics")
    assert closed.status_code == 401
    assert b"diep_runs" not in closed.content
    settings.DIEP_METRICS_PUBLIC = True
    assert Client().get("/metrics").status_code == 200


def test_metrics_token_when_configured(settings: Any) -> None:
    settings.DIEP_METRICS_TOKEN = "s3cret-scraper"
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    right = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper")
    assert right.status_code == 200
