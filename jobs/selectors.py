"""Read queries for jobs and runs. Services write; these only read."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.validators import slug_re
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from diep_portal.exceptions import NotFound
from diep_portal.text import storable_text
from jobs.models import SLOT_STATES, TERMINAL_STATES, Job, JobRun, JobVersion, RunState
from jobs.roles import is_platform_admin, user_teams
from jobs.triggers import S3Trigger


def visible_jobs(user: Any = None) -> QuerySet[Job]:
    """The jobs `user` may see: their teams' and the shared ones; every job for platform
    admins and for internal callers (no user)."""
    if user is None or is_platform_admin(user):
        return Job.objects.all()
    return Job.objects.filter(Q(team="") | Q(team__in=user_teams(user)))


def job_get(
    ref: str | uuid.UUID,
    *,
    user: Any = None,
    fields: Iterable[str] = (),
    for_update: bool = False,
    annotate: Mapping[str, Any] | None = None,
) -> Job:
    """A job by its public UUID or its name, among those `user` may see; NotFound
    otherwise (another team's job is not found rather than forbidden: its existence is
    not theirs to know).

    `fields` limits the columns loaded, for hot paths that need a few; `for_update`
    locks the row (inside the caller's transaction); `annotate` adds values computed in
    the same query.
    """
    visible = visible_jobs(user)
    query = visible.only(*fields) if fields else visible
    if annotate:
        query = query.annotate(**annotate)
    if for_update:
        query = query.select_for_update()
    try:
        job_uuid = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        # Not a name either (a NUL would even fail the query): nothing to look for.
        name = str(ref)
        job = query.filter(name=name).first() if slug_re.match(name) else None
    else:
        job = query.filter(job_id=job_uuid).first()
    if job is None:
        raise NotFound(f"No job {storable_text(str(ref), 100)!r}.")
    return job


def run_get(run_id: str | uuid.UUID, *, user: Any = None) -> JobRun:
    """A run by its public UUID, of a job `user` may see; NotFound otherwise."""
    try:
        run_uuid = run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    except ValueError:
        raise NotFound(f"No run {str(run_id)[:100]!r}.") from None
    runs = JobRun.objects.select_related("job", "job_version").filter(run_id=run_uuid)
    if user is not None and not is_platform_admin(user):
        runs = runs.filter(job__in=visible_jobs(user))
    run = runs.first()
    if run is None:
        raise NotFound(f"No run {run_uuid}.")
    return run


def job_version_get(job: Job, version: int) -> JobVersion:
    found = JobVersion.objects.filter(job=job, version=version).first()
    if found is None:
        raise NotFound(f"Job {job.name} has no version {version}.")
    return found


def job_list_with_stats() -> QuerySet[Job]:
    """Jobs annotated with their last run's state and terminal/succeeded counts."""
    last_run = JobRun.objects.filter(job=OuterRef("pk")).order_by("-queued_at", "-id")
    return Job.objects.annotate(
        last_run_state=Subquery(last_run.values("state")[:1]),
        last_run_at=Subquery(last_run.values("queued_at")[:1]),
        terminal_runs=Count("runs", filter=Q(runs__state__in=TERMINAL_STATES)),
        succeeded_runs=Count("runs", filter=Q(runs__state=RunState.SUCCEEDED)),
    )


def job_slot_count(job: Job) -> int:
    """How many of the job's runs hold a concurrency slot right now."""
    return JobRun.objects.filter(job=job, state__in=SLOT_STATES).count()


def job_has_free_slot(job: Job) -> bool:
    """Whether a new run of `job` may start now: fewer than max_concurrent_runs hold a
    slot and no run that is due is QUEUED ahead of it (FIFO; runs in backoff don't block).
    """
    sql, params = free_slot_sql(job)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        row = cursor.fetchone()
    return bool(row and row[0])


def free_slot_sql(job: Job) -> tuple[str, list[Any]]:
    """`job_has_free_slot` as an SQL boolean expression and its parameters, for
    statements that decide and insert in one round trip.

    Its cost is bounded by max_concurrent_runs however long the backlog grows: the slot
    count stops at the limit and the queue check at its first row.
    """
    table = JobRun._meta.db_table
    slot_states = sorted(SLOT_STATES)
    placeholders = ", ".join(["%s"] * len(slot_states))
    sql = (
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE job_id = %s "  # noqa: S608
        f"AND state IN ({placeholders}) LIMIT %s) AS holding) < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE job_id = %s AND state = %s "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= %s))"
    )
    limit = job.max_concurrent_runs
    return sql, [job.pk, *slot_states, limit, limit, job.pk, RunState.QUEUED, timezone.now()]


def _due() -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())


def job_due_queued_runs(job: Job) -> QuerySet[JobRun]:
    """The job's QUEUED runs that may start now (backoff over), oldest first (FIFO)."""
    return (
        JobRun.objects.filter(job=job, state=RunState.QUEUED)
        .filter(_due())
        .order_by("queued_at", "id")
    )


def jobs_with_due_queued_runs() -> QuerySet[Job]:
    """Jobs holding QUEUED runs whose backoff is over: candidates for admission."""
    return Job.objects.filter(
        pk__in=JobRun.objects.filter(state=RunState.QUEUED).filter(_due()).values("job_id")
    )


def visible_runs(user: Any = None, *, job: Job | None = None) -> QuerySet[JobRun]:
    """The runs `user` may see (of `job` alone, if given), with what their pages show."""
    runs = JobRun.objects.select_related("job", "job_version", "requested_by", "retry_of")
    if job is not None:
        return runs.filter(job=job)
    if user is None or is_platform_admin(user):
        return runs
    return runs.filter(job__in=visible_jobs(user))


def run_events(run: JobRun) -> QuerySet[Any]:
    return run.events.select_related("actor").order_by("at", "id")


def runs_recent_for_job(job: Job, *, limit: int = 10) -> list[JobRun]:
    return list(JobRun.objects.filter(job=job).order_by("-queued_at", "-id")[:limit])


def job_bookmark(job: Job) -> str | None:
    """Where the job's last successful run stopped reading (its newest input's
    modification time), for a bookmarked source; None before the first."""
    metrics = (
        JobRun.objects.filter(job=job, state=RunState.SUCCEEDED, metrics__bookmark__isnull=False)
        .order_by("-finished_at")
        .values_list("metrics", flat=True)
        .first()
    )
    return metrics.get("bookmark") if metrics else None


def job_triggers() -> list[S3Trigger]:
    """The S3 triggers of every enabled job, oldest job first (of two that clash, the
    newer is the one left out): what the bucket notifications must carry."""
    jobs = Job.objects.filter(enabled=True).exclude(trigger_bucket="").order_by("id")
    fields = ("name", "trigger_bucket", "trigger_prefix", "trigger_suffix")
    return [trigger for job in jobs.only(*fields) if (trigger := S3Trigger.of(job)) is not None]


# ------------------------------------------------------------------ operations views
# What the dashboard and /metrics show: grouped counts, never rows of data.


def run_counts_by_job_and_state() -> list[tuple[str, str, int]]:
    """(job name, state, runs) over every run kept."""
    rows = JobRun.objects.values("job__name", "state").annotate(n=Count("id"))
    return [(row["job__name"], row["state"], row["n"]) for row in rows]


def run_duration_histogram(
    *, since: datetime, bounds: Sequence[float]
) -> list[tuple[str, list[int], int, float]]:
    """Per job, the runs finished since `since`: (job name, cumulative counts at each of
    `bounds` seconds, total runs, total seconds) — a Prometheus histogram's parts."""
    aggregates = {
        f"le_{i}": Count("id", filter=Q(took__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(bounds)
    }
    finished: Any = (
        JobRun.objects.filter(finished_at__gte=since, started_at__isnull=False)
        .annotate(took=F("finished_at") - F("started_at"))
        .values("job__name")
        .annotate(n=Count("id"), total=Sum("took"), **aggregates)
    )
    return [
        (
            row["job__name"],
            [row[f"le_{i}"] for i in range(len(bounds))],
            row["n"],
            row["total"].total_seconds() if row["total"] else 0.0,
        )
        for row in finished
    ]


def _runs_of(user: Any) -> QuerySet[JobRun]:
    """The runs `user` may see (every run for internal callers), unjoined, for counts."""
    if user is None or is_platform_admin(user):
        return JobRun.objects.all()
    return JobRun.objects.filter(job__in=visible_jobs(user))


def runs_by_state_since(since: datetime, *, user: Any = None) -> dict[str, int]:
    """How many runs queued since `since` are in each state."""
    recent = _runs_of(user).filter(queued_at__gte=since)
    return dict(recent.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def runs_per_hour_since(since: datetime, *, user: Any = None) -> dict[datetime, int]:
    """Runs queued since `since`, by the hour they were queued in."""
    recent = _runs_of(user).filter(queued_at__gte=since)
    return dict(
        recent.annotate(hour=TruncHour("queued_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )


def finished_run_durations(
    *, since: datetime, limit: int = 5000, user: Any = None
) -> list[tuple[str, str, float]]:
    """(job name, state, seconds) of the newest `limit` runs queued since `since` that
    started and finished."""
    finished = (
        _runs_of(user)
        .filter(queued_at__gte=since)
        .filter(finished_at__isnull=False, started_at__isnull=False)
        .values_list("job__name", "state", "started_at", "finished_at")
        .order_by("-finished_at")[:limit]
    )
    return [
        (name, state, (ended - started).total_seconds())
        for name, state, started, ended in finished
        if started and ended  # both set, by the filter; the check is for the type checker
    ]


def recent_failures(*, limit: int = 10, user: Any = None) -> list[JobRun]:
    """The newest runs that ended FAILED, ERROR or TIMEOUT, with their jobs."""
    failed = _runs_of(user).filter(state__in=[RunState.FAILED, RunState.ERROR, RunState.TIMEOUT])
    return list(failed.select_related("job").order_by("-finished_at")[:limit])
