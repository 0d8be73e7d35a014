"""What the run tasks ask of an engine: start a claimed run, stop a STOPPING one."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from diep_portal.exceptions import ConcurrencyLimitExceeded, PermanentAwsError, TransientAwsError
from diep_portal.text import storable_text
from jobs.engines.registry import EngineUnavailable, get_engine
from jobs.models import JobRun, RunEvent, RunState
from jobs.runs.state import transition_run

logger = logging.getLogger(__name__)


def _start_backoff(attempt: int) -> timedelta:
    base, cap = settings.DIEP_ADMISSION_BACKOFF_SECONDS, settings.DIEP_ADMISSION_BACKOFF_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** max(attempt - 1, 0)))


def run_start(*, run_id: str | uuid.UUID, last_attempt: bool) -> None:
    """Claim a PENDING run and hand it to its engine (the `jobs.run_start` task body).

    The claim (PENDING → STARTING) happens before any AWS call, so a duplicate task
    finds nothing to do. A run claimed before (its earlier start may have reached the
    engine, e.g. a timeout while waiting for StartJobRun's answer) is first looked up
    in the engine by its run id and adopted rather than started twice. A full Glue
    concurrency limit puts the run back in QUEUED with backoff, never FAILED. Other
    transient AWS errors give the run back to PENDING and re-raise for the task's
    bounded retry; on the last attempt, or on a permanent error, the run fails with
    the AWS message.
    """
    run = JobRun.objects.select_related("job").filter(run_id=run_id).first()
    if run is None:
        logger.warning("run.start_unknown", extra={"run_id": str(run_id)})
        return
    claimed_before = run.start_attempts > 0
    if not transition_run(
        run=run,
        to=RunState.STARTING,
        from_states={RunState.PENDING},
        source="worker",
        started_at=timezone.now(),
        start_attempts=run.start_attempts + 1,
    ):
        logger.info("run.start_skipped", extra={"run_id": str(run_id), "state": run.state})
        return
    try:
        engine = get_engine(run.engine)
        started = (engine.find(run) if claimed_before else None) or engine.start(run)
    except EngineUnavailable as exc:
        transition_run(
            run=run, to=RunState.ERROR, source="worker", message=str(exc), error_message=str(exc)
        )
        return
    except ConcurrencyLimitExceeded as exc:
        retry_at = timezone.now() + _start_backoff(run.start_attempts)
        transition_run(
            run=run,
            to=RunState.QUEUED,
            source="worker",
            next_attempt_at=retry_at,
            message=f"engine concurrency limit reached, retrying after "
            f"{retry_at:%H:%M:%S} UTC: {exc.message}",
        )
        return
    except TransientAwsError as exc:
        if last_attempt:
            transition_run(
                run=run,
                to=RunState.FAILED,
                source="worker",
                message=f"gave up after retries: {exc}",
                error_message=str(exc),
            )
            return
        transition_run(run=run, to=RunState.PENDING, source="worker", message=f"will retry: {exc}")
        raise
    except PermanentAwsError as exc:
        transition_run(
            run=run, to=RunState.FAILED, source="worker", message=str(exc), error_message=str(exc)
        )
        return
    # Saved before anything else can fail, so the external run is never orphaned.
    JobRun.objects.filter(pk=run.pk).update(
        external_run_id=started.external_run_id,
        logs_url=started.logs_url,
        revision=F("revision") + 1,
        updated_at=timezone.now(),
    )
    logger.info(
        "run.started",
        extra={
            "run_id": str(run.run_id),
            "job_id": str(run.job.job_id),
            "glue_run_id": started.external_run_id,
            "adopted": started.adopted,
        },
    )


class StopNotReady(Exception):
    """The run has no external id yet: its start is still in progress."""


def run_stop_engine(*, run_id: str | uuid.UUID) -> None:
    """Ask the engine to stop a STOPPING run (the `jobs.run_stop` task body)."""
    run = JobRun.objects.select_related("job").filter(run_id=run_id).first()
    if run is None or run.state != RunState.STOPPING:
        return
    if not run.external_run_id:
        raise StopNotReady(str(run_id))
    try:
        get_engine(run.engine).stop(run)
    except PermanentAwsError as exc:
        # Asking again cannot help: say so on the run, which ends when its engine ends it.
        message = f"Stop failed: {exc}. The run goes on until it ends by itself."
        with transaction.atomic():
            updated = JobRun.objects.filter(pk=run.pk, state=RunState.STOPPING).update(
                stop_reason="stop_failed",
                error_message=storable_text(message),
                revision=F("revision") + 1,  # the mirror follows revisions
            )
            if updated:
                RunEvent.objects.create(
                    run=run,
                    from_state=RunState.STOPPING,
                    to_state=RunState.STOPPING,
                    source="worker",
                    message=storable_text(message),
                )
        logger.warning("run.stop_failed", extra={"run_id": str(run.run_id), "error": str(exc)})
