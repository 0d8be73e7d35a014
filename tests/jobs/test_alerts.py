"""Alerts, delivered for real: Django's locmem mail and a local HTTP receiver as the
webhook. One alert per run; failed deliveries retried, then given up."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs import alerts, services
from jobs.models import Alert, AlertDelivery, DeliveryState, JobRun, RunState
from jobs.runs.state import RunEnded, transition_run
from jobs.specs import JobSpecSerializer
from tests.conftest import Receiver, job_body

pytestmark = pytest.mark.django_db


ALERTS = {"on": ["failure", "timeout"], "emails": ["oncall@example.com"], "webhooks": ["ops"]}


def fail(run: JobRun, to: str = RunState.FAILED) -> None:
    transition_run(run=run, to=RunState.STARTING, source="test")
    transition_run(run=run, to=to, source="test", error_message="boom")


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
        assert alerts.alert_for_run(RunEnded(run=run, from_state=RunState.RUNNING)) is None
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


def test_webhook_redirects_are_not_followed(
    receiver: Receiver, make_job: Any, no_enqueue: Any
) -> None:
    inside = Receiver()  # an internal address the receiver points the portal at
    try:
        receiver.status, receiver.location = 307, inside.url
        job = make_job(alerts={**ALERTS, "emails": []})
        fail(services.job_fire(job=job, parameters={}, trigger="api").run)
        assert alerts.deliver_due() == 0
        delivery = AlertDelivery.objects.get()
        assert len(receiver.bodies) == 1
        assert inside.bodies == []
        assert delivery.state == DeliveryState.PENDING  # a failed attempt, retried later
        assert "HTTP 307" in delivery.last_error
    finally:
        inside.server.shutdown()


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


def test_alert_mail_goes_only_to_the_domains_admins_allow(settings: Any) -> None:
    settings.DIEP_ALERT_EMAIL_DOMAINS = ["example.com"]
    outside = JobSpecSerializer(
        data=job_body(alerts={"on": ["failure"], "emails": ["ops@example.com", "x@evil.test"]})
    )
    assert not outside.is_valid()
    assert "not x@evil.test" in json.dumps(outside.errors)
    inside = JobSpecSerializer(
        data=job_body(alerts={"on": ["failure"], "emails": ["Ops@Example.com"]})
    )
    assert inside.is_valid(), inside.errors


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


def test_a_receiver_that_never_answers_costs_one_deadline_not_the_worker(
    receiver: Receiver, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_ALERT_DELIVERY_DEADLINE_SECONDS = 0.5
    receiver.delay = 5
    fail(
        services.job_fire(
            job=make_job(alerts={**ALERTS, "emails": []}), parameters={}, trigger="api"
        ).run
    )
    began = time.monotonic()
    assert alerts.deliver_due() == 0
    assert time.monotonic() - began < 3  # the deadline, not the receiver's 5 s
    delivery = AlertDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)
    # The read timeout or, for a receiver answering byte by byte, the overall deadline.
    assert "0.5" in delivery.last_error
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now()  # retried after its backoff


@pytest.mark.django_db(transaction=True)
def test_no_row_stays_locked_while_a_receiver_is_called(
    receiver: Receiver, make_job: Any, no_enqueue: Any
) -> None:
    locked_meanwhile: list[bool] = []

    def try_to_lock() -> None:  # in the receiver's thread: a connection of its own
        try:
            with transaction.atomic():
                AlertDelivery.objects.select_for_update(nowait=True).get()
            locked_meanwhile.append(False)
        except DatabaseError:
            locked_meanwhile.append(True)
        finally:
            connection.close()

    receiver.on_request = try_to_lock
    # Committed at once (transaction=True): the delivery goes out as the run fails.
    fail(
        services.job_fire(
            job=make_job(alerts={**ALERTS, "emails": []}), parameters={}, trigger="api"
        ).run
    )
    assert AlertDelivery.objects.get().state == DeliveryState.SENT
    assert locked_meanwhile == [False]


def test_a_target_named_twice_gets_one_delivery(
    receiver: Receiver, make_job: Any, no_enqueue: Any
) -> None:
    twice = {**ALERTS, "webhooks": ["ops", "ops"], "emails": ["oncall@example.com"] * 2}
    job = make_job(alerts=twice)
    fail(services.job_fire(job=job, parameters={}, trigger="api").run)
    assert sorted(AlertDelivery.objects.values_list("channel", "target")) == [
        ("email", "oncall@example.com"),
        ("webhook", "ops"),
    ]
