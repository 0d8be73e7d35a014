"""The DynamoDB mirror of jobs and runs (what the seed's Lambda read).

Outbox, kept on the rows themselves: every job change bumps `version` and every run
change bumps `revision` in the same transaction as the change; `mirrored_version` /
`mirrored_revision` record what DynamoDB has. The drain sends whatever is behind
(a partial index finds it) with writes conditioned on the version, so replays and
out-of-order deliveries never overwrite newer data. Deleted jobs leave a tombstone
row in the deleting transaction. Reconcile compares both sides and repairs drift.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import F

from diep_portal.aws.dynamodb import (
    dynamodb_delete_versioned,
    dynamodb_ensure_table,
    dynamodb_put_versioned,
    dynamodb_scan,
)
from diep_portal.aws.provision import JOBS_TABLE_KEY, RUNS_TABLE_KEY
from diep_portal.exceptions import PermanentAwsError
from jobs.models import Job, JobRun, MirrorTombstone
from jobs.specs import job_to_spec

logger = logging.getLogger(__name__)

# The tables' key schemas are provisioning's (one definition); the items below fit them.
JOBS_KEY = JOBS_TABLE_KEY
RUNS_KEY = RUNS_TABLE_KEY


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_item(job: Job) -> dict[str, Any]:
    """The job as the `diep-jobs` table holds it."""
    spec = job_to_spec(job)
    return {
        "job_id": str(job.job_id),
        "name": job.name,
        "version": job.version,
        "enabled": job.enabled,
        "engine": job.engine,
        "glue_job_name": job.glue_job_name,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "trigger": spec["trigger"],
        "config": spec,
        "updated_at": _iso(job.updated_at),
    }


def run_key(run: JobRun) -> str:
    """Sort key: runs of a job sort by queue time, the run id breaking ties."""
    return f"{run.queued_at.isoformat()}#{run.run_id}"


def run_item(run: JobRun) -> dict[str, Any]:
    """The run as the `diep-job-runs` table holds it."""
    return {
        "job_id": str(run.job.job_id),
        "run_key": run_key(run),
        "run_id": str(run.run_id),
        "revision": run.revision,
        "state": run.state,
        "trigger": run.trigger,
        "attempt": run.attempt,
        "glue_run_id": run.external_run_id,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "error_message": run.error_message[:1000],
    }


def mirror_ensure_tables() -> list[str]:
    """Create the two tables where missing (provisioning owns them in production)."""
    created = []
    for table, key in (
        (settings.DIEP_DYNAMODB_JOBS_TABLE, JOBS_KEY),
        (settings.DIEP_DYNAMODB_RUNS_TABLE, RUNS_KEY),
    ):
        if dynamodb_ensure_table(table=table, key=key):
            created.append(table)
    return created


@dataclass
class DrainReport:
    jobs_written: int = 0
    jobs_already_newer: int = 0
    jobs_deleted: int = 0
    runs_written: int = 0
    runs_already_newer: int = 0


def mirror_drain(*, batch: int = 500) -> DrainReport:
    """Send every job and run change DynamoDB has not seen yet (up to `batch` of each).
    Before provisioning created the tables (a stack's first seconds) it waits: the
    changes stay marked and go with the next tick after."""
    try:
        return _drain(batch)
    except PermanentAwsError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        logger.info("mirror.waiting_for_tables", extra={"error": str(exc)})
        return DrainReport()


def _drain(batch: int) -> DrainReport:
    report = DrainReport()
    jobs_table, runs_table = settings.DIEP_DYNAMODB_JOBS_TABLE, settings.DIEP_DYNAMODB_RUNS_TABLE
    for job in Job.objects.filter(version__gt=F("mirrored_version")).order_by("id")[:batch]:
        written = dynamodb_put_versioned(
            table=jobs_table, item=job_item(job), key=JOBS_KEY, version_attribute="version"
        )
        report.jobs_written += written
        report.jobs_already_newer += not written
        # Either way DynamoDB now holds this version or a newer one.
        Job.objects.filter(pk=job.pk, mirrored_version__lt=job.version).update(
            mirrored_version=job.version
        )
    for tombstone in MirrorTombstone.objects.all()[:batch]:
        dynamodb_delete_versioned(
            table=jobs_table,
            key={"job_id": str(tombstone.job_id)},
            partition_key=JOBS_KEY.partition_key,
            version_attribute="version",
            version=tombstone.version,
        )
        report.jobs_deleted += 1
        tombstone.delete()
    for run in (
        JobRun.objects.select_related("job")
        .filter(revision__gt=F("mirrored_revision"))
        .order_by("id")[:batch]
    ):
        written = dynamodb_put_versioned(
            table=runs_table, item=run_item(run), key=RUNS_KEY, version_attribute="revision"
        )
        report.runs_written += written
        report.runs_already_newer += not written
        JobRun.objects.filter(pk=run.pk, mirrored_revision__lt=run.revision).update(
            mirrored_revision=run.revision
        )
    if report.jobs_written or report.runs_written or report.jobs_deleted:
        logger.info("mirror.drained", extra=report.__dict__)
    return report


@dataclass
class ReconcileReport:
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    repaired: int = 0

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.orphans)


def mirror_reconcile(*, repair: bool) -> dict[str, ReconcileReport]:
    """Compare the tables with the database both ways: items missing from DynamoDB,
    items older than the database, items the database no longer has. With `repair`,
    the first two are marked for the drain (and drained now), orphans are deleted."""
    reports = {"jobs": ReconcileReport(), "runs": ReconcileReport()}
    jobs_table, runs_table = settings.DIEP_DYNAMODB_JOBS_TABLE, settings.DIEP_DYNAMODB_RUNS_TABLE

    table_jobs = {
        item["job_id"]: int(item["version"])
        for item in dynamodb_scan(table=jobs_table, attributes=["job_id", "version"])
    }
    db_jobs = {
        str(job_id): version for job_id, version in Job.objects.values_list("job_id", "version")
    }
    jobs = reports["jobs"]
    jobs.missing = sorted(set(db_jobs) - set(table_jobs))
    jobs.stale = sorted(k for k in set(db_jobs) & set(table_jobs) if table_jobs[k] < db_jobs[k])
    jobs.orphans = sorted(set(table_jobs) - set(db_jobs))

    table_runs = {
        item["run_key"].rsplit("#", 1)[-1]: (item["job_id"], item["run_key"], int(item["revision"]))
        for item in dynamodb_scan(table=runs_table, attributes=["job_id", "run_key", "revision"])
    }
    db_runs = {
        str(run_id): revision
        for run_id, revision in JobRun.objects.values_list("run_id", "revision")
    }
    runs = reports["runs"]
    runs.missing = sorted(set(db_runs) - set(table_runs))
    runs.stale = sorted(k for k in set(db_runs) & set(table_runs) if table_runs[k][2] < db_runs[k])
    runs.orphans = sorted(set(table_runs) - set(db_runs))

    if repair:
        jobs.repaired += Job.objects.filter(job_id__in=jobs.missing + jobs.stale).update(
            mirrored_version=0
        )
        runs.repaired += JobRun.objects.filter(run_id__in=runs.missing + runs.stale).update(
            mirrored_revision=0
        )
        for job_id in jobs.orphans:
            jobs.repaired += dynamodb_delete_versioned(
                table=jobs_table,
                key={"job_id": job_id},
                partition_key=JOBS_KEY.partition_key,
                version_attribute="version",
                version=table_jobs[job_id],
            )
        for run_id in runs.orphans:
            job_id, key, revision = table_runs[run_id]
            runs.repaired += dynamodb_delete_versioned(
                table=runs_table,
                key={"job_id": job_id, "run_key": key},
                partition_key=JOBS_KEY.partition_key,
                version_attribute="revision",
                version=revision,
            )
        while True:  # send what was marked, however many batches that takes
            drained = mirror_drain()
            if not (
                drained.jobs_written
                + drained.jobs_already_newer
                + drained.runs_written
                + drained.runs_already_newer
            ):
                break
    logger.info(
        "mirror.reconciled",
        extra={
            f"{name}_{kind}": len(getattr(report, kind)) if kind != "repaired" else report.repaired
            for name, report in reports.items()
            for kind in ("missing", "stale", "orphans", "repaired")
        },
    )
    return reports
