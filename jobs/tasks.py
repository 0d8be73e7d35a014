"""Celery tasks for runs: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from diep_portal.exceptions import TransientAwsError
from diep_portal.infrastructure import infrastructure_apply
from diep_portal.locks import single_flight
from jobs import alerts, lifecycle, mirror, scheduler, services

# Backoff stays under the broker's visibility timeout (settings), or a waiting retry
# would be handed to a second worker.
_RETRY_BACKOFF_MAX = 30


@shared_task(
    bind=True,
    name="jobs.run_start",
    acks_late=True,
    autoretry_for=(TransientAwsError,),
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=_RETRY_BACKOFF_MAX,
    retry_jitter=True,
)
def run_start(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    """Claim the run and start it on its engine (see services.run_start)."""
    services.run_start(run_id=run_id, last_attempt=self.request.retries >= self.max_retries)


@shared_task(
    bind=True,
    name="jobs.run_stop",
    acks_late=True,
    autoretry_for=(TransientAwsError, services.StopNotReady),
    max_retries=8,
    retry_backoff=2,
    retry_backoff_max=_RETRY_BACKOFF_MAX,
    retry_jitter=True,
)
def run_stop(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    """Ask the engine to stop a STOPPING run (see services.run_stop_engine)."""
    services.run_stop_engine(run_id=run_id)


@shared_task(
    name="jobs.run_local",
    # Acked on receipt: an ETL run lasts longer than the broker's visibility timeout,
    # so acks_late would hand it to a second worker mid-run. A worker lost mid-run is
    # found by its silent heartbeat instead (lifecycle.recover_lost_local_runs).
    acks_late=False,
    ignore_result=True,
    # The job's timeout (enforced through Stop) bounds a run, not the global task limit
    # sized for short tasks; this is only the backstop: Glue's own maximum, 48 hours.
    soft_time_limit=48 * 3600,
    time_limit=48 * 3600 + 300,
)
def run_local(run_id: str) -> None:
    """Run a local-engine run's ETL in this worker (jobs.engines.local)."""
    from jobs.engines.local import execute_local_run

    execute_local_run(run_id=run_id)


# ------------------------------------------------------------------ maintenance (Beat)
# Declared as Beat entries in jobs/periodic.py. Each is safe to run twice at once.


@shared_task(name="jobs.poll_glue_runs", acks_late=True, ignore_result=True)
def poll_glue_runs() -> dict[str, int]:
    """One Glue poll tick: state of every active run, then timeouts (lifecycle)."""
    report = lifecycle.poll_glue_runs()
    return {"api_calls": report.api_calls, "changed": report.runs_changed}


@shared_task(name="jobs.fire_due_schedules", acks_late=True, ignore_result=True)
def fire_due_schedules() -> dict[str, float]:
    """Fire the scheduled jobs whose tick is due (jobs.scheduler)."""
    return dict(scheduler.fire_due_schedules().__dict__)


@shared_task(name="jobs.deliver_alerts", acks_late=True, ignore_result=True)
def deliver_alerts() -> int:
    """Send due alert deliveries, retrying failed ones with backoff (jobs.alerts)."""
    return alerts.deliver_due()


@shared_task(name="jobs.check_freshness", acks_late=True, ignore_result=True)
def check_freshness() -> int:
    """Alert for jobs whose files are late (freshness SLAs, jobs.alerts)."""
    return alerts.check_freshness()


@shared_task(name="jobs.purge_history", acks_late=True, ignore_result=True)
def purge_history() -> dict[str, int]:
    """Delete runs, ledger rows and alerts past DIEP_RETENTION_DAYS (lifecycle)."""
    return lifecycle.purge_history()


@shared_task(name="jobs.admit_queued_runs", acks_late=True, ignore_result=True)
def admit_queued_runs() -> int:
    """Start QUEUED runs whose backoff ended and whose job has a free slot."""
    return lifecycle.admit_due_queued_runs()


@shared_task(name="jobs.recover_stale_starts", acks_late=True, ignore_result=True)
def recover_stale_starts() -> int:
    """Adopt or restart runs whose worker died between claiming and starting them."""
    return lifecycle.recover_stale_starts()


@shared_task(name="jobs.recover_lost_local_runs", acks_late=True, ignore_result=True)
def recover_lost_local_runs() -> int:
    """End local runs whose worker died, restart ones never picked up (lifecycle)."""
    return lifecycle.recover_lost_local_runs()


@shared_task(
    bind=True,
    name="jobs.provision_infrastructure",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(TransientAwsError,),
    max_retries=8,
    retry_backoff=2,
    retry_backoff_max=_RETRY_BACKOFF_MAX,
)
def provision_infrastructure(self) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Apply the infrastructure the jobs need (DIEP_AUTO_PROVISION, after a trigger
    change). One at a time: bucket notifications are read-modify-written, and two
    concurrent writers would lose one's change, so a second request waits its turn."""
    with single_flight("jobs.provision_infrastructure", timeout_seconds=300) as mine:
        if not mine:
            raise self.retry(countdown=5)
        return infrastructure_apply().summary


@shared_task(name="jobs.mirror_drain", acks_late=True, ignore_result=True)
def mirror_drain() -> dict[str, int]:
    """Send job and run changes to the DynamoDB mirror (jobs.mirror)."""
    return dict(mirror.mirror_drain().__dict__)


@shared_task(name="jobs.mirror_reconcile", acks_late=True, ignore_result=True)
def mirror_reconcile() -> dict[str, int]:
    """Compare the mirror with the database and repair drift (jobs.mirror)."""
    reports = mirror.mirror_reconcile(repair=True)
    return {name: report.drift for name, report in reports.items()}
