"""AWS breaking on purpose: a proxy in front of the moto server throttles or fails about
20% of calls and loses the answers of three StartJobRun calls that reached Glue (the
worker's client times out). Every run must still end SUCCEEDED, with exactly one Glue
run each: zero duplicate starts."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from diep_portal.aws.glue import glue_get_job_runs
from jobs import services
from jobs.engines.glue.tracking import poll_glue_runs
from jobs.models import JobRun, RunState
from jobs.runs.recovery import recover_stale_starts
from tests.e2e.conftest import start_worker, stop_process
from tests.reliability.faulty_aws import FaultyAws

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

RUNS = 20


def test_runs_converge_through_throttling_5xx_and_lost_start_answers(
    glue_job: str, make_job: Any, tmp_path: Path, capsys: Any
) -> None:
    from django.conf import settings

    proxy = FaultyAws(str(settings.AWS_ENDPOINT_URL), error_rate=0.2, lost_start_answers=3)
    log = tmp_path / "worker.log"
    worker = start_worker(
        aws_url=proxy.url,
        log=log,
        queues="runs",
        extra_env={"AWS_READ_TIMEOUT": "2", "AWS_MAX_ATTEMPTS": "4", "DIEP_LOG_LEVEL": "WARNING"},
    )
    try:
        job = make_job(glue_job_name=glue_job, max_concurrent_runs=RUNS)
        runs = [services.job_fire(job=job, parameters={}, trigger="api").run for _ in range(RUNS)]
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            poll_glue_runs()  # as Beat would, straight to moto
            recover_stale_starts()
            if all(r.is_terminal for r in JobRun.objects.filter(job=job)):
                break
            time.sleep(2)
    finally:
        stop_process(worker)
        proxy.stop()
    states = Counter(JobRun.objects.filter(job=job).values_list("state", flat=True))
    glue_runs = list(glue_get_job_runs(job_name=glue_job, max_pages=5))
    starts = Counter(g.arguments.get("--diep_run_id") for g in glue_runs)
    with capsys.disabled():
        print(
            f"\naws faults: {dict(proxy.counts)}; runs {dict(states)}; glue runs {len(glue_runs)}"
        )
    assert states == {RunState.SUCCEEDED: RUNS}, log.read_text()[-5000:]
    assert proxy.counts["lost_start_answers"] == 3
    assert proxy.counts["throttled"] + proxy.counts["5xx"] > 0
    assert len(glue_runs) == RUNS
    assert set(starts) == {str(r.run_id) for r in runs}
    assert max(starts.values()) == 1  # no run started twice
