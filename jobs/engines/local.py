"""Local engine: the ETL library (etl) runs in a Celery worker on the `etl`
queue. The embedded stack's engine, and a real one for small data without Glue.

Start enqueues `jobs.run_local`; the task claims the run (STARTING → RUNNING), runs
the ETL and ends it SUCCEEDED with metrics, or FAILED / STOPPED / TIMEOUT. Stop is
cooperative: the run checks its state between batches (every heartbeat), so a STOPPING
run ends within DIEP_LOCAL_HEARTBEAT_SECONDS and publishes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection
from django.utils import timezone

from etl.errors import ChecksFailed, EtlError, EtlStopped
from etl.run import EtlRequest, run_etl
from etl.storage import Storage
from jobs.engines.base import EngineStart

if TYPE_CHECKING:
    from jobs.models import JobRun

logger = logging.getLogger(__name__)


class LocalEngine:
    name = "local"

    def start(self, run: JobRun) -> EngineStart:
        from jobs.tasks import run_local

        run_local.delay(str(run.run_id))
        return EngineStart(external_run_id=f"local-{run.run_id}")

    def find(self, run: JobRun) -> EngineStart | None:
        # Nothing to adopt: starting again is safe, the task claims the run first.
        return None

    def stop(self, run: JobRun) -> None:
        # The run sees STOPPING at its next heartbeat; nothing to call.
        logger.info("run.stop_requested", extra={"run_id": str(run.run_id), "engine": self.name})


def execute_local_run(*, run_id: str) -> None:
    """The `jobs.run_local` task body: claim, run the ETL, record the outcome."""
    from jobs import lifecycle
    from jobs.models import JobRun, RunState
    from jobs.services import transition_run

    run = JobRun.objects.select_related("job", "job_version").filter(run_id=run_id).first()
    if run is None:
        return
    if run.state == RunState.STOPPING:
        lifecycle.finish_run(run=run, to=_stopped_state(run), message="stopped before it ran")
        return
    now = timezone.now()
    if not transition_run(
        run=run,
        to=RunState.RUNNING,
        source="local",
        from_states={RunState.STARTING},
        message="running in a worker",
        heartbeat_at=now,
    ):
        logger.info("run.local_skipped", extra={"run_id": run_id, "state": run.state})
        return
    arguments = run.arguments or {}
    began = time.monotonic()
    try:
        request = EtlRequest.from_spec(
            run.job_version.config,
            run_id=str(run.run_id),
            manifest_uri=arguments.get("--diep_manifest"),
            bookmark=_bookmark(arguments.get("--diep_bookmark")),
        )
        storage = Storage(endpoint_url=settings.AWS_ENDPOINT_URL, region=settings.AWS_REGION)
        with _Heartbeat(run.pk) as heartbeat:
            result = run_etl(
                request, storage=storage, should_stop=heartbeat.stop_requested.is_set, now=now
            )
    except EtlStopped:
        lifecycle.finish_run(run=run, to=_stopped_state(run), message="stopped while running")
        return
    except ChecksFailed as exc:
        lifecycle.finish_run(
            run=run,
            to=RunState.FAILED,
            message=str(exc),
            error_message=str(exc),
            metrics={"checks": exc.report},
            execution_seconds=round(time.monotonic() - began),
        )
        return
    except EtlError as exc:
        lifecycle.finish_run(
            run=run, to=RunState.FAILED, message=str(exc)[:500], error_message=str(exc)
        )
        return
    except Exception as exc:
        logger.exception("run.local_crashed", extra={"run_id": run_id})
        message = f"internal error: {type(exc).__name__}: {exc}"
        lifecycle.finish_run(
            run=run, to=RunState.FAILED, message=message[:500], error_message=message
        )
        return
    metrics = result.metrics
    lifecycle.finish_run(
        run=run,
        to=RunState.SUCCEEDED,
        message=f"{metrics['rows_out']} rows in {metrics['output_files']} files",
        metrics=metrics,
        execution_seconds=round(time.monotonic() - began),
    )


def _stopped_state(run: JobRun) -> str:
    from jobs.models import RunState

    run.refresh_from_db(fields=["stop_reason"])  # set by whoever stopped it, meanwhile
    return RunState.TIMEOUT if run.stop_reason == "timeout" else RunState.STOPPED


def _bookmark(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class _Heartbeat:
    """A thread that records the run's heartbeat every DIEP_LOCAL_HEARTBEAT_SECONDS and
    notices Stop (the run no longer RUNNING). The ETL only reads the flag: pyarrow pulls
    batches on its own threads, where a database query would open stray connections."""

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk
        self.interval = max(settings.DIEP_LOCAL_HEARTBEAT_SECONDS, 0.1)
        self.stop_requested = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_pk}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(10)

    def _beat(self) -> None:
        from jobs.models import JobRun, RunState

        try:
            while not self._done.wait(self.interval):
                still_running = JobRun.objects.filter(
                    pk=self.run_pk, state=RunState.RUNNING
                ).update(heartbeat_at=timezone.now())
                if not still_running:
                    self.stop_requested.set()
                    return
        except Exception:  # a missed beat is recovered by the next; never kill the run
            logger.exception("run.heartbeat_failed", extra={"run_pk": self.run_pk})
        finally:
            connection.close()
