"""End to end, with the Procfile's workers (runs + maintenance, and alerts): a webhook
receiver that takes 60 s to answer holds up its own alert worker only; runs fired
meanwhile start within seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from jobs import services
from jobs.models import AlertDelivery, JobRun, RunState
from jobs.runs.state import transition_run
from tests.conftest import Receiver
from tests.e2e.conftest import start_worker, stop_process, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def started(run: JobRun) -> bool:
    return bool(JobRun.objects.get(pk=run.pk).external_run_id)


def test_a_webhook_that_sleeps_60_s_never_delays_run_starts(
    glue_job: str, make_job: Any, settings: Any, tmp_path: Path
) -> None:
    hook = Receiver()
    hook.delay = 60
    settings.DIEP_ALERT_WEBHOOKS = {"ops": hook.url}
    env = {
        "DIEP_ALERT_WEBHOOKS": json.dumps({"ops": hook.url}),
        "DJANGO_DEBUG": "true",  # a plain-http receiver on this machine
        "DIEP_ALERT_DELIVERY_DEADLINE_SECONDS": "120",  # it really hangs for its 60 s
    }
    logs = tmp_path / "worker.log", tmp_path / "alerts.log"
    workers = [
        start_worker(aws_url=settings.AWS_ENDPOINT_URL, log=logs[0], queues="runs,maintenance"),
        start_worker(
            aws_url=settings.AWS_ENDPOINT_URL, log=logs[1], queues="alerts", extra_env=env
        ),
    ]
    try:
        job = make_job(
            glue_job_name=glue_job,
            max_retries=0,
            alerts={"on": ["failure"], "webhooks": ["ops"]},
        )
        first = services.job_fire(job=job, parameters={}, trigger="api").run
        wait_for(lambda: started(first), timeout=60)
        transition_run(run=first, to=RunState.FAILED, source="test", error_message="boom")
        wait_for(lambda: len(hook.bodies) == 1, timeout=60)  # the receiver now sleeps

        began = time.monotonic()
        second = services.job_fire(job=job, parameters={}, trigger="api").run
        wait_for(lambda: started(second), timeout=30)
        assert time.monotonic() - began < 10
        assert AlertDelivery.objects.get().state == "PENDING"  # still waiting on the hook
    finally:
        for worker, log in zip(workers, logs, strict=True):
            stop_process(worker, log)
        hook.server.shutdown()
