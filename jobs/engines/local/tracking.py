"""Tracking local runs: the worker reports its own outcome, so a tick only finds the runs
a dead worker left (no heartbeat), starts never picked up, and runs past their timeout
(no engine enforces it for them)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.models import Engine, JobRun, RunState
from jobs.runs.admission import start_again
from jobs.runs.outcome import finish_run
from jobs.runs.state import transition_run


def recover_lost_local_runs() -> int:
    """Local-engine runs whose worker died: RUNNING or STOPPING with no heartbeat for
    DIEP_LOCAL_STALE_SECONDS end FAILED (or STOPPED), and retries apply; STARTING ones
    whose task never began are started again. Also ends local runs past their timeout
    (no engine enforces it for them). Returns how many runs it moved."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DIEP_LOCAL_STALE_SECONDS)
    moved = 0
    local = JobRun.objects.select_related("job").filter(engine=Engine.LOCAL)
    for run in local.filter(
        state__in=(RunState.RUNNING, RunState.STOPPING), heartbeat_at__lt=stale
    ):
        stopping = run.state == RunState.STOPPING
        target = RunState.FAILED
        if stopping:
            target = RunState.TIMEOUT if run.stop_reason == "timeout" else RunState.STOPPED
        silence = int((now - run.heartbeat_at).total_seconds()) if run.heartbeat_at else 0
        message = f"worker lost: no heartbeat for {silence} s"
        moved += finish_run(
            run=run, to=target, source="recovery", message=message, error_message=message
        )
    for run in local.filter(
        state=RunState.STARTING, heartbeat_at__isnull=True, started_at__lt=stale
    ):
        moved += start_again(run, message="the worker never picked the run up; starting again")
    for run in local.filter(state=RunState.RUNNING, started_at__isnull=False):
        if run.started_at and run.started_at + timedelta(minutes=run.job.timeout_minutes) < now:
            moved += transition_run(
                run=run,
                to=RunState.STOPPING,
                source="timeout",
                message="past the job's timeout; stopping",
                stop_reason="timeout",
            )
    return moved
