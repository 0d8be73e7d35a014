"""Admission: queued runs whose backoff is over are admitted by the Beat task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import services
from jobs.models import JobRun, RunState
from jobs.runs import admission
from jobs.runs.admission import admit_due_queued_runs
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


def test_due_queued_runs_are_admitted_by_the_beat_task(
    make_job: Any, no_enqueue: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(max_concurrent_runs=1)
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    transition_run(run=run, to=RunState.STARTING, source="test")
    transition_run(
        run=run,
        to=RunState.QUEUED,
        source="test",
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert admit_due_queued_runs() == 1
    run.refresh_from_db()
    assert run.state == RunState.PENDING
    assert no_enqueue[-1] == str(run.run_id)


def _fire_queries(job: Any, **request: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = services.job_fire(job=job, parameters={}, trigger="api", **request)
    statements = [query["sql"] for query in captured.captured_queries]
    return result.run, [sql for sql in statements if "SAVEPOINT" not in sql]


@pytest.mark.parametrize("insert", ["fused", "each"])
def test_both_inserts_admit_alike(
    make_job: Any,
    no_enqueue: list[str],
    insert: str,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The one-statement insert (PostgreSQL) and the portable one give the same runs and
    events: a slot taken, then a wait with its reason; an idempotency key kept."""
    if insert == "each":
        monkeypatch.setattr(admission, "_insert_fused", admission._insert_each)
    job = make_job(max_concurrent_runs=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.job_fire(job=job, parameters={"region": "eu"}, trigger="api").run
        second = services.job_fire(
            job=job, parameters={}, trigger="schedule", idempotency_key="k-1"
        ).run
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (RunState.PENDING, RunState.QUEUED)
    assert first.parameters["region"] == "eu"
    assert first.arguments["--region"] == "eu"
    assert second.idempotency_key == "k-1"
    assert second.trigger == "schedule"
    assert first.queued_at is not None
    assert first.engine == job.engine
    assert [(e.from_state, e.to_state, e.source, e.message) for e in first.events.all()] == [
        ("", "PENDING", "api", "")
    ]
    assert [(e.to_state, e.message) for e in second.events.all()] == [
        ("QUEUED", "waiting for one of 1 slot(s)")
    ]
    assert no_enqueue == [str(first.run_id)]  # only the run that got its slot starts


def test_admission_is_one_statement_on_postgresql(make_job: Any, no_enqueue: list[str]) -> None:
    job = make_job()
    services.job_fire(job=job, parameters={}, trigger="api")  # the location verdict, once
    run, queries = _fire_queries(job)
    assert len(queries) == 2, queries  # the job's lock (with the revision), then admission
    assert queries[1].startswith("WITH slot AS")
    assert JobRun.objects.get(pk=run.pk).events.get().to_state == RunState.PENDING
