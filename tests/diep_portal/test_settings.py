"""Settings read from the environment refuse what would be unsafe to run with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIEP_DATA_DIR": str(tmp_path), "DJANGO_DEBUG": "false", **variables}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("webhooks", "hosts", "refusal"),
    [
        ({"ops": "http://10.0.0.7/hook"}, "", "must be an https:// URL"),
        ({"ops": "ftp://hooks.example.com/x"}, "", "must be an https:// URL"),
        ({"ops": "https://internal.corp/hook"}, "hooks.slack.com", "does not list"),
    ],
)
def test_unsafe_webhook_urls_stop_the_portal_from_starting(
    tmp_path: Path, webhooks: dict[str, str], hosts: str, refusal: str
) -> None:
    done = _check(
        tmp_path, DIEP_ALERT_WEBHOOKS=json.dumps(webhooks), DIEP_ALERT_WEBHOOK_HOSTS=hosts
    )
    assert done.returncode != 0
    assert refusal in done.stderr


def test_https_webhooks_on_listed_hosts_are_accepted(tmp_path: Path) -> None:
    done = _check(
        tmp_path,
        DIEP_ALERT_WEBHOOKS=json.dumps({"ops": "https://hooks.slack.com/services/T/B/x"}),
        DIEP_ALERT_WEBHOOK_HOSTS="hooks.slack.com",
    )
    assert done.returncode == 0, done.stderr


def test_celery_task_lines_are_off_by_default_failures_kept() -> None:
    from django.conf import settings

    loggers: Any = settings.LOGGING["loggers"]
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        assert loggers[name]["level"] == "WARNING"
