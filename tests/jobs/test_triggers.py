"""Warnings about a job's trigger at save time: a trigger bucket that does not exist is
said by the API, the admin, create_job and apply_jobs (never only at provisioning),
and a check that cannot reach S3 neither blocks nor delays the save."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from diep_portal.aws.session import get_client, reset_clients
from jobs.models import DataGrant, Job
from jobs.triggers import trigger_bucket_warnings
from tests.conftest import free_port, job_body
from tests.jobs.test_admin import form_data

pytestmark = pytest.mark.django_db

FOREIGN = "acme-raw"
FOREIGN_TRIGGER = {"bucket": FOREIGN, "prefix": "orders/", "suffix": ".csv"}


@pytest.fixture(autouse=True)
def foreign_grant(db: None) -> None:
    DataGrant.objects.get_or_create(bucket=FOREIGN, prefix="", defaults={"can_read": True})


def missing_bucket_warning(warnings: list[str]) -> str:
    [warning] = [w for w in warnings if "does not exist" in w]
    return warning


def test_api_warns_until_the_bucket_exists(aws: str, api: Any) -> None:
    created = api.post(
        "/create_job/", job_body(name="acme-orders", trigger=FOREIGN_TRIGGER), format="json"
    )
    assert created.status_code == 201, created.json()
    warning = missing_bucket_warning(created.json()["warnings"])
    assert repr(FOREIGN) in warning
    assert "manage.py provision" in warning

    get_client("s3").create_bucket(Bucket=FOREIGN)
    changed = api.patch("/api/v1/jobs/acme-orders/", {"description": "now"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["warnings"] == []


def test_own_buckets_are_never_checked(settings: Any) -> None:
    """Provisioning creates DIEP's own buckets: no HeadBucket, not even a failing one."""
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    reset_clients()
    calls: list[str] = []
    get_client("s3", retries=False).meta.events.register(
        "before-call.s3.HeadBucket", lambda **kwargs: calls.append("HeadBucket")
    )
    try:
        job = Job(name="own", trigger_bucket=settings.DIEP_RAW_BUCKET)
        assert trigger_bucket_warnings(job) == []
        assert calls == []
        foreign = Job(name="foreign", trigger_bucket=FOREIGN)
        # S3 out of reach: nothing said (the save is not held up), one attempt made.
        assert trigger_bucket_warnings(foreign) == []
        assert calls == ["HeadBucket"]
    finally:
        reset_clients()


def test_admin_shows_the_warning(aws: str, operator: Any) -> None:
    browser = Client()
    browser.force_login(operator)
    response = browser.post(
        reverse("admin:jobs_job_add"),
        form_data(trigger_bucket=FOREIGN, trigger_prefix="orders/", trigger_suffix=".csv"),
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert repr(FOREIGN) in missing_bucket_warning(shown)


def test_commands_print_the_warning(aws: str, tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job_body(name="acme-orders", trigger=FOREIGN_TRIGGER)))
    out, err = io.StringIO(), io.StringIO()
    call_command("create_job", "--file", str(path), stdout=out, stderr=err)
    assert "acme-orders v1" in out.getvalue()
    assert err.getvalue().startswith("warning: ")
    assert repr(FOREIGN) in missing_bucket_warning([err.getvalue()])

    folder = tmp_path / "jobs"
    folder.mkdir()
    body = job_body(name="acme-orders", trigger=FOREIGN_TRIGGER, description="changed")
    (folder / "acme-orders.json").write_text(json.dumps(body))
    out = io.StringIO()
    call_command("apply_jobs", str(folder), "--apply", stdout=out, stderr=io.StringIO())
    assert "acme-orders: warning: The trigger bucket 'acme-raw' does not exist" in out.getvalue()
