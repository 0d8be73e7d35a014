"""Run tracking: Glue states (pushed and polled), timeouts, retries, admission backoff,
and recovery of interrupted starts. Glue is the moto server over HTTP; botocore Stubber
stands in where moto has no such path (BatchStopJobRun, FAILED)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from botocore.stub import Stubber
from django.utils import timezone

from diep_portal.aws.session import get_client
from diep_portal.exceptions import TransientAwsError
from jobs import lifecycle, services
from jobs.lifecycle import GLUE_STATES, GlueObservation
from jobs.models import JobRun, RunEvent, RunState

pytestmark = pytest.mark.django_db


@pytest.fixture
def manual_glue(aws: str) -> Iterator[None]:
    """Glue runs advance one state per read, so a test sees RUNNING before SUCCEEDED."""
    url = f"{aws}/moto-api/state-manager/set-transition"
    body = {"model_name": "glue::job_run", "transition": {"progression": "manual", "times": 1}}
    requests.post(url, json=body, timeout=10).raise_for_status()
    yield
    requests.post(
        f"{aws}/moto-api/state-manager/unset-transition",
        json={"model_name": "glue::job_run"},
        timeout=10,
    )


def create_glue_job(name: str, max_concurrent_runs: int = 10) -> str:
    get_client("glue").create_job(
        Name=name,
        Role="arn:aws:iam::123456789012:role/diep-glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://diep-artifacts/glue_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": max_concurrent_runs},
    )
    return name


def started_run(job: Any) -> JobRun:
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    services.run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    return run


def states(run: JobRun) -> list[str]:
    return list(run.events.order_by("at", "id").values_list("to_state", flat=True))


def in_state(make_job: Any, state: str, **job_fields: Any) -> JobRun:
    """A run walked to `state` the legal way, with a Glue run id."""
    run = services.job_fire(job=make_job(**job_fields), parameters={}, trigger="api").run
    paths: dict[str, list[str]] = {
        RunState.STARTING: [RunState.STARTING],
        RunState.RUNNING: [RunState.STARTING, RunState.RUNNING],
    }
    for step in paths[state]:
        services.transition_run(run=run, to=step, source="test", started_at=timezone.now())
    JobRun.objects.filter(pk=run.pk).update(external_run_id="jr_test")
    run.refresh_from_db()
    return run


# ------------------------------------------------------------------ the state table


EXPECTED_FROM_STARTING = {
    "STARTING": RunState.STARTING,
    "WAITING": RunState.STARTING,
    "RUNNING": RunState.RUNNING,
    "STOPPING": RunState.STOPPING,
    "STOPPED": RunState.STOPPED,
    "SUCCEEDED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "ERROR": RunState.ERROR,
    "TIMEOUT": RunState.TIMEOUT,
    "EXPIRED": RunState.TIMEOUT,
}


def test_every_glue_state_is_mapped() -> None:
    assert set(GLUE_STATES) == set(EXPECTED_FROM_STARTING)


@pytest.mark.parametrize(("glue_state", "expected"), sorted(EXPECTED_FROM_STARTING.items()))
def test_glue_state_maps_explicitly(
    make_job: Any, no_enqueue: Any, glue_state: str, expected: str
) -> None:
    run = in_state(make_job, RunState.STARTING)
    observed = GlueObservation(
        job_run_id="jr_test",
        state=glue_state,
        error_message="boom",
        execution_seconds=42,
        dpu_seconds=336.0,
    )
    lifecycle.run_sync_state(run=run, observed=observed, source="glue-poll")
    run.refresh_from_db()
    assert run.state == expected
    assert run.glue_state == glue_state
    if run.is_terminal:
        assert run.finished_at is not None
        assert (run.execution_seconds, run.dpu_seconds, run.error_message) == (42, 336.0, "boom")


def test_late_and_duplicate_reports_never_move_a_run_back(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING)
    done = GlueObservation(job_run_id="jr_test", state="SUCCEEDED")
    assert lifecycle.run_sync_state(run=run, observed=done, source="glue-event")
    for late in ("RUNNING", "STARTING", "WAITING", "FAILED", "SUCCEEDED"):
        observed = GlueObservation(job_run_id="jr_test", state=late)
        assert not lifecycle.run_sync_state(run=run, observed=observed, source="glue-poll")
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert states(run) == ["PENDING", "STARTING", "RUNNING", "SUCCEEDED"]


def test_a_later_poll_fills_in_what_the_event_left_out(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING)
    lifecycle.run_sync_state(
        run=run, observed=GlueObservation("jr_test", "SUCCEEDED"), source="glue-event"
    )
    lifecycle.run_sync_state(
        run=run,
        observed=GlueObservation("jr_test", "SUCCEEDED", None, 61, 488.0),
        source="glue-poll",
    )
    run.refresh_from_db()
    assert (run.execution_seconds, run.dpu_seconds) == (61, 488.0)
    assert run.events.filter(to_state="SUCCEEDED").count() == 1


# ------------------------------------------------------------------ EventBridge events


def glue_event(job_run_id: str, state: str, message: str = "") -> dict[str, Any]:
    """The shape EventBridge delivers for Glue Job State Change."""
    return {
        "version": "0",
        "id": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2026-11-29T03:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "jobName": "diep-ingest",
            "severity": "ERROR" if state in {"FAILED", "TIMEOUT", "ERROR"} else "INFO",
            "state": state,
            "jobRunId": job_run_id,
            "message": message or f"Job run {state.lower()}",
        },
    }


def test_events_drive_the_run_and_keep_the_error(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.STARTING)
    assert lifecycle.run_apply_glue_event(glue_event("jr_test", "RUNNING")) == run
    lifecycle.run_apply_glue_event(glue_event("jr_test", "FAILED", "NameError: x is not defined"))
    lifecycle.run_apply_glue_event(glue_event("jr_test", "RUNNING"))  # late duplicate
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert run.error_message == "NameError: x is not defined"
    assert states(run) == ["PENDING", "STARTING", "RUNNING", "FAILED"]


def test_events_for_unknown_runs_are_ignored_and_bad_ones_refused(db: None) -> None:
    assert lifecycle.run_apply_glue_event(glue_event("jr_elsewhere", "SUCCEEDED")) is None
    with pytest.raises(ValueError, match="not a Glue Job State Change"):
        lifecycle.run_apply_glue_event({"detail-type": "Object Created", "detail": {}})
    with pytest.raises(ValueError, match="without jobRunId"):
        lifecycle.run_apply_glue_event({"detail-type": "Glue Job State Change", "detail": {}})


# ------------------------------------------------------------------ polling (moto server)


def count_glue_calls(calls: list[str]) -> None:
    get_client("glue").meta.events.register(
        "before-call.glue", lambda model, **_: calls.append(model.name)
    )


def test_poll_makes_one_call_per_glue_job_and_follows_runs_to_the_end(
    artifacts: str, manual_glue: None, make_job: Any, no_enqueue: Any
) -> None:
    runs = []
    create_glue_job("glue-a")
    create_glue_job("glue-b")  # (moto's CreateJob replaces a job and forgets its runs)
    for index, glue_job in enumerate(["glue-a", "glue-a", "glue-b", "glue-b", "glue-b"]):
        job = make_job(name=f"job-{index}", glue_job_name=glue_job)
        runs.append(started_run(job))
    assert all(run.state == RunState.STARTING and run.external_run_id for run in runs)
    calls: list[str] = []
    count_glue_calls(calls)
    seen: set[str] = set()
    for _ in range(6):
        calls.clear()
        report = lifecycle.poll_glue_runs()
        if report.glue_jobs:
            assert calls == ["GetJobRuns"] * report.glue_jobs  # never GetJobRun per run
            assert report.api_calls == report.glue_jobs
        seen |= {run.state for run in JobRun.objects.all()}
        if all(run.state == RunState.SUCCEEDED for run in JobRun.objects.all()):
            break
    assert RunState.RUNNING in seen
    assert set(JobRun.objects.values_list("state", flat=True)) == {RunState.SUCCEEDED}
    final = JobRun.objects.get(pk=runs[0].pk)
    assert states(final) == ["PENDING", "STARTING", "RUNNING", "SUCCEEDED"]
    assert final.logs_url.startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")
    calls.clear()
    assert lifecycle.poll_glue_runs().glue_jobs == 0
    assert calls == []  # nothing active, nothing asked


# ------------------------------------------------------------------ admission


def test_glue_concurrency_limit_requeues_then_starts_later(
    artifacts: str, manual_glue: None, make_job: Any, no_enqueue: list[str], settings: Any
) -> None:
    create_glue_job("glue-one-at-a-time", max_concurrent_runs=1)
    job = make_job(glue_job_name="glue-one-at-a-time", max_concurrent_runs=2)
    first, second = started_run(job), started_run(job)
    assert first.state == RunState.STARTING
    assert second.state == RunState.QUEUED  # refused by Glue: waits, never FAILED
    assert second.next_attempt_at is not None
    last_event = second.events.last()
    assert last_event is not None
    assert "concurrency limit" in last_event.message
    assert lifecycle.admit_due_queued_runs() == 0  # backoff not over
    JobRun.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    for _ in range(4):  # the first run finishes
        lifecycle.poll_glue_runs()
    first.refresh_from_db()
    assert first.state == RunState.SUCCEEDED
    second.refresh_from_db()
    assert second.state == RunState.PENDING  # freed slot admitted it, FIFO
    services.run_start(run_id=second.run_id, last_attempt=False)
    second.refresh_from_db()
    assert second.state == RunState.STARTING
    assert second.external_run_id
    assert len(get_client("glue").get_job_runs(JobName="glue-one-at-a-time")["JobRuns"]) == 2


def test_due_queued_runs_are_admitted_by_the_beat_task(
    make_job: Any, no_enqueue: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(max_concurrent_runs=1)
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    services.transition_run(run=run, to=RunState.STARTING, source="test")
    services.transition_run(
        run=run,
        to=RunState.QUEUED,
        source="test",
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.admit_due_queued_runs() == 1
    run.refresh_from_db()
    assert run.state == RunState.PENDING
    assert no_enqueue[-1] == str(run.run_id)


# ------------------------------------------------------------------ duplicate-start protection


def test_answer_lost_after_start_is_adopted_not_started_twice(
    glue_job: str, make_job: Any, no_enqueue: Any, monkeypatch: Any
) -> None:
    """StartJobRun reached Glue but its answer timed out: the retry adopts that run."""
    from jobs.engines import glue as glue_engine

    real_start = glue_engine.glue_start_job_run

    def start_then_lose_answer(**kwargs: Any) -> Any:
        real_start(**kwargs)
        raise TransientAwsError(
            service="glue", operation="StartJobRun", code="ReadTimeoutError", message="read timeout"
        )

    monkeypatch.setattr(glue_engine, "glue_start_job_run", start_then_lose_answer)
    run = services.job_fire(job=make_job(glue_job_name=glue_job), parameters={}, trigger="api").run
    with pytest.raises(TransientAwsError):
        services.run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.PENDING
    services.run_start(run_id=run.run_id, last_attempt=False)  # the task's retry
    run.refresh_from_db()
    glue_runs = get_client("glue").get_job_runs(JobName=glue_job)["JobRuns"]
    assert len(glue_runs) == 1
    assert run.external_run_id == glue_runs[0]["Id"]
    assert run.state == RunState.STARTING


def test_worker_killed_between_start_and_save_is_recovered_once(
    glue_job: str,
    make_job: Any,
    no_enqueue: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from jobs.engines.base import get_engine

    run = services.job_fire(job=make_job(glue_job_name=glue_job), parameters={}, trigger="api").run
    services.transition_run(
        run=run,
        to=RunState.STARTING,
        source="worker",
        started_at=timezone.now() - timedelta(minutes=10),
        start_attempts=1,
    )
    started = get_engine("glue").start(run)  # ... and the worker dies before saving this
    orphan = services.job_fire(job=run.job, parameters={}, trigger="api").run  # never reached Glue
    services.transition_run(
        run=orphan,
        to=RunState.STARTING,
        source="worker",
        started_at=timezone.now() - timedelta(minutes=10),
        start_attempts=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.recover_stale_starts() == 2
    run.refresh_from_db()
    orphan.refresh_from_db()
    assert run.external_run_id == started.external_run_id  # adopted
    assert orphan.state == RunState.PENDING  # started again
    assert no_enqueue[-1] == str(orphan.run_id)
    assert len(get_client("glue").get_job_runs(JobName=glue_job)["JobRuns"]) == 1
    assert lifecycle.recover_stale_starts() == 0  # idempotent


# ------------------------------------------------------------------ timeouts and retries


def test_run_past_timeout_is_stopped_and_ends_timeout(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING, timeout_minutes=5)
    JobRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    with Stubber(get_client("glue")) as stub:
        stub.add_response(
            "batch_stop_job_run",
            {
                "SuccessfulSubmissions": [{"JobName": "diep-ingest", "JobRunId": "jr_test"}],
                "Errors": [],
            },
            {"JobName": "diep-ingest", "JobRunIds": ["jr_test"]},
        )
        assert lifecycle.enforce_timeouts() == 1
        stub.assert_no_pending_responses()
    run.refresh_from_db()
    assert (run.state, run.stop_reason) == (RunState.STOPPING, "timeout")
    lifecycle.run_sync_state(
        run=run, observed=GlueObservation("jr_test", "STOPPED"), source="glue-poll"
    )
    run.refresh_from_db()
    assert run.state == RunState.TIMEOUT
    assert lifecycle.enforce_timeouts() == 0


def test_failed_run_with_attempts_left_is_retried_after_backoff(
    make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_RETRY_BACKOFF_SECONDS = 60
    run = in_state(make_job, RunState.RUNNING, max_retries=1)
    lifecycle.run_sync_state(
        run=run, observed=GlueObservation("jr_test", "FAILED", "oom"), source="glue-poll"
    )
    retry = JobRun.objects.get(retry_of=run)
    assert (retry.state, retry.attempt, retry.trigger) == (RunState.QUEUED, 2, "retry")
    assert retry.arguments["--region"] == run.arguments["--region"]
    assert retry.next_attempt_at is not None
    wait = retry.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert lifecycle.admit_due_queued_runs() == 0  # still backing off
    # The retry fails too: attempts are used up, no third run.
    for step in (RunState.PENDING, RunState.STARTING, RunState.RUNNING):
        services.transition_run(run=retry, to=step, source="test")
    lifecycle.run_sync_state(
        run=retry, observed=GlueObservation("jr_test", "FAILED"), source="glue-poll"
    )
    assert not JobRun.objects.filter(retry_of=retry).exists()
    assert RunEvent.objects.filter(run=retry, to_state="FAILED").count() == 1


def test_succeeded_and_stopped_runs_are_not_retried(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING, max_retries=3)
    lifecycle.run_sync_state(
        run=run, observed=GlueObservation("jr_test", "STOPPED"), source="glue-poll"
    )
    assert not JobRun.objects.filter(retry_of=run).exists()


# ------------------------------------------------------------------ Beat entries


def test_beat_entries_are_declared_with_expiry(db: None) -> None:
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from jobs.periodic import PERIODIC_TASKS

    call_command("setup_periodic_tasks", stdout=None)
    call_command("setup_periodic_tasks", stdout=None)  # idempotent
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__startswith="diep.")}
    assert set(tasks) == {entry.name for entry in PERIODIC_TASKS}
    poll = tasks["diep.poll_glue_runs"]
    assert (poll.task, poll.interval.every, poll.interval.period) == (
        "jobs.poll_glue_runs",
        30,
        "seconds",
    )
    assert all(0 < task.expire_seconds <= task.interval.every for task in tasks.values())


def test_a_run_pending_too_long_gets_its_start_sent_again(
    make_job: Any, no_enqueue: list[str], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = services.job_fire(job=make_job(), parameters={}, trigger="api").run
    no_enqueue.clear()
    long_ago = timezone.now() - timedelta(seconds=settings.DIEP_STALE_START_SECONDS + 1)
    JobRun.objects.filter(pk=run.pk).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.recover_stale_starts() == 1
        assert lifecycle.recover_stale_starts() == 0  # not again until it is stale again
    assert no_enqueue == [str(run.run_id)]
