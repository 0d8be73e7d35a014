"""Secrets stay secret, production settings pass Django's deploy checks, and every
action leaves a trail nobody can edit."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from jobs.models import JobRun, JobVersion, RunEvent
from jobs.runs.start import run_start
from tests.conftest import job_body

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX-very-secret-webhook"


def test_no_secret_in_api_output_logs_metrics_or_engine_arguments(
    artifacts: str,
    settings: Any,
    client_for: Any,
    operator: Any,
    no_enqueue: Any,
    caplog: Any,
) -> None:
    from knox.models import AuthToken

    settings.DIEP_ALERT_WEBHOOKS = {"ops": WEBHOOK}
    settings.DIEP_METRICS_PUBLIC = True  # what an open /metrics shows must hold no secret
    _, token = AuthToken.objects.create(user=operator)
    api = client_for(operator)
    with caplog.at_level(logging.DEBUG):
        body = job_body(alerts={"on": ["failure"], "webhooks": ["ops"]})
        created = api.post("/create_job/", body, format="json")
        assert created.status_code == 201, created.content
        job_id = created.json()["job_id"]
        fired = api.post(f"/fire_job/{job_id}", {"parameters": {"region": "us"}}, format="json")
        run = JobRun.objects.get(run_id=fired.json()["run_id"])
        run_start(run_id=run.run_id, last_attempt=True)
        outputs = [
            created.content,
            api.get(f"/api/v1/jobs/{job_id}/").content,
            api.get(f"/api/v1/runs/{run.run_id}/").content,
            api.get("/api/v1/runs/").content,
            Client().get("/metrics").content,
            Client().get("/readyz").content,
        ]
    run.refresh_from_db()
    texts = [o.decode() for o in outputs] + [
        r.getMessage() + str(r.__dict__) for r in caplog.records
    ]
    texts.append(json.dumps(run.arguments))
    secrets = [WEBHOOK, token, settings.SECRET_KEY, os.environ.get("AWS_SECRET_ACCESS_KEY", "")]
    for secret in filter(None, secrets):
        assert not any(secret in text for text in texts), secret[:12]
    assert "--diep_spec" in run.arguments or run.state != "PENDING"


def test_job_specs_refuse_secret_looking_parameters(api: Any) -> None:
    body = job_body(parameters={"db_password": "hunter2"}, parameters_schema={})
    response = api.post("/create_job/", body, format="json")
    assert response.status_code == 400
    assert "parameters" in response.json()["fields"]


def test_production_settings_pass_the_deploy_checks(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "diep.example.com",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SECURE_COOKIES": "true",
        "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_HSTS_PRELOAD": "true",
        "DJANGO_DEBUG": "false",
        "DIEP_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout

    opened = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, "DIEP_METRICS_PUBLIC": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert opened.returncode != 0
    assert "diep.W001" in opened.stdout + opened.stderr


def test_every_action_leaves_a_read_only_trail(
    artifacts: str, client_for: Any, operator: Any, admin_browser: Client, no_enqueue: Any
) -> None:
    api = client_for(operator)
    job_id = api.post("/create_job/", job_body(), format="json").json()["job_id"]
    api.patch(f"/api/v1/jobs/{job_id}/", {"description": "v2"}, format="json")
    run_id = api.post(f"/fire_job/{job_id}", {}, format="json").json()["run_id"]
    api.post(f"/api/v1/runs/{run_id}/stop/")
    versions = JobVersion.objects.filter(job__job_id=job_id).order_by("version")
    assert [(v.version, v.changed_by) for v in versions] == [(1, operator), (2, operator)]
    run = JobRun.objects.get(run_id=run_id)
    assert run.requested_by == operator
    events = list(RunEvent.objects.filter(run=run).order_by("id"))
    assert [(e.to_state, e.actor) for e in events] == [("PENDING", operator), ("STOPPED", operator)]
    # In the admin: visible, and neither editable nor deletable.
    event_page = admin_browser.get(f"/admin/jobs/jobrun/{run.pk}/change/")
    assert event_page.status_code == 200
    assert operator.username in event_page.content.decode()
    assert admin_browser.post(f"/admin/jobs/jobrun/{run.pk}/delete/").status_code == 403
    version = versions.last()
    assert version is not None
    assert admin_browser.post(f"/admin/jobs/jobversion/{version.pk}/delete/").status_code == 403
    response = admin_browser.post(f"/admin/jobs/jobversion/{version.pk}/change/", {"version": 99})
    version.refresh_from_db()
    assert version.version == 2
    assert response.status_code in (302, 403)
