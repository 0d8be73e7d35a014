"""Services against Postgres, with Glue on the moto server over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from diep_portal.aws.session import get_client
from diep_portal.exceptions import Conflict, TransientAwsError
from jobs import services
from jobs.models import JobRun, RunEvent, RunState
from jobs.runs.outcome import run_retry, run_stop
from jobs.runs.start import StopNotReady, run_start, run_stop_engine
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


def fire(job: Any, **kwargs: Any) -> JobRun:
    return services.job_fire(
        job=job, parameters=kwargs.pop("parameters", {}), trigger="api", **kwargs
    ).run


def glue_runs(job_name: str) -> list[dict[str, Any]]:
    return get_client("glue").get_job_runs(JobName=job_name)["JobRuns"]


def test_run_start_claims_and_records_glue_run_id(
    glue_job: str, make_job: Any, no_enqueue: Any
) -> None:
    run = fire(make_job(glue_job_name=glue_job), parameters={"region": "us"})
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.STARTING
    assert run.started_at is not None
    [glue_run] = glue_runs(glue_job)
    assert run.external_run_id == glue_run["Id"]
    assert glue_run["Arguments"]["--diep_run_id"] == str(run.run_id)
    assert glue_run["Arguments"]["--diep_job_id"] == str(run.job.job_id)
    assert glue_run["Arguments"]["--region"] == "us"
    assert glue_run["Timeout"] == 30


def test_run_start_twice_starts_glue_once(glue_job: str, make_job: Any, no_enqueue: Any) -> None:
    run = fire(make_job(glue_job_name=glue_job))
    run_start(run_id=run.run_id, last_attempt=False)
    run_start(run_id=run.run_id, last_attempt=False)  # a redelivered task
    assert len(glue_runs(glue_job)) == 1
    assert RunEvent.objects.filter(run=run, to_state="STARTING").count() == 1


def test_unknown_glue_job_fails_with_aws_message(
    artifacts: str, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    settings.DIEP_GLUE_JOB_NAMES = ["diep-ingest", "does-not-exist"]  # listed, never created
    run = fire(make_job(glue_job_name="does-not-exist"))
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "does-not-exist" in run.error_message
    assert run.finished_at is not None


def test_throttled_start_goes_back_to_pending_then_fails_on_last_attempt(
    glue_job: str, make_job: Any, no_enqueue: Any, one_glue_client: Any
) -> None:
    run = fire(make_job(glue_job_name=glue_job))
    client = one_glue_client
    with Stubber(client) as stub:
        stub.add_client_error("start_job_run", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(TransientAwsError):
            run_start(run_id=run.run_id, last_attempt=False)
        run.refresh_from_db()
        assert run.state == RunState.PENDING
        # Claimed before: first look for a Glue run the lost attempt may have started.
        stub.add_response("get_job_runs", {"JobRuns": []}, {"JobName": glue_job, "MaxResults": 200})
        stub.add_client_error("start_job_run", "InternalServiceException", "oops", 500)
        run_start(run_id=run.run_id, last_attempt=True)
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "oops" in run.error_message
    assert [e.to_state for e in run.events.order_by("at", "id")] == [
        "PENDING",
        "STARTING",
        "PENDING",
        "STARTING",
        "FAILED",
    ]


def test_transitions_are_monotonic(make_job: Any, no_enqueue: Any) -> None:
    run = fire(make_job())
    assert transition_run(run=run, to=RunState.STOPPED, source="test")
    for late in (RunState.RUNNING, RunState.PENDING, RunState.SUCCEEDED, RunState.STARTING):
        assert not transition_run(run=run, to=late, source="late-poll")
    run.refresh_from_db()
    assert run.state == RunState.STOPPED
    assert run.events.count() == 2


def test_stop_started_run_goes_stopping_and_asks_engine(
    make_job: Any, no_enqueue: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    run = fire(make_job())
    transition_run(run=run, to=RunState.STARTING, source="test")
    with django_capture_on_commit_callbacks(execute=True):
        run_stop(run=run, user=None, source="api")
    assert run.state == RunState.STOPPING
    assert no_enqueue[-1] == str(run.run_id)
    with pytest.raises(StopNotReady):  # no Glue id yet: the task retries later
        run_stop_engine(run_id=run.run_id)
    run_stop(run=run, user=None, source="api")  # stopping again is harmless
    transition_run(run=run, to=RunState.STOPPED, source="test")
    with pytest.raises(Conflict):
        run_stop(run=run, user=None, source="api")


def test_stop_engine_calls_batch_stop(glue_job: str, make_job: Any, no_enqueue: Any) -> None:
    run = fire(make_job(glue_job_name=glue_job))
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    run_stop(run=run, user=None, source="api")
    client = get_client("glue")
    with Stubber(client) as stub:  # moto has no BatchStopJobRun
        stub.add_response(
            "batch_stop_job_run",
            {
                "SuccessfulSubmissions": [{"JobName": glue_job, "JobRunId": run.external_run_id}],
                "Errors": [],
            },
            {"JobName": glue_job, "JobRunIds": [run.external_run_id]},
        )
        run_stop_engine(run_id=run.run_id)
        stub.assert_no_pending_responses()


def test_a_stop_the_endpoint_cannot_do_is_said_on_the_run_not_retried(
    glue_job: str, make_job: Any, no_enqueue: Any
) -> None:
    run = fire(make_job(glue_job_name=glue_job))
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    run_stop(run=run, user=None, source="api")
    run_stop_engine(run_id=run.run_id)  # the moto server has no BatchStopJobRun: no raise
    run.refresh_from_db()
    assert run.state == RunState.STOPPING
    assert run.stop_reason == "stop_failed"
    assert "NotImplemented: the endpoint does not implement BatchStopJobRun" in run.error_message
    assert run.events.filter(message__startswith="Stop failed").count() == 1


def test_raising_max_concurrency_admits_queued_runs(make_job: Any, no_enqueue: list[str]) -> None:
    from jobs.specs import job_to_spec

    job = make_job(max_concurrent_runs=1)
    runs = [fire(job) for _ in range(3)]
    assert [r.state for r in runs] == ["PENDING", "QUEUED", "QUEUED"]
    spec = job_to_spec(job)
    spec["max_concurrent_runs"] = 3
    services.job_update(job=job, spec=spec, user=None, source="test")
    assert set(JobRun.objects.values_list("state", flat=True)) == {"PENDING"}


def test_job_version_snapshots_are_kept(make_job: Any) -> None:
    from jobs.specs import job_to_spec

    job = make_job()
    spec = job_to_spec(job)
    spec["timeout_minutes"] = 90
    job = services.job_update(job=job, spec=spec, user=None, source="test")
    assert job.version == 2
    assert [v.config["timeout_minutes"] for v in job.versions.order_by("version")] == [30, 90]
    unchanged = services.job_update(job=job, spec=spec, user=None, source="test")
    assert unchanged.version == 2


def test_retry_keeps_version_and_parameters(make_job: Any, no_enqueue: Any) -> None:
    from jobs.specs import job_to_spec

    job = make_job()
    run = fire(job, parameters={"region": "us"})
    transition_run(run=run, to=RunState.FAILED, source="test")
    spec = job_to_spec(job)
    spec["parameters"] = {"region": "eu", "batch_size": "7"}
    services.job_update(job=job, spec=spec, user=None, source="test")
    retry = run_retry(run=run, user=None, source="api")
    assert retry.job_version_id == run.job_version_id
    assert retry.parameters == run.parameters
    assert retry.arguments["--batch_size"] == "500"


def test_jobs_appending_to_one_destination_do_not_load_each_other(make_job: Any) -> None:
    """Creating the hundredth job appending to a shared table costs what the first did:
    only jobs that could collide are loaded (one overwriting, any reading the output)."""
    from jobs.locations import JobLocations, _neighbours
    from jobs.models import Job

    shared = {"uri": "s3://diep-curated/orders/", "format": "parquet", "mode": "append"}
    for index in range(3):
        make_job(name=f"appender-{index}", trigger=None, schedule=None, destination=shared)

    def newcomer(mode: str) -> JobLocations:
        return JobLocations.of_job(
            Job(
                name="newcomer",
                source_uri="s3://diep-raw/orders/",
                destination_uri=shared["uri"],
                destination_mode=mode,
            )
        )

    assert _neighbours(newcomer("append"), exclude_pk=None) == []
    overwriting = newcomer("overwrite")
    loaded = _neighbours(overwriting, exclude_pk=None)
    assert sorted(other.name for other in loaded) == ["appender-0", "appender-1", "appender-2"]
