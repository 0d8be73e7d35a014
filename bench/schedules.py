"""Benchmark: 10,000 scheduled jobs fired by one Beat and one worker.

Each job runs every 10 minutes, their phases spread over the period, so about 1,000
ticks fall due a minute. Beat (DatabaseScheduler) and a Celery worker run as real
processes on Redis and PostgreSQL; runs start on the Glue engine against a local moto
server. After `--duration` seconds (3 minutes by default) it reports fire lateness
(run created - scheduled tick) p50/p99, runs per tick (exactly one per due tick: no
double fire, no missed one) and Beat's CPU. Target: p99 lateness <= 5 s.

With `--alternative` it also measures the rejected design, one django-celery-beat
PeriodicTask per job: Beat alone with 10,000 interval entries for the same duration,
reporting its CPU and how many of the due entries it managed to send.

Run with `make bench` or `python bench/schedules.py [--jobs N] [--duration S]`
(DATABASE_URL must point at PostgreSQL; Redis on 127.0.0.1:6379, database 13).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, stop  # noqa: E402

SUFFIX = "_bench_schedules"
PERIOD = timedelta(minutes=10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=180)
    parser.add_argument("--port", type=int, default=18768)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--alternative", action="store_true")
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="processes burning CPU meanwhile (a busy machine: lateness must hold)",
    )
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    os.environ.update(
        {
            "DATABASE_URL": create_database(database_url, SUFFIX),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{args.port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "DJANGO_SETTINGS_MODULE": "diep_portal.settings",
            "DIEP_LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": args.broker,
        }
    )
    try:
        import django

        django.setup()
        import redis

        redis.Redis.from_url(args.broker).flushdb()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        dispatcher(args.jobs, args.duration, busy=args.busy)
        if args.alternative:
            per_job_entries(args.jobs, args.duration)
    finally:
        from django.db import connections

        connections.close_all()
        server.stop()
        drop_database(database_url, SUFFIX)


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "diep_portal", *command],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def procfile_worker(name: str) -> list[str]:
    """The Procfile's `name` worker as deployed (pool, concurrency, queues), at the
    benchmark's log level: what the lateness depends on is measured as it runs."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        entry, _, command = line.partition(":")
        if entry == name:
            words = shlex.split(command)
            celery = words[words.index("diep_portal") + 1 :]
            level = celery.index("-l")
            return [*celery[:level], "-l", "warning", *celery[level + 2 :]]
    raise LookupError(f"no {name!r} in the Procfile")


def make_jobs(count: int) -> Any:
    """The scheduled jobs, their first ticks a minute after they exist (creating
    10,000 takes minutes: ticks counted from before would all be overdue at the start,
    a backlog the measurement would take for lateness); returns the first tick."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from diep_portal.aws.session import get_client
    from jobs import services
    from jobs.models import DataGrant, Job
    from jobs.specs import JobSpecSerializer

    get_client("s3").create_bucket(Bucket=settings.DIEP_ARTIFACTS_BUCKET)
    get_client("glue").create_job(
        Name=settings.DIEP_DEFAULT_GLUE_JOB_NAME,
        Role="arn:aws:iam::123456789012:role/diep-glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://diep-artifacts/glue/glue_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": 10_000},
    )
    DataGrant.objects.get_or_create(bucket="diep-raw", prefix="", defaults={"can_read": True})
    DataGrant.objects.get_or_create(
        bucket="diep-curated", prefix="", defaults={"can_read": False, "can_write": True}
    )
    with transaction.atomic():
        for index in range(count):
            spec = JobSpecSerializer(
                data={
                    "name": f"scheduled-{index:05d}",
                    "source": {"uri": "s3://diep-raw/in/", "format": "csv"},
                    "destination": {"uri": "s3://diep-curated/out/"},
                    "schedule": "rate(10 minutes)",
                    "catch_up": "latest",
                }
            )
            spec.is_valid(raise_exception=True)
            services.job_create(spec=spec.validated_data, user=None, source="bench")
        # Phases spread evenly over the period: ~count / 600 ticks due every second.
        first_tick = timezone.now() + timedelta(seconds=60)
        for index, pk in enumerate(Job.objects.order_by("pk").values_list("pk", flat=True)):
            offset = PERIOD * index / count
            Job.objects.filter(pk=pk).update(next_fire_at=first_tick + offset)
    return first_tick


def dispatcher(count: int, duration: int, *, busy: int = 0) -> None:
    from django.utils import timezone

    from jobs.models import FireSource, Job, JobRun

    began = time.perf_counter()
    first_tick = make_jobs(count)
    print(f"{count} scheduled jobs created in {time.perf_counter() - began:.0f} s")
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    worker = start(procfile_worker("worker"), logs / "bench-schedules-worker.log")
    beat = start(
        ["beat", "-l", "warning", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
        logs / "bench-schedules-beat.log",
    )
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        wait = (first_tick - timezone.now()).total_seconds()
        time.sleep(max(wait, 0))
        window_start = timezone.now()
        beat_cpu = cpu_seconds(beat.pid)
        time.sleep(duration)
        window_end = timezone.now()
        beat_cpu = cpu_seconds(beat.pid) - beat_cpu
    finally:
        for burner in burners:
            stop(burner)
    time.sleep(10)  # let the last ticks' runs land
    stop(beat)
    stop(worker)
    runs = list(
        JobRun.objects.filter(trigger=FireSource.SCHEDULE).values_list(
            "job_id", "idempotency_key", "queued_at"
        )
    )
    lateness = []
    per_tick: dict[tuple[int, str], int] = {}
    for job_id, key, queued_at in runs:
        assert key is not None  # every scheduled run carries its tick's key
        tick = _tick(key)
        per_tick[(job_id, key)] = per_tick.get((job_id, key), 0) + 1
        if window_start <= tick <= window_end:
            lateness.append((queued_at - tick).total_seconds())
    due = 0
    for index in range(Job.objects.count()):
        tick = first_tick + PERIOD * index / count  # the job's phase, then every PERIOD
        while tick <= window_end:
            due += tick >= window_start
            tick += PERIOD
    fired = len(lateness)
    doubles = sum(count - 1 for count in per_tick.values() if count > 1)
    lateness.sort()
    p50 = statistics.median(lateness) if lateness else float("nan")
    p99 = lateness[int(len(lateness) * 0.99) - 1] if lateness else float("nan")
    print(
        f"dispatcher (one Beat entry, indexed next_fire_at): {duration} s, {count} jobs, "
        f"{busy} CPU burner(s) beside it\n"
        f"  ticks due {due}, runs fired {fired} ({fired / max(duration, 1) * 60:,.0f}/min), "
        f"doubles {doubles}, missed {due - fired}\n"
        f"  lateness p50 {p50:.2f} s, p99 {p99:.2f} s, max {lateness[-1] if lateness else 0:.2f} s "
        f"(target p99 <= 5 s)\n"
        f"  Beat CPU {beat_cpu:.1f} s ({beat_cpu / duration * 100:.1f}% of one core)"
    )


def _tick(key: str) -> Any:
    from datetime import datetime

    return datetime.strptime(key.removeprefix("schedule:"), "%Y-%m-%dT%H:%M:%S%z")


def per_job_entries(count: int, duration: int) -> None:
    """The rejected design: one interval PeriodicTask per job, Beat alone."""
    import redis
    from django.conf import settings
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    PeriodicTask.objects.filter(name__startswith="diep.").update(enabled=False)
    every = IntervalSchedule.objects.create(every=600, period="seconds")
    now = timezone.now()
    PeriodicTask.objects.bulk_create(
        PeriodicTask(
            name=f"job-{index:05d}",
            task="jobs.fire_scheduled_job",
            interval=every,
            args=f"[{index}]",
            queue="bench-alternative",
            # Phases spread as above: ~count / 600 entries fall due every second.
            last_run_at=now - PERIOD + PERIOD * index / count,
        )
        for index in range(count)
    )
    PeriodicTasks.update_changed()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("bench-alternative")
    beat = start(
        ["beat", "-l", "warning", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
        Path(os.environ.get("TMPDIR", "/tmp")) / "bench-schedules-beat-alternative.log",
    )
    time.sleep(15)  # Beat's start-up reads every entry
    sent_before, cpu_before = broker.llen("bench-alternative"), cpu_seconds(beat.pid)
    time.sleep(duration)
    sent = broker.llen("bench-alternative") - sent_before
    cpu = cpu_seconds(beat.pid) - cpu_before
    stop(beat)
    due = count * duration / PERIOD.total_seconds()
    print(
        f"alternative (one PeriodicTask per job): {duration} s, {count} entries\n"
        f"  entries due ~{due:,.0f}, sent {sent:,} ({sent / max(due, 1) * 100:.0f}%)\n"
        f"  Beat CPU {cpu:.1f} s ({cpu / duration * 100:.1f}% of one core)"
    )


if __name__ == "__main__":
    main()
