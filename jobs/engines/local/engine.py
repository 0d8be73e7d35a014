"""The local engine: the ETL library (etl/) runs in a Celery worker on the `etl`
queue. The embedded stack's engine, and a real one for small data without Glue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from diep_portal.celery import enqueue_on_commit
from jobs.engines.base import EngineStart
from jobs.engines.local.tracking import recover_lost_local_runs

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)


class LocalEngine:
    """Start enqueues `jobs.run_local` (jobs/engines/local/tasks.py); the worker does the
    rest. The run's external id is its own."""

    name = "local"

    def start(self, run: JobRun) -> EngineStart:
        enqueue_on_commit(
            "jobs.run_local", str(run.run_id), recovered_by="jobs.track_runs (never picked up)"
        )
        return EngineStart(external_run_id=f"local-{run.run_id}")

    def find(self, run: JobRun) -> EngineStart | None:
        # Nothing to adopt: starting again is safe, the task claims the run first.
        return None

    def stop(self, run: JobRun) -> None:
        # The run sees STOPPING at its next heartbeat; nothing to call.
        logger.info("run.stop_requested", extra={"run_id": str(run.run_id), "engine": self.name})

    def track(self) -> int:
        """Runs a dead worker left, starts never picked up, runs past their timeout."""
        return recover_lost_local_runs()
