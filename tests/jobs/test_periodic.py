"""The Beat entries: declared idempotently with an expiry (retired ones removed, others'
kept), and every entry's task, run twice in a row on a quiet system with real AWS (moto)
resources: the second run finds nothing left to do, and neither fails."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

import ingestion.tasks
import jobs.tasks
from diep_portal.aws.session import get_client
from jobs import mirror
from jobs.periodic import PERIODIC_TASKS

pytestmark = pytest.mark.django_db
TASK_MODULES = (ingestion.tasks, jobs.tasks)  # registers every task with the Celery app


@pytest.fixture
def infrastructure(aws: str, settings: Any) -> None:
    sqs = get_client("sqs")
    for queue in (settings.DIEP_INGEST_QUEUE, settings.DIEP_INGEST_DLQ):
        sqs.create_queue(QueueName=queue)
    get_client("s3").create_bucket(Bucket=settings.DIEP_ARTIFACTS_BUCKET)
    mirror.mirror_ensure_tables()


def nothing(result: Any) -> bool:
    if isinstance(result, dict):
        return not any(v for k, v in result.items() if k not in {"api_calls", "jobs"})
    return not result


@pytest.mark.parametrize("entry", PERIODIC_TASKS, ids=lambda entry: entry.name)
def test_each_periodic_task_is_safe_to_repeat(
    entry: Any, infrastructure: None, make_job: Any, no_enqueue: Any
) -> None:
    make_job(schedule="rate(5 minutes)")
    task = current_app.tasks[entry.task]
    task()
    second = task()
    assert nothing(second), second


def test_beat_entries_are_declared_with_expiry(db: None) -> None:
    # An entry DIEP no longer declares (a retired task) goes; others' entries stay.
    interval = IntervalSchedule.objects.create(every=30, period="seconds")
    PeriodicTask.objects.create(
        name="diep.poll_glue_runs", task="jobs.poll_glue_runs", interval=interval
    )
    PeriodicTask.objects.create(name="theirs", task="theirs.task", interval=interval)
    call_command("setup_periodic_tasks", stdout=None)
    call_command("setup_periodic_tasks", stdout=None)  # idempotent
    assert PeriodicTask.objects.filter(name="theirs").exists()
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__startswith="diep.")}
    assert set(tasks) == {entry.name for entry in PERIODIC_TASKS}
    track = tasks["diep.track_runs"]
    assert (track.task, track.interval.every, track.interval.period) == (
        "jobs.track_runs",
        30,
        "seconds",
    )
    assert all(0 < task.expire_seconds <= task.interval.every for task in tasks.values())
