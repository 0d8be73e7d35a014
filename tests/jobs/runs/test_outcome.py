"""A run's outcome: a failed run with attempts left is retried after a backoff; a
succeeded or stopped one is not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.engines.glue.tracking import GlueObservation, run_sync_state
from jobs.models import JobRun, RunEvent, RunState
from jobs.runs.admission import admit_due_queued_runs
from jobs.runs.state import transition_run
from tests.jobs.conftest import in_state

pytestmark = pytest.mark.django_db


def test_failed_run_with_attempts_left_is_retried_after_backoff(
    make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_RETRY_BACKOFF_SECONDS = 60
    run = in_state(make_job, RunState.RUNNING, max_retries=1)
    run_sync_state(
        run=run, observed=GlueObservation("jr_test", "FAILED", "oom"), source="glue-poll"
    )
    retry = JobRun.objects.get(retry_of=run)
    assert (retry.state, retry.attempt, retry.trigger) == (RunState.QUEUED, 2, "retry")
    assert retry.arguments["--region"] == run.arguments["--region"]
    assert retry.next_attempt_at is not None
    wait = retry.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert admit_due_queued_runs() == 0  # still backing off
    # The retry fails too: attempts are used up, no third run.
    for step in (RunState.PENDING, RunState.STARTING, RunState.RUNNING):
        transition_run(run=retry, to=step, source="test")
    run_sync_state(run=retry, observed=GlueObservation("jr_test", "FAILED"), source="glue-poll")
    assert not JobRun.objects.filter(retry_of=retry).exists()
    assert RunEvent.objects.filter(run=retry, to_state="FAILED").count() == 1


def test_succeeded_and_stopped_runs_are_not_retried(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING, max_retries=3)
    run_sync_state(run=run, observed=GlueObservation("jr_test", "STOPPED"), source="glue-poll")
    assert not JobRun.objects.filter(retry_of=run).exists()
