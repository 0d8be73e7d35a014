"""The timeout backstop for Glue runs: Glue enforces the Timeout passed on StartJobRun;
runs it did not end are stopped here and end TIMEOUT."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.utils import timezone

from diep_portal.aws.glue import glue_batch_stop_job_run
from diep_portal.exceptions import AwsError
from jobs.models import Engine, JobRun, RunState
from jobs.runs.state import transition_run

logger = logging.getLogger(__name__)


def _overdue_runs(cutoff: datetime) -> list[JobRun]:
    """Active Glue runs whose started_at + timeout is before `cutoff`."""
    active = (
        JobRun.objects.select_related("job")
        .filter(engine=Engine.GLUE, state__in=(RunState.STARTING, RunState.RUNNING))
        .exclude(external_run_id="")
    )
    if connection.vendor != "postgresql":
        # SQLite (the embedded stack) has no interval arithmetic; it holds few runs.
        return [
            run
            for run in active.exclude(started_at=None)
            if run.started_at is not None
            and run.started_at + timedelta(minutes=run.job.timeout_minutes) < cutoff
        ]
    # The deadline is computed by the database: a tick reads only the overdue runs,
    # not every active one.
    deadline = ExpressionWrapper(
        F("started_at") + F("job__timeout_minutes") * timedelta(minutes=1),
        output_field=DateTimeField(),
    )
    return list(active.alias(deadline=deadline).filter(deadline__lt=cutoff))


def enforce_timeouts() -> int:
    """Stop runs still going past their job's timeout (plus grace); they end TIMEOUT.

    Glue enforces the Timeout we pass on StartJobRun; this is the backstop for runs
    it did not end. One BatchStopJobRun per Glue job name.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.DIEP_TIMEOUT_GRACE_SECONDS)
    overdue: dict[str, list[JobRun]] = defaultdict(list)
    for run in _overdue_runs(now - grace):
        if transition_run(
            run=run,
            to=RunState.STOPPING,
            source="timeout",
            message="past the job's timeout; stopping",
            stop_reason="timeout",
        ):
            overdue[run.job.glue_job_name].append(run)
    for glue_job_name, runs in overdue.items():
        try:
            result = glue_batch_stop_job_run(
                job_name=glue_job_name, job_run_ids=[r.external_run_id for r in runs]
            )
        except AwsError as exc:  # the next tick tries again: the runs stay STOPPING
            logger.warning("run.timeout_stop_failed", extra={"error": str(exc)})
            continue
        for stopping in runs:
            if stopping.external_run_id in result.errors:
                logger.warning(
                    "run.timeout_stop_refused",
                    extra={
                        "run_id": str(stopping.run_id),
                        "error": result.errors[stopping.external_run_id],
                    },
                )
    return sum(len(runs) for runs in overdue.values())
