"""Admin smoke tests: changelists, search, add, change, every action, fire form, diff."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import Job, JobRun, RunState

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "admin-job",
        "description": "made in the admin",
        "enabled": "on",
        "engine": "glue",
        "glue_job_name": "diep-ingest",
        "source_uri": "s3://diep-raw/admin/",
        "source_format": "csv",
        "source_options": "{}",
        "destination_uri": "s3://diep-curated/admin/",
        "destination_format": "parquet",
        "destination_partition_by": '["day"]',
        "destination_mode": "append",
        "destination_options": "{}",
        "transform": "{}",
        "parameters": '{"region": "eu"}',
        "parameters_schema": '{"type": "object", "properties": {"region": {"enum": ["eu", "us"]}}}',
        "schedule": "rate(5 minutes)",
        "timezone": "UTC",
        "catch_up": "latest",
        "alerts": "{}",
        "trigger_bucket": "",
        "trigger_prefix": "",
        "trigger_suffix": "",
        "trigger_window_seconds": "0",
        "trigger_max_files": "1000",
        "trigger_max_bytes": "1000000",
        "max_concurrent_runs": "1",
        "timeout_minutes": "60",
        "max_retries": "0",
    }
    data.update(overrides)
    return data


def test_job_changelist_and_search(browser: Client, make_job: Any, no_enqueue: Any) -> None:
    from jobs import services

    job = make_job()
    services.job_fire(job=job, parameters={}, trigger="api")
    response = browser.get(reverse("admin:jobs_job_changelist"))
    assert response.status_code == 200
    assert b"orders-daily" in response.content
    assert b"PENDING" in response.content  # last run badge
    found = browser.get(reverse("admin:jobs_job_changelist") + "?q=orders")
    assert b"orders-daily" in found.content
    missing = browser.get(reverse("admin:jobs_job_changelist") + "?q=zzz")
    assert b"orders-daily" not in missing.content


def test_add_job_through_services(browser: Client, operator: Any) -> None:
    response = browser.post(reverse("admin:jobs_job_add"), form_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(name="admin-job")
    assert job.version == 1
    assert job.created_by == operator
    assert job.versions.get().change_source == "admin"
    assert job.schedule == "rate(5 minutes)"


def test_add_job_invalid_shows_field_errors(browser: Client) -> None:
    response = browser.post(
        reverse("admin:jobs_job_add"),
        form_data(
            source_uri="s3://Bad_Bucket/x", schedule="nope", parameters='{"--JOB_NAME": "x"}'
        ),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"source_uri", "schedule", "parameters"} <= set(errors)
    assert not Job.objects.exists()


def test_a_lone_surrogate_in_a_json_field_is_a_field_error(
    browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    response = browser.post(
        reverse("admin:jobs_job_add"), form_data(transform='{"rename": {"a": "b\\ud800"}}')
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["transform"] == [
        "A lone surrogate (\\uD800-\\uDFFF) in rename.a."
    ]
    job = make_job()
    fire = browser.post(
        reverse("admin:jobs_job_fire", args=[job.pk]),
        {"param__region": "us", "extra_parameters": '{"\\udc00": "x"}'},
    )
    assert fire.status_code == 200
    assert "lone surrogate" in fire.context["form"].errors["extra_parameters"][0]
    assert not JobRun.objects.exists()


def test_change_job_bumps_version_and_diff_view(browser: Client, make_job: Any) -> None:
    job = make_job(schedule="", trigger=None)
    change_url = reverse("admin:jobs_job_change", args=[job.pk])
    page = browser.get(change_url)
    assert page.status_code == 200
    data = form_data(
        name=job.name,
        description="changed in admin",
        parameters='{"region": "us"}',
        parameters_schema="{}",
    )
    response = browser.post(change_url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    job.refresh_from_db()
    assert job.version == 2
    assert job.description == "changed in admin"
    diff = browser.get(
        reverse("admin:jobs_job_version_diff", args=[job.pk]) + "?from_version=1&to_version=2"
    )
    assert diff.status_code == 200
    assert b"changed in admin" in diff.content
    assert b"description" in diff.content


def test_fire_enable_disable_actions(browser: Client, make_job: Any, no_enqueue: Any) -> None:
    job = make_job()
    url = reverse("admin:jobs_job_changelist")
    browser.post(url, {"action": "disable_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert not job.enabled
    response = browser.post(url, {"action": "fire_now", "_selected_action": [job.pk]}, follow=True)
    assert b"disabled" in response.content
    browser.post(url, {"action": "enable_jobs", "_selected_action": [job.pk]})
    browser.post(url, {"action": "fire_now", "_selected_action": [job.pk]})
    run = JobRun.objects.get()
    assert run.trigger == "admin"


def test_fire_with_parameters_form_validates_schema(
    browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    job = make_job()
    url = reverse("admin:jobs_job_fire", args=[job.pk])
    page = browser.get(url)
    assert page.status_code == 200
    assert b"param__region" in page.content
    assert b"param__run_date" in page.content
    bad = browser.post(
        url, {"param__region": "mars", "param__batch_size": "5", "extra_parameters": "{}"}
    )
    assert bad.status_code == 200
    assert b"mars" in bad.content
    assert not JobRun.objects.exists()
    good = browser.post(
        url, {"param__region": "us", "param__batch_size": "5", "extra_parameters": "{}"}
    )
    assert good.status_code == 302
    run = JobRun.objects.get()
    assert run.parameters == {"region": "us", "batch_size": "5"}
    assert run.requested_by is not None
    assert run.requested_by.username == "otto"


@pytest.mark.parametrize("object_id", ["abc", "1x", "²", "-1"])
def test_job_pages_for_an_id_no_job_has_are_404(browser: Client, object_id: str) -> None:
    for page in ("fire", "test-key", "versions/diff"):
        response = browser.get(f"/admin/jobs/job/{object_id}/{page}/")
        assert response.status_code == 404, page


def test_viewer_cannot_fire_from_admin(viewer: Any, make_job: Any) -> None:
    viewer.is_staff = True
    viewer.save()
    client = Client()
    client.force_login(viewer)
    job = make_job()
    assert client.get(reverse("admin:jobs_job_fire", args=[job.pk])).status_code == 403
    page = client.get(reverse("admin:jobs_job_changelist"))
    assert page.status_code == 200
    assert b"fire_now" not in page.content


def test_run_admin_read_only_with_stop_and_retry(
    browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    from jobs import services

    run = services.job_fire(job=make_job(), parameters={}, trigger="api").run
    changelist = browser.get(reverse("admin:jobs_jobrun_changelist"))
    assert changelist.status_code == 200
    assert str(run.run_id)[:8].encode() in changelist.content
    search = browser.get(reverse("admin:jobs_jobrun_changelist") + f"?q={run.run_id}")
    assert str(run.run_id)[:8].encode() in search.content
    detail = browser.get(reverse("admin:jobs_jobrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert b"--diep_run_id" in detail.content
    assert browser.get(reverse("admin:jobs_jobrun_add")).status_code == 403
    url = reverse("admin:jobs_jobrun_changelist")
    browser.post(url, {"action": "stop_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.state == RunState.STOPPED
    browser.post(url, {"action": "retry_runs", "_selected_action": [run.pk]})
    retry = JobRun.objects.get(retry_of=run)
    assert retry.attempt == 2
    actor = retry.events.get().actor
    assert actor is not None
    assert actor.username == "otto"


def test_version_admin_is_read_only(admin_user: Any, make_job: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    job = make_job()
    assert client.get(reverse("admin:jobs_jobversion_changelist")).status_code == 200
    version = job.versions.get()
    assert client.get(reverse("admin:jobs_jobversion_change", args=[version.pk])).status_code == 200
    assert (
        client.post(reverse("admin:jobs_jobversion_delete", args=[version.pk])).status_code == 403
    )
