"""The DynamoDB mirror on the moto server: drain, version-conditioned writes, deletes,
and reconcile of every kind of drift."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diep_portal.aws.dynamodb import dynamodb_get_item, dynamodb_put_versioned
from diep_portal.aws.session import get_client
from jobs import mirror, services
from jobs.models import Job, JobRun, MirrorTombstone, RunState
from jobs.runs.state import transition_run
from jobs.specs import job_to_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def tables(aws: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("jobs.runs.tasks.run_start.delay", lambda run_id: None)
    assert set(mirror.mirror_ensure_tables()) == {"diep-jobs", "diep-job-runs"}


def job_in_table(job: Job) -> dict[str, Any] | None:
    return dynamodb_get_item(table="diep-jobs", key={"job_id": str(job.job_id)})


def run_in_table(run: JobRun) -> dict[str, Any] | None:
    return dynamodb_get_item(
        table="diep-job-runs", key={"job_id": str(run.job.job_id), "run_key": mirror.run_key(run)}
    )


def bump(job: Job, **changes: Any) -> Job:
    spec = {**job_to_spec(job), **changes}
    return services.job_update(job=job, spec=spec, user=None, source="test")


def test_drain_mirrors_jobs_and_runs_once(tables: None, make_job: Any) -> None:
    job = make_job()
    run = services.job_fire(job=job, parameters={"region": "us"}, trigger="api").run
    report = mirror.mirror_drain()
    assert (report.jobs_written, report.runs_written) == (1, 1)
    item = job_in_table(job)
    assert item is not None
    assert item["version"] == 1
    assert item["config"]["source"]["uri"] == "s3://diep-raw/orders/"
    assert item["trigger"]["prefix"] == "orders/"
    assert item["schedule"] == "0 2 * * *"
    mirrored_run = run_in_table(run)
    assert mirrored_run is not None
    assert (mirrored_run["state"], mirrored_run["revision"]) == ("PENDING", 1)
    again = mirror.mirror_drain()  # nothing pending: nothing sent
    assert (again.jobs_written, again.runs_written) == (0, 0)


def test_before_its_tables_exist_the_mirror_waits_quietly(
    aws: str, make_job: Any, caplog: Any
) -> None:
    # A stack's first seconds: the drain tick comes before provisioning made the tables.
    job = make_job()
    with caplog.at_level(logging.INFO):
        assert mirror.mirror_drain().jobs_written == 0
    assert [r.levelname for r in caplog.records if r.name == "jobs.mirror"] == ["INFO"]
    job.refresh_from_db()
    assert job.mirrored_version < job.version  # still to send, with the next tick


def test_changes_disable_and_run_transitions_follow(tables: None, make_job: Any) -> None:
    job = make_job()
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    mirror.mirror_drain()
    job = bump(job, description="v2")
    services.job_set_enabled(job=job, enabled=False, user=None, source="test")
    transition_run(run=run, to=RunState.STARTING, source="test")
    mirror.mirror_drain()
    item = job_in_table(job)
    assert item is not None
    assert (item["version"], item["enabled"], item["config"]["description"]) == (3, False, "v2")
    mirrored_run = run_in_table(run)
    assert mirrored_run is not None
    assert (mirrored_run["state"], mirrored_run["revision"]) == ("STARTING", 2)


def test_out_of_order_delivery_keeps_the_newer_version(tables: None, make_job: Any) -> None:
    job = make_job()
    old_item = mirror.job_item(job)
    job = bump(job, description="newer")
    mirror.mirror_drain()  # v2 arrives first
    assert not dynamodb_put_versioned(
        table="diep-jobs", item=old_item, key=mirror.JOBS_KEY, version_attribute="version"
    )  # v1 replayed late
    assert not dynamodb_put_versioned(
        table="diep-jobs",
        item=mirror.job_item(job),
        key=mirror.JOBS_KEY,
        version_attribute="version",
    )
    item = job_in_table(job)
    assert item is not None
    assert (item["version"], item["config"]["description"]) == (2, "newer")


def test_a_drain_that_lost_the_race_marks_the_job_done(tables: None, make_job: Any) -> None:
    job = make_job()
    newer = {**mirror.job_item(job), "version": 7}
    dynamodb_put_versioned(
        table="diep-jobs", item=newer, key=mirror.JOBS_KEY, version_attribute="version"
    )
    report = mirror.mirror_drain()
    assert report.jobs_already_newer == 1
    job.refresh_from_db()
    assert job.mirrored_version == job.version
    item = job_in_table(job)
    assert item is not None
    assert item["version"] == 7


def test_deleted_job_leaves_a_tombstone_that_removes_the_item(tables: None, make_job: Any) -> None:
    job = make_job()
    mirror.mirror_drain()
    services.job_delete(job=job, user=None, source="test")
    assert MirrorTombstone.objects.count() == 1
    assert mirror.mirror_drain().jobs_deleted == 1
    assert job_in_table(job) is None
    assert not MirrorTombstone.objects.exists()


def test_job_with_runs_cannot_be_deleted(tables: None, make_job: Any) -> None:
    from diep_portal.exceptions import Conflict

    job = make_job()
    services.job_fire(job=job, parameters={}, trigger="api")
    with pytest.raises(Conflict, match="disable it instead"):
        services.job_delete(job=job, user=None, source="test")


def test_reconcile_finds_and_repairs_each_kind_of_drift(tables: None, make_job: Any) -> None:
    missing, stale, fine = make_job(name="missing"), make_job(name="stale"), make_job(name="fine")
    run = services.job_fire(job=fine, parameters={}, trigger="api").run
    mirror.mirror_drain()
    client = get_client("dynamodb")
    client.delete_item(TableName="diep-jobs", Key={"job_id": {"S": str(missing.job_id)}})
    stale = bump(stale, description="changed")
    Job.objects.filter(pk=stale.pk).update(mirrored_version=stale.version)  # a lost write
    client.put_item(
        TableName="diep-jobs", Item={"job_id": {"S": "orphan-job"}, "version": {"N": "3"}}
    )
    client.delete_item(
        TableName="diep-job-runs",
        Key={"job_id": {"S": str(fine.job_id)}, "run_key": {"S": mirror.run_key(run)}},
    )

    reports = mirror.mirror_reconcile(repair=False)
    assert reports["jobs"].missing == [str(missing.job_id)]
    assert reports["jobs"].stale == [str(stale.job_id)]
    assert reports["jobs"].orphans == ["orphan-job"]
    assert reports["runs"].missing == [str(run.run_id)]
    with pytest.raises(CommandError, match="4 item"):
        call_command("sync_dynamodb", "--check", stdout=None)

    call_command("sync_dynamodb", "--repair", stdout=None)
    after = mirror.mirror_reconcile(repair=False)
    assert (after["jobs"].drift, after["runs"].drift) == (0, 0)
    item = job_in_table(stale)
    assert item is not None
    assert item["config"]["description"] == "changed"
    assert run_in_table(run) is not None
    call_command("sync_dynamodb", "--check", stdout=None)  # clean: no error
