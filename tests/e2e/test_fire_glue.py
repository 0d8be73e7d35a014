"""End to end: the real API, a real Celery worker process on Redis, the moto server over HTTP.

POST /create_job/ → POST /fire_job/ → the worker claims the run and calls Glue
StartJobRun → the run records the Glue JobRunId, and Glue holds exactly one run
carrying our --diep_run_id → polling follows it to SUCCEEDED → the DynamoDB mirror
holds it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from jobs.engines.glue.tracking import poll_glue_runs
from jobs.models import JobRun, RunState
from tests.conftest import job_body
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_create_then_fire_reaches_glue(
    glue_job: str, celery_worker_process: Any, operator: Any, client_for: Any, tmp_path: Path
) -> None:
    from diep_portal.aws.dynamodb import dynamodb_get_item
    from diep_portal.aws.glue import glue_get_job_runs
    from jobs import mirror

    api = client_for(operator)
    created = api.post("/create_job/", job_body(glue_job_name=glue_job), format="json")
    assert created.status_code == 201, created.content
    job_id = created.json()["job_id"]

    fired = api.post(
        f"/fire_job/{job_id}",
        {"parameters": {"region": "us"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e2e-1",
    )
    assert fired.status_code == 202, fired.content
    run_id = fired.json()["run_id"]

    def started() -> bool:
        run = JobRun.objects.get(run_id=run_id)
        return bool(run.external_run_id) or run.state in {RunState.FAILED, RunState.ERROR}

    try:
        wait_for(started)
    except AssertionError:
        print((tmp_path / "worker.log").read_text()[-5000:])
        raise
    run = JobRun.objects.get(run_id=run_id)
    assert run.state == RunState.STARTING, run.error_message
    assert run.external_run_id.startswith("jr_")
    assert [e.to_state for e in run.events.order_by("at", "id")] == ["PENDING", "STARTING"]

    glue_runs = list(glue_get_job_runs(job_name=glue_job, max_pages=5))
    assert [r.job_run_id for r in glue_runs] == [run.external_run_id]
    assert glue_runs[0].arguments["--diep_run_id"] == run_id
    assert glue_runs[0].arguments["--region"] == "us"

    detail = api.get(f"/api/v1/runs/{run_id}/").json()
    assert detail["external_run_id"] == run.external_run_id
    # A replay of the same request is the same run, not a second Glue start.
    replay = api.post(
        f"/fire_job/{job_id}",
        {"parameters": {"region": "us"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="e2e-1",
    )
    assert replay.status_code == 200
    assert replay.json()["run_id"] == run_id
    time.sleep(1)
    assert len(list(glue_get_job_runs(job_name=glue_job, max_pages=5))) == 1

    # The Beat poll follows it to its end, and the mirror carries it to DynamoDB.
    for _ in range(5):
        poll_glue_runs()
        run.refresh_from_db()
        if run.is_terminal:
            break
    assert run.state == RunState.SUCCEEDED
    # moto reports a run SUCCEEDED at its first read unless told to step through states.
    assert [e.to_state for e in run.events.order_by("at", "id")] == [
        "PENDING",
        "STARTING",
        "SUCCEEDED",
    ]
    assert run.execution_seconds is not None
    mirror.mirror_ensure_tables()
    mirror.mirror_drain()
    item = dynamodb_get_item(
        table="diep-job-runs", key={"job_id": job_id, "run_key": mirror.run_key(run)}
    )
    assert item is not None
    assert (item["state"], item["glue_run_id"]) == ("SUCCEEDED", run.external_run_id)
