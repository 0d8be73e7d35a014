"""The local engine's worker: the `jobs.run_local` task body. It claims the run
(STARTING → RUNNING), runs the ETL with a heartbeat, and ends the run SUCCEEDED with
metrics, or FAILED / STOPPED / TIMEOUT. Stop is cooperative: the run checks its state
between batches (every heartbeat), so a STOPPING run ends within
DIEP_LOCAL_HEARTBEAT_SECONDS and publishes nothing."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from etl.contract import RunArguments
from etl.errors import ChecksFailed, EtlError, EtlStopped
from etl.request import EtlRequest
from etl.run import run_etl
from etl.storage import Storage
from jobs.models import JobRun, RunState
from jobs.runs.outcome import finish_run
from jobs.runs.state import transition_run

logger = logging.getLogger(__name__)


def execute_local_run(*, run_id: str) -> None:
    """The `jobs.run_local` task body: claim, run the ETL, record the outcome."""
    run = JobRun.objects.select_related("job", "job_version").filter(run_id=run_id).first()
    if run is None:
        return
    if run.state == RunState.STOPPING:
        finish_run(run=run, to=_stopped_state(run), message="stopped before it ran")
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
    began = time.monotonic()
    try:
        diep = RunArguments.from_arguments(run.arguments or {})
        request = EtlRequest.from_spec(
            run.job_version.config,
            run_id=str(run.run_id),
            manifest_uri=diep.manifest_uri,
            bookmark=diep.bookmark,
        )
        storage = Storage(endpoint_url=settings.AWS_ENDPOINT_URL, region=settings.AWS_REGION)
        with _Heartbeat(run.pk) as heartbeat:
            result = run_etl(
                request, storage=storage, should_stop=heartbeat.stop_requested.is_set, now=now
            )
    except EtlStopped:
        finish_run(run=run, to=_stopped_state(run), message="stopped while running")
        return
    except ChecksFailed as exc:
        finish_run(
            run=run,
            to=RunState.FAILED,
            message=str(exc),
            error_message=str(exc),
            metrics={"checks": exc.report},
            execution_seconds=round(time.monotonic() - began),
        )
        return
    except EtlError as exc:
        finish_run(run=run, to=RunState.FAILED, message=str(exc)[:500], error_message=str(exc))
        return
    except Exception as exc:
        logger.exception("run.local_crashed", extra={"run_id": run_id})
        message = f"internal error: {type(exc).__name__}: {exc}"
        finish_run(run=run, to=RunState.FAILED, message=message[:500], error_message=message)
        return
    metrics = result.metrics
    finish_run(
        run=run,
        to=RunState.SUCCEEDED,
        message=f"{metrics['rows_out']} rows in {metrics['output_files']} files",
        metrics=metrics,
        execution_seconds=round(time.monotonic() - began),
    )


def _stopped_state(run: JobRun) -> str:
    run.refresh_from_db(fields=["stop_reason"])  # set by whoever stopped it, meanwhile
    return RunState.TIMEOUT if run.stop_reason == "timeout" else RunState.STOPPED


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
