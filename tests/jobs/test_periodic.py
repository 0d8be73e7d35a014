"""Every Beat entry's task, run twice in a row on a quiet system with real AWS (moto)
resources: the second run finds nothing left to do, and neither fails."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app

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
