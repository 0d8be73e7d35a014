"""Read queries for jobs and runs. Services write; these only read."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from diep_portal.exceptions import NotFound
from jobs.models import SLOT_STATES, TERMINAL_STATES, Engine, Job, JobRun, JobVersion, RunState
from jobs.roles import is_platform_admin, user_teams
from jobs.triggers import S3Trigger


def visible_jobs(user: Any = None) -> QuerySet[Job]:
    """The jobs `user` may see: their teams' and the shared ones; every job for platform
    admins and for internal callers (no user)."""
    if user is None or is_platform_admin(user):
        return Job.objects.all()
    return Job.objects.filter(Q(team="") | Q(team__in=user_teams(user)))


def job_get(ref: str | uuid.UUID, *, user: Any = None, fields: Iterable[str] = ()) -> Job:
    """A job by its public UUID or its name, among those `user` may see; NotFound
    otherwise (another team's job is not found rather than forbidden: its existence is
    not theirs to know).

    `fields` limits the columns loaded, for hot paths that need a few.
    """
    visible = visible_jobs(user)
    query = visible.only(*fields) if fields else visible
    try:
        job_uuid = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        job = query.filter(name=str(ref)[:100]).first()
    else:
        job = query.filter(job_id=job_uuid).first()
    if job is None:
        raise NotFound(f"No job {str(ref)[:100]!r}.")
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

    One round trip whose cost is bounded by max_concurrent_runs however long the backlog
    grows: the slot count stops at the limit and the queue check at its first row.
    """
    table = JobRun._meta.db_table
    slot_states = sorted(SLOT_STATES)
    placeholders = ", ".join(["%s"] * len(slot_states))
    sql = (
        f"SELECT (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE job_id = %s "  # noqa: S608
        f"AND state IN ({placeholders}) LIMIT %s) AS holding) < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE job_id = %s AND state = %s "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= %s))"
    )
    limit = job.max_concurrent_runs
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [job.pk, *slot_states, limit, limit, job.pk, RunState.QUEUED, timezone.now()],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


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
    """The S3 triggers of every enabled job: what the bucket notifications must carry."""
    jobs = Job.objects.filter(enabled=True).exclude(trigger_bucket="").order_by("name")
    fields = ("name", "trigger_bucket", "trigger_prefix", "trigger_suffix")
    return [trigger for job in jobs.only(*fields) if (trigger := S3Trigger.of(job)) is not None]


def glue_job_names() -> list[str]:
    """The Glue job names jobs run as (for the IAM policy)."""
    names = Job.objects.filter(engine=Engine.GLUE).exclude(glue_job_name="")
    return sorted(set(names.values_list("glue_job_name", flat=True)))
