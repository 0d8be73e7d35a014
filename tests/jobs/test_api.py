"""The HTTP contract: every status code of /create_job/, /fire_job/ and /api/v1/."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from jobs.models import Job, JobRun, JobVersion, RunEvent, RunState
from jobs.runs.outcome import run_stop
from tests.conftest import job_body

pytestmark = pytest.mark.django_db


def create(api: Any, **overrides: Any) -> Any:
    return api.post("/create_job/", job_body(**overrides), format="json")


# ------------------------------------------------------------------ create_job


def test_create_job_returns_201_with_id_and_version(api: APIClient) -> None:
    response = create(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert uuid.UUID(body["job_id"])
    assert body["version"] == 1
    assert body["schedule"] == "0 2 * * *"  # EventBridge cron stored normalised
    assert body["trigger"]["prefix"] == "orders/"
    assert body["created_by"] == "otto"
    job = Job.objects.get(job_id=body["job_id"])
    assert job.versions.get().config["source"]["uri"] == "s3://diep-raw/orders/"


def test_create_job_minimal_body_gets_defaults(api: APIClient) -> None:
    response = api.post(
        "/create_job/",
        {
            "name": "tiny",
            "source": {"uri": "s3://raw-bucket/in/", "format": "json"},
            "destination": {"uri": "s3://cur-bucket/out/"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["engine"] == "glue"
    assert body["glue_job_name"] == "diep-ingest"
    assert body["destination"]["format"] == "parquet"
    assert body["trigger"] is None
    assert body["max_concurrent_runs"] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Not a slug!"}, "name"),
        ({"source": {"uri": "http://x/y", "format": "csv"}}, "source"),
        ({"source": {"uri": "s3://Bad_Bucket/x", "format": "csv"}}, "source"),
        ({"source": {"uri": "s3://ok-bucket/../etc", "format": "csv"}}, "source"),
        ({"source": {"uri": "s3://ok-bucket/x", "format": "xml"}}, "source"),
        ({"destination": {"uri": "s3://ok-bucket/x", "mode": "upsert"}}, "destination"),
        ({"engine": "spark"}, "engine"),
        ({"parameters": {"--JOB_NAME": "x"}}, "parameters"),
        ({"parameters": {"--diep_run_id": "x"}}, "parameters"),
        ({"parameters": {"conf": "spark.x=1"}}, "parameters"),
        ({"parameters": {"db_password": "hunter2"}}, "parameters"),
        ({"parameters": {"region": "x" * 5000}}, "parameters"),
        ({"parameters": {"region": 5}}, "parameters"),
        ({"parameters": {"region": "mars"}}, "parameters"),  # violates the job's own schema
        (
            {"parameters_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}},
            "parameters_schema",
        ),
        ({"parameters_schema": {"$ref": "https://example.com/schema.json"}}, "parameters_schema"),
        ({"schedule": "every tuesday"}, "schedule"),
        ({"schedule": "cron(0 2 * * * *)"}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"trigger": {"bucket": "x"}}, "trigger"),
        ({"trigger": {"bucket": "diep-raw", "prefix": "a/\x00b"}}, "trigger"),
        ({"max_concurrent_runs": 0}, "max_concurrent_runs"),
        ({"transform": {"explode": True}}, "transform"),
    ],
)
def test_create_job_invalid_gives_400_with_field_message(
    api: APIClient, overrides: dict[str, Any], field: str
) -> None:
    response = create(api, **overrides)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["fields"], body
    assert not Job.objects.exists()


def test_create_job_not_json_object_is_400(api: APIClient) -> None:
    response = api.post("/create_job/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = api.post("/create_job/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_hostile_bodies_are_400_not_500(api: APIClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.post("/create_job/", deep, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    huge = job_body(description="x" * 20_000)
    assert create(api, **huge).status_code == 400
    bomb: dict[str, Any] = {}
    node = bomb
    for _ in range(300):
        node["op"] = "not"
        node["args"] = [{}]
        node = node["args"][0]
    response = create(api, transform={"filter": bomb})
    assert response.status_code == 400
    assert "transform" in response.json()["fields"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"name": "a\\ud800"}', "name"),
        (
            '{"parameters_schema": {"properties": {"\\udc00": {}}}}',
            "a key of parameters_schema.properties",
        ),
        ('{"transform": {"steps": [{"op": "x"}, {"to": "\\udfff"}]}}', "transform.steps[1].to"),
    ],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_400_naming_where(
    api: APIClient, body: str, where: str
) -> None:
    # Valid JSON (an escape), but no Unicode text: it could be neither stored nor echoed.
    response = api.post("/create_job/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].endswith(f"lone surrogate (\\uD800-\\uDFFF) in {where}.")
    pair = api.post(
        "/create_job/", '{"description": "\\ud83d\\ude00"}', content_type="application/json"
    )
    assert "surrogate" not in pair.json()["detail"]  # a pair is an emoji, fine
    assert not Job.objects.exists()


@pytest.mark.parametrize("ref", ["a%00b", "%ED%A0%80", "x" * 300, "orders-daily%00"])
def test_a_job_reference_no_job_could_have_is_404(api: APIClient, make_job: Any, ref: str) -> None:
    make_job()
    for url in (f"/api/v1/jobs/{ref}/", f"/api/v1/jobs/{ref}/runs/", f"/fire_job/{ref}"):
        response = api.get(url) if "fire" not in url else api.post(url, {}, format="json")
        assert response.status_code == 404, (url, response.content[:200])
        assert response.json()["code"] == "not_found"


def test_create_job_duplicate_name_is_409(api: APIClient) -> None:
    assert create(api).status_code == 201
    response = create(api)
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_anonymous_gets_401_everywhere_but_health(make_job: Any) -> None:
    job = make_job()
    anonymous = APIClient()
    assert anonymous.post("/create_job/", job_body(), format="json").status_code == 401
    assert anonymous.post(f"/fire_job/{job.job_id}").status_code == 401
    assert anonymous.get("/api/v1/jobs/").status_code == 401
    assert anonymous.get("/api/v1/runs/").status_code == 401
    assert anonymous.get("/api/schema/").status_code in {401, 403}
    assert anonymous.get("/healthz").status_code == 200


def test_revoked_or_bogus_token_is_401(operator: Any, client_for: Any) -> None:
    from knox.models import AuthToken

    client = client_for(operator)
    assert client.get("/api/v1/jobs/").status_code == 200
    AuthToken.objects.filter(user=operator).delete()
    assert client.get("/api/v1/jobs/").status_code == 401
    bogus = APIClient()
    bogus.credentials(HTTP_AUTHORIZATION="Token " + "a" * 64)
    assert bogus.get("/api/v1/jobs/").status_code == 401


def test_viewer_reads_but_cannot_create_or_fire(
    viewer: Any, client_for: Any, make_job: Any
) -> None:
    job = make_job()
    client = client_for(viewer)
    assert client.get("/api/v1/jobs/").status_code == 200
    assert client.get(f"/api/v1/jobs/{job.name}/").status_code == 200
    assert client.post("/create_job/", job_body(name="other"), format="json").status_code == 403
    assert client.post(f"/fire_job/{job.job_id}", {}, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/jobs/{job.name}/", {"description": "x"}, format="json").status_code
        == 403
    )


def test_user_without_role_gets_403(nobody: Any, client_for: Any) -> None:
    assert client_for(nobody).get("/api/v1/jobs/").status_code == 403


# ------------------------------------------------------------------ fire_job


def test_fire_job_202_renders_arguments_and_enqueues_after_commit(
    api: APIClient, make_job: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    job = make_job()
    sent: list[str] = []
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/fire_job/{job.job_id}", {"parameters": {"region": "us"}}, format="json"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "PENDING"
    assert body["url"].endswith(f"/api/v1/runs/{body['run_id']}/")
    assert sent == [body["run_id"]]
    run = JobRun.objects.get(run_id=body["run_id"])
    assert run.arguments == {
        "--batch_size": "500",
        "--region": "us",
        "--diep_run_id": body["run_id"],
        "--diep_job_id": str(job.job_id),
    }
    assert run.trigger == "api"
    assert run.requested_by is not None
    assert run.requested_by.username == "otto"
    assert run.job_version.version == 1
    assert list(run.events.values_list("from_state", "to_state")) == [("", "PENDING")]


def test_fire_job_by_name_with_or_without_trailing_slash(api: APIClient, make_job: Any) -> None:
    make_job()
    assert api.post("/fire_job/orders-daily").status_code == 202
    assert api.post("/fire_job/orders-daily/").status_code == 202


def test_fire_job_schema_violation_is_400(api: APIClient, make_job: Any) -> None:
    job = make_job()
    response = api.post(
        f"/fire_job/{job.job_id}", {"parameters": {"region": "mars", "unknown": "1"}}, format="json"
    )
    assert response.status_code == 400
    fields = response.json()["fields"]["parameters"]
    assert "region" in fields
    assert any("unknown" in message for message in fields["parameters"])
    assert not JobRun.objects.exists()


def test_fire_job_reserved_parameter_is_400(api: APIClient, make_job: Any) -> None:
    job = make_job(parameters_schema={})
    response = api.post(
        f"/fire_job/{job.job_id}", {"parameters": {"--diep_run_id": "x"}}, format="json"
    )
    assert response.status_code == 400
    assert "reserved" in str(response.json()["fields"])


def test_fire_job_unknown_job_is_404(api: APIClient) -> None:
    assert api.post(f"/fire_job/{uuid.uuid4()}").status_code == 404
    assert api.post("/fire_job/no-such-job").status_code == 404


def test_fire_job_disabled_is_409(api: APIClient, make_job: Any) -> None:
    job = make_job(enabled=False)
    response = api.post(f"/fire_job/{job.job_id}")
    assert response.status_code == 409
    assert "disabled" in response.json()["detail"]


def test_fire_job_idempotency_key(api: APIClient, make_job: Any) -> None:
    job = make_job()
    url = f"/fire_job/{job.job_id}"
    first = api.post(
        url, {"parameters": {"region": "us"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    again = api.post(
        url, {"parameters": {"region": "us"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    different = api.post(
        url, {"parameters": {"region": "eu"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert different.status_code == 422
    assert JobRun.objects.count() == 1
    bad_key = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="has space")
    assert bad_key.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_fire_job_same_key_while_first_in_flight_is_409(
    make_job: Any, operator: Any, client_for: Any
) -> None:
    """The first request holds its transaction open; a second with the same key gets 409."""
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are a PostgreSQL feature")
    from jobs import services

    job = make_job()
    inside, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def first_request() -> None:
        try:
            with transaction.atomic():
                outcome["first"] = services.job_fire(
                    job=job, parameters={}, trigger="api", idempotency_key="k-1"
                )
                inside.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert inside.wait(10)
    client = client_for(operator)
    try:
        in_flight = client.post(
            f"/fire_job/{job.job_id}", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
    finally:
        release.set()
        thread.join(10)
    assert in_flight.status_code == 409
    assert "still being processed" in in_flight.json()["detail"]
    after = client.post(f"/fire_job/{job.job_id}", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert after.status_code == 200
    assert after.json()["run_id"] == str(outcome["first"].run.run_id)


def test_fire_over_max_concurrent_runs_queues_fifo(
    api: APIClient, make_job: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    job = make_job(max_concurrent_runs=1)
    states = [api.post(f"/fire_job/{job.job_id}").json()["state"] for _ in range(3)]
    assert states == ["PENDING", "QUEUED", "QUEUED"]
    first, second, third = JobRun.objects.order_by("queued_at", "id")

    run_stop(run=first, user=None, source="test")  # frees the slot
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.state, third.state) == (RunState.PENDING, RunState.QUEUED)
    assert RunEvent.objects.filter(run=second, to_state="PENDING", source="scheduler").exists()


# ------------------------------------------------------------------ /api/v1/


def test_job_list_filters_search_and_pagination(api: APIClient, make_job: Any) -> None:
    make_job()
    make_job(name="clicks", engine="local", description="web clicks", schedule="")
    response = api.get("/api/v1/jobs/")
    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [j["name"] for j in api.get("/api/v1/jobs/?engine=local").json()["results"]] == [
        "clicks"
    ]
    assert [j["name"] for j in api.get("/api/v1/jobs/?search=web").json()["results"]] == ["clicks"]
    assert api.get("/api/v1/jobs/?has_schedule=true").json()["count"] == 1
    assert api.get("/api/v1/jobs/?engine=spark").status_code == 400


def test_api_v1_create_same_contract(api: APIClient) -> None:
    response = api.post("/api/v1/jobs/", job_body(), format="json")
    assert response.status_code == 201
    assert api.post("/api/v1/jobs/", job_body(), format="json").status_code == 409


def test_patch_creates_version_and_diff(api: APIClient, make_job: Any) -> None:
    job = make_job()
    response = api.patch(
        f"/api/v1/jobs/{job.job_id}/",
        {"description": "v2", "destination": {"partition_by": ["order_date", "shop"]}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response.json()["destination"]["uri"] == "s3://diep-curated/orders/"  # merged
    same = api.patch(f"/api/v1/jobs/{job.job_id}/", {"description": "v2"}, format="json")
    assert same.json()["version"] == 2  # no change, no version
    versions = api.get(f"/api/v1/jobs/{job.name}/versions/").json()
    assert [v["version"] for v in versions["results"]] == [2, 1]
    diff = api.get(f"/api/v1/jobs/{job.name}/versions/diff/?from_version=1&to_version=2").json()
    assert {c["path"]: (c["before"], c["after"]) for c in diff["changes"]} == {
        "description": ("Daily orders from the shop", "v2"),
        "destination.partition_by": (["order_date"], ["order_date", "shop"]),
    }
    assert (
        api.get(f"/api/v1/jobs/{job.name}/versions/diff/?from_version=1&to_version=9").status_code
        == 404
    )
    assert api.get(f"/api/v1/jobs/{job.name}/versions/diff/?from_version=x").status_code == 400


def test_patch_invalid_is_400_and_changes_nothing(api: APIClient, make_job: Any) -> None:
    job = make_job()
    response = api.patch(
        f"/api/v1/jobs/{job.job_id}/", {"source": {"format": "xml"}}, format="json"
    )
    assert response.status_code == 400
    assert "source" in response.json()["fields"]
    assert api.patch(f"/api/v1/jobs/{job.job_id}/", [1], format="json").status_code == 400
    job.refresh_from_db()
    assert job.version == 1


def test_patch_rename_onto_existing_is_409(api: APIClient, make_job: Any) -> None:
    make_job()
    other = make_job(name="other")
    response = api.patch(f"/api/v1/jobs/{other.job_id}/", {"name": "orders-daily"}, format="json")
    assert response.status_code == 409


def test_if_match_with_a_stale_version_is_412_and_changes_nothing(
    api: APIClient, make_job: Any
) -> None:
    job = make_job()
    read = api.get(f"/api/v1/jobs/{job.name}/")
    assert read["ETag"] == '"1"'
    first = api.patch(
        f"/api/v1/jobs/{job.name}/", {"description": "mine"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert first.status_code == 200, first.content
    assert first["ETag"] == '"2"'
    stale = api.patch(
        f"/api/v1/jobs/{job.name}/", {"description": "theirs"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    for nonsense in ('"v2"', "W/", '"99999999999"'):
        refused = api.patch(
            f"/api/v1/jobs/{job.name}/", {"description": "x"}, format="json", HTTP_IF_MATCH=nonsense
        )
        assert refused.status_code == 412, nonsense
    anything = api.patch(
        f"/api/v1/jobs/{job.name}/", {"max_retries": 2}, format="json", HTTP_IF_MATCH="*"
    )
    assert anything.status_code == 200
    job.refresh_from_db()
    assert (job.description, job.max_retries, job.version) == ("mine", 2, 3)


@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_both_land(
    client_for: Any, operator: Any, make_job: Any, monkeypatch: Any
) -> None:
    # The first patch's validation is slow; the second patch arrives meanwhile. Merged
    # into a spec read outside the lock, the first would write back the old max_retries.
    from jobs.api import views

    job = make_job()
    slow_started = threading.Event()
    validate = views._validated_spec

    def slow_for_the_first(data: Any, user: Any, **kwargs: Any) -> Any:
        if data.get("description") == "first":
            slow_started.set()
            threading.Event().wait(0.5)
        return validate(data, user, **kwargs)

    monkeypatch.setattr(views, "_validated_spec", slow_for_the_first)
    statuses: list[int] = []

    def patch(body: dict[str, Any], wait: bool) -> None:
        if wait:
            slow_started.wait(5)
        try:
            response = client_for(operator).patch(f"/api/v1/jobs/{job.name}/", body, format="json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=patch, args=({"description": "first"}, False)),
        threading.Thread(target=patch, args=({"max_retries": 3}, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200, 200]
    job.refresh_from_db()
    assert (job.description, job.max_retries, job.version) == ("first", 3, 3)


def test_disable_enable(api: APIClient, make_job: Any) -> None:
    job = make_job()
    assert api.post(f"/api/v1/jobs/{job.name}/disable/").json()["enabled"] is False
    assert api.post(f"/fire_job/{job.name}").status_code == 409
    body = api.post(f"/api/v1/jobs/{job.name}/enable/").json()
    assert body["enabled"] is True
    assert body["version"] == 3
    assert JobVersion.objects.filter(job=job).count() == 3


def test_runs_list_detail_filters(api: APIClient, make_job: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    job = make_job(max_concurrent_runs=1)
    first = api.post(f"/fire_job/{job.name}").json()
    api.post(f"/fire_job/{job.name}")
    assert api.get("/api/v1/runs/").json()["count"] == 2
    queued = api.get("/api/v1/runs/?state=QUEUED").json()
    assert queued["count"] == 1
    assert api.get(f"/api/v1/runs/?job={job.name}&trigger=api").json()["count"] == 2
    assert api.get(f"/api/v1/jobs/{job.job_id}/runs/?state=PENDING").json()["count"] == 1
    assert api.get("/api/v1/runs/?queued_after=2000-01-01T00:00:00Z").json()["count"] == 2
    assert api.get("/api/v1/runs/?queued_before=2000-01-01T00:00:00Z").json()["count"] == 0
    assert api.get("/api/v1/runs/?state=NOPE").status_code == 400
    detail = api.get(f"/api/v1/runs/{first['run_id']}/").json()
    assert detail["events"][0]["to_state"] == "PENDING"
    assert detail["job_name"] == job.name
    assert api.get(f"/api/v1/runs/{uuid.uuid4()}/").status_code == 404
    assert api.get("/api/v1/runs/not-a-uuid/").status_code == 404


def test_stop_and_retry(api: APIClient, make_job: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    job = make_job()
    run_id = api.post(f"/fire_job/{job.name}").json()["run_id"]
    assert api.post(f"/api/v1/runs/{run_id}/retry/").status_code == 409  # still pending
    stopped = api.post(f"/api/v1/runs/{run_id}/stop/")
    assert stopped.status_code == 202
    assert stopped.json()["state"] == "STOPPED"
    assert api.post(f"/api/v1/runs/{run_id}/stop/").status_code == 409
    retry = api.post(f"/api/v1/runs/{run_id}/retry/")
    assert retry.status_code == 202
    assert retry.json()["retry_of"] == run_id
    assert retry.json()["attempt"] == 2
    assert retry.json()["trigger"] == "retry"
    original = JobRun.objects.get(run_id=run_id)
    new = JobRun.objects.get(run_id=retry.json()["run_id"])
    assert new.arguments["--diep_run_id"] == str(new.run_id)
    assert {k: v for k, v in new.arguments.items() if k != "--diep_run_id"} == {
        k: v for k, v in original.arguments.items() if k != "--diep_run_id"
    }


def test_viewer_cannot_stop_or_retry(
    viewer: Any, client_for: Any, api: APIClient, make_job: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    job = make_job()
    run_id = api.post(f"/fire_job/{job.name}").json()["run_id"]
    client = client_for(viewer)
    assert client.get(f"/api/v1/runs/{run_id}/").status_code == 200
    assert client.post(f"/api/v1/runs/{run_id}/stop/").status_code == 403
    assert client.post(f"/api/v1/runs/{run_id}/retry/").status_code == 403


def test_schema_and_offline_docs(api: APIClient) -> None:
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/create_job/" in paths
    assert "/api/v1/runs/{run_id}/stop/" in paths
    assert "422" in paths["/fire_job/{job_ref}/"]["post"]["responses"]
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content  # served from drf-spectacular-sidecar, offline


def test_throttling_answers_429_in_the_error_shape(api: APIClient, monkeypatch: Any) -> None:
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    statuses = [api.get("/api/v1/jobs/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api.get("/api/v1/jobs/").json()["code"] == "throttled"
    cache.clear()


def test_an_expired_token_is_401_and_tokens_are_stored_hashed(
    operator: Any, client_for: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from knox.models import AuthToken

    instance, token = AuthToken.objects.create(user=operator)
    assert token not in {instance.digest, instance.token_key}  # only a digest is kept
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/jobs/").status_code == 200
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/jobs/").status_code == 401


def test_a_date_filter_with_an_offset_postgres_cannot_store_is_compared_in_utc(
    api: APIClient, make_job: Any
) -> None:
    # Found by schemathesis: ISO 8601 allows -23:17, PostgreSQL refused it (a 500).
    response = api.get("/api/v1/runs/", {"queued_before": "1614-12-22T16:22:45-23:17"})
    assert response.status_code == 200
    assert response.json()["count"] == 0
