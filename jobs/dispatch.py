"""Scheduled firing: one Beat task dispatches the jobs whose next tick is due.

Chosen over one django-celery-beat PeriodicTask per job: Beat's DatabaseScheduler
re-reads every entry on each tick (about 2 s at 5,000 entries, ../shared/FACTS.md),
so 10,000 scheduled jobs would spend the lateness budget in the scheduler itself,
and two Beats would fire every entry twice. Here Beat has a single entry (every
second); each call claims the due jobs through the partial index on `next_fire_at`
with SKIP LOCKED, and every fire carries the idempotency key `schedule:<tick>`, so
two dispatchers, a retried task or a restart never make two runs of one tick
(bench/schedules.py measures it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from diep_portal.exceptions import ApplicationError
from jobs import cron, services
from jobs.models import CatchUp, FireSource, Job

logger = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    jobs: int = 0
    fired: int = 0
    skipped: int = 0  # missed ticks the job's catch-up policy drops
    refused: int = 0  # the fire was refused (a disabled or misconfigured job)
    max_lateness_seconds: float = 0.0


def schedule_key(tick: datetime) -> str:
    """The idempotency key of a scheduled fire: one run per job and tick."""
    return f"schedule:{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def fire_due_schedules(*, now: datetime | None = None, limit: int = 500) -> DispatchReport:
    """Fire every due tick of every enabled scheduled job (by its catch-up policy) and
    move the jobs' `next_fire_at` past now. Safe to run concurrently."""
    now = now or timezone.now()
    report = DispatchReport()
    with transaction.atomic():
        due = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_fire_at__lte=now)
            .order_by("next_fire_at")[:limit]
        )
        for job in due:
            report.jobs += 1
            _dispatch(job, now, report)
    return report


def _dispatch(job: Job, now: datetime, report: DispatchReport) -> None:
    assert job.next_fire_at is not None
    try:
        ticks, following = cron.due_ticks(
            job.schedule,
            tz=job.timezone,
            first=job.next_fire_at,
            now=now,
            limit=cron.MAX_CATCH_UP_TICKS,
        )
    except cron.ScheduleError as exc:  # stored before a rule tightened: stop firing it
        logger.error(  # noqa: TRY400 - the stored rule is the problem, not this code
            "schedule.invalid", extra={"job_id": str(job.job_id), "error": str(exc)}
        )
        Job.objects.filter(pk=job.pk).update(next_fire_at=None)
        return
    chosen = _by_policy(job.catch_up, ticks, now)
    report.skipped += len(ticks) - len(chosen)
    for tick in chosen:
        try:
            with transaction.atomic():
                fired = services.job_fire(
                    job=job,
                    parameters={},
                    trigger=FireSource.SCHEDULE,
                    idempotency_key=schedule_key(tick),
                )
        except ApplicationError as exc:
            report.refused += 1
            logger.warning(
                "schedule.fire_refused",
                extra={"job_id": str(job.job_id), "tick": tick.isoformat(), "error": str(exc)},
            )
            continue
        if fired.created:
            report.fired += 1
            lateness = (now - tick).total_seconds()
            report.max_lateness_seconds = max(report.max_lateness_seconds, lateness)
    Job.objects.filter(pk=job.pk).update(next_fire_at=following)


def _by_policy(policy: str, ticks: list[datetime], now: datetime) -> list[datetime]:
    if not ticks:
        return []
    if policy == CatchUp.ALL:
        return ticks
    if policy == CatchUp.LATEST:
        return ticks[-1:]
    grace = timedelta(seconds=settings.DIEP_SCHEDULE_GRACE_SECONDS)
    return [tick for tick in ticks if now - tick <= grace]
