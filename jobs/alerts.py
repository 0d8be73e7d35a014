"""Alerts: runs that failed, timed out or (on request) succeeded, and whatever else
raises one (ingestion: files that stopped arriving, a DLQ filling up). Each alert is
recorded once (its `dedupe_key`: per run, per SLA window, per hour of DLQ backlog) and
delivered to each target by email or
webhook (JSON, Slack-compatible `text`), retried with backoff until sent or given up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from diep_portal.celery import enqueue_on_commit
from diep_portal.text import storable_text
from jobs.models import Alert, AlertDelivery, AlertKind, DeliveryState, Job, JobRun, RunState
from jobs.runs.state import RunEnded

logger = logging.getLogger(__name__)

RUN_ALERTS: dict[str, str] = {
    RunState.FAILED: AlertKind.FAILURE,
    RunState.ERROR: AlertKind.FAILURE,
    RunState.TIMEOUT: AlertKind.TIMEOUT,
    RunState.SUCCEEDED: AlertKind.SUCCESS,
}


def alert_raise(
    *,
    kind: str,
    dedupe_key: str,
    subject: str,
    text: str,
    emails: Iterable[str],
    webhooks: Iterable[str],
    job: Job | None = None,
    run: JobRun | None = None,
) -> Alert | None:
    """Record an alert and its deliveries, then deliver after commit; None (and nothing
    sent) if an alert with this key exists already."""
    # One delivery per target, however often a job's spec names it.
    targets = list(
        dict.fromkeys([("email", e) for e in emails] + [("webhook", w) for w in webhooks])
    )
    if not targets:
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind, dedupe_key=dedupe_key, job=job, run=run, subject=subject, text=text
            )
    except IntegrityError:
        return None  # raised before: one alert per run or window
    now = timezone.now()
    AlertDelivery.objects.bulk_create(
        AlertDelivery(alert=alert, channel=channel, target=target, next_attempt_at=now)
        for channel, target in targets
    )
    logger.info("alert.raised", extra={"kind": kind, "dedupe_key": dedupe_key})
    enqueue_on_commit("jobs.deliver_alerts", recovered_by="jobs.deliver_alerts (Beat, 15 s)")
    return alert


def alert_for_run(event: RunEnded) -> Alert | None:
    """Run-ended listener: the alert a finished run's job asks for, if any."""
    run = event.run
    kind = RUN_ALERTS.get(run.state)
    job = Job.objects.only("job_id", "name", "alerts").get(pk=run.job_id)
    config = job.alerts or {}
    if kind is None or kind not in config.get("on", []):
        return None
    state = run.state
    subject = f"[DIEP] {job.name}: run {state}"
    lines = [f"Job {job.name} run {run.run_id} ended {state} (attempt {run.attempt})."]
    if run.error_message:
        lines.append(f"Error: {run.error_message[:1000]}")
    if run.logs_url:
        lines.append(f"Logs: {run.logs_url}")
    return alert_raise(
        kind=kind,
        dedupe_key=f"run:{run.run_id}:{kind}",
        subject=subject,
        text="\n".join(lines),
        emails=config.get("emails", []),
        webhooks=config.get("webhooks", []),
        job=job,
        run=run,
    )


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send every delivery whose time has come; failures wait with exponential backoff
    and are given up after DIEP_ALERT_MAX_ATTEMPTS. Returns how many were sent.

    No transaction stays open while a receiver is slow: deliveries are claimed in a
    short one (their next attempt moved past the time sending them all may take, so a
    crash mid-send retries them later and a concurrent tick skips them), sent outside it,
    each within DIEP_ALERT_DELIVERY_DEADLINE_SECONDS however the receiver drips, then
    recorded."""
    now = now or timezone.now()
    deadline = settings.DIEP_ALERT_DELIVERY_DEADLINE_SECONDS
    with transaction.atomic():
        due = list(
            AlertDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("alert", "alert__job", "alert__run")
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        # Leased for as long as sending them all may take (one deadline each, in turn).
        lease = timedelta(seconds=deadline * (len(due) + 1))
        AlertDelivery.objects.filter(pk__in=[d.pk for d in due]).update(
            attempts=F("attempts") + 1, next_attempt_at=now + lease
        )
    sent = 0
    for delivery in due:
        delivery.attempts += 1
        try:
            _within(deadline, _send, delivery)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then recorded
            delivery.last_error = storable_text(f"{type(exc).__name__}: {exc}", 2000)
            if delivery.attempts >= settings.DIEP_ALERT_MAX_ATTEMPTS:
                delivery.state = DeliveryState.FAILED
            else:
                backoff = settings.DIEP_ALERT_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff)
            logger.warning(
                "alert.delivery_failed",
                extra={"delivery": delivery.pk, "attempts": delivery.attempts},
            )
        else:
            delivery.state, delivery.sent_at, delivery.last_error = (
                DeliveryState.SENT,
                timezone.now(),
                "",
            )
            sent += 1
        delivery.save(update_fields=["state", "next_attempt_at", "last_error", "sent_at"])
    return sent


def _within(seconds: float, send: Callable[[AlertDelivery], None], delivery: AlertDelivery) -> None:
    """`send(delivery)`, given up after `seconds` in all: a socket timeout bounds each
    read, not a receiver that answers one byte at a time. A send given up on finishes
    (or fails) in its thread; the delivery counts as failed either way."""
    failures: list[Exception] = []

    def attempt() -> None:
        try:
            send(delivery)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
            failures.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if failures:
        raise failures[0]


def _send(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    if delivery.channel == "email":
        send_mail(
            alert.subject,
            alert.text,
            settings.DIEP_ALERT_EMAIL_FROM,
            [delivery.target],
            fail_silently=False,
        )
        return
    url = settings.DIEP_ALERT_WEBHOOKS.get(delivery.target)
    if not url:
        raise LookupError(f"webhook {delivery.target!r} is not in DIEP_ALERT_WEBHOOKS")
    body = {
        "text": f"*{alert.subject}*\n{alert.text}",
        "kind": alert.kind,
        "job": alert.job.name if alert.job_id and alert.job else None,
        "run_id": str(alert.run.run_id) if alert.run_id and alert.run else None,
        "created_at": alert.created_at.isoformat(),
    }
    # No redirects: a receiver's 3xx must not make the portal POST the alert elsewhere
    # (an internal address, say); it counts as a failed delivery like any other.
    timeout = settings.DIEP_ALERT_DELIVERY_DEADLINE_SECONDS
    response = requests.post(url, json=body, timeout=timeout, allow_redirects=False)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}")
