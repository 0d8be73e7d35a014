"""In a real browser (Debian's chromium through Playwright), against the live portal, a
real Celery worker and the moto server: log in, create a local-engine job in the admin,
fire it with a parameter, watch its run reach SUCCEEDED, open the dashboard. Each page
is saved as a screenshot under test-artifacts/screenshots (DIEP_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from jobs.models import Job, JobRun, RunState

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("DIEP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
# Chromium's own background traffic is refused by this closed network, many times over.
QUIET_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": QUIET_FLAGS}


@pytest.fixture
def shots() -> Any:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page: Any, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return shoot


@pytest.fixture
def async_unsafe() -> None:
    # Playwright's sync API keeps an event loop running in the test thread for the rest
    # of the session, and Django then refuses every ORM call as if from async code:
    # `make test` runs this file in a session of its own with the check turned off.
    if os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") != "true":
        pytest.skip("run in its own session: `make test` (DJANGO_ALLOW_ASYNC_UNSAFE=true)")


def test_operator_journey_in_the_admin(
    async_unsafe: None,
    buckets: Any,
    celery_worker_process: Any,
    live_server: Any,
    page: Any,
    django_user_model: Any,
    shots: Any,
) -> None:
    buckets.put_object(
        Bucket="diep-raw", Key="orders/day 1.csv", Body=b"id,region,amount\n1,eu,9.5\n2,us,3\n"
    )
    django_user_model.objects.create_superuser("ops", password="browser-test-pw")
    page.set_default_timeout(20_000)

    page.goto(f"{live_server.url}/admin/login/")
    shots(page, "01-login")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "browser-test-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#diep-dashboard")

    page.goto(f"{live_server.url}/admin/jobs/job/add/")
    page.fill("#id_name", "browser-orders")
    page.select_option("#id_engine", "local")
    page.fill("#id_source_uri", "s3://diep-raw/orders/")
    page.select_option("#id_source_format", "csv")
    page.fill("#id_destination_uri", "s3://diep-curated/orders/")
    page.fill("#id_destination_partition_by", '["region"]')
    page.fill("#id_transform", '{"rename": {"id": "order_id"}, "cast": {"amount": "float"}}')
    page.fill("#id_parameters", '{"region": "eu"}')
    page.fill(
        "#id_parameters_schema",
        '{"type": "object", "properties": {"region": {"enum": ["eu", "us"]}}}',
    )
    shots(page, "02-job-form")
    page.click("input[name=_continue]")
    page.wait_for_selector("#fire-job")
    shots(page, "03-job-created")
    job = Job.objects.get(name="browser-orders")
    assert job.engine == "local"

    page.click("#fire-job")
    page.fill("#id_param__region", "us")
    shots(page, "04-fire-form")
    page.click("#fire-form input[type=submit]")
    page.wait_for_url("**/admin/jobs/jobrun/*/change/")
    run = JobRun.objects.get(job=job)
    assert run.parameters == {"region": "us"}

    for _ in range(60):
        page.reload()
        if page.locator(".field-state_display >> text=SUCCEEDED").count():
            break
        if JobRun.objects.get(pk=run.pk).is_terminal:
            page.reload()
            break
        page.wait_for_timeout(1000)
    shots(page, "05-run")
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.error_message
    assert page.locator(".field-state_display >> text=SUCCEEDED").count() == 1
    assert page.locator(".diep-timeline li").count() == 4
    assert run.metrics["rows_out"] == 2

    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#diep-dashboard svg")
    assert page.locator("#diep-dashboard >> text=browser-orders").count() >= 1
    shots(page, "06-dashboard")
    assert shutil.disk_usage(ARTIFACTS).free > 0
    assert sorted(p.stem for p in (ARTIFACTS / "screenshots").glob("*.png"))[:6] == [
        "01-login",
        "02-job-form",
        "03-job-created",
        "04-fire-form",
        "05-run",
        "06-dashboard",
    ]
