"""Admission: queued runs whose backoff is over are admitted by the Beat task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import RunState
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
