"""Who may do what, on whose jobs: anonymous, a viewer and an operator of team A, an
operator of team B, a platform admin, against every API operation and the admin's job pages.
Another team's job is not found (404): its existence is not theirs to know."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from ingestion.models import IngestedFile
from jobs import services
from tests.conftest import _user_in, job_body

pytestmark = pytest.mark.django_db

USERS = ("anonymous", "viewer_a", "operator_a", "operator_b", "admin")


@pytest.fixture
def world(make_job: Any, no_enqueue: Any, client_for: Any, artifacts: str) -> dict[str, Any]:
    team_a, team_b = Group.objects.create(name="team-a"), Group.objects.create(name="team-b")
    users = {
        "viewer_a": _user_in("viewer", "va", is_staff=True),
        "operator_a": _user_in("operator", "oa", is_staff=True),
        "operator_b": _user_in("operator", "ob", is_staff=True),
        "admin": _user_in("admin", "ad", is_staff=True),
    }
    users["viewer_a"].groups.add(team_a)
    users["operator_a"].groups.add(team_a)
    users["operator_b"].groups.add(team_b)
    job = make_job(name="job-a", team="team-a")
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    file = IngestedFile.objects.create(job=job, bucket="diep-raw", key="orders/a.csv", identity="e")
    clients = {name: client_for(user) for name, user in users.items()}
    clients["anonymous"] = APIClient()
    return {"job": job, "run": run, "file": file, "clients": clients, "users": users}


# operation → expected status per user (anonymous, viewer_a, operator_a, operator_b, admin)
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "get job": (401, 200, 200, 404, 200),
    "list jobs": (401, 200, 200, 200, 200),
    "job versions": (401, 200, 200, 404, 200),
    "create job in team A": (401, 403, 201, 400, 201),
    "change job": (401, 403, 200, 404, 200),
    "disable job": (401, 403, 200, 404, 200),
    "fire job": (401, 403, 202, 404, 202),
    "get run": (401, 200, 200, 404, 200),
    "list runs": (401, 200, 200, 200, 200),
    "stop run": (401, 403, 202, 404, 202),
    "list files": (401, 200, 200, 200, 200),
    "reprocess file": (401, 403, 202, 400, 202),
    "match a key": (401, 200, 200, 200, 200),
}


def call(operation: str, client: APIClient, world: dict[str, Any]) -> Any:
    job, run, file = world["job"], world["run"], world["file"]
    requests = {
        "get job": lambda: client.get(f"/api/v1/jobs/{job.job_id}/"),
        "list jobs": lambda: client.get("/api/v1/jobs/"),
        "job versions": lambda: client.get(f"/api/v1/jobs/{job.job_id}/versions/"),
        "create job in team A": lambda: client.post(
            "/create_job/", job_body(name="new-job", team="team-a"), format="json"
        ),
        "change job": lambda: client.patch(
            f"/api/v1/jobs/{job.job_id}/", {"description": "changed"}, format="json"
        ),
        "disable job": lambda: client.post(f"/api/v1/jobs/{job.job_id}/disable/"),
        "fire job": lambda: client.post(f"/fire_job/{job.job_id}", {}, format="json"),
        "get run": lambda: client.get(f"/api/v1/runs/{run.run_id}/"),
        "list runs": lambda: client.get("/api/v1/runs/"),
        "stop run": lambda: client.post(f"/api/v1/runs/{run.run_id}/stop/"),
        "list files": lambda: client.get("/api/v1/files/"),
        "reprocess file": lambda: client.post(
            "/api/v1/files/reprocess/", {"file_ids": [file.pk]}, format="json"
        ),
        "match a key": lambda: client.get(
            "/api/v1/triggers/match", {"bucket": "diep-raw", "key": "orders/a.csv"}
        ),
    }
    return requests[operation]()


@pytest.mark.parametrize("operation", MATRIX)
@pytest.mark.parametrize("user", USERS)
def test_api_permission_matrix(world: dict[str, Any], user: str, operation: str) -> None:
    expected = MATRIX[operation][USERS.index(user)]
    response = call(operation, world["clients"][user], world)
    assert response.status_code == expected, (user, operation, response.content[:300])
    if expected == 200 and operation.startswith("list"):
        names = [
            row.get("job_name") or row.get("name") or row.get("job")
            for row in response.json()["results"]
        ]
        sees_job_a = any(str(name) in {"job-a", str(world["job"].job_id)} for name in names)
        assert sees_job_a == (user != "operator_b"), (user, operation, names)


@pytest.mark.parametrize(
    ("user", "expected"),
    [("viewer_a", 200), ("operator_a", 200), ("operator_b", 302), ("admin", 200)],
)
def test_admin_job_pages_follow_teams(world: dict[str, Any], user: str, expected: int) -> None:
    browser = Client()
    browser.force_login(world["users"][user])
    job = world["job"]
    change = browser.get(f"/admin/jobs/job/{job.pk}/change/")
    assert change.status_code == expected  # Django redirects "not found" to the index
    listing = browser.get("/admin/jobs/job/").content.decode()
    assert ("job-a" in listing) == (user != "operator_b")
    runs = browser.get("/admin/jobs/jobrun/").content.decode()
    assert (str(world["run"].run_id)[:8] in runs) == (user != "operator_b")
    fire = browser.get(f"/admin/jobs/job/{job.pk}/fire/")
    assert fire.status_code == {"viewer_a": 403, "operator_b": 404}.get(user, 200)


def test_an_operator_cannot_move_a_job_to_another_team_in_the_admin(
    world: dict[str, Any],
) -> None:
    from tests.jobs.test_admin import form_data

    browser = Client()
    browser.force_login(world["users"]["operator_a"])
    page = browser.post(
        "/admin/jobs/job/add/", form_data(name="sneaky", team="team-b", catch_up="latest")
    )
    assert page.status_code == 200
    assert "You can only give jobs to your own teams (team-a)." in page.content.decode()


def test_only_platform_admins_move_a_job_between_teams(
    world: dict[str, Any], make_job: Any
) -> None:
    shared = make_job(name="shared-job", team="")
    operator = world["clients"]["operator_a"]
    # Taking a shared job into one's own team would lock every other team out of it.
    taken = operator.patch("/api/v1/jobs/shared-job/", {"team": "team-a"}, format="json")
    assert taken.status_code == 400
    assert taken.json()["fields"]["team"] == ["Only platform admins move a job to another team."]
    # Nor may a team's own job be given away or made shared.
    for team in ("", "team-b"):
        moved = operator.patch("/api/v1/jobs/job-a/", {"team": team}, format="json")
        assert moved.status_code == 400, team
    shared.refresh_from_db()
    world["job"].refresh_from_db()
    assert (shared.team, world["job"].team) == ("", "team-a")
    # Other changes by the team's operator still land; admins move jobs.
    edited = operator.patch("/api/v1/jobs/job-a/", {"description": "ok"}, format="json")
    assert edited.status_code == 200, edited.content
    admin = world["clients"]["admin"]
    assert (
        admin.patch("/api/v1/jobs/shared-job/", {"team": "team-b"}, format="json").json()["team"]
        == "team-b"
    )
