"""The local engine's task: one ETL run in this worker."""

from __future__ import annotations

from diep_portal.celery import Queue, diep_task
from jobs.engines.local.worker import execute_local_run


@diep_task(
    name="jobs.run_local",
    queue=Queue.ETL,
    # Acked on receipt: an ETL run lasts longer than the broker's visibility timeout,
    # so acks_late would hand it to a second worker mid-run. A worker lost mid-run is
    # found by its silent heartbeat instead (jobs.engines.local.tracking).
    acks_late=False,
    # The job's timeout (enforced through Stop) bounds a run, not the global task limit
    # sized for short tasks; this is only the backstop: Glue's own maximum, 48 hours.
    soft_time_limit=48 * 3600,
    time_limit=48 * 3600 + 300,
)
def run_local(run_id: str) -> None:
    """Run a local-engine run's ETL in this worker (jobs.engines.local.worker)."""
    execute_local_run(run_id=run_id)
