"""manage.py create_job, fire_job, list_jobs, run_status, create_api_token."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from jobs import services
from jobs.models import Job, JobRun, RunState
from jobs.runs.state import transition_run
from tests.conftest import job_body

pytestmark = pytest.mark.django_db


def run_command(*args: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_job_from_file(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job_body()))
    out = run_command("create_job", "--file", str(path))
    job = Job.objects.get()
    assert out.split() == [str(job.job_id), "orders-daily", "v1"]
    assert job.versions.get().change_source == "cli"
    with pytest.raises(CommandError, match="already exists"):
        run_command("create_job", "--file", str(path))


def test_create_job_invalid_file_lists_field_errors(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(
        json.dumps(job_body(name="Bad Name", source={"uri": "ftp://x", "format": "csv"}))
    )
    with pytest.raises(CommandError) as excinfo:
        run_command("create_job", "--file", str(path))
    assert "name:" in str(excinfo.value)
    assert "source.uri:" in str(excinfo.value)
    path.write_text("{broken")
    with pytest.raises(CommandError, match="Cannot read"):
        run_command("create_job", "--file", str(path))
    path.write_text(json.dumps(job_body(name="lone\udfff")))
    with pytest.raises(CommandError, match=r"a lone surrogate .* in name"):
        run_command("create_job", "--file", str(path))


def test_fire_job_prints_run_id_with_params(make_job: Any, no_enqueue: Any) -> None:
    make_job()
    out = run_command("fire_job", "orders-daily", "--param", "region=us")
    run = JobRun.objects.get()
    assert out.strip() == str(run.run_id)
    assert run.trigger == "cli"
    assert run.parameters["region"] == "us"
    with pytest.raises(CommandError, match="region"):
        run_command("fire_job", "orders-daily", "--param", "region=mars")
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run_command("fire_job", "orders-daily", "--param", "region")
    with pytest.raises(CommandError, match="No job"):
        run_command("fire_job", "nope")


@pytest.mark.parametrize(("final", "fails"), [(RunState.SUCCEEDED, False), (RunState.FAILED, True)])
def test_fire_job_wait_follows_to_terminal(
    make_job: Any, no_enqueue: Any, monkeypatch: Any, final: str, fails: bool
) -> None:
    make_job()

    def finish_run(seconds: float) -> None:  # stands in for the worker between polls
        run = JobRun.objects.get()
        transition_run(run=run, to=RunState.STARTING, source="test")
        transition_run(run=run, to=final, source="test", error_message="boom")

    monkeypatch.setattr("jobs.management.commands.fire_job.time.sleep", finish_run)
    if fails:
        with pytest.raises(CommandError, match="ended FAILED: boom"):
            run_command("fire_job", "orders-daily", "--wait")
    else:
        run_command("fire_job", "orders-daily", "--wait")


def test_fire_job_wait_times_out(make_job: Any, no_enqueue: Any, monkeypatch: Any) -> None:
    make_job()
    monkeypatch.setattr("jobs.management.commands.fire_job.time.sleep", lambda s: None)
    with pytest.raises(CommandError, match="still PENDING") as excinfo:
        run_command("fire_job", "orders-daily", "--wait", "--timeout", "0")
    assert excinfo.value.returncode == 2


def test_list_jobs_and_run_status(make_job: Any, no_enqueue: Any) -> None:
    job = make_job()
    run = services.job_fire(job=job, parameters={}, trigger="cli").run
    listing = run_command("list_jobs")
    assert "orders-daily" in listing
    assert "PENDING" in listing
    status = run_command("run_status", str(run.run_id))
    assert "state     PENDING" in status
    assert json.loads(run_command("run_status", str(run.run_id), "--json"))["run_id"] == str(
        run.run_id
    )
    with pytest.raises(CommandError, match="No run"):
        run_command("run_status", "nope")


def test_create_api_token_works_against_the_api(operator: Any) -> None:
    token = run_command("create_api_token", "otto").strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/jobs/").status_code == 200
    from knox.models import AuthToken

    stored = AuthToken.objects.get(user=operator)
    assert token not in (stored.digest, stored.token_key)  # only a hash is kept
    assert stored.expiry is not None
    with pytest.raises(CommandError, match="No user"):
        run_command("create_api_token", "ghost")
