"""Every Beat entry of DIEP, declared once (DESIGN.md §3.8).

A migration and `manage.py setup_periodic_tasks` both apply this list with
update_or_create, so Beat's DatabaseScheduler always runs exactly these. Each entry
expires before its next tick: a backlog of stale ticks is dropped, not replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class PeriodicEntry:
    name: str
    task: str
    every_seconds: int
    why: str

    @property
    def expires_seconds(self) -> float:
        # At least a second: Beat stores whole seconds, and 0 would mean "never".
        return max(self.every_seconds * 0.9, 1)


PERIODIC_TASKS = (
    PeriodicEntry(
        name="diep.fire_due_schedules",
        task="jobs.fire_due_schedules",
        every_seconds=1,
        why="Fires scheduled jobs whose next tick is due (one indexed query; see "
        "jobs/dispatch.py for why this beats one Beat entry per job).",
    ),
    PeriodicEntry(
        name="diep.track_runs",
        task="jobs.track_runs",
        every_seconds=30,
        why="Each engine's tracking tick. Glue: the fallback for lost or late state events "
        "(one GetJobRuns walk per Glue job with active runs), then timeouts. Local: ends "
        "runs whose worker died (no heartbeat for DIEP_LOCAL_STALE_SECONDS), restarts ones "
        "never picked up, stops overdue ones.",
    ),
    PeriodicEntry(
        name="diep.admit_queued_runs",
        task="jobs.admit_queued_runs",
        every_seconds=10,
        why="Starts runs waiting out a Glue concurrency or retry backoff; runs freed by "
        "a finishing run start at once without waiting for this.",
    ),
    PeriodicEntry(
        name="diep.recover_stale_starts",
        task="jobs.recover_stale_starts",
        every_seconds=60,
        why="Adopts or restarts runs whose worker died between claim and StartJobRun's "
        "answer (DIEP_STALE_START_SECONDS old).",
    ),
    PeriodicEntry(
        name="diep.mirror_drain",
        task="jobs.mirror_drain",
        every_seconds=10,
        why="Sends job and run changes to the DynamoDB mirror; DynamoDB lags the "
        "database by at most this much.",
    ),
    PeriodicEntry(
        name="diep.mirror_reconcile",
        task="jobs.mirror_reconcile",
        every_seconds=600,
        why="Finds and repairs drift between the database and the DynamoDB mirror "
        "(items missing, stale or orphaned).",
    ),
    PeriodicEntry(
        name="diep.deliver_alerts",
        task="jobs.deliver_alerts",
        every_seconds=15,
        why="Retries alert deliveries that failed (new alerts are sent at once); a "
        "failed one waits DIEP_ALERT_BACKOFF_SECONDS, doubling, before its next try.",
    ),
    PeriodicEntry(
        name="diep.check_freshness",
        task="ingestion.check_freshness",
        every_seconds=60,
        why="Freshness SLAs: alerts (once per silence or day) for jobs whose files stopped "
        "arriving; up to this late.",
    ),
    PeriodicEntry(
        name="diep.check_dlq_depth",
        task="ingestion.check_dlq_depth",
        every_seconds=60,
        why="Alerts the operators (at most hourly) when the event DLQ reaches "
        "DIEP_DLQ_ALERT_DEPTH messages.",
    ),
    PeriodicEntry(
        name="diep.purge_history",
        task="jobs.purge_history",
        every_seconds=3600,
        why="Deletes finished runs and alerts older than DIEP_RETENTION_DAYS, in batches.",
    ),
    PeriodicEntry(
        name="diep.purge_files",
        task="ingestion.purge_files",
        every_seconds=3600,
        why="Deletes file-ledger rows older than DIEP_RETENTION_DAYS that no longer wait "
        "for a run, in batches.",
    ),
    PeriodicEntry(
        name="diep.flush_windows",
        task="ingestion.flush_windows",
        every_seconds=5,
        why="Turns files whose job's coalescing window closed into one run per batch; "
        "a window can close up to this late.",
    ),
)


def apply_periodic_tasks(periodic_task_model: Any, interval_model: Any, changed_model: Any) -> None:
    """Create or update every entry, and delete DIEP's entries no longer declared (a
    renamed or retired task would otherwise be sent forever). Models are passed in so
    migrations use historical ones."""
    periodic_task_model.objects.filter(name__startswith="diep.").exclude(
        name__in=[entry.name for entry in PERIODIC_TASKS]
    ).delete()
    for entry in PERIODIC_TASKS:
        # Not get_or_create: an operator's identical interval must not make it raise.
        interval = interval_model.objects.filter(
            every=entry.every_seconds, period="seconds"
        ).first() or interval_model.objects.create(every=entry.every_seconds, period="seconds")
        periodic_task_model.objects.update_or_create(
            name=entry.name,
            defaults={
                "task": entry.task,
                "interval": interval,
                "crontab": None,
                "enabled": True,
                "expire_seconds": int(entry.expires_seconds),
                "description": entry.why,
                "queue": None,
            },
        )
    # Bulk-style writes bypass the scheduler's change signal; tell Beat to reload.
    changed_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
