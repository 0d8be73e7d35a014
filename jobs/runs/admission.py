"""Admission: a new run takes a free concurrency slot (PENDING, start enqueued) or waits
in QUEUED, first in first out; a run that ends frees its slot for the next one."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, transaction

from diep_portal.celery import enqueue_on_commit
from diep_portal.exceptions import Conflict
from jobs import selectors
from jobs.models import SLOT_STATES, Job, JobRun, RunEvent, RunState
from jobs.runs.state import RunEnded, transition_run

logger = logging.getLogger(__name__)


def admit_run(
    *,
    job: Job,
    actor: AuthUser | None,
    source: str,
    not_before: datetime | None = None,
    **fields: Any,
) -> JobRun:
    """Create a run as PENDING if the job has a free slot (and nobody due is queued before
    it), else QUEUED; with `not_before`, QUEUED until then. The caller holds the job lock."""
    has_slot = not_before is None and selectors.job_has_free_slot(job)
    state = RunState.PENDING if has_slot else RunState.QUEUED
    if not_before is not None:
        fields["next_attempt_at"] = not_before
    if not fields.get("idempotency_key"):
        run = JobRun.objects.create(job=job, engine=job.engine, state=state, **fields)
    else:
        try:
            with transaction.atomic():
                run = JobRun.objects.create(job=job, engine=job.engine, state=state, **fields)
        except IntegrityError:
            # The same key committed between our check and this insert (SQLite path).
            raise Conflict(
                "A request with this Idempotency-Key was just processed; retry."
            ) from None
    if has_slot:
        message = ""
    elif not_before is not None:
        message = f"waiting until {not_before:%Y-%m-%d %H:%M:%S} UTC"
    else:
        message = f"waiting for one of {job.max_concurrent_runs} slot(s)"
    RunEvent.objects.create(
        run=run, from_state="", to_state=state, source=source, actor=actor, message=message
    )
    if state == RunState.PENDING:
        enqueue_start(run)
    logger.info(
        "run.requested",
        extra={"job_id": str(job.job_id), "run_id": str(run.run_id), "state": state},
    )
    return run


def enqueue_start(run: JobRun) -> None:
    """Wake a run worker for this PENDING run once the transaction commits."""
    enqueue_on_commit("jobs.run_start", str(run.run_id), recovered_by="jobs.recover_stale_starts")


def enqueue_stop(run: JobRun) -> None:
    """Wake a run worker to ask the engine to stop this STOPPING run, after commit."""
    enqueue_on_commit("jobs.run_stop", str(run.run_id), recovered_by="jobs.recover_stale_starts")


def start_again(run: JobRun, *, message: str) -> bool:
    """Give a claimed run whose start was lost (STARTING) back to PENDING and send its
    start again; False if it had moved on meanwhile."""
    if transition_run(
        run=run,
        to=RunState.PENDING,
        source="recovery",
        from_states={RunState.STARTING},
        message=message,
    ):
        enqueue_start(run)
        return True
    return False


def admit_queued_runs(*, job: Job) -> list[JobRun]:
    """Promote the oldest QUEUED runs into free slots. The caller holds the job row lock."""
    free = job.max_concurrent_runs - selectors.job_slot_count(job)
    promoted = []
    for run in selectors.job_due_queued_runs(job)[: max(free, 0)]:
        if transition_run(run=run, to=RunState.PENDING, source="scheduler", message="slot freed"):
            enqueue_start(run)
            promoted.append(run)
    return promoted


def admit_after_run_ended(event: RunEnded) -> None:
    """Run-ended listener: a run that held (or waited for) a slot lets the next one in."""
    if event.from_state in SLOT_STATES | {RunState.QUEUED}:
        job = Job.objects.select_for_update().get(pk=event.run.job_id)
        admit_queued_runs(job=job)


def admit_due_queued_runs() -> int:
    """Start QUEUED runs whose backoff is over, where their job has a free slot."""
    admitted = 0
    for job in list(selectors.jobs_with_due_queued_runs()):
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            admitted += len(admit_queued_runs(job=locked))
    return admitted
