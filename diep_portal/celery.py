"""The Celery application, its queues and task routing."""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Exchange
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diep_portal.settings")


class Queue(StrEnum):
    """Queues by workload, so a flood of one kind never starves another."""

    RUNS = "runs"  # start/stop runs: short AWS calls
    MAINTENANCE = "maintenance"  # Beat-driven sweeps
    ETL = "etl"  # local-engine runs: minutes of CPU each, kept off the short queues


app = Celery("diep_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [
    KombuQueue(queue.value, Exchange(queue.value), routing_key=queue.value) for queue in Queue
]
app.conf.task_default_queue = Queue.RUNS.value
app.conf.task_routes = {
    "jobs.run_start": {"queue": Queue.RUNS.value},
    "jobs.run_stop": {"queue": Queue.RUNS.value},
    "jobs.run_local": {"queue": Queue.ETL.value},
    "jobs.poll_glue_runs": {"queue": Queue.MAINTENANCE.value},
    "jobs.fire_due_schedules": {"queue": Queue.MAINTENANCE.value},
    "jobs.deliver_alerts": {"queue": Queue.MAINTENANCE.value},
    "jobs.check_freshness": {"queue": Queue.MAINTENANCE.value},
    "jobs.purge_history": {"queue": Queue.MAINTENANCE.value},
    "ingestion.check_dlq_depth": {"queue": Queue.MAINTENANCE.value},
    "jobs.admit_queued_runs": {"queue": Queue.MAINTENANCE.value},
    "jobs.recover_stale_starts": {"queue": Queue.MAINTENANCE.value},
    "jobs.recover_lost_local_runs": {"queue": Queue.MAINTENANCE.value},
    "jobs.mirror_drain": {"queue": Queue.MAINTENANCE.value},
    "jobs.provision_infrastructure": {"queue": Queue.MAINTENANCE.value},
    "jobs.mirror_reconcile": {"queue": Queue.MAINTENANCE.value},
    "ingestion.flush_windows": {"queue": Queue.MAINTENANCE.value},
    "ingestion.drain_events": {"queue": Queue.MAINTENANCE.value},
    "ingestion.backfill_run": {"queue": Queue.MAINTENANCE.value},
}
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    # The filesystem transport fails on missing folders instead of creating them.
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = options.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


if str(app.conf.broker_url).startswith("filesystem://"):
    _ensure_filesystem_broker_folders()


def enqueue_on_commit(task: Any, *args: Any, recovered_by: str) -> None:
    """Send `task` once the current transaction commits. A broker that is down then
    costs no request a 500 and no row: the database already holds the work, and the
    sweep named by `recovered_by` sends it again (DIEP's state lives in the database;
    a queued message is only a wake-up call)."""
    from django.db import transaction

    def send() -> None:
        try:
            task.delay(*args)
        except Exception as exc:  # noqa: BLE001 - any publish failure is recovered later
            logging.getLogger(__name__).warning(
                "task.enqueue_failed",
                extra={"task": task.name, "error": str(exc), "recovered_by": recovered_by},
            )

    transaction.on_commit(send)
