"""Benchmark: POST /fire_job/ against a bare Django view doing one comparable INSERT.

Both served by gunicorn (2 workers) on PostgreSQL, driven from this process:
1. closed loop at rising concurrency: throughput (req/s) and p50/p99 latency of each,
   and the throughput ratio fire_job / bare (target ≥ 0.5);
2. open loop at a fixed 100 requests/s on /fire_job/: p50/p99 (target p99 < 50 ms).

Run with `make bench` (DATABASE_URL must point at PostgreSQL; a `<db>_bench` database
is created and dropped). Redis DB 13 receives the enqueued start tasks and is flushed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/api_fire.py`, as `make bench` runs it

from bench.common import create_database, drop_database, free_port, stop  # noqa: E402

BROKER = "redis://127.0.0.1:6379/13"
BENCH_SUFFIX = "_bench_api"
# Services fire many jobs, and runs end: requests go round the jobs, and a stand-in for
# the workers ends what was started (on both sides), so slots never fill up.
JOBS = 20
DRAIN_SECONDS = 0.25


class Drain(threading.Thread):
    """Ends the runs (and baseline rows) the requests created, as workers would."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as db:
            while not self.stopped.wait(DRAIN_SECONDS):
                db.execute(
                    "UPDATE jobs_jobrun SET state = 'SUCCEEDED', finished_at = now() "
                    "WHERE state IN ('PENDING', 'QUEUED')"
                )
                db.execute(
                    "UPDATE bench_baseline_run SET state = 'SUCCEEDED' WHERE state = 'PENDING'"
                )


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000


def django_setup(env: dict[str, str]) -> str:
    """Migrate, create an operator, a token and a job; returns the token."""
    script = """
import django; django.setup()
from django.core.management import call_command
from django.contrib.auth.models import Group, User
from django.db import connection
from knox.models import AuthToken
from jobs import services
from jobs.models import DataGrant
from jobs.specs import JobSpecSerializer
call_command("migrate", verbosity=0)
with connection.cursor() as c:
    c.execute("CREATE TABLE bench_baseline_run (id bigserial primary key, run_id uuid unique, "
              "state varchar(16), parameters jsonb, queued_at timestamptz)")
user = User.objects.create_user("bench")
user.groups.add(Group.objects.get(name="operator"))
spec = JobSpecSerializer(data={"name": "bench", "source": {"uri": "s3://raw-bench/in/",
    "format": "csv"}, "destination": {"uri": "s3://cur-bench/out/"},
    "parameters": {"region": "eu"}, "max_concurrent_runs": 1000,
    "parameters_schema": {"type": "object", "properties": {"region": {"enum": ["eu", "us"]}}}})
spec.is_valid(raise_exception=True)
DataGrant.objects.create(bucket="raw-bench", can_read=True)
DataGrant.objects.create(bucket="cur-bench", can_read=False, can_write=True)
for index in range(JOBS):
    services.job_create(spec={**spec.validated_data, "name": f"bench-{index}"}, user=user,
                        source="bench")
print(AuthToken.objects.create(user=user)[1])
""".replace("JOBS", str(JOBS))
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.wsgi:application",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except requests.RequestException:  # not up yet, busy starting, or half-answering
            time.sleep(0.2)
        else:
            return proc
    stop(proc)
    raise RuntimeError("gunicorn did not start")


Request = Callable[[requests.Session], requests.Response]


def closed_loop(make: Request, concurrency: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    errors = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        session = requests.Session()
        local: list[float] = []
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            response = make(session)
            local.append(time.perf_counter() - began)
            if response.status_code not in (200, 202):
                errors.append(response.status_code)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[:5]}")
    return len(latencies) / (time.monotonic() - began), latencies


def open_loop(make: Request, rate: float, seconds: float) -> list[float]:
    """Send at a fixed rate regardless of answers (no coordinated omission)."""
    latencies: list[float] = []
    lock = threading.Lock()
    sessions = threading.local()

    def one(scheduled: float) -> None:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        response = make(sessions.s)
        elapsed = time.perf_counter() - scheduled
        if response.status_code not in (200, 202):
            raise RuntimeError(f"status {response.status_code}")
        with lock:
            latencies.append(elapsed)

    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    total = int(rate * seconds)
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for index in range(total):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, scheduled))
        for future in futures:
            future.result()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="per level and endpoint")
    parser.add_argument("--levels", default="1,4,16,32")
    parser.add_argument(
        "--rate-share",
        type=float,
        default=0.4,
        help="the fixed rate for latency, as a share of the bare view's best throughput",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations per level")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL")
    bench_url = create_database(database_url, BENCH_SUFFIX)
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "CELERY_BROKER_URL": BROKER,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DIEP_API_THROTTLE_RATE": "100000/second",
        "DIEP_LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    token = django_setup(env)
    port = free_port()
    server = start_gunicorn(env, port)
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"parameters": {"region": "us"}})
    headers = {"Content-Type": "application/json"}

    jobs = itertools.cycle([f"bench-{index}" for index in range(JOBS)])

    def fire(session: requests.Session) -> requests.Response:
        return session.post(
            f"{base}/fire_job/{next(jobs)}",
            data=body,
            timeout=10,
            headers={**headers, "Authorization": f"Token {token}"},
        )

    def bare(session: requests.Session) -> requests.Response:
        return session.post(f"{base}/bench/bare/", data=body, headers=headers, timeout=10)

    drain = Drain(bench_url)
    drain.start()
    try:
        for make in (fire, bare):  # warm both workers' connections and caches
            closed_loop(make, 2, 1.0)
        print(
            f"{'conc':>5} {'fire req/s':>11} {'p50':>7} {'p99':>7} {'bare req/s':>11} "
            f"{'p50':>7} {'p99':>7} {'ratio':>6}"
        )
        ratios, bare_best = [], 0.0
        for level in (int(x) for x in args.levels.split(",")):
            # Alternate the two in short rounds so drift in the machine's speed (a shared
            # VM) lands on both sides of the ratio alike.
            fire_rounds, bare_rounds = [], []
            for _ in range(args.rounds):
                fire_rounds.append(closed_loop(fire, level, args.seconds / args.rounds))
                bare_rounds.append(closed_loop(bare, level, args.seconds / args.rounds))
            fire_rps = statistics.median(rps for rps, _ in fire_rounds)
            bare_rps = statistics.median(rps for rps, _ in bare_rounds)
            fire_lat = [sample for _, samples in fire_rounds for sample in samples]
            bare_lat = [sample for _, samples in bare_rounds for sample in samples]
            ratios.append(fire_rps / bare_rps)
            bare_best = max(bare_best, bare_rps)
            print(
                f"{level:>5} {fire_rps:>11.1f} {percentile(fire_lat, 50):>6.1f}ms "
                f"{percentile(fire_lat, 99):>6.1f}ms {bare_rps:>11.1f} "
                f"{percentile(bare_lat, 50):>6.1f}ms {percentile(bare_lat, 99):>6.1f}ms "
                f"{fire_rps / bare_rps:>6.2f}"
            )
        rate = args.rate_share * bare_best
        steady = open_loop(fire, rate, args.seconds)
        p50, p99 = percentile(steady, 50), percentile(steady, 99)
        print(
            f"\nfire_job at a fixed {rate:.0f} req/s ({args.rate_share:.0%} of the bare "
            f"view's best, {bare_best:.0f} req/s) for {args.seconds:.0f} s: "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 50 ms)"
        )
        print(
            f"throughput ratio fire_job / bare INSERT view: min {min(ratios):.2f}, "
            f"median {statistics.median(ratios):.2f} (target >= 0.5)"
        )
    finally:
        drain.stopped.set()
        drain.join()
        stop(server)
        import redis

        redis.Redis.from_url(BROKER).flushdb()
        drop_database(database_url, BENCH_SUFFIX)


if __name__ == "__main__":
    main()
