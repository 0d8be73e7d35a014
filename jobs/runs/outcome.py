"""How runs end: the final state an engine reports, the automatic retry a job allows,
an operator's retry, and stop requests."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from diep_portal.exceptions import Conflict
from jobs.models import RETRYABLE_STATES, FireSource, Job, JobRun, RunState
from jobs.roles import author_of
from jobs.runs.admission import admit_run, enqueue_stop
from jobs.runs.arguments import retry_arguments
from jobs.runs.state import RunRetried, run_listeners, transition_run

logger = logging.getLogger(__name__)

AUTO_RETRY_STATES = frozenset({RunState.FAILED, RunState.TIMEOUT, RunState.ERROR})


def finish_run(
    *, run: JobRun, to: str, message: str, source: str = "local", **details: Any
) -> bool:
    """Move a run to its final state as an engine reported it, and schedule the
    automatic retry its job allows (FAILED, TIMEOUT, ERROR). False if the run had
    already moved on (a late or duplicate report)."""
    with transaction.atomic():
        moved = transition_run(run=run, to=to, source=source, message=message, **details)
        if moved and to in AUTO_RETRY_STATES:
            _schedule_retry(run)
    return moved


def _schedule_retry(run: JobRun) -> None:
    job = Job.objects.select_for_update().get(pk=run.job_id)
    if run.attempt > job.max_retries:
        return
    base = settings.DIEP_RETRY_BACKOFF_SECONDS
    delay = min(settings.DIEP_RETRY_BACKOFF_MAX_SECONDS, base * 2 ** (run.attempt - 1))
    retry = run_retry(
        run=run,
        user=None,
        source="auto-retry",
        not_before=timezone.now() + timedelta(seconds=delay),
    )
    logger.info(
        "run.retry_scheduled",
        extra={
            "run_id": str(run.run_id),
            "retry_run_id": str(retry.run_id),
            "delay_seconds": delay,
        },
    )


def run_retry(*, run: JobRun, user: Any, source: str, not_before: datetime | None = None) -> JobRun:
    """Start a new attempt of a finished, unsuccessful run with the same version and
    parameters (`retry_of` links them), at once or QUEUED until `not_before`.
    Raises Conflict for other states."""
    if run.state not in RETRYABLE_STATES:
        raise Conflict(
            f"Only failed, timed-out, errored or stopped runs can be retried; "
            f"run {run.run_id} is {run.state}."
        )
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=run.job_id)
        run_id = uuid.uuid4()
        retry = admit_run(
            job=job,
            run_id=run_id,
            job_version=run.job_version,
            trigger=FireSource.RETRY,
            requested_by=author_of(user),
            request_fingerprint=run.request_fingerprint,
            parameters=run.parameters,
            capacity=run.capacity,
            arguments=retry_arguments(
                job=job, run_id=run_id, parameters=run.parameters, previous=run.arguments
            ),
            attempt=run.attempt + 1,
            retry_of=run,
            not_before=not_before,
            actor=author_of(user),
            source=source,
        )
        run_listeners.run_retried(RunRetried(run=run, retry=retry))
        return retry


def run_stop(*, run: JobRun, user: Any, source: str) -> JobRun:
    """Stop a run. Not yet started → STOPPED at once; started → STOPPING, and the
    engine is asked to stop it after commit. A finished run raises Conflict."""
    actor = author_of(user)
    with transaction.atomic():
        if transition_run(
            run=run,
            to=RunState.STOPPED,
            source=source,
            actor=actor,
            from_states={RunState.QUEUED, RunState.PENDING},
            message="stopped before it started",
        ):
            return run
        if transition_run(
            run=run,
            to=RunState.STOPPING,
            source=source,
            actor=actor,
            from_states={RunState.STARTING, RunState.RUNNING},
            message="stop requested",
        ):
            enqueue_stop(run)
            return run
    run.refresh_from_db()
    if run.state == RunState.STOPPING:
        return run
    raise Conflict(f"Run {run.run_id} is already {run.state}.")
