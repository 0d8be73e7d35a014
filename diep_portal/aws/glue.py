"""AWS Glue hooks: small typed functions returning frozen dataclasses.

Every call goes through `translate_aws_errors`, so callers see only
TransientAwsError (retry), ConcurrencyLimitExceeded (a transient "no slot now") or
PermanentAwsError (give up), each carrying AWS's own message.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client
from diep_portal.exceptions import PermanentAwsError

#: GetJobRuns accepts MaxResults 1..200.
MAX_PAGE_SIZE = 200

_NOT_STARTED = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class GlueRunStarted:
    """StartJobRun's answer: the new run's id (`jr_...`)."""

    job_run_id: str


@dataclass(frozen=True)
class GlueJobRun:
    """One Glue job run as GetJobRun(s) reports it. `state` is Glue's JobRunState
    (STARTING, RUNNING, STOPPING, STOPPED, SUCCEEDED, FAILED, TIMEOUT, ERROR, WAITING,
    EXPIRED); `arguments` are the job's default arguments merged with the run's."""

    job_run_id: str
    job_name: str
    state: str
    arguments: dict[str, str]
    started_on: datetime | None
    completed_on: datetime | None
    last_modified_on: datetime | None
    execution_time_seconds: int | None
    dpu_seconds: float | None
    error_message: str | None
    attempt: int

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> GlueJobRun:
        """Build from one `JobRun` structure of the Glue API."""
        execution_time = raw.get("ExecutionTime")
        dpu_seconds = raw.get("DPUSeconds")
        return cls(
            job_run_id=raw["Id"],
            job_name=raw.get("JobName", ""),
            state=raw.get("JobRunState", ""),
            arguments={str(k): str(v) for k, v in (raw.get("Arguments") or {}).items()},
            started_on=raw.get("StartedOn"),
            completed_on=raw.get("CompletedOn"),
            last_modified_on=raw.get("LastModifiedOn"),
            execution_time_seconds=int(execution_time) if execution_time is not None else None,
            dpu_seconds=float(dpu_seconds) if dpu_seconds is not None else None,
            error_message=raw.get("ErrorMessage") or None,
            attempt=int(raw.get("Attempt") or 0),
        )


@dataclass(frozen=True)
class GlueStopResult:
    """BatchStopJobRun's answer: run ids accepted for stopping, and refusals by run id
    ("<ErrorCode>: <ErrorMessage>")."""

    stopped: list[str]
    errors: dict[str, str]


@dataclass(frozen=True)
class GlueJobInfo:
    """The parts of a Glue job definition DIEP reads."""

    name: str
    role: str
    script_location: str
    default_arguments: dict[str, str]
    glue_version: str | None
    worker_type: str | None
    number_of_workers: int | None
    max_concurrent_runs: int | None


def glue_start_job_run(
    *,
    job_name: str,
    arguments: dict[str, str],
    worker_type: str | None = None,
    number_of_workers: int | None = None,
    max_capacity: float | None = None,
    timeout_minutes: int | None = None,
    execution_class: str | None = None,
) -> GlueRunStarted:
    """StartJobRun with `arguments` (keys like `--diep_run_id`); the optional capacity,
    timeout and execution-class overrides are sent only when given, so the job
    definition's own values apply otherwise.

    WorkerType/NumberOfWorkers and MaxCapacity are exclusive in Glue: asking for both
    is a programming error (ValueError), raised before any AWS call. A full job or
    account raises ConcurrencyLimitExceeded.
    """
    if max_capacity is not None and (worker_type is not None or number_of_workers is not None):
        raise ValueError("Use either worker_type/number_of_workers or max_capacity, not both.")
    request: dict[str, Any] = {"JobName": job_name, "Arguments": dict(arguments)}
    optional: dict[str, Any] = {
        "WorkerType": worker_type,
        "NumberOfWorkers": number_of_workers,
        "MaxCapacity": max_capacity,
        "Timeout": timeout_minutes,
        "ExecutionClass": execution_class,
    }
    request.update({key: value for key, value in optional.items() if value is not None})
    # Sent once: a retried StartJobRun whose first answer was lost starts a second run.
    with translate_aws_errors("glue", "StartJobRun"):
        response = get_client("glue", retries=False).start_job_run(**request)
    return GlueRunStarted(job_run_id=response["JobRunId"])


def glue_get_job_runs(
    *, job_name: str, max_pages: int, page_size: int = MAX_PAGE_SIZE
) -> Generator[GlueJobRun, None, None]:
    """The job's runs, newest first, from at most `max_pages` GetJobRuns pages.

    A generator paging by NextToken: each page is requested only when the caller
    asks for its first run, so a caller that found what it looked for (say, the run
    carrying its `--diep_run_id`) breaks out (or `.close()`s it) without further
    requests. AWS returns runs
    newest first; each page is also sorted by StartedOn (newest first, not yet
    started first) so emulators that return insertion order (moto) agree within a page.
    """
    if max_pages < 0:
        raise ValueError("max_pages must be >= 0")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    token: str | None = None
    for _ in range(max_pages):
        request: dict[str, Any] = {"JobName": job_name, "MaxResults": page_size}
        if token:
            request["NextToken"] = token
        with translate_aws_errors("glue", "GetJobRuns"):
            response = get_client("glue").get_job_runs(**request)
        runs = [GlueJobRun.from_api(raw) for raw in response.get("JobRuns", [])]
        runs.sort(key=lambda run: run.started_on or _NOT_STARTED, reverse=True)
        yield from runs
        token = response.get("NextToken")
        if not token:
            return


def glue_get_job_run(*, job_name: str, job_run_id: str) -> GlueJobRun:
    """One run by id; an unknown run is a PermanentAwsError (EntityNotFoundException)."""
    with translate_aws_errors("glue", "GetJobRun"):
        response = get_client("glue").get_job_run(JobName=job_name, RunId=job_run_id)
    return GlueJobRun.from_api(response["JobRun"])


def glue_batch_stop_job_run(*, job_name: str, job_run_ids: list[str]) -> GlueStopResult:
    """BatchStopJobRun; per-run refusals (already finished, unknown id) come back in
    `errors`, not as exceptions. An empty `job_run_ids` makes no call."""
    if not job_run_ids:
        return GlueStopResult(stopped=[], errors={})
    with translate_aws_errors("glue", "BatchStopJobRun"):
        response = get_client("glue").batch_stop_job_run(
            JobName=job_name, JobRunIds=list(job_run_ids)
        )
    stopped = [item["JobRunId"] for item in response.get("SuccessfulSubmissions", [])]
    errors: dict[str, str] = {}
    for item in response.get("Errors", []):
        detail = item.get("ErrorDetail", {})
        code = detail.get("ErrorCode")
        message = detail.get("ErrorMessage") or "unknown error"
        errors[item.get("JobRunId", "")] = f"{code}: {message}" if code else message
    return GlueStopResult(stopped=stopped, errors=errors)


def glue_get_job_definition(*, job_name: str) -> dict[str, Any] | None:
    """The job's whole GetJob `Job` structure as Glue returns it; None when Glue has no
    job of that name.

    For provisioning, which compares and rewrites every field (UpdateJob overwrites the
    whole definition); everyone else reads the typed `glue_get_job`.
    """
    try:
        with translate_aws_errors("glue", "GetJob"):
            return dict(get_client("glue").get_job(JobName=job_name)["Job"])
    except PermanentAwsError as exc:
        if exc.code == "EntityNotFoundException":
            return None
        raise


def glue_get_job(*, job_name: str) -> GlueJobInfo | None:
    """The job definition, or None when Glue has no job of that name."""
    job = glue_get_job_definition(job_name=job_name)
    if job is None:
        return None
    return GlueJobInfo(
        name=job["Name"],
        role=job.get("Role", ""),
        script_location=job.get("Command", {}).get("ScriptLocation", ""),
        default_arguments=dict(job.get("DefaultArguments") or {}),
        glue_version=job.get("GlueVersion"),
        worker_type=job.get("WorkerType"),
        number_of_workers=job.get("NumberOfWorkers"),
        max_concurrent_runs=job.get("ExecutionProperty", {}).get("MaxConcurrentRuns"),
    )


def glue_create_job(
    *,
    name: str,
    role: str,
    script_location: str,
    default_arguments: dict[str, str] | None = None,
    glue_version: str = "5.1",
    worker_type: str = "G.1X",
    number_of_workers: int = 2,
    max_concurrent_runs: int = 1,
) -> None:
    """CreateJob for a Spark ETL script (`glueetl`, Python 3) with Glue's own timeout and
    retry defaults; provisioning sets those too, through `glue_create_job_from_definition`.

    Not idempotent: on AWS an existing job is a PermanentAwsError
    (AlreadyExistsException; moto silently replaces it). Check with `glue_get_job` first.
    """
    glue_create_job_from_definition(
        job_name=name,
        definition={
            "Role": role,
            "Command": {
                "Name": "glueetl",
                "ScriptLocation": script_location,
                "PythonVersion": "3",
            },
            "DefaultArguments": dict(default_arguments or {}),
            "GlueVersion": glue_version,
            "WorkerType": worker_type,
            "NumberOfWorkers": number_of_workers,
            "ExecutionProperty": {"MaxConcurrentRuns": max_concurrent_runs},
        },
    )


def glue_create_job_from_definition(*, job_name: str, definition: Mapping[str, Any]) -> None:
    """CreateJob with a whole definition: the JobUpdate structure (Role, Command,
    DefaultArguments, Timeout, MaxRetries, ...), which CreateJob takes beside the Name.

    Not idempotent, like `glue_create_job`.
    """
    with translate_aws_errors("glue", "CreateJob"):
        get_client("glue").create_job(Name=job_name, **definition)


def glue_update_job(*, job_name: str, definition: Mapping[str, Any]) -> None:
    """UpdateJob: Glue replaces the job's whole definition with `definition` (fields left
    out are reset, not kept), so send every field the job needs."""
    with translate_aws_errors("glue", "UpdateJob"):
        get_client("glue").update_job(JobName=job_name, JobUpdate=dict(definition))


def glue_run_logs_url(*, job_run_id: str) -> str:
    """The CloudWatch console page of a run's output log (Glue logs under its run id)."""
    region = settings.AWS_REGION
    group = quote("/aws-glue/jobs/output", safe="").replace("%", "$25")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{group}/log-events/{quote(job_run_id, safe='')}"
    )
