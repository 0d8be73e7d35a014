"""The Celery application, its queues, the one decorator every DIEP task is declared
with (name, queue and retry policy stated on the task), and enqueueing after commit."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from celery import Celery, shared_task
from django.db import transaction
from kombu import Exchange
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diep_portal.settings")


class Queue(StrEnum):
    """Queues by workload, so a flood of one kind never starves another."""

    RUNS = "runs"  # start/stop runs: short AWS calls
    MAINTENANCE = "maintenance"  # Beat-driven sweeps
    ETL = "etl"  # local-engine runs: minutes of CPU each, kept off the short queues
    # Alert deliveries: network I/O to receivers DIEP does not control (a slow webhook
    # must never hold up run starts), on a worker of their own.
    ALERTS = "alerts"


app = Celery("diep_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [
    KombuQueue(queue.value, Exchange(queue.value), routing_key=queue.value) for queue in Queue
]
# Every task names its queue (diep_task); this only catches a task declared without it.
app.conf.task_default_queue = Queue.RUNS.value
#: Each task's queue, as diep_task declared it; the router below sends it there.
_DECLARED_QUEUES: dict[str, Queue] = {}


def _route_to_declared_queue(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str] | None:
    # A router, not the `queue` task attribute: Celery deprecates that (6.0 removes it).
    queue = _DECLARED_QUEUES.get(name)
    return {"queue": queue.value} if queue is not None else None


app.conf.task_routes = (_route_to_declared_queue,)
# The packages whose `tasks` module declares tasks: workers and Beat import these.
TASK_PACKAGES = ("diep_portal", "jobs", "jobs.runs", "jobs.engines.local", "ingestion")
app.autodiscover_tasks(list(TASK_PACKAGES))

#: Retries of AWS calls back off 2, 4, 8… seconds up to this, staying under the
#: broker's visibility timeout (settings), or a waiting retry would be handed to a
#: second worker.
RETRY_BACKOFF_MAX_SECONDS = 30


def diep_task(
    *,
    name: str,
    queue: Queue,
    retry_on: tuple[type[BaseException], ...] = (),
    max_retries: int = 0,
    **options: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a DIEP task: its stable `name` (what Beat entries and queued messages
    carry), its `queue`, and its retry policy, all on the task itself.

    `retry_on` are the transient errors retried, at most `max_retries` times with
    jittered exponential backoff; anything else fails the task at once. Tasks ack late
    (a worker lost mid-task hands it to another) unless `acks_late=False` is given.
    """
    if retry_on and max_retries <= 0:
        raise ValueError(f"task {name}: retry_on needs max_retries > 0")
    _DECLARED_QUEUES[name] = queue
    settings: dict[str, Any] = {
        "name": name,
        "acks_late": True,
        "ignore_result": True,
        "max_retries": max_retries,
        **options,
    }
    if retry_on:
        settings.update(
            autoretry_for=retry_on,
            retry_backoff=2,
            retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
            retry_jitter=True,
        )
    return shared_task(**settings)


def _ensure_filesystem_broker_folders() -> None:
    # The filesystem transport fails on missing folders instead of creating them.
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = options.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


if str(app.conf.broker_url).startswith("filesystem://"):
    _ensure_filesystem_broker_folders()


def enqueue_on_commit(task_name: str, *args: Any, recovered_by: str) -> None:
    """Send the task named `task_name` once the current transaction commits.

    By name, so a service can wake its own worker without importing the tasks module
    that imports it; the task's declaration (diep_task) still decides its queue, and an
    unknown name fails at once (the registry lookup), not silently on a worker.
    A broker that is down costs no request a 500 and no row: the database already holds
    the work, and the sweep named by `recovered_by` sends it again (DIEP's state lives in
    the database; a queued message is only a wake-up call).
    """
    if task_name not in app.tasks:
        # Outside workers and Beat nothing imports the tasks modules: load them once.
        app.loader.import_default_modules()
    task = app.tasks[task_name]

    def send() -> None:
        try:
            task.delay(*args)
        except Exception as exc:  # noqa: BLE001 - any publish failure is recovered later
            logging.getLogger(__name__).warning(
                "task.enqueue_failed",
                extra={"task": task_name, "error": str(exc), "recovered_by": recovered_by},
            )

    transaction.on_commit(send)
