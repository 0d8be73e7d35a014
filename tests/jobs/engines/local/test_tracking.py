"""Tracking local runs: an overdue run is stopped as a timeout, a lost worker fails its
run, and a run whose worker never started is started again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.engines.local.tracking import recover_lost_local_runs
from jobs.models import JobRun, RunState
from jobs.runs.state import transition_run
from tests.jobs.engines.local.conftest import fire_and_run, local_job

# As for the worker's tests: what the runs see is committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_timeout_stops_a_local_run_as_timeout(
    buckets: Any, make_job: Any, monkeypatch: Any, settings: Any
) -> None:
    monkeypatch.setattr("jobs.engines.local.tasks.run_local.delay", lambda run_id: None)
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    run = fire_and_run(local_job(make_job, timeout_minutes=1))
    transition_run(run=run, to=RunState.RUNNING, source="local", heartbeat_at=timezone.now())
    JobRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    assert recover_lost_local_runs() == 1
    run.refresh_from_db()
    assert run.state == RunState.STOPPING
    assert run.stop_reason == "timeout"
    # The worker's next heartbeat sees it; here, a worker that died meanwhile:
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    recover_lost_local_runs()
    run.refresh_from_db()
    assert run.state == RunState.TIMEOUT


def test_a_lost_worker_fails_the_run_and_a_never_started_one_is_restarted(
    buckets: Any,
    make_job: Any,
    monkeypatch: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    started: list[str] = []
    monkeypatch.setattr("jobs.engines.local.tasks.run_local.delay", lambda run_id: None)
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", started.append)
    job = local_job(make_job, max_concurrent_runs=2)
    lost, never = fire_and_run(job), fire_and_run(job)
    transition_run(run=lost, to=RunState.RUNNING, source="local", heartbeat_at=timezone.now())
    long_ago = timezone.now() - timedelta(seconds=settings.DIEP_LOCAL_STALE_SECONDS + 5)
    JobRun.objects.filter(pk=lost.pk).update(heartbeat_at=long_ago)
    JobRun.objects.filter(pk=never.pk).update(started_at=long_ago)
    started.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_lost_local_runs() == 2
    lost.refresh_from_db()
    never.refresh_from_db()
    assert lost.state == RunState.FAILED
    assert "worker lost" in lost.error_message
    assert never.state == RunState.PENDING
    assert started == [str(never.run_id)]
    assert recover_lost_local_runs() == 0  # idempotent
