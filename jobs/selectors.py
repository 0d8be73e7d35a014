"""Read queries for jobs and runs. Services write; these only read."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from diep_portal.exceptions import NotFound
from jobs.models import SLOT_STATES, TERMINAL_STATES, Job, JobRun, JobVersion, RunState


def job_get(ref: str | uuid.UUID) -> Job:
    """A job by its public UUID or its name; NotFound otherwise."""
    query = Job.objects.all()
    try:
        job_uuid = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        job = query.filter(name=str(ref)[:100]).first()
    else:
        job = query.filter(job_id=job_uuid).first()
    if job is None:
        raise NotFound(f"No job {str(ref)[:100]!r}.")
    return job


def run_get(run_id: str | uuid.UUID) -> JobRun:
    """A run by its public UUID; NotFound otherwise."""
    try:
        run_uuid = run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    except ValueError:
        raise NotFound(f"No run {str(run_id)[:100]!r}.") from None
    run = JobRun.objects.select_related("job", "job_version").filter(run_id=run_uuid).first()
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


def job_admission_counts(job: Job) -> tuple[int, int]:
    """(runs holding a slot, runs QUEUED) for the job, in one query."""
    counts = JobRun.objects.filter(job=job, state__in=[*SLOT_STATES, RunState.QUEUED]).aggregate(
        slots=Count("id", filter=Q(state__in=SLOT_STATES)),
        queued=Count("id", filter=Q(state=RunState.QUEUED)),
    )
    return counts["slots"], counts["queued"]


def job_queued_runs(job: Job) -> QuerySet[JobRun]:
    """The job's QUEUED runs, oldest first (FIFO admission)."""
    return JobRun.objects.filter(job=job, state=RunState.QUEUED).order_by("queued_at", "id")


def run_events(run: JobRun) -> QuerySet[Any]:
    return run.events.select_related("actor").order_by("at", "id")


def runs_recent_for_job(job: Job, *, limit: int = 10) -> list[JobRun]:
    return list(JobRun.objects.filter(job=job).order_by("-queued_at", "-id")[:limit])
