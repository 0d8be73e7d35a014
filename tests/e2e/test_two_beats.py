"""Two Celery Beat processes against one database (the mistake the docs warn about)
still make one run per scheduled tick: the dispatcher claims rows with SKIP LOCKED and
each fire carries its tick's idempotency key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from jobs.dispatch import schedule_key
from jobs.models import FireSource, Job, JobRun
from tests.conftest import subprocess_database_url
from tests.e2e.conftest import ROOT, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def celery(arguments: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "diep_portal", *arguments],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_two_beats_fire_each_tick_once(make_job: Any, tmp_path: Path) -> None:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("runs on the Redis broker")
    call_command("setup_periodic_tasks", stdout=open(os.devnull, "w"))  # noqa: SIM115
    tick = (timezone.now() + timedelta(seconds=6)).replace(microsecond=0)
    jobs = [make_job(name=f"twice-{n}", schedule="rate(10 minutes)") for n in range(5)]
    Job.objects.update(next_fire_at=tick)
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
    }
    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    processes = [
        celery(
            ["worker", "-Q", "maintenance", "-c", "2", "-n", f"beats-{os.getpid()}@%h"],
            tmp_path / "worker.log",
            env,
        ),
        *(
            celery(
                ["beat", "--scheduler", scheduler, "-s", str(tmp_path / f"beat{n}")],
                tmp_path / f"beat{n}.log",
                env,
            )
            for n in (1, 2)
        ),
    ]
    try:
        wait_for(
            lambda: JobRun.objects.filter(trigger=FireSource.SCHEDULE).count() >= len(jobs),
            timeout=45,
        )
        time.sleep(4)  # both Beats keep ticking: nothing more may appear
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    runs = JobRun.objects.filter(trigger=FireSource.SCHEDULE)
    assert sorted(runs.values_list("job__name", flat=True)) == sorted(j.name for j in jobs)
    assert set(runs.values_list("idempotency_key", flat=True)) == {schedule_key(tick)}
    assert all(j.next_fire_at == tick + timedelta(minutes=10) for j in Job.objects.all())
