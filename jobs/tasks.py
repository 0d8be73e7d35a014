"""The jobs app's maintenance tasks, each a Beat entry (jobs/periodic.py) calling one
service; each is safe to run twice at once. The run tasks are jobs/runs/tasks.py and
the local engine's is jobs/engines/local/tasks.py."""

from __future__ import annotations

from diep_portal.celery import Queue, diep_task
from jobs import alerts, dispatch, mirror, retention
from jobs.engines.registry import track_engines
from jobs.runs.admission import admit_due_queued_runs
from jobs.runs.recovery import recover_stale_starts as recover_starts


@diep_task(name="jobs.track_runs", queue=Queue.MAINTENANCE)
def track_runs() -> dict[str, int]:
    """One tracking tick of every engine (Glue: poll and timeouts; local: lost workers
    and timeouts); runs moved by engine."""
    return track_engines()


@diep_task(name="jobs.fire_due_schedules", queue=Queue.MAINTENANCE)
def fire_due_schedules() -> dict[str, float]:
    """Fire the scheduled jobs whose tick is due (jobs.dispatch)."""
    return dict(dispatch.fire_due_schedules().__dict__)


@diep_task(name="jobs.deliver_alerts", queue=Queue.ALERTS)
def deliver_alerts() -> int:
    """Send due alert deliveries, retrying failed ones with backoff (jobs.alerts)."""
    return alerts.deliver_due()


@diep_task(name="jobs.purge_history", queue=Queue.MAINTENANCE)
def purge_history() -> dict[str, int]:
    """Delete runs and alerts past DIEP_RETENTION_DAYS (jobs.retention)."""
    return retention.purge_history()


@diep_task(name="jobs.admit_queued_runs", queue=Queue.MAINTENANCE)
def admit_queued_runs() -> int:
    """Start QUEUED runs whose backoff ended and whose job has a free slot."""
    return admit_due_queued_runs()


@diep_task(name="jobs.recover_stale_starts", queue=Queue.MAINTENANCE)
def recover_stale_starts() -> int:
    """Adopt or restart runs whose worker died between claiming and starting them."""
    return recover_starts()


@diep_task(name="jobs.mirror_drain", queue=Queue.MAINTENANCE)
def mirror_drain() -> dict[str, int]:
    """Send job and run changes to the DynamoDB mirror (jobs.mirror)."""
    return dict(mirror.mirror_drain().__dict__)


@diep_task(name="jobs.mirror_reconcile", queue=Queue.MAINTENANCE)
def mirror_reconcile() -> dict[str, int]:
    """Compare the mirror with the database and repair drift (jobs.mirror)."""
    reports = mirror.mirror_reconcile(repair=True)
    return {name: report.drift for name, report in reports.items()}
