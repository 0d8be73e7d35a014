"""Recovery of interrupted starts: a worker killed between StartJobRun and saving its
answer, and a run left PENDING too long."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from diep_portal.aws.session import get_client
from jobs import services
from jobs.models import JobRun, RunState
from jobs.runs.recovery import recover_stale_starts
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


def test_worker_killed_between_start_and_save_is_recovered_once(
    glue_job: str,
    make_job: Any,
    no_enqueue: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from jobs.engines.registry import get_engine

    run = services.job_fire(job=make_job(glue_job_name=glue_job), parameters={}, trigger="api").run
    transition_run(
        run=run,
        to=RunState.STARTING,
        source="worker",
        started_at=timezone.now() - timedelta(minutes=10),
        start_attempts=1,
    )
    started = get_engine("glue").start(run)  # ... and the worker dies before saving this
    orphan = services.job_fire(job=run.job, parameters={}, trigger="api").run  # never reached Glue
    transition_run(
        run=orphan,
        to=RunState.STARTING,
        source="worker",
        started_at=timezone.now() - timedelta(minutes=10),
        start_attempts=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_starts() == 2
    run.refresh_from_db()
    orphan.refresh_from_db()
    assert run.external_run_id == started.external_run_id  # adopted
    assert orphan.state == RunState.PENDING  # started again
    assert no_enqueue[-1] == str(orphan.run_id)
    assert len(get_client("glue").get_job_runs(JobName=glue_job)["JobRuns"]) == 1
    assert recover_stale_starts() == 0  # idempotent


def test_a_run_pending_too_long_gets_its_start_sent_again(
    make_job: Any, no_enqueue: list[str], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = services.job_fire(job=make_job(), parameters={}, trigger="api").run
    no_enqueue.clear()
    long_ago = timezone.now() - timedelta(seconds=settings.DIEP_STALE_START_SECONDS + 1)
    JobRun.objects.filter(pk=run.pk).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_starts() == 1
        assert recover_stale_starts() == 0  # not again until it is stale again
    assert no_enqueue == [str(run.run_id)]
