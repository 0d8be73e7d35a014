"""Fixtures and helpers shared by the run and engine tests: Glue runs on the moto server
advanced by hand, Glue job definitions, and runs fired (and walked) the legal way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from django.utils import timezone

from diep_portal.aws.session import get_client
from jobs import services
from jobs.models import JobRun, RunState
from jobs.runs.start import run_start
from jobs.runs.state import transition_run


@contextmanager
def glue_reads_per_state(aws: str, reads: int) -> Iterator[None]:
    """Glue runs on the moto server advance one state per `reads` reads (moto's reset
    keeps this setting, so it is always unset after)."""
    url = f"{aws}/moto-api/state-manager/set-transition"
    body = {"model_name": "glue::job_run", "transition": {"progression": "manual", "times": reads}}
    requests.post(url, json=body, timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.post(
            f"{aws}/moto-api/state-manager/unset-transition",
            json={"model_name": "glue::job_run"},
            timeout=10,
        )


@pytest.fixture
def manual_glue(aws: str) -> Iterator[None]:
    """Glue runs advance one state per read, so a test sees RUNNING before SUCCEEDED."""
    with glue_reads_per_state(aws, 1):
        yield


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
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    return run


def in_state(make_job: Any, state: str, **job_fields: Any) -> JobRun:
    """A run walked to `state` the legal way, with a Glue run id."""
    run = services.job_fire(job=make_job(**job_fields), parameters={}, trigger="api").run
    paths: dict[str, list[str]] = {
        RunState.STARTING: [RunState.STARTING],
        RunState.RUNNING: [RunState.STARTING, RunState.RUNNING],
    }
    for step in paths[state]:
        transition_run(run=run, to=step, source="test", started_at=timezone.now())
    JobRun.objects.filter(pk=run.pk).update(external_run_id="jr_test")
    run.refresh_from_db()
    return run
