"""Glue capacity per job and fire-time overrides within the job's limits."""

from __future__ import annotations

from typing import Any

import pytest

from diep_portal.aws.session import get_client
from jobs.engines.glue.capacity import CapacityError, resolve_capacity, validate_job_capacity
from jobs.models import JobRun
from jobs.runs.start import run_start

JOB = {
    "worker_type": "G.1X",
    "number_of_workers": 10,
    "max_workers": 20,
    "allowed_worker_types": ["G.1X", "G.2X"],
    "auto_scaling": True,
}


def test_valid_job_capacity_is_kept() -> None:
    assert validate_job_capacity(JOB) == JOB
    assert validate_job_capacity({"max_capacity": 2.0}) == {"max_capacity": 2.0}
    assert validate_job_capacity(None) == {}


@pytest.mark.parametrize(
    ("capacity", "field"),
    [
        ({"worker_type": "G.3X", "number_of_workers": 2}, "worker_type"),
        ({"worker_type": "G.1X"}, "number_of_workers"),
        ({"worker_type": "G.1X", "number_of_workers": 0}, "number_of_workers"),
        ({"worker_type": "G.1X", "number_of_workers": 2, "max_capacity": 10}, "max_capacity"),
        ({"max_capacity": 500}, "max_capacity"),
        ({"auto_scaling": True}, "auto_scaling"),
        ({"execution_class": "CHEAP"}, "execution_class"),
        ({"worker_type": "G.1X", "number_of_workers": 5, "max_workers": 2}, "max_workers"),
        (
            {"worker_type": "G.1X", "number_of_workers": 5, "allowed_worker_types": ["G.2X"]},
            "allowed_worker_types",
        ),
        ({"dpus": 5}, "capacity"),
    ],
)
def test_invalid_job_capacity_names_the_field(capacity: dict[str, Any], field: str) -> None:
    with pytest.raises(CapacityError) as excinfo:
        validate_job_capacity(capacity)
    assert field in excinfo.value.errors


def test_overrides_stay_within_the_jobs_limits() -> None:
    assert resolve_capacity(JOB, None)["number_of_workers"] == 10
    assert resolve_capacity(JOB, {"number_of_workers": 20, "worker_type": "G.2X"}) == {
        "worker_type": "G.2X",
        "number_of_workers": 20,
        "auto_scaling": True,
    }
    for override, field in [
        ({"number_of_workers": 21}, "number_of_workers"),
        ({"worker_type": "G.8X"}, "worker_type"),
        ({"max_capacity": 3}, "capacity"),
    ]:
        with pytest.raises(CapacityError) as excinfo:
            resolve_capacity(JOB, override)
        assert field in excinfo.value.errors
    # Without limits a fire may lower the count, never raise it.
    plain = {"worker_type": "G.1X", "number_of_workers": 4}
    assert resolve_capacity(plain, {"number_of_workers": 2})["number_of_workers"] == 2
    with pytest.raises(CapacityError):
        resolve_capacity(plain, {"number_of_workers": 5})


@pytest.mark.django_db
def test_capacity_reaches_start_job_run_and_shows_on_the_run(
    glue_job: str, make_job: Any, api: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    make_job(glue_job_name=glue_job, capacity=JOB)
    bad = api.post("/fire_job/orders-daily", {"capacity": {"number_of_workers": 50}}, format="json")
    assert bad.status_code == 400
    assert "number_of_workers" in bad.json()["fields"]["capacity"]
    fired = api.post(
        "/fire_job/orders-daily",
        {"capacity": {"number_of_workers": 15, "worker_type": "G.2X"}},
        format="json",
    )
    assert fired.status_code == 202, fired.content
    run_id = fired.json()["run_id"]
    run_start(run_id=run_id, last_attempt=False)
    run = api.get(f"/api/v1/runs/{run_id}/").json()
    assert run["capacity"] == {"worker_type": "G.2X", "number_of_workers": 15, "auto_scaling": True}
    glue_run = get_client("glue").get_job_run(JobName=glue_job, RunId=run["external_run_id"])
    assert glue_run["JobRun"]["WorkerType"] == "G.2X"
    assert glue_run["JobRun"]["NumberOfWorkers"] == 15
    assert glue_run["JobRun"]["Arguments"]["--enable-auto-scaling"] == "true"


@pytest.mark.django_db
def test_job_capacity_is_validated_by_the_api(api: Any) -> None:
    from tests.conftest import job_body

    response = api.post("/create_job/", job_body(capacity={"worker_type": "G.1X"}), format="json")
    assert response.status_code == 400
    assert "number_of_workers" in response.json()["fields"]["capacity"]


def test_unknown_capacity_override_keys_are_refused_not_dropped(
    glue_job: str, make_job: Any, api: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    make_job(glue_job_name=glue_job, capacity=JOB)
    typo = '{"capacity": {"number_of_worker": 2}}'
    response = api.post("/fire_job/orders-daily", typo, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"]["capacity"]["number_of_worker"] == ["Unknown field."]
    # A key no encoder could echo back as it came is refused before anything reads it.
    surrogate = '{"capacity": {"\\ud800": 1}}'
    response = api.post("/fire_job/orders-daily", surrogate, content_type="application/json")
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["detail"]
    assert not JobRun.objects.exists()
