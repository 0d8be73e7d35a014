"""The operators' admin: the dashboard on the index, the run page, the key tester."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from diep_portal.aws.session import get_client
from ingestion.models import IngestedFile
from jobs import services
from jobs.models import JobRun, RunState
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(admin_browser: Client) -> Client:
    from diep_portal import observability

    observability._depth_cache.clear()  # queue depths are cached for 15 s
    return admin_browser


def finished_run(job: Any, state: str, seconds: int, **fields: Any) -> JobRun:
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    started = timezone.now() - timedelta(seconds=seconds)
    transition_run(run=run, to=RunState.STARTING, source="test", started_at=started)
    transition_run(run=run, to=state, source="glue-poll", **fields)
    return run


def test_dashboard_shows_runs_health_lag_dlq_and_failures(
    aws: str, settings: Any, browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    get_client("sqs").create_queue(QueueName=settings.DIEP_INGEST_DLQ)
    job = make_job(max_concurrent_runs=10)
    for seconds in (10, 20, 30):
        finished_run(job, RunState.SUCCEEDED, seconds)
    finished_run(job, RunState.FAILED, 5, error_message="Out of memory on executor 3")
    page = browser.get("/admin/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="diep-dashboard"' in html
    assert "Runs, last 24 hours (4)" in html
    assert '<svg role="img" aria-label="runs by state"' in html
    assert "SUCCEEDED" in html
    assert f"<td>{job.name}</td><td>4</td>" in html
    assert "75%" in html
    assert "Out of memory on executor 3" in html
    assert "0 messages" in html  # the DLQ, read from SQS


def test_dashboard_survives_aws_being_away(
    settings: Any, browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    from diep_portal.aws.session import reset_clients

    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    reset_clients()
    page = browser.get("/admin/")
    assert page.status_code == 200
    assert "unknown (AWS unreachable)" in page.content.decode()


def test_run_page_has_timeline_files_metrics_and_cost(
    browser: Client, make_job: Any, no_enqueue: Any
) -> None:
    job = make_job()
    run = finished_run(job, RunState.SUCCEEDED, 60, dpu_seconds=7200.0, metrics={"rows_out": 42})
    IngestedFile.objects.create(
        job=job, bucket="diep-raw", key="orders/a b.csv", identity="e", size=10, run=run
    )
    html = browser.get(f"/admin/jobs/jobrun/{run.pk}/change/").content.decode()
    timeline = html[html.index('class="diep-timeline"') :]
    timeline = timeline[: timeline.index("</ol>")]
    assert (
        timeline.index(">PENDING<") < timeline.index(">STARTING<") < timeline.index(">SUCCEEDED<")
    )
    assert "s3://diep-raw/orders/a b.csv" in html
    assert "&quot;rows_out&quot;: 42" in html
    assert "2.000 DPU-hours ≈ $0.8800" in html


def test_test_a_key_against_the_trigger(browser: Client, make_job: Any) -> None:
    job = make_job(trigger={"bucket": "diep-raw", "prefix": "orders/", "suffix": ".csv"})
    url = f"/admin/jobs/job/{job.pk}/test-key/"
    yes = browser.get(url, {"key": "orders/2026/a.csv"}).content.decode()
    assert f"Yes: s3://diep-raw/orders/2026/a.csv fires {job.name}." in yes
    no = browser.get(url, {"key": "refunds/a.csv"}).content.decode()
    assert f"No: s3://diep-raw/refunds/a.csv does not fire {job.name}." in no
    change = browser.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert url in change


def test_json_fields_are_shown_indented(browser: Client, make_job: Any) -> None:
    job = make_job(transform={"rename": {"id": "order_id"}})
    html = browser.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "{\n  &quot;rename&quot;: {\n    &quot;id&quot;: &quot;order_id&quot;\n  }\n}" in html
