"""Starting a run on Glue (the moto server over HTTP): a start refused by Glue's
concurrency limit waits in QUEUED, and a start whose answer was lost is adopted, never
made twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from diep_portal.aws.session import get_client
from diep_portal.exceptions import TransientAwsError
from jobs import services
from jobs.engines.glue.tracking import poll_glue_runs
from jobs.models import JobRun, RunState
from jobs.runs.admission import admit_due_queued_runs
from jobs.runs.start import run_start
from tests.jobs.conftest import create_glue_job, started_run

pytestmark = pytest.mark.django_db


def test_glue_concurrency_limit_requeues_then_starts_later(
    artifacts: str, manual_glue: None, make_job: Any, no_enqueue: list[str], settings: Any
) -> None:
    settings.DIEP_GLUE_JOB_NAMES = ["diep-ingest", "glue-one-at-a-time"]
    create_glue_job("glue-one-at-a-time", max_concurrent_runs=1)
    job = make_job(glue_job_name="glue-one-at-a-time", max_concurrent_runs=2)
    first, second = started_run(job), started_run(job)
    assert first.state == RunState.STARTING
    assert second.state == RunState.QUEUED  # refused by Glue: waits, never FAILED
    assert second.next_attempt_at is not None
    last_event = second.events.last()
    assert last_event is not None
    assert "concurrency limit" in last_event.message
    assert admit_due_queued_runs() == 0  # backoff not over
    JobRun.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    for _ in range(4):  # the first run finishes
        poll_glue_runs()
    first.refresh_from_db()
    assert first.state == RunState.SUCCEEDED
    second.refresh_from_db()
    assert second.state == RunState.PENDING  # freed slot admitted it, FIFO
    run_start(run_id=second.run_id, last_attempt=False)
    second.refresh_from_db()
    assert second.state == RunState.STARTING
    assert second.external_run_id
    assert len(get_client("glue").get_job_runs(JobName="glue-one-at-a-time")["JobRuns"]) == 2


# ------------------------------------------------------------------ duplicate-start protection


def test_answer_lost_after_start_is_adopted_not_started_twice(
    glue_job: str, make_job: Any, no_enqueue: Any, monkeypatch: Any
) -> None:
    """StartJobRun reached Glue but its answer timed out: the retry adopts that run."""
    from jobs.engines.glue import engine as glue_engine

    real_start = glue_engine.glue_start_job_run

    def start_then_lose_answer(**kwargs: Any) -> Any:
        real_start(**kwargs)
        raise TransientAwsError(
            service="glue", operation="StartJobRun", code="ReadTimeoutError", message="read timeout"
        )

    monkeypatch.setattr(glue_engine, "glue_start_job_run", start_then_lose_answer)
    run = services.job_fire(job=make_job(glue_job_name=glue_job), parameters={}, trigger="api").run
    with pytest.raises(TransientAwsError):
        run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.PENDING
    run_start(run_id=run.run_id, last_attempt=False)  # the task's retry
    run.refresh_from_db()
    glue_runs = get_client("glue").get_job_runs(JobName=glue_job)["JobRuns"]
    assert len(glue_runs) == 1
    assert run.external_run_id == glue_runs[0]["Id"]
    assert run.state == RunState.STARTING
