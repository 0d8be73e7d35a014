"""Alerts: runs that failed, timed out or (on request) succeeded, files that stopped
arriving, a DLQ filling up. Each alert is recorded once (its `dedupe_key`: per run,
per SLA window, per hour of DLQ backlog) and delivered to each target by email or
webhook (JSON, Slack-compatible `text`), retried with backoff until sent or given up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from diep_portal.celery import enqueue_on_commit
from jobs.models import (
    Alert,
    AlertDelivery,
    AlertKind,
    DeliveryState,
    Job,
    JobRun,
    RunState,
)

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
    targets = [("email", e) for e in emails] + [("webhook", w) for w in webhooks]
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
    from jobs.tasks import deliver_alerts

    enqueue_on_commit(deliver_alerts, recovered_by="jobs.deliver_alerts (Beat, 15 s)")
    return alert


def alert_for_run(run: JobRun) -> Alert | None:
    """The alert a finished run's job asks for, if any (called as the run ends)."""
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


def check_freshness(*, now: datetime | None = None) -> int:
    """Alert for jobs whose files stopped arriving: none for `freshness_hours`, or none
    yet today by `freshness_by` (HH:MM in the job's timezone). One alert per silence
    (keyed by the last file seen) or per day. Returns how many were raised."""
    from ingestion.models import IngestedFile

    now = now or timezone.now()
    raised = 0
    jobs = Job.objects.filter(enabled=True).exclude(alerts={}).exclude(trigger_bucket="")
    for job in jobs:
        config = job.alerts
        hours, by = config.get("freshness_hours"), config.get("freshness_by")
        if not hours and not by:
            continue
        last = IngestedFile.objects.filter(job=job).aggregate(last=Max("received_at"))["last"]
        if hours:
            if last is not None and now - last < timedelta(hours=hours):
                continue
            since = last or job.created_at
            if now - since < timedelta(hours=hours):
                continue
            key = f"freshness:{job.job_id}:{since.isoformat()}"
            text = f"No new file under s3://{job.trigger_bucket}/{job.trigger_prefix} for {hours} h"
        else:
            zone = ZoneInfo(job.timezone)
            local_now = now.astimezone(zone)
            hour, minute = (int(part) for part in by.split(":"))
            deadline = datetime.combine(local_now.date(), time(hour, minute), tzinfo=zone)
            day_start = datetime.combine(local_now.date(), time(0, 0), tzinfo=zone)
            if local_now < deadline or (last is not None and last >= day_start):
                continue
            key = f"freshness:{job.job_id}:{local_now.date().isoformat()}"
            where = f"s3://{job.trigger_bucket}/{job.trigger_prefix}"
            text = f"No file under {where} by {by} ({job.timezone})"
        seen = f"Last file: {last.isoformat()}." if last else "No file was ever received."
        raised += (
            alert_raise(
                kind=AlertKind.FRESHNESS,
                dedupe_key=key,
                subject=f"[DIEP] {job.name}: files are late",
                text=f"{text}. {seen}",
                emails=config.get("emails", []),
                webhooks=config.get("webhooks", []),
                job=job,
            )
            is not None
        )
    return raised


def check_dlq_depth(*, depth: int, now: datetime | None = None) -> Alert | None:
    """Alert the platform's operators when the DLQ holds DIEP_DLQ_ALERT_DEPTH messages
    or more; at most one alert an hour while it stays so."""
    now = now or timezone.now()
    if depth < settings.DIEP_DLQ_ALERT_DEPTH:
        return None
    return alert_raise(
        kind=AlertKind.DLQ_DEPTH,
        dedupe_key=f"dlq:{settings.DIEP_INGEST_DLQ}:{now:%Y-%m-%dT%H}",
        subject=f"[DIEP] {depth} message(s) in the dead-letter queue",
        text=f"The DLQ {settings.DIEP_INGEST_DLQ} holds {depth} message(s) the consumer "
        "could not handle. Inspect and redrive them in the admin's DLQ console.",
        emails=settings.DIEP_OPS_ALERT_EMAILS,
        webhooks=settings.DIEP_OPS_ALERT_WEBHOOKS,
    )


def deliver_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send every delivery whose time has come; failures wait with exponential backoff
    and are given up after DIEP_ALERT_MAX_ATTEMPTS. Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        due = list(
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .select_related("alert")
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        for delivery in due:
            delivery.attempts += 1
            try:
                _send(delivery)
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then recorded
                delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if delivery.attempts >= settings.DIEP_ALERT_MAX_ATTEMPTS:
                    delivery.state = DeliveryState.FAILED
                else:
                    backoff = settings.DIEP_ALERT_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
                    delivery.next_attempt_at = now + timedelta(seconds=backoff)
                logger.warning(
                    "alert.delivery_failed",
                    extra={"delivery": delivery.pk, "attempts": delivery.attempts},
                )
            else:
                delivery.state, delivery.sent_at, delivery.last_error = (
                    DeliveryState.SENT,
                    now,
                    "",
                )
                sent += 1
            delivery.save(
                update_fields=["attempts", "state", "next_attempt_at", "last_error", "sent_at"]
            )
    return sent


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
    response = requests.post(url, json=body, timeout=10)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}")
