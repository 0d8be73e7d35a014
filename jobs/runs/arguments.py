"""The arguments a run's engine receives: the job's parameters as `--name`, then DIEP's
own (etl.contract.RunArguments)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from etl.contract import RunArguments
from jobs.models import Job


def render_arguments(
    *,
    job: Job,
    run_id: uuid.UUID,
    parameters: Mapping[str, str],
    manifest_uri: str | None = None,
    bookmark: datetime | None = None,
) -> dict[str, str]:
    """The exact arguments the engine receives: `--name` for every parameter, plus ours."""
    arguments = {f"--{name}": value for name, value in sorted(parameters.items())}
    diep = RunArguments(
        run_id=str(run_id), job_id=str(job.job_id), manifest_uri=manifest_uri, bookmark=bookmark
    )
    return {**arguments, **diep.to_arguments()}


def retry_arguments(
    *, job: Job, run_id: uuid.UUID, parameters: Mapping[str, str], previous: Mapping[str, str]
) -> dict[str, str]:
    """A retry's arguments: the same parameters and input (an event run's manifest, a
    bookmark) as the `previous` attempt's, its own run id."""
    before = RunArguments.from_arguments(previous)
    return render_arguments(
        job=job,
        run_id=run_id,
        parameters=parameters,
        manifest_uri=before.manifest_uri,
        bookmark=before.bookmark,
    )
