"""Glue hooks and the client factory: moto's `mock_aws` where moto implements the call,
botocore's Stubber for exact requests, paging and BatchStopJobRun (not in moto)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.moto_api import state_manager

from diep_portal.aws.glue import (
    GlueJobInfo,
    GlueJobRun,
    GlueRunStarted,
    GlueStopResult,
    glue_batch_stop_job_run,
    glue_create_job,
    glue_create_job_from_definition,
    glue_get_job,
    glue_get_job_definition,
    glue_get_job_run,
    glue_get_job_runs,
    glue_start_job_run,
    glue_update_job,
)
from diep_portal.aws.session import get_client, reset_clients
from diep_portal.exceptions import ConcurrencyLimitExceeded, PermanentAwsError

JOB = "diep-ingest"
ROLE = "arn:aws:iam::123456789012:role/diep-glue"
SCRIPT = "s3://diep-artifacts/glue_job.py"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_job(max_concurrent_runs: int = 10, defaults: dict[str, str] | None = None) -> None:
    glue_create_job(
        name=JOB,
        role=ROLE,
        script_location=SCRIPT,
        default_arguments=defaults,
        max_concurrent_runs=max_concurrent_runs,
    )


def raw_run(run_id: str, started: datetime, state: str = "RUNNING") -> dict[str, Any]:
    return {"Id": run_id, "JobName": JOB, "JobRunState": state, "StartedOn": started}


# ------------------------------------------------------------------ session


def test_get_client_is_cached_until_reset(aws_settings: Any) -> None:
    client = get_client("glue")
    assert get_client("glue") is client
    assert get_client("s3") is not client
    reset_clients()
    assert get_client("glue") is not client


def test_client_config_comes_from_settings(aws_settings: Any) -> None:
    aws_settings.AWS_REGION = "eu-west-1"
    aws_settings.AWS_ENDPOINT_URL = "http://127.0.0.1:5999"
    aws_settings.AWS_CONNECT_TIMEOUT = 1.5
    aws_settings.AWS_READ_TIMEOUT = 12.0
    aws_settings.AWS_MAX_ATTEMPTS = 3
    aws_settings.AWS_RETRY_MODE = "adaptive"
    reset_clients()
    client = get_client("glue")
    config = client.meta.config
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert (config.connect_timeout, config.read_timeout) == (1.5, 12.0)
    # botocore's max_attempts counts retries: 3 → 4 calls in all.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}
    assert "diep" in config.user_agent_extra


@pytest.mark.parametrize("endpoint", [None, ""])
def test_no_endpoint_means_real_aws(aws_settings: Any, endpoint: str | None) -> None:
    aws_settings.AWS_REGION = "eu-central-1"
    aws_settings.AWS_ENDPOINT_URL = endpoint
    reset_clients()
    assert get_client("glue").meta.endpoint_url == "https://glue.eu-central-1.amazonaws.com"


# ------------------------------------------------------------------ start_job_run


def test_start_job_run_passes_arguments_and_capacity(moto_glue: None) -> None:
    make_job(defaults={"--from_job": "default"})
    started = glue_start_job_run(
        job_name=JOB,
        arguments={"--diep_run_id": "run-1", "--region": "eu"},
        worker_type="G.2X",
        number_of_workers=7,
        timeout_minutes=15,
    )
    assert isinstance(started, GlueRunStarted)
    raw = get_client("glue").get_job_run(JobName=JOB, RunId=started.job_run_id)["JobRun"]
    assert raw["Arguments"] == {"--from_job": "default", "--diep_run_id": "run-1", "--region": "eu"}
    assert (raw["WorkerType"], raw["NumberOfWorkers"], raw["Timeout"]) == ("G.2X", 7, 15)


def test_start_job_run_sends_only_the_overrides_given(glue_stub: Stubber) -> None:
    glue_stub.add_response(
        "start_job_run",
        {"JobRunId": "jr_1"},
        expected_params={"JobName": JOB, "Arguments": {"--a": "1"}},
    )
    glue_stub.add_response(
        "start_job_run",
        {"JobRunId": "jr_2"},
        expected_params={
            "JobName": JOB,
            "Arguments": {},
            "MaxCapacity": 2.0,
            "ExecutionClass": "FLEX",
        },
    )
    assert glue_start_job_run(job_name=JOB, arguments={"--a": "1"}).job_run_id == "jr_1"
    second = glue_start_job_run(
        job_name=JOB, arguments={}, max_capacity=2.0, execution_class="FLEX"
    )
    assert second == GlueRunStarted(job_run_id="jr_2")


@pytest.mark.parametrize(
    "workers", [{"worker_type": "G.1X"}, {"number_of_workers": 2}], ids=["type", "count"]
)
def test_workers_and_max_capacity_are_exclusive(
    glue_stub: Stubber, workers: dict[str, Any]
) -> None:
    # Nothing is queued on the stub: reaching AWS would fail differently.
    with pytest.raises(ValueError, match="not both"):
        glue_start_job_run(job_name=JOB, arguments={}, max_capacity=1.0, **workers)


def test_full_job_raises_concurrency_limit_exceeded(moto_glue: None) -> None:
    # moto checks MaxConcurrentRuns only while runs stay RUNNING (manual progression).
    state_manager.set_transition(
        model_name="glue::job_run", transition={"progression": "manual", "times": 1}
    )
    try:
        make_job(max_concurrent_runs=1)
        glue_start_job_run(job_name=JOB, arguments={})
        with pytest.raises(ConcurrencyLimitExceeded) as info:
            glue_start_job_run(job_name=JOB, arguments={})
    finally:
        state_manager.unset_transition(model_name="glue::job_run")
    assert info.value.code == "ConcurrentRunsExceededException"
    assert JOB in info.value.message


# ------------------------------------------------------------------ get_job_run(s)


def test_get_job_run_returns_the_run(moto_glue: None) -> None:
    make_job(defaults={"--from_job": "default"})
    run_id = glue_start_job_run(job_name=JOB, arguments={"--diep_run_id": "r"}).job_run_id
    run = glue_get_job_run(job_name=JOB, job_run_id=run_id)
    assert isinstance(run, GlueJobRun)
    assert (run.job_run_id, run.job_name, run.attempt) == (run_id, JOB, 0)
    assert run.state in {"STARTING", "RUNNING", "SUCCEEDED"}
    assert run.arguments == {"--from_job": "default", "--diep_run_id": "r"}
    assert run.started_on is not None
    assert run.started_on.tzinfo is not None


def test_get_job_run_unknown_is_permanent(moto_glue: None) -> None:
    make_job()
    with pytest.raises(PermanentAwsError) as info:
        glue_get_job_run(job_name=JOB, job_run_id="jr_missing")
    assert info.value.code == "EntityNotFoundException"


def test_get_job_run_maps_every_field(glue_stub: Stubber) -> None:
    glue_stub.add_response(
        "get_job_run",
        {
            "JobRun": {
                "Id": "jr_9",
                "JobName": JOB,
                "JobRunState": "FAILED",
                "Arguments": {"--x": "1"},
                "StartedOn": T0,
                "CompletedOn": T0 + timedelta(minutes=3),
                "LastModifiedOn": T0 + timedelta(minutes=3),
                "ExecutionTime": 180,
                "DPUSeconds": 360.5,
                "ErrorMessage": "boom",
                "Attempt": 2,
            }
        },
        expected_params={"JobName": JOB, "RunId": "jr_9"},
    )
    assert glue_get_job_run(job_name=JOB, job_run_id="jr_9") == GlueJobRun(
        job_run_id="jr_9",
        job_name=JOB,
        state="FAILED",
        arguments={"--x": "1"},
        started_on=T0,
        completed_on=T0 + timedelta(minutes=3),
        last_modified_on=T0 + timedelta(minutes=3),
        execution_time_seconds=180,
        dpu_seconds=360.5,
        error_message="boom",
        attempt=2,
    )


def test_get_job_runs_is_newest_first_and_bounded_by_max_pages(moto_glue: None) -> None:
    make_job()
    started = []
    for i in range(5):
        started.append(glue_start_job_run(job_name=JOB, arguments={"--n": str(i)}).job_run_id)
        time.sleep(0.005)  # moto stamps StartedOn to the millisecond
    everything = [run.job_run_id for run in glue_get_job_runs(job_name=JOB, max_pages=1)]
    assert everything == started[::-1]

    bounded = list(glue_get_job_runs(job_name=JOB, max_pages=2, page_size=2))
    assert len(bounded) == 4
    assert len({run.job_run_id for run in bounded}) == 4
    assert {run.job_run_id for run in bounded} <= set(started)

    paged = [run.job_run_id for run in glue_get_job_runs(job_name=JOB, max_pages=10, page_size=2)]
    assert sorted(paged) == sorted(started)


def test_get_job_runs_pages_by_token_and_stops_after_max_pages(glue_stub: Stubber) -> None:
    glue_stub.add_response(
        "get_job_runs",
        {"JobRuns": [raw_run("jr_4", T0 + timedelta(4)), raw_run("jr_3", T0 + timedelta(3))]}
        | {"NextToken": "t1"},
        expected_params={"JobName": JOB, "MaxResults": 2},
    )
    glue_stub.add_response(
        "get_job_runs",
        {"JobRuns": [raw_run("jr_2", T0 + timedelta(2)), raw_run("jr_1", T0 + timedelta(1))]}
        | {"NextToken": "t2"},
        expected_params={"JobName": JOB, "MaxResults": 2, "NextToken": "t1"},
    )
    # A third request (for "t2") has no stubbed response and would raise.
    runs = list(glue_get_job_runs(job_name=JOB, max_pages=2, page_size=2))
    assert [run.job_run_id for run in runs] == ["jr_4", "jr_3", "jr_2", "jr_1"]


def test_get_job_runs_requests_a_page_only_when_the_caller_gets_there(
    glue_stub: Stubber,
) -> None:
    glue_stub.add_response(
        "get_job_runs",
        {"JobRuns": [raw_run("jr_2", T0 + timedelta(2)), raw_run("jr_1", T0)], "NextToken": "t"},
    )
    runs = glue_get_job_runs(job_name=JOB, max_pages=5)
    assert next(runs).job_run_id == "jr_2"
    assert next(runs).job_run_id == "jr_1"
    runs.close()  # the caller found its run: no second request


def test_get_job_runs_ends_without_next_token(glue_stub: Stubber) -> None:
    glue_stub.add_response("get_job_runs", {"JobRuns": [raw_run("jr_1", T0)]})
    assert [run.job_run_id for run in glue_get_job_runs(job_name=JOB, max_pages=5)] == ["jr_1"]


def test_get_job_runs_sorts_within_a_page(glue_stub: Stubber) -> None:
    # moto (and only moto) answers oldest first.
    glue_stub.add_response(
        "get_job_runs",
        {"JobRuns": [raw_run("old", T0), raw_run("new", T0 + timedelta(1))]},
    )
    assert [run.job_run_id for run in glue_get_job_runs(job_name=JOB, max_pages=1)] == [
        "new",
        "old",
    ]


@pytest.mark.parametrize(
    ("max_pages", "page_size"), [(-1, 10), (1, 0), (1, 201)], ids=["pages", "zero", "big"]
)
def test_get_job_runs_rejects_bad_bounds(
    glue_stub: Stubber, max_pages: int, page_size: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        list(glue_get_job_runs(job_name=JOB, max_pages=max_pages, page_size=page_size))


def test_get_job_runs_with_zero_pages_makes_no_call(glue_stub: Stubber) -> None:
    assert list(glue_get_job_runs(job_name=JOB, max_pages=0)) == []


# ------------------------------------------------------------------ batch_stop_job_run


def test_batch_stop_job_run_splits_stopped_and_refused(glue_stub: Stubber) -> None:
    glue_stub.add_response(
        "batch_stop_job_run",
        {
            "SuccessfulSubmissions": [{"JobName": JOB, "JobRunId": "jr_1"}],
            "Errors": [
                {
                    "JobName": JOB,
                    "JobRunId": "jr_2",
                    "ErrorDetail": {
                        "ErrorCode": "InvalidInputException",
                        "ErrorMessage": "Job run jr_2 is already SUCCEEDED",
                    },
                }
            ],
        },
        expected_params={"JobName": JOB, "JobRunIds": ["jr_1", "jr_2"]},
    )
    result = glue_batch_stop_job_run(job_name=JOB, job_run_ids=["jr_1", "jr_2"])
    assert result == GlueStopResult(
        stopped=["jr_1"],
        errors={"jr_2": "InvalidInputException: Job run jr_2 is already SUCCEEDED"},
    )


def test_batch_stop_job_run_with_no_ids_makes_no_call(glue_stub: Stubber) -> None:
    assert glue_batch_stop_job_run(job_name=JOB, job_run_ids=[]) == GlueStopResult([], {})


# ------------------------------------------------------------------ get_job / create_job


def test_get_job_is_none_for_a_missing_job(moto_glue: None) -> None:
    assert glue_get_job(job_name="no-such-job") is None


def test_create_then_get_job(moto_glue: None) -> None:
    glue_create_job(
        name=JOB,
        role=ROLE,
        script_location=SCRIPT,
        default_arguments={"--conf": "x"},
        glue_version="5.1",
        worker_type="G.2X",
        number_of_workers=3,
        max_concurrent_runs=4,
    )
    assert glue_get_job(job_name=JOB) == GlueJobInfo(
        name=JOB,
        role=ROLE,
        script_location=SCRIPT,
        default_arguments={"--conf": "x"},
        glue_version="5.1",
        worker_type="G.2X",
        number_of_workers=3,
        max_concurrent_runs=4,
    )


# ------------------------------------------------------------------ whole definitions


DEFINITION: dict[str, Any] = {
    "Role": ROLE,
    "Command": {"Name": "glueetl", "ScriptLocation": SCRIPT, "PythonVersion": "3"},
    "DefaultArguments": {"--conf": "x"},
    "GlueVersion": "5.1",
    "WorkerType": "G.1X",
    "NumberOfWorkers": 2,
    "ExecutionProperty": {"MaxConcurrentRuns": 3},
    "Timeout": 2880,
    "MaxRetries": 0,
}


def test_get_job_definition_is_none_for_a_missing_job(moto_glue: None) -> None:
    assert glue_get_job_definition(job_name="no-such-job") is None


def test_create_job_from_definition_sets_timeout_and_retries(moto_glue: None) -> None:
    glue_create_job_from_definition(job_name=JOB, definition=DEFINITION)

    job = glue_get_job_definition(job_name=JOB)

    assert job is not None
    assert job["Name"] == JOB
    assert {key: job[key] for key in DEFINITION} == DEFINITION


def test_update_job_sends_the_whole_definition(glue_stub: Stubber) -> None:
    # moto has no UpdateJob.
    glue_stub.add_response(
        "update_job", {"JobName": JOB}, {"JobName": JOB, "JobUpdate": DEFINITION}
    )
    glue_update_job(job_name=JOB, definition=DEFINITION)


def test_get_job_definition_other_errors_are_raised(glue_stub: Stubber) -> None:
    glue_stub.add_client_error("get_job", "AccessDeniedException", http_status_code=400)
    with pytest.raises(PermanentAwsError) as info:
        glue_get_job_definition(job_name=JOB)
    assert info.value.code == "AccessDeniedException"
