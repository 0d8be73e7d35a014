"""Who may do what, on whose jobs and whose data: one table of users by operations (the
API and the admin: jobs, runs, files, backfills, reprocessing, the dashboard, the DLQ
console, test-a-key, overlap warnings, name conflicts, and new jobs at every kind of
location), on the moto server.

Every cell asserts the exact status, whether the answer shows anything of team A's (a job
name, a failure's text, a message id), and exactly what changed: a refused or read-only
cell changes nothing, an allowed one only what its operation does. No cell ever writes,
changes or deletes an S3 object (the buckets are compared after each), and no job is
created outside its team's grants (the fleet's location report stays empty).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from diep_portal.aws.session import get_client
from ingestion.models import Backfill, DlqAction, IngestedFile
from jobs import locations, services
from jobs.models import DataGrant, Job, JobRun
from jobs.specs import JobSpecSerializer
from tests.conftest import _user_in, job_body
from tests.jobs.test_admin import form_data

pytestmark = pytest.mark.django_db

RAW, CURATED, ARTIFACTS = "diep-raw", "diep-curated", "diep-artifacts"
USERS = ("anonymous", "viewer_a", "operator_a", "operator_b", "staff_no_role", "admin")
# The team each user creates jobs in (the admin acts for team A).
TEAM_OF = {user: "team-b" if user == "operator_b" else "team-a" for user in USERS}
SECRET = "row 7: secret-customer-value"  # a failure's text quoting team A's data


@dataclass
class World:
    api: dict[str, APIClient]
    browser: dict[str, Client]
    a_job: Job
    b_job: Job
    a_run: JobRun
    a_file: IngestedFile
    dlq: dict[str, str]  # "a" / "unmapped" → message id
    queues: tuple[str, str]  # ingest queue url, DLQ url


@pytest.fixture
def world(buckets: Any, artifacts: str, no_enqueue: Any, settings: Any) -> World:
    Group.objects.create(name="team-a")
    Group.objects.create(name="team-b")
    DataGrant.objects.all().delete()
    for team in ("team-a", "team-b"):
        DataGrant.objects.create(team=team, bucket=RAW, prefix=f"{team}/")
        DataGrant.objects.create(
            team=team, bucket=CURATED, prefix=f"{team}/", can_read=False, can_write=True
        )
    DataGrant.objects.create(team="", bucket=RAW, prefix="shared/")  # a common drop zone
    users = {
        "viewer_a": _user_in("viewer", "va", is_staff=True),
        "operator_a": _user_in("operator", "oa", is_staff=True),
        "operator_b": _user_in("operator", "ob", is_staff=True),
        "staff_no_role": _user_in(None, "nemo", is_staff=True),
        "admin": _user_in("admin", "boss", is_staff=True),
    }
    for name, user in users.items():
        if name != "admin":
            user.groups.add(Group.objects.get(name=TEAM_OF[name]))
    a_job = services.job_create(
        spec=spec("team-a", "a-orders", "team-a/orders"), user=None, source="t"
    )
    services.job_create(spec=spec("team-a", "a-shared", "shared/in"), user=None, source="t")
    b_job = services.job_create(spec=spec("team-b", "b-shared", "shared"), user=None, source="t")
    a_run = services.job_fire(job=a_job, parameters={}, trigger="api").run
    JobRun.objects.filter(pk=a_run.pk).update(
        state="FAILED", error_message=SECRET, finished_at=a_run.queued_at
    )
    a_file = IngestedFile.objects.create(
        job=a_job, bucket=RAW, key="team-a/orders/1.csv", identity="e1"
    )
    for bucket, key in [
        (artifacts, "glue/glue_job.py"),
        (artifacts, "manifests/a-orders/m.json"),
        (RAW, "team-a/orders/1.csv"),
        (RAW, "team-b/orders/1.csv"),
        (RAW, "shared/in/1.csv"),
        (CURATED, "team-a/orders/part-0.parquet"),
    ]:
        buckets.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")
    sqs = get_client("sqs")
    queue = sqs.create_queue(QueueName=settings.DIEP_INGEST_QUEUE)["QueueUrl"]
    dlq = sqs.create_queue(QueueName=settings.DIEP_INGEST_DLQ)["QueueUrl"]
    messages = {
        name: sqs.send_message(QueueUrl=dlq, MessageBody=s3_message(key))["MessageId"]
        for name, key in [("a", "team-a/orders/9.csv"), ("unmapped", "nobody/9.csv")]
    }
    api, browser = {"anonymous": APIClient()}, {"anonymous": Client()}
    for name, user in users.items():
        api[name] = APIClient()
        api[name].credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
        browser[name] = Client()
        browser[name].force_login(user)
    return World(api, browser, a_job, b_job, a_run, a_file, messages, (queue, dlq))


def spec(team: str, name: str, folder: str) -> dict[str, Any]:
    serializer = JobSpecSerializer(data=body(team, name, folder))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def body(team: str, name: str, folder: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A job of `team` reading and triggered at RAW/<folder>/ (its own `<team>/new/` by
    default), writing to CURATED/<team>/<name>/."""
    folder = folder or f"{team}/new"
    inside: dict[str, Any] = {
        "source": {"uri": f"s3://{RAW}/{folder}/", "format": "csv"},
        "destination": {"uri": f"s3://{CURATED}/{team}/{name}/", "mode": "append"},
        "trigger": {"bucket": RAW, "prefix": f"{folder}/", "window_seconds": 60},
    }
    return job_body(name=name, team=team, **{**inside, **overrides})


def s3_message(key: str) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-12-01T10:00:00.000Z",
        "s3": {"bucket": {"name": RAW}, "object": {"key": key, "size": 5, "eTag": "e1"}},
    }
    return json.dumps({"Records": [record]})


def footprint(world: World) -> dict[str, Any]:
    """Everything an operation could touch, comparable before and after it."""
    s3, sqs = get_client("s3"), get_client("sqs")
    objects = {
        bucket: {
            (item["Key"], item["ETag"])
            for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        }
        for bucket in (RAW, CURATED, ARTIFACTS)
    }
    queued = tuple(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        for url in world.queues
    )
    return {
        "data": (objects[RAW], objects[CURATED]),
        "portal objects": objects[ARTIFACTS],  # manifests of new runs, under manifests/
        "jobs": set(
            Job.objects.values_list(
                "name", "team", "version", "enabled", "source_uri", "destination_uri"
            )
        ),
        "runs": set(JobRun.objects.values_list("run_id", "job__name", "state")),
        "files": set(IngestedFile.objects.values_list("job__name", "key", "state", "run_id")),
        "backfills": set(Backfill.objects.values_list("job__name", "prefix")),
        "dlq": (queued, set(DlqAction.objects.values_list("action", "message_id"))),
    }


@dataclass(frozen=True)
class Operation:
    call: Callable[[Any, World, str], Any]  # (the user's client, the world, user) → response
    changes: frozenset[str] = frozenset()  # what an allowed call changes
    # Text whose presence in the answer means it shows something of team A's.
    marker: Callable[[World], str] = lambda world: "a-orders"
    browser: bool = False  # the admin (session) rather than the API (token)


Call = Callable[[Any, World], Any]


def api(call: Call, *changes: str, **extra: Any) -> Operation:
    return Operation(lambda client, world, user: call(client, world), frozenset(changes), **extra)


def admin(call: Call, *changes: str, **extra: Any) -> Operation:
    return Operation(
        lambda client, world, user: call(client, world), frozenset(changes), browser=True, **extra
    )


def create(name: str = "new-job", *, marker: str = "a-orders", **overrides: Any) -> Operation:
    """POST /create_job/ of a job in the caller's team, with these overrides."""
    return Operation(
        lambda client, world, user: client.post(
            "/create_job/", body(TEAM_OF[user], name, **overrides), format="json"
        ),
        frozenset({"jobs"}),
        marker=lambda world: marker,
    )


def action(url: str, name: str, pk: Callable[[World], Any]) -> Call:
    """An admin list action on one row (Django ignores rows the user may not see)."""
    return lambda client, world: client.post(
        url, {"action": name, "_selected_action": [pk(world)], "index": 0}
    )


JOB = "/api/v1/jobs/a-orders"


def a_job(world: World) -> str:  # in its body, never in a request (a 404 quotes those)
    return world.a_job.source_uri


CONSOLE = "/admin/ingestion/dlqaction/console/"
OPERATIONS: dict[str, Operation] = {
    # The API on team A's objects.
    "get job": api(lambda c, w: c.get(f"{JOB}/"), marker=a_job),
    "list jobs": api(lambda c, w: c.get("/api/v1/jobs/"), marker=a_job),
    "job versions": api(lambda c, w: c.get(f"{JOB}/versions/"), marker=a_job),
    "change job": api(
        lambda c, w: c.patch(f"{JOB}/", {"description": "x"}, format="json"), "jobs", marker=a_job
    ),
    "disable job": api(lambda c, w: c.post(f"{JOB}/disable/"), "jobs", marker=a_job),
    "fire job": api(
        lambda c, w: c.post("/fire_job/a-orders", {}, format="json"), "runs", marker=a_job
    ),
    "get run": api(lambda c, w: c.get(f"/api/v1/runs/{w.a_run.run_id}/"), marker=lambda w: SECRET),
    "list runs": api(lambda c, w: c.get("/api/v1/runs/"), marker=lambda w: SECRET),
    "retry run": api(lambda c, w: c.post(f"/api/v1/runs/{w.a_run.run_id}/retry/"), "runs"),
    "list files": api(lambda c, w: c.get("/api/v1/files/"), marker=lambda w: "team-a/orders/1"),
    "reprocess file": api(
        lambda c, w: c.post("/api/v1/files/reprocess/", {"file_ids": [w.a_file.pk]}, format="json"),
        "files",
        "runs",
        "portal objects",
    ),
    "backfill job": api(
        lambda c, w: c.post(f"{JOB}/backfill/", {}, format="json"), "backfills", marker=a_job
    ),
    "match a key": api(
        lambda c, w: c.get("/api/v1/triggers/match", {"bucket": RAW, "key": "team-a/orders/1.csv"})
    ),
    # New jobs in the caller's team, at each kind of location.
    "create: inside the team's grants": create(),
    "create: source on team A's raw data": create(
        source={"uri": f"s3://{RAW}/team-a/other/", "format": "csv"}
    ),
    "create: trigger on team A's raw data": create(
        trigger={"bucket": RAW, "prefix": "team-a/other/"}
    ),
    "create: overwrite in team A's curated data": create(
        destination={"uri": f"s3://{CURATED}/team-a/other/", "mode": "overwrite"}
    ),
    "create: write into team A's raw data": create(
        destination={"uri": f"s3://{RAW}/team-a/orders/"}
    ),
    "create: overwrite the portal's Glue scripts": create(
        destination={"uri": f"s3://{ARTIFACTS}/glue/", "mode": "overwrite"}
    ),
    "create: overwrite the manifests": create(
        destination={"uri": f"s3://{ARTIFACTS}/manifests/", "mode": "overwrite"}
    ),
    "create: overwrite a whole bucket": create(
        destination={"uri": f"s3://{CURATED}", "mode": "overwrite"}
    ),
    "create: someone else's Glue job": create(glue_job_name="payroll-export"),
    "create: the name of team A's job": create("a-orders", marker="already exists"),
    "create: trigger overlapping team A's": create(
        "overlapper",
        marker="a-shared",
        source={"uri": f"s3://{RAW}/shared/in/", "format": "csv"},
        trigger={"bucket": RAW, "prefix": "shared/"},
    ),
    # The admin.
    "admin: dashboard": admin(lambda c, w: c.get("/admin/"), marker=lambda w: SECRET),
    "admin: job list": admin(lambda c, w: c.get("/admin/jobs/job/")),
    "admin: job page": admin(lambda c, w: c.get(f"/admin/jobs/job/{w.a_job.pk}/change/")),
    "admin: fire page": admin(lambda c, w: c.get(f"/admin/jobs/job/{w.a_job.pk}/fire/")),
    "admin: fire": admin(
        lambda c, w: c.post(f"/admin/jobs/job/{w.a_job.pk}/fire/", {"extra_parameters": "{}"}),
        "runs",
    ),
    "admin: fire action": admin(
        action("/admin/jobs/job/", "fire_now", lambda w: w.a_job.pk), "runs"
    ),
    "admin: disable action": admin(
        action("/admin/jobs/job/", "disable_jobs", lambda w: w.a_job.pk), "jobs"
    ),
    "admin: backfill action": admin(
        action("/admin/jobs/job/", "backfill_jobs", lambda w: w.a_job.pk), "backfills"
    ),
    "admin: run list": admin(lambda c, w: c.get("/admin/jobs/jobrun/")),
    "admin: retry action": admin(
        action("/admin/jobs/jobrun/", "retry_runs", lambda w: w.a_run.pk), "runs"
    ),
    "admin: file list": admin(
        lambda c, w: c.get("/admin/ingestion/ingestedfile/"), marker=lambda w: "team-a/orders/1"
    ),
    "admin: reprocess action": admin(
        action("/admin/ingestion/ingestedfile/", "reprocess", lambda w: w.a_file.pk),
        "files",
        "runs",
        "portal objects",
    ),
    "admin: test a key on team B's job": admin(
        lambda c, w: c.get(
            f"/admin/jobs/job/{w.b_job.pk}/test-key/", {"bucket": RAW, "key": "shared/in/1.csv"}
        ),
        marker=lambda w: "a-shared",
    ),
    "admin: DLQ console, team A's message": admin(
        lambda c, w: c.get(CONSOLE), marker=lambda w: w.dlq["a"]
    ),
    "admin: DLQ console, unmappable message": admin(
        lambda c, w: c.get(CONSOLE), marker=lambda w: w.dlq["unmapped"]
    ),
    "admin: DLQ console's Redrive all": admin(  # the mark: the button, for admins only
        lambda c, w: c.get(CONSOLE), marker=lambda w: "Redrive all"
    ),
    "admin: DLQ delete team A's message": admin(
        lambda c, w: c.post(CONSOLE, {"action": "delete", "message_id": [w.dlq["a"]]}), "dlq"
    ),
    "admin: DLQ redrive all": admin(lambda c, w: c.post(CONSOLE, {"action": "redrive_all"}), "dlq"),
}

# Each cell: the status; "A" when the answer shows the operation's mark of team A (a job's
# source, a failure's text, a file's key, a message id, a job's name; for the name conflict
# the words "already exists"); "+" when the operation's effect happened. A cell without "+"
# changed nothing at all. Team A's own refusals may name team A's jobs (the loop a
# destination would close); team B's never do. In the admin, anonymous users are sent to
# the login page, staff without a role get an empty index, a viewer's list action shows
# the list again, and rows one may not see are ignored by list actions.
MATRIX_TABLE = """
operation                                   | anon   | view A | op A   | op B   | nobody | admin
get job                                     | 401    | 200 A  | 200 A  | 404    | 403    | 200 A
list jobs                                   | 401    | 200 A  | 200 A  | 200    | 403    | 200 A
job versions                                | 401    | 200 A  | 200 A  | 404    | 403    | 200 A
change job                                  | 401    | 403    | 200 A+ | 404    | 403    | 200 A+
disable job                                 | 401    | 403    | 200 A+ | 404    | 403    | 200 A+
fire job                                    | 401    | 403    | 202 +  | 404    | 403    | 202 +
get run                                     | 401    | 200 A  | 200 A  | 404    | 403    | 200 A
list runs                                   | 401    | 200 A  | 200 A  | 200    | 403    | 200 A
retry run                                   | 401    | 403    | 202 A+ | 404    | 403    | 202 A+
list files                                  | 401    | 200 A  | 200 A  | 200    | 403    | 200 A
reprocess file                              | 401    | 403    | 202 +  | 400    | 403    | 202 +
backfill job                                | 401    | 403    | 202 +  | 404    | 403    | 202 +
match a key                                 | 401    | 200 A  | 200 A  | 200    | 403    | 200 A
create: inside the team's grants            | 401    | 403    | 201 +  | 201 +  | 403    | 201 +
create: source on team A's raw data         | 401    | 403    | 201 +  | 400    | 403    | 201 +
create: trigger on team A's raw data        | 401    | 403    | 201 +  | 400    | 403    | 201 +
create: overwrite in team A's curated data  | 401    | 403    | 201 +  | 400    | 403    | 201 +
create: write into team A's raw data        | 401    | 403    | 400 A  | 400    | 403    | 400 A
create: overwrite the portal's Glue scripts | 401    | 403    | 400    | 400    | 403    | 400
create: overwrite the manifests             | 401    | 403    | 400    | 400    | 403    | 400
create: overwrite a whole bucket            | 401    | 403    | 400 A  | 400    | 403    | 400 A
create: someone else's Glue job             | 401    | 403    | 400    | 400    | 403    | 400
create: the name of team A's job            | 401    | 403    | 409 A  | 409    | 403    | 409 A
create: trigger overlapping team A's        | 401    | 403    | 201 A+ | 201 +  | 403    | 201 A+
admin: dashboard                            | 302    | 200 A  | 200 A  | 200    | 200    | 200 A
admin: job list                             | 302    | 200 A  | 200 A  | 200    | 403    | 200 A
admin: job page                             | 302    | 200 A  | 200 A  | 302    | 403    | 200 A
admin: fire page                            | 302    | 403    | 200 A  | 404    | 403    | 200 A
admin: fire                                 | 302    | 403    | 302 +  | 404    | 403    | 302 +
admin: fire action                          | 302    | 200 A  | 302 +  | 302    | 403    | 302 +
admin: disable action                       | 302    | 200 A  | 302 +  | 302    | 403    | 302 +
admin: backfill action                      | 302    | 200 A  | 302 +  | 302    | 403    | 302 +
admin: run list                             | 302    | 200 A  | 200 A  | 200    | 403    | 200 A
admin: retry action                         | 302    | 200 A  | 302 +  | 302    | 403    | 302 +
admin: file list                            | 302    | 200 A  | 200 A  | 200    | 403    | 200 A
admin: reprocess action                     | 302    | 200 A  | 302 +  | 302    | 403    | 302 +
admin: test a key on team B's job           | 302    | 404    | 404    | 200    | 403    | 200 A
admin: DLQ console, team A's message        | 302    | 403    | 200 A  | 200    | 403    | 200 A
admin: DLQ console, unmappable message      | 302    | 403    | 200    | 200    | 403    | 200 A
admin: DLQ console's Redrive all            | 302    | 403    | 200    | 200    | 403    | 200 A
admin: DLQ delete team A's message          | 302    | 403    | 302 +  | 302    | 403    | 302 +
admin: DLQ redrive all                      | 302    | 403    | 403    | 403    | 403    | 302 +
"""
COLUMNS = USERS  # anon, view A, op A, op B, nobody (staff without a role), admin
MATRIX: dict[str, dict[str, str]] = {
    operation.strip(): dict(zip(COLUMNS, (cell.strip() for cell in cells), strict=True))
    for operation, *cells in (line.split("|") for line in MATRIX_TABLE.strip().splitlines()[1:])
}


def observe(world: World, operation: str, user: str) -> str:
    """Run one cell; describe what happened in the table's notation."""
    op = OPERATIONS[operation]
    client = (world.browser if op.browser else world.api)[user]
    before = footprint(world)
    response = op.call(client, world, user)
    after = footprint(world)
    changed = {part for part in before if before[part] != after[part]}
    marks = "A" if op.marker(world) in response.content.decode() else ""
    if changed:
        marks += "+" if changed == op.changes else f" changed {sorted(changed)}"
    return f"{response.status_code} {marks}".strip()


def test_the_matrix_covers_every_operation() -> None:
    assert set(MATRIX) == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("user", USERS)
def test_permission_and_data_matrix(world: World, operation: str, user: str) -> None:
    before = footprint(world)["data"]
    assert observe(world, operation, user) == MATRIX[operation][user]
    assert footprint(world)["data"] == before  # no cell writes, changes or deletes data
    assert locations.violations() == {}  # every job, new ones included, inside its grants


def test_an_operator_cannot_move_a_job_to_another_team_in_the_admin(world: World) -> None:
    page = world.browser["operator_a"].post(
        "/admin/jobs/job/add/", form_data(name="sneaky", team="team-b", catch_up="latest")
    )
    assert page.status_code == 200
    assert "You can only give jobs to your own teams (team-a)." in page.content.decode()


def test_only_platform_admins_move_a_job_between_teams(world: World) -> None:
    DataGrant.objects.create(team="", bucket=CURATED, prefix="", can_read=False, can_write=True)
    shared = services.job_create(spec=spec("", "shared-job", "shared/x"), user=None, source="t")
    operator = world.api["operator_a"]
    # Taking a shared job into one's own team would lock every other team out of it.
    taken = operator.patch("/api/v1/jobs/shared-job/", {"team": "team-a"}, format="json")
    assert taken.status_code == 400
    assert taken.json()["fields"]["team"] == ["Only platform admins move a job to another team."]
    # Nor may a team's own job be given away or made shared.
    for team in ("", "team-b"):
        moved = operator.patch("/api/v1/jobs/a-orders/", {"team": team}, format="json")
        assert moved.status_code == 400, team
    shared.refresh_from_db()
    world.a_job.refresh_from_db()
    assert (shared.team, world.a_job.team) == ("", "team-a")
    # Other changes by the team's operator still land; admins move jobs.
    edited = operator.patch("/api/v1/jobs/a-orders/", {"description": "ok"}, format="json")
    assert edited.status_code == 200, edited.content
    moved = world.api["admin"].patch("/api/v1/jobs/shared-job/", {"team": "team-b"}, format="json")
    assert moved.json()["team"] == "team-b"
