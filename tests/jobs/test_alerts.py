"""Alerts, delivered for real: Django's locmem mail and a local HTTP receiver as the
webhook. One alert per run or SLA window; failed deliveries retried, then given up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from ingestion.models import FileState, IngestedFile
from jobs import alerts, lifecycle, services
from jobs.models import Alert, AlertDelivery, DeliveryState, Job, JobRun, RunState
from jobs.specs import JobSpecSerializer
from tests.conftest import job_body

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings: Any, monkeypatch: Any) -> Iterator[Receiver]:
    hook = Receiver()
    settings.DIEP_ALERT_WEBHOOKS = {"ops": hook.url}
    # Deliveries run when the alert commits; here at once.
    monkeypatch.setattr("jobs.tasks.deliver_alerts.delay", lambda: alerts.deliver_due())
    yield hook
    hook.server.shutdown()


ALERTS = {"on": ["failure", "timeout"], "emails": ["oncall@example.com"], "webhooks": ["ops"]}


def fail(run: JobRun, to: str = RunState.FAILED) -> None:
    services.transition_run(run=run, to=RunState.STARTING, source="test")
    services.transition_run(run=run, to=to, source="test", error_message="boom")


def test_a_failed_run_alerts_by_email_and_webhook_once(
    receiver: Receiver, make_job: Any, no_enqueue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(alerts=ALERTS)
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    with django_capture_on_commit_callbacks(execute=True):
        fail(run)
    assert [m.to for m in mail.outbox] == [["oncall@example.com"]]
    assert "run FAILED" in mail.outbox[0].subject
    assert "boom" in mail.outbox[0].body
    (body,) = receiver.bodies
    assert body["kind"] == "failure"
    assert body["run_id"] == str(run.run_id)
    assert "boom" in body["text"]
    # A late duplicate report of the same end raises nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alert_for_run(run) is None
    assert len(mail.outbox) == 1
    assert len(receiver.bodies) == 1


def test_success_alerts_only_when_asked(
    receiver: Receiver, make_job: Any, no_enqueue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    quiet = make_job(alerts=ALERTS)
    loud = make_job(name="loud", alerts={**ALERTS, "on": ["success"]})
    for job in (quiet, loud):
        run = services.job_fire(job=job, parameters={}, trigger="api").run
        with django_capture_on_commit_callbacks(execute=True):
            fail(run, RunState.SUCCEEDED)
    assert list(Alert.objects.values_list("job__name", flat=True)) == ["loud"]


def test_failed_deliveries_back_off_then_give_up(
    receiver: Receiver, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_ALERT_MAX_ATTEMPTS = 3
    receiver.status = 500
    job = make_job(alerts={**ALERTS, "emails": []})
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    fail(run, RunState.TIMEOUT)
    delivery = AlertDelivery.objects.get()
    now = timezone.now()
    for attempt in (1, 2, 3):
        alerts.deliver_due(now=now)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        now = delivery.next_attempt_at or now
    assert delivery.state == DeliveryState.FAILED
    assert "HTTP 500" in delivery.last_error
    assert len(receiver.bodies) == 3


def test_freshness_alerts_once_per_silence(
    receiver: Receiver, make_job: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(
        trigger={"bucket": "diep-raw", "prefix": "orders/"},
        alerts={"freshness_hours": 2, "emails": ["data@example.com"]},
    )
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=3))
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.check_freshness() == 1
        assert alerts.check_freshness() == 0  # the same silence
    assert "No new file under s3://diep-raw/orders/ for 2 h" in mail.outbox[0].body
    IngestedFile.objects.create(job=job, bucket="diep-raw", key="orders/a.csv", identity="e")
    assert alerts.check_freshness() == 0  # fresh again
    later = timezone.now() + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.check_freshness(now=later) == 1  # a new silence
    assert len(mail.outbox) == 2


def test_freshness_by_a_time_of_day(receiver: Receiver, make_job: Any) -> None:
    job = make_job(
        trigger={"bucket": "diep-raw", "prefix": "orders/"},
        timezone="UTC",
        alerts={"freshness_by": "06:00", "webhooks": ["ops"]},
    )
    morning = timezone.now().replace(hour=5, minute=0, second=0, microsecond=0)
    assert alerts.check_freshness(now=morning) == 0  # not due yet
    assert alerts.check_freshness(now=morning + timedelta(hours=2)) == 1
    assert alerts.check_freshness(now=morning + timedelta(hours=3)) == 0  # once a day
    IngestedFile.objects.create(job=job, bucket="diep-raw", key="orders/b.csv", identity="e")
    tomorrow = morning + timedelta(days=1, hours=2)
    assert alerts.check_freshness(now=tomorrow) == 1  # nothing arrived that day


def test_dlq_depth_alerts_at_most_hourly(receiver: Receiver, settings: Any) -> None:
    settings.DIEP_OPS_ALERT_WEBHOOKS = ["ops"]
    settings.DIEP_DLQ_ALERT_DEPTH = 5
    now = timezone.now().replace(minute=1)
    assert alerts.check_dlq_depth(depth=4, now=now) is None
    assert alerts.check_dlq_depth(depth=7, now=now) is not None
    assert alerts.check_dlq_depth(depth=9, now=now + timedelta(minutes=30)) is None
    assert alerts.check_dlq_depth(depth=9, now=now + timedelta(hours=1)) is not None


@pytest.mark.parametrize(
    ("alerts_spec", "message"),
    [
        ({"on": ["failure"], "webhooks": ["slack-secret"]}, "Unknown webhook(s) slack-secret"),
        ({"on": ["failure"]}, "at least one email or webhook"),
        ({"on": ["explode"], "emails": ["a@example.com"]}, "is not a valid choice"),
        ({"freshness_by": "25:00", "emails": ["a@example.com"]}, "HH:MM"),
    ],
)
def test_alert_specs_are_validated(alerts_spec: dict[str, Any], message: str) -> None:
    spec = JobSpecSerializer(data=job_body(alerts=alerts_spec))
    assert not spec.is_valid()
    assert message in json.dumps(spec.errors)


def test_retention_purges_old_history_only(make_job: Any, no_enqueue: Any, settings: Any) -> None:
    settings.DIEP_RETENTION_DAYS = 30
    job = make_job()
    old, recent = (services.job_fire(job=job, parameters={}, trigger="api").run for _ in "ab")
    for run in (old, recent):
        services.transition_run(run=run, to=RunState.STOPPED, source="test")
    long_ago = timezone.now() - timedelta(days=31)
    JobRun.objects.filter(pk=old.pk).update(finished_at=long_ago)
    waiting = IngestedFile.objects.create(job=job, bucket="b", key="w", identity="1")
    done = IngestedFile.objects.create(
        job=job, bucket="b", key="d", identity="2", state=FileState.PROCESSED
    )
    IngestedFile.objects.filter(pk__in=[waiting.pk, done.pk]).update(received_at=long_ago)
    assert lifecycle.purge_history() == {"files": 1, "runs": 1, "alerts": 0}
    assert list(JobRun.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(IngestedFile.objects.values_list("key", flat=True)) == ["w"]  # still waiting


def test_alert_history_in_the_admin_is_read_only(
    receiver: Receiver, make_job: Any, no_enqueue: Any, client: Any, admin_user: Any
) -> None:
    job = make_job(alerts=ALERTS)
    fail(services.job_fire(job=job, parameters={}, trigger="api").run)
    client.force_login(admin_user)
    page = client.get("/admin/jobs/alert/")
    assert page.status_code == 200
    assert b"run FAILED" in page.content
    alert = Alert.objects.get()
    detail = client.get(f"/admin/jobs/alert/{alert.pk}/change/")
    assert detail.status_code == 200
    assert b"oncall@example.com" in detail.content
    assert client.post(f"/admin/jobs/alert/{alert.pk}/delete/").status_code == 403
