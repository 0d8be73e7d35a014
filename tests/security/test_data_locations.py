"""Teams own their data: the attacks of a hostile operator of team B on team A's data
and on the portal's own objects, through the real API on the moto server, beside the
whole matrix (test_permission_matrix): here each refusal names its field, old jobs that
break the rules are refused on fire, and events and backfills reach only their jobs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from ingestion.backfill import backfill_request, backfill_run
from ingestion.events import ObjectCreated
from ingestion.models import IngestedFile
from ingestion.services import files_record
from jobs import services
from jobs.models import DataGrant, Job, JobRun
from jobs.specs import JobSpecSerializer
from tests.conftest import _user_in, job_body
from tests.jobs.test_admin import form_data

pytestmark = pytest.mark.django_db

RAW, CURATED = "diep-raw", "diep-curated"


@pytest.fixture
def world(buckets: Any, artifacts: str, client_for: Any, no_enqueue: Any) -> dict[str, Any]:
    team_a, team_b = Group.objects.create(name="team-a"), Group.objects.create(name="team-b")
    DataGrant.objects.all().delete()
    for team in ("team-a", "team-b"):
        DataGrant.objects.create(team=team, bucket=RAW, prefix=f"{team}/")
        DataGrant.objects.create(
            team=team, bucket=CURATED, prefix=f"{team}/", can_read=False, can_write=True
        )
    operator_a = _user_in("operator", "oa", is_staff=True)
    operator_b = _user_in("operator", "ob", is_staff=True)
    operator_a.groups.add(team_a)
    operator_b.groups.add(team_b)
    a_job = services.job_create(spec=spec(team="team-a", name="a-orders"), user=None, source="test")
    for bucket, key in [
        (artifacts, "glue/glue_job.py"),
        (artifacts, "manifests/a-orders/m.json"),
        (RAW, "team-a/orders/1.csv"),
        (CURATED, "team-a/orders/part-0.parquet"),
        (RAW, "team-b/orders/1.csv"),
    ]:
        buckets.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")
    return {
        "a": client_for(operator_a),
        "b": client_for(operator_b),
        "a_job": a_job,
        "s3": buckets,
        "artifacts": artifacts,
    }


def spec(*, team: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A valid job of `team`, inside its grants (validated like an API body)."""
    serializer = JobSpecSerializer(data=body(team=team, name=name, **overrides))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def body(*, team: str, name: str, **overrides: Any) -> dict[str, Any]:
    inside: dict[str, Any] = {
        "source": {"uri": f"s3://{RAW}/{team}/orders/", "format": "csv"},
        "destination": {"uri": f"s3://{CURATED}/{team}/orders/", "mode": "append"},
        "trigger": {"bucket": RAW, "prefix": f"{team}/orders/", "window_seconds": 60},
    }
    return job_body(name=name, team=team, **{**inside, **overrides})


def objects(world: dict[str, Any]) -> dict[tuple[str, str], str]:
    s3 = world["s3"]
    found = {}
    for bucket in (RAW, CURATED, world["artifacts"]):
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            found[(bucket, item["Key"])] = item["ETag"]
    return found


ARTIFACTS = "diep-artifacts"
# attack → (the body overrides of team B's new job, the field refused)
ATTACKS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "source on team A's prefix": (
        {"source": {"uri": f"s3://{RAW}/team-a/orders/", "format": "csv"}},
        ("source", "uri"),
    ),
    "trigger on team A's prefix": (
        {"trigger": {"bucket": RAW, "prefix": "team-a/"}},
        ("trigger", "prefix"),
    ),
    "overwrite the portal's Glue script": (
        {"destination": {"uri": f"s3://{ARTIFACTS}/glue/", "mode": "overwrite"}},
        ("destination", "uri"),
    ),
    "overwrite the manifests": (
        {"destination": {"uri": f"s3://{ARTIFACTS}/manifests/", "mode": "overwrite"}},
        ("destination", "uri"),
    ),
    "overwrite team A's curated data": (
        {"destination": {"uri": f"s3://{CURATED}/team-a/", "mode": "overwrite"}},
        ("destination", "uri"),
    ),
    "poison team A's raw prefix": (
        {"destination": {"uri": f"s3://{RAW}/team-a/orders/"}},
        ("destination", "uri"),
    ),
    "overwrite a whole bucket (staging included)": (
        {"destination": {"uri": f"s3://{CURATED}", "mode": "overwrite"}},
        ("destination", "uri"),
    ),
    "start someone else's Glue job": ({"glue_job_name": "payroll-export"}, ("glue_job_name",)),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_team_b_cannot_reach_team_a_or_the_portal(world: dict[str, Any], attack: str) -> None:
    overrides, field = ATTACKS[attack]
    before = objects(world)
    response = world["b"].post(
        "/create_job/", body(team="team-b", name="b-evil", **overrides), format="json"
    )
    assert response.status_code == 400, response.content
    messages: Any = response.json()["fields"]
    for part in field:
        messages = messages[part]
    assert messages, response.json()
    assert "a-orders" not in response.content.decode()  # team A's job is never named
    assert not Job.objects.filter(name="b-evil").exists()
    assert objects(world) == before


def test_moving_an_own_job_onto_team_a_is_refused_too(world: dict[str, Any]) -> None:
    created = world["b"].post("/create_job/", body(team="team-b", name="b-job"), format="json")
    assert created.status_code == 201, created.content
    response = world["b"].patch(
        "/api/v1/jobs/b-job/",
        {"source": {"uri": f"s3://{RAW}/team-a/orders/", "format": "csv"}},
        format="json",
    )
    assert response.status_code == 400
    assert "source" in response.json()["fields"]
    assert Job.objects.get(name="b-job").source_uri == f"s3://{RAW}/team-b/orders/"


def test_a_name_taken_by_another_team_is_not_confirmed(world: dict[str, Any]) -> None:
    response = world["b"].post("/create_job/", body(team="team-b", name="a-orders"), format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "The name 'a-orders' is not available; choose another."
    own = world["a"].post("/create_job/", body(team="team-a", name="a-orders"), format="json")
    assert own.json()["detail"] == "A job named 'a-orders' already exists."


def test_an_old_job_breaking_the_rules_is_refused_on_fire_never_changed(
    world: dict[str, Any],
) -> None:
    # Written before the rules existed (straight into the table): reads team B's data.
    Job.objects.filter(pk=world["a_job"].pk).update(source_uri=f"s3://{RAW}/team-b/orders/")
    response = world["a"].post("/fire_job/a-orders", {}, format="json")
    assert response.status_code == 409
    assert "cannot run" in response.json()["detail"]
    assert (
        "s3://diep-raw/team-b/orders/ is not in a location team 'team-a' may read"
        in (response.json()["detail"])
    )
    assert not JobRun.objects.exists()
    assert Job.objects.get(pk=world["a_job"].pk).source_uri == f"s3://{RAW}/team-b/orders/"
    # It can still be disabled (or fixed) by its team.
    assert world["a"].post("/api/v1/jobs/a-orders/disable/").status_code == 200
    with pytest.raises(CommandError, match="1 job"):
        call_command("check_locations")


def test_fire_judges_again_once_a_grant_or_another_job_changed(world: dict[str, Any]) -> None:
    """Firing remembers a job that passed; a grant withdrawn, narrowed or restored, or a
    job written since that collides, is seen by the very next fire."""

    def fire() -> Any:
        return world["a"].post("/fire_job/a-orders", {}, format="json")

    assert fire().status_code == 202
    grant = DataGrant.objects.get(team="team-a", bucket=RAW)
    grant.delete()
    refused = fire()
    assert refused.status_code == 409
    assert "is not in a location team 'team-a' may read" in refused.json()["detail"]
    grant.pk = None
    grant.save()
    assert fire().status_code == 202
    grant.can_read = False
    grant.save()
    assert fire().status_code == 409
    grant.can_read = True
    grant.save()
    assert fire().status_code == 202
    # A job of team B saved past the rules (a script, not the portal) onto A's source.
    other = services.job_create(spec=spec(team="team-b", name="b-orders"), user=None, source="test")
    other.destination_uri = f"s3://{RAW}/team-a/orders/"
    other.save()
    refused = fire()
    assert refused.status_code == 409
    assert "overlaps the destination of another job" in refused.json()["detail"]
    assert "b-orders" not in refused.json()["detail"]  # team B's job is never named
    assert JobRun.objects.count() == 3


def test_an_old_glue_job_name_is_refused_on_fire(world: dict[str, Any]) -> None:
    Job.objects.filter(pk=world["a_job"].pk).update(glue_job_name="payroll-export")
    response = world["a"].post("/fire_job/a-orders", {}, format="json")
    assert response.status_code == 409
    assert "payroll-export" in response.json()["detail"]


def event(key: str) -> ObjectCreated:
    return ObjectCreated(
        bucket=RAW,
        key=key,
        size=5,
        etag="e",
        version_id=None,
        sequencer="01",
        event_name="ObjectCreated:Put",
        event_time=None,
        source="s3",
    )


def test_events_reach_only_jobs_allowed_to_read_them(world: dict[str, Any]) -> None:
    # An old team-B job triggered on team A's prefix (written before the rules).
    b_job = services.job_create(spec=spec(team="team-b", name="b-orders"), user=None, source="t")
    Job.objects.filter(pk=b_job.pk).update(trigger_prefix="team-a/orders/")
    report = files_record(events=[event("team-a/orders/2.csv")])
    assert report.recorded == 1
    assert report.refused == 1
    assert list(IngestedFile.objects.values_list("job__name", flat=True)) == ["a-orders"]


def test_a_forced_backfill_feeds_only_its_own_job(world: dict[str, Any]) -> None:
    DataGrant.objects.create(team="team-b", bucket=RAW, prefix="team-a/")  # a shared drop zone
    services.job_create(
        spec=spec(
            team="team-b",
            name="b-reads-a",
            source={"uri": f"s3://{RAW}/team-a/orders/", "format": "csv"},
            trigger={"bucket": RAW, "prefix": "team-a/orders/", "window_seconds": 60},
        ),
        user=None,
        source="test",
    )
    backfill = backfill_request(
        job=world["a_job"],
        prefix="team-a/orders/",
        modified_after=None,
        modified_before=None,
        force=True,
        user=None,
    )
    done = backfill_run(backfill_id=backfill.pk)
    assert done is not None
    assert done.recorded == 1
    assert list(IngestedFile.objects.values_list("job__name", flat=True)) == ["a-orders"]


def test_the_admin_form_puts_location_refusals_on_the_fields(world: dict[str, Any]) -> None:
    form = form_data(
        name="b-admin",
        team="team-b",
        source_uri=f"s3://{RAW}/team-a/orders/",
        destination_uri=f"s3://{ARTIFACTS}/glue/",
        destination_mode="overwrite",
    )
    browser = Client()
    browser.force_login(User.objects.get(username="ob"))
    response = browser.post("/admin/jobs/job/add/", form)
    assert response.status_code == 200  # the form again, not a 500
    errors = response.context["adminform"].form.errors
    assert "is not in a location team 'team-b' may read" in errors["source_uri"][0]
    assert any("artifacts bucket" in message for message in errors["destination_uri"])
    assert not Job.objects.filter(name="b-admin").exists()
