"""The run tasks: thin wrappers that take a run id and call one function of jobs.runs."""

from __future__ import annotations

from diep_portal.celery import Queue, diep_task
from diep_portal.exceptions import TransientAwsError
from jobs.runs.start import StopNotReady, run_stop_engine
from jobs.runs.start import run_start as start_run


@diep_task(
    name="jobs.run_start", queue=Queue.RUNS, retry_on=(TransientAwsError,), max_retries=5, bind=True
)
def run_start(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    """Claim the run and start it on its engine (jobs.runs.start.run_start)."""
    start_run(run_id=run_id, last_attempt=self.request.retries >= self.max_retries)


@diep_task(
    name="jobs.run_stop",
    queue=Queue.RUNS,
    retry_on=(TransientAwsError, StopNotReady),
    max_retries=8,
)
def run_stop(run_id: str) -> None:
    """Ask the engine to stop a STOPPING run (jobs.runs.start.run_stop_engine)."""
    run_stop_engine(run_id=run_id)
