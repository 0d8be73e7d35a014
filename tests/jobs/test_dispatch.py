"""Scheduled firing: one run per tick whatever races or restarts, catch-up policies
after downtime, and schedule changes restarting from now."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from jobs import cron, services
from jobs.dispatch import fire_due_schedules, schedule_key
from jobs.models import FireSource, JobRun

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def scheduled(make_job: Any, schedule: str = "*/10 * * * *", **fields: Any) -> Any:
    job = make_job(schedule=schedule, **fields)
    job.next_fire_at = T0
    job.save(update_fields=["next_fire_at"])
    return job


def runs_of(job: Any) -> list[str]:
    runs = JobRun.objects.filter(job=job, trigger=FireSource.SCHEDULE)
    return sorted(str(key) for key in runs.values_list("idempotency_key", flat=True))


def test_a_due_tick_fires_once_and_moves_next_fire_at(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job)
    report = fire_due_schedules(now=T0 + timedelta(seconds=2))
    assert (report.jobs, report.fired, report.skipped) == (1, 1, 0)
    assert report.max_lateness_seconds == 2
    job.refresh_from_db()
    assert job.next_fire_at == T0 + timedelta(minutes=10)
    assert fire_due_schedules(now=T0 + timedelta(seconds=3)).jobs == 0
    assert runs_of(job) == [schedule_key(T0)]
    run = JobRun.objects.get(job=job)
    assert run.parameters == job.parameters


def test_the_same_tick_twice_is_one_run(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job)
    fire_due_schedules(now=T0)
    # As if a second Beat's dispatcher read the row before the first moved it on.
    job.refresh_from_db()
    job.next_fire_at = T0
    job.save(update_fields=["next_fire_at"])
    report = fire_due_schedules(now=T0 + timedelta(seconds=1))
    assert report.fired == 0
    assert runs_of(job) == [schedule_key(T0)]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_fire_each_tick_once(make_job: Any, no_enqueue: Any) -> None:
    jobs = [scheduled(make_job, name=f"sched-{n}", max_concurrent_runs=5) for n in range(20)]
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def dispatcher() -> None:
        barrier.wait()
        try:
            reports.append(fire_due_schedules(now=T0 + timedelta(seconds=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.fired for r in reports) == 20
    assert JobRun.objects.filter(trigger=FireSource.SCHEDULE).count() == 20
    assert all(runs_of(job) == [schedule_key(T0)] for job in jobs)


@pytest.mark.parametrize(
    ("policy", "fired"),
    [("none", 0), ("latest", 1), ("all", 6)],
)
def test_catch_up_after_downtime(make_job: Any, no_enqueue: Any, policy: str, fired: int) -> None:
    job = scheduled(make_job, catch_up=policy, max_concurrent_runs=10)
    # Down from 10:00 to 10:55: ticks 10:00, 10:10 ... 10:50 were missed.
    report = fire_due_schedules(now=T0 + timedelta(minutes=55))
    assert report.fired == fired
    assert report.skipped == 6 - fired
    job.refresh_from_db()
    assert job.next_fire_at == T0 + timedelta(hours=1)
    if policy == "latest":
        assert runs_of(job) == [schedule_key(T0 + timedelta(minutes=50))]


def test_catch_up_none_still_fires_an_on_time_tick(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job, catch_up="none")
    assert fire_due_schedules(now=T0 + timedelta(seconds=5)).fired == 1
    assert runs_of(job) == [schedule_key(T0)]


def test_catch_up_all_is_bounded(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job, schedule="* * * * *", catch_up="all", max_concurrent_runs=1000)
    report = fire_due_schedules(now=T0 + timedelta(days=2))
    assert report.fired == cron.MAX_CATCH_UP_TICKS
    job.refresh_from_db()
    assert job.next_fire_at == T0 + timedelta(days=2, minutes=1)


def test_rate_schedules_keep_their_phase(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job, schedule="rate(15 minutes)", catch_up="latest")
    fire_due_schedules(now=T0 + timedelta(minutes=50))
    job.refresh_from_db()
    assert job.next_fire_at == T0 + timedelta(minutes=60)
    assert runs_of(job) == [schedule_key(T0 + timedelta(minutes=45))]


def test_cron_in_a_timezone_across_dst(make_job: Any, no_enqueue: Any) -> None:
    # 02:30 Berlin daily; 2026-03-29 02:30 does not exist (spring forward).
    job = make_job(schedule="30 2 * * *", timezone="Europe/Berlin")
    job.next_fire_at = datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 CET
    job.save(update_fields=["next_fire_at"])
    fire_due_schedules(now=datetime(2026, 3, 28, 1, 30, 1, tzinfo=UTC))
    job.refresh_from_db()
    assert job.next_fire_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST


def test_disabled_jobs_do_not_fire_and_restart_from_now(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job)
    services.job_set_enabled(job=job, enabled=False, user=None, source="test")
    job.refresh_from_db()
    assert job.next_fire_at is None
    assert fire_due_schedules(now=T0 + timedelta(hours=5)).jobs == 0
    services.job_set_enabled(job=job, enabled=True, user=None, source="test")
    job.refresh_from_db()
    assert job.next_fire_at is not None
    assert job.next_fire_at > datetime.now(UTC)  # no catch-up of the disabled time


def test_creating_a_scheduled_job_sets_its_first_tick(make_job: Any) -> None:
    job = make_job(schedule="cron(0 12 * * ? *)")
    assert job.next_fire_at is not None
    local = job.next_fire_at.astimezone(ZoneInfo(job.timezone))
    assert (local.hour, local.minute) == (12, 0)
    assert make_job(name="unscheduled", schedule="").next_fire_at is None


def test_a_refused_fire_does_not_block_the_schedule(make_job: Any, no_enqueue: Any) -> None:
    job = scheduled(make_job)
    # A schema that now requires a value no scheduled fire supplies.
    type(job).objects.filter(pk=job.pk).update(parameters_schema={"required": ["day"]})
    report = fire_due_schedules(now=T0 + timedelta(seconds=1))
    assert report.refused == 1
    job.refresh_from_db()
    assert job.next_fire_at == T0 + timedelta(minutes=10)


def test_the_api_shows_the_schedule_in_words_and_its_next_ticks(
    make_job: Any, client_for: Any, viewer: Any
) -> None:
    job = make_job(schedule="cron(30 6 ? * MON-FRI *)", timezone="Europe/Berlin")
    body = client_for(viewer).get(f"/api/v1/jobs/{job.job_id}/").json()
    preview = body["schedule_preview"]
    assert "06:30" in preview["description"]
    assert "Monday through Friday" in preview["description"]
    ticks = [datetime.fromisoformat(t) for t in preview["next_fire_times"]]
    assert len(ticks) == 5
    assert all(t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "06:30" for t in ticks)
    assert all(t.astimezone(ZoneInfo("Europe/Berlin")).weekday() < 5 for t in ticks)
    assert ticks[0] == job.next_fire_at
