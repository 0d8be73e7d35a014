"""Freshness SLAs: alerts for jobs whose files stopped arriving (the file ledger says
when the last one came)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Max
from django.utils import timezone

from ingestion.models import IngestedFile
from jobs.alerts import alert_raise
from jobs.models import AlertKind, Job


def check_freshness(*, now: datetime | None = None) -> int:
    """Alert for jobs whose files stopped arriving: none for `freshness_hours`, or none
    yet today by `freshness_by` (HH:MM in the job's timezone). One alert per silence
    (keyed by the last file seen) or per day. Returns how many were raised."""
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
