"""Glue run tracking: every Glue state mapped explicitly, pushed (EventBridge events) and
polled (one GetJobRuns per Glue job) on the moto server over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from diep_portal.aws.session import get_client
from jobs.engines.glue.tracking import (
    GLUE_STATES,
    GlueObservation,
    poll_glue_runs,
    run_apply_glue_event,
    run_sync_state,
)
from jobs.models import JobRun, RunState
from tests.jobs.conftest import create_glue_job, glue_reads_per_state, in_state, started_run

pytestmark = pytest.mark.django_db


def states(run: JobRun) -> list[str]:
    return list(run.events.order_by("at", "id").values_list("to_state", flat=True))


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
    run_sync_state(run=run, observed=observed, source="glue-poll")
    run.refresh_from_db()
    assert run.state == expected
    assert run.glue_state == glue_state
    if run.is_terminal:
        assert run.finished_at is not None
        assert (run.execution_seconds, run.dpu_seconds, run.error_message) == (42, 336.0, "boom")


def test_late_and_duplicate_reports_never_move_a_run_back(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING)
    done = GlueObservation(job_run_id="jr_test", state="SUCCEEDED")
    assert run_sync_state(run=run, observed=done, source="glue-event")
    for late in ("RUNNING", "STARTING", "WAITING", "FAILED", "SUCCEEDED"):
        observed = GlueObservation(job_run_id="jr_test", state=late)
        assert not run_sync_state(run=run, observed=observed, source="glue-poll")
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert states(run) == ["PENDING", "STARTING", "RUNNING", "SUCCEEDED"]


def test_a_later_poll_fills_in_what_the_event_left_out(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING)
    run_sync_state(run=run, observed=GlueObservation("jr_test", "SUCCEEDED"), source="glue-event")
    run_sync_state(
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
    assert run_apply_glue_event(glue_event("jr_test", "RUNNING")) == run
    run_apply_glue_event(glue_event("jr_test", "FAILED", "NameError: x is not defined"))
    run_apply_glue_event(glue_event("jr_test", "RUNNING"))  # late duplicate
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert run.error_message == "NameError: x is not defined"
    assert states(run) == ["PENDING", "STARTING", "RUNNING", "FAILED"]


def test_events_for_unknown_runs_are_ignored_and_bad_ones_refused(db: None) -> None:
    assert run_apply_glue_event(glue_event("jr_elsewhere", "SUCCEEDED")) is None
    with pytest.raises(ValueError, match="not a Glue Job State Change"):
        run_apply_glue_event({"detail-type": "Object Created", "detail": {}})
    with pytest.raises(ValueError, match="without jobRunId"):
        run_apply_glue_event({"detail-type": "Glue Job State Change", "detail": {}})


# ------------------------------------------------------------------ polling (moto server)


def count_glue_calls(calls: list[str]) -> None:
    get_client("glue").meta.events.register(
        "before-call.glue", lambda model, **_: calls.append(model.name)
    )


def test_poll_makes_one_call_per_glue_job_and_follows_runs_to_the_end(
    artifacts: str, manual_glue: None, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_GLUE_JOB_NAMES = ["diep-ingest", "glue-a", "glue-b"]
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
        report = poll_glue_runs()
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
    assert poll_glue_runs().glue_jobs == 0
    assert calls == []  # nothing active, nothing asked


def test_a_poll_that_changed_nothing_logs_at_debug_only(
    aws: str, make_job: Any, no_enqueue: Any, caplog: Any
) -> None:
    # Every few seconds, all day: only ticks that changed something are worth a line.
    with caplog.at_level(logging.DEBUG, logger="jobs.engines.glue.tracking"):
        poll_glue_runs()
    assert [r.levelname for r in caplog.records if r.message == "glue_poll.done"] == ["DEBUG"]


@pytest.fixture
def glue_says_starting(aws: str) -> Iterator[None]:
    with glue_reads_per_state(aws, 99):
        yield


def test_a_poll_costs_queries_per_change_not_per_run(
    artifacts: str, glue_says_starting: None, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    """Runs where DIEP already has them cost one UPDATE per distinct detail between
    them; runs DIEP knows further on than Glue's report (a stale page) cost nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DIEP_GLUE_JOB_NAMES = ["diep-ingest"]
    create_glue_job("diep-ingest")
    runs = [started_run(make_job(name=f"job-{index}")) for index in range(6)]
    assert {run.state for run in runs} == {RunState.STARTING}
    # Glue reports STARTING for all six (manual progression); DIEP moved two further.
    ahead = runs[:2]
    JobRun.objects.filter(pk__in=[run.pk for run in ahead]).update(state=RunState.RUNNING)
    revisions = dict(JobRun.objects.values_list("pk", "revision"))

    with CaptureQueriesContext(connection) as first:
        report = poll_glue_runs()
    assert report.runs_tracked == 6
    assert report.runs_changed == 0
    writes = [q["sql"] for q in first.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1  # four runs' glue_state in one statement
    after = {run.pk: run for run in JobRun.objects.all()}
    for run in runs[2:]:
        assert (after[run.pk].state, after[run.pk].glue_state) == ("STARTING", "STARTING")
        assert after[run.pk].revision == revisions[run.pk] + 1
    for run in ahead:  # the stale report moved nothing and wrote nothing
        assert (after[run.pk].state, after[run.pk].glue_state) == ("RUNNING", "")
        assert after[run.pk].revision == revisions[run.pk]
        assert states(after[run.pk])[-1] == "STARTING"  # no event written either

    with CaptureQueriesContext(connection) as steady:
        poll_glue_runs()
    assert not [q for q in steady.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(steady.captured_queries) <= 3  # the active runs, the overdue ones
