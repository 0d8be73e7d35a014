"""The broker going away and the consumer dying at the worst moment.

- A fire while the broker is down is accepted (202): the run is in the database and
  its start is sent again by the recovery sweep.
- Redis (a private server) killed and restarted in the middle of a stream of fires
  through the API: every run still ends, none twice.
- The consumer dies between the database commit and the SQS delete: the redelivered
  messages change nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection
from kombu.exceptions import OperationalError

from diep_portal.aws.glue import glue_get_job_runs
from diep_portal.aws.session import get_client
from ingestion.consumer import Consumer
from ingestion.models import IngestedFile
from jobs.models import JobRun, RunState
from tests.conftest import free_port, subprocess_database_url
from tests.e2e.conftest import ROOT, start_worker, stop_process, wait_for

pytestmark = pytest.mark.reliability


@pytest.mark.django_db
def test_a_fire_while_the_broker_is_down_is_accepted_and_recovered(
    make_job: Any,
    api: Any,
    monkeypatch: Any,
    settings: Any,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def broker_down(*args: Any) -> None:
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", broker_down)
    job = make_job()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/fire_job/{job.job_id}", {}, format="json")
    assert response.status_code == 202
    run = JobRun.objects.get(run_id=response.json()["run_id"])
    assert run.state == RunState.PENDING
    assert any(r.message == "task.enqueue_failed" for r in caplog.records)


def redis_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).returncode
            == 0
        ),
        timeout=10,
    )
    return server


MAINTENANCE_LOOP = """
import time, django
django.setup()
from jobs.engines.glue.tracking import poll_glue_runs
from jobs.runs.recovery import recover_stale_starts

while True:
    recover_stale_starts()
    poll_glue_runs()
    time.sleep(1)
"""


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_mid_stream_loses_no_run_and_starts_none_twice(
    glue_job: str, make_job: Any, tmp_path: Path, aws: str, capsys: Any
) -> None:
    from knox.models import AuthToken

    from tests.conftest import _user_in

    port, web_port = free_port(), free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis = redis_server(port)
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "CELERY_BROKER_URL": broker,
        "AWS_ENDPOINT_URL": aws,
        "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DIEP_STALE_START_SECONDS": "3",
        "DIEP_LOG_LEVEL": "WARNING",
    }
    job = make_job(glue_job_name=glue_job, max_concurrent_runs=100)
    _, token = AuthToken.objects.create(user=_user_in("operator", "fires"))
    log = tmp_path / "stack.log"
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "diep_portal.wsgi:application",
            "-b",
            f"127.0.0.1:{web_port}",
            "-w",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    worker = start_worker(aws_url=aws, log=log, queues="runs", extra_env=env)
    sweeper = subprocess.Popen(
        [sys.executable, "-c", MAINTENANCE_LOOP],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{web_port}/fire_job/{job.job_id}"
    headers = {"Authorization": f"Token {token}"}
    statuses: Counter[int] = Counter()
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{web_port}/healthz"), timeout=30)
        for index in range(30):
            if index == 10:
                redis.kill()  # no persistence: whatever was queued is gone
                redis.wait(10)
            if index == 20:
                redis = redis_server(port)
            statuses[requests.post(url, json={}, headers=headers, timeout=30).status_code] += 1
            time.sleep(0.1)
        connection.close()
        wait_for(lambda: all(r.is_terminal for r in JobRun.objects.filter(job=job)), timeout=90)
    finally:
        for process in (sweeper, worker, web):
            stop_process(process)
        redis.kill()
    states = Counter(JobRun.objects.filter(job=job).values_list("state", flat=True))
    starts = Counter(
        g.arguments.get("--diep_run_id") for g in glue_get_job_runs(job_name=glue_job, max_pages=5)
    )
    with capsys.disabled():
        print(f"\nredis restart: fires {dict(statuses)}; runs {dict(states)}; ", end="")
        print(f"glue starts {sum(starts.values())}")
    assert statuses == {202: 30}  # never a 500, broker or not
    assert states == {RunState.SUCCEEDED: 30}
    assert len(starts) == 30
    assert max(starts.values()) == 1


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.django_db
def test_a_consumer_dying_between_commit_and_delete_changes_nothing_on_redelivery(
    aws: str, make_job: Any, no_enqueue: Any, settings: Any, monkeypatch: Any
) -> None:
    sqs = get_client("sqs")
    queue = sqs.create_queue(QueueName="crash-test")["QueueUrl"]
    make_job(trigger={"bucket": "diep-raw", "prefix": "in/", "window_seconds": 600})
    for n in range(5):
        body = (
            '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", '
            '"eventName": "ObjectCreated:Put", "eventTime": "2026-11-29T03:00:00.000Z", '
            f'"s3": {{"bucket": {{"name": "diep-raw"}}, "object": {{"key": "in/f{n}.csv", '
            f'"size": 10, "eTag": "e{n}"}}}}}}]}}'
        )
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    settings.DIEP_CONSUMER_VISIBILITY_SECONDS = 1

    def die(**kwargs: Any) -> list[str]:
        raise SystemExit("killed after the commit, before the delete")

    monkeypatch.setattr("ingestion.consumer.sqs_delete_batch", die)
    crashes = 0
    while IngestedFile.objects.count() < 5 and crashes < 10:
        try:
            Consumer(queue_url=queue, wait_seconds=1).run_once()
        except SystemExit:
            crashes += 1
    assert crashes >= 1
    recorded = sorted(IngestedFile.objects.values_list("key", "id"))
    assert len(recorded) == 5
    monkeypatch.undo()
    time.sleep(1.5)  # the visibility timeout runs out: SQS delivers them again
    totals: Counter[str] = Counter()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and totals["duplicate"] < 5:
        totals.update(Consumer(queue_url=queue, wait_seconds=1).run_once().counts)
    assert totals["duplicate"] == 5
    assert totals["routed"] == 0
    assert sorted(IngestedFile.objects.values_list("key", "id")) == recorded
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 0
