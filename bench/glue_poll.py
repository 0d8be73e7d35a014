"""Benchmark: Glue API calls per poll tick, DIEP's poller against a naive one.

1,000 active runs across 20 Glue job names on a local moto server (real HTTP). The
baseline in the same run is the naive poller: one GetJobRun per active run. Glue
calls are counted with a botocore event hook. Target: <= 20 calls per tick.
Run with `make bench` (DATABASE_URL must point at PostgreSQL).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Clock, create_database, drop_database  # noqa: E402

SUFFIX = "_bench_poll"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--glue-jobs", type=int, default=20)
    parser.add_argument("--port", type=int, default=18766)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL")

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.update(
        {
            "DATABASE_URL": create_database(database_url, SUFFIX),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
            "DIEP_LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    try:
        run_benchmark(args.runs, args.glue_jobs, endpoint)
    finally:
        server.stop()
        from django.db import connections

        connections.close_all()
        drop_database(database_url, SUFFIX)


def run_benchmark(total_runs: int, glue_jobs: int, endpoint: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from diep_portal.aws.glue import glue_get_job_run, glue_start_job_run
    from diep_portal.aws.session import get_client
    from jobs import services
    from jobs.engines.glue.tracking import poll_glue_runs
    from jobs.models import DataGrant, Job, JobRun, RunState
    from jobs.specs import JobSpecSerializer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the moto server's access log
    call_command("migrate", verbosity=0)
    DataGrant.objects.get_or_create(bucket="raw-bench", prefix="", defaults={"can_read": True})
    DataGrant.objects.get_or_create(
        bucket="cur-bench", prefix="", defaults={"can_read": False, "can_write": True}
    )
    # Keep every Glue run STARTING for the whole benchmark: it advances one state per
    # this many reads.
    requests.post(
        f"{endpoint}/moto-api/state-manager/set-transition",
        timeout=10,
        json={
            "model_name": "glue::job_run",
            "transition": {"progression": "manual", "times": 1_000_000},
        },
    ).raise_for_status()
    glue = get_client("glue")
    per_job = total_runs // glue_jobs
    started = time.perf_counter()
    for index in range(glue_jobs):
        name = f"bench-glue-{index:02d}"
        settings.DIEP_GLUE_JOB_NAMES.append(name)  # the benchmark's admin set them up
        glue.create_job(
            Name=name,
            Role="arn:aws:iam::123456789012:role/bench",
            Command={"Name": "glueetl", "ScriptLocation": "s3://b/s.py"},
            ExecutionProperty={"MaxConcurrentRuns": per_job},
        )
        spec = JobSpecSerializer(
            data={
                "name": f"bench-{index:02d}",
                "glue_job_name": name,
                "source": {"uri": "s3://raw-bench/in/", "format": "csv"},
                "destination": {"uri": "s3://cur-bench/out/"},
                "max_concurrent_runs": per_job,
            }
        )
        spec.is_valid(raise_exception=True)
        job = services.job_create(spec=spec.validated_data, user=None, source="bench")
        assert job.current_version_id is not None
        runs = []
        for _ in range(per_job):
            glue_run = glue_start_job_run(job_name=name, arguments={})
            runs.append(
                JobRun(
                    job=job,
                    job_version_id=job.current_version_id,
                    trigger="api",
                    engine="glue",
                    # Where Glue has them (moto's first state, held by the transition
                    # above): the steady state of a tick, nothing to change.
                    state=RunState.STARTING,
                    started_at=timezone.now(),
                    external_run_id=glue_run.job_run_id,
                )
            )
        JobRun.objects.bulk_create(runs)
    print(
        f"set up {total_runs} STARTING runs on {glue_jobs} Glue jobs "
        f"in {time.perf_counter() - started:.0f} s"
    )

    calls: list[str] = []
    glue.meta.events.register("before-call.glue", lambda model, **_: calls.append(model.name))
    clock = Clock(glue, service="Glue")

    with clock:
        report = poll_glue_runs()
    first = clock.split()
    diep_calls = len(calls)
    assert report.runs_tracked == total_runs, report
    assert not report.runs_not_found, report

    calls.clear()  # steady state: a second tick, nothing new to record
    with clock:
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            cProfile.runctx("poll_glue_runs()", globals(), locals(), sort="cumtime")
        else:
            poll_glue_runs()
    steady = clock.split()
    steady_seconds = steady.total
    steady_calls = len(calls)

    calls.clear()
    began = time.perf_counter()
    active = JobRun.objects.select_related("job").filter(state=RunState.STARTING)
    for run in active:  # the naive poller
        glue_get_job_run(job_name=run.job.glue_job_name, job_run_id=run.external_run_id)
    naive_seconds = time.perf_counter() - began
    naive_calls = len(calls)

    print(
        f"DIEP poller : {diep_calls:>5} Glue calls per tick (GetJobRuns over "
        f"{report.glue_jobs} Glue jobs), first tick {first}; "
        f"{steady_calls} calls, steady state {steady}"
    )
    print(f"naive poller: {naive_calls:>5} Glue calls per tick, {naive_seconds:.2f} s")
    print(
        f"calls ratio naive / DIEP: {naive_calls / diep_calls:.0f}x fewer calls; "
        f"time ratio {naive_seconds / steady_seconds:.1f}x faster (target <= 20 calls per tick: "
        f"{'met' if diep_calls <= 20 else 'NOT met'}; portal time per tick <= 1 s: "
        f"{'met' if max(first.portal, steady.portal) <= 1 else 'NOT met'})"
    )
    assert Job.objects.count() == glue_jobs


if __name__ == "__main__":
    main()
