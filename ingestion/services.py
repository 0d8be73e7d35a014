"""Recording announced files (idempotently), coalescing them into runs, and keeping
their state in step with those runs."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Sum
from django.utils import timezone

from diep_portal.aws.s3 import s3_list_objects, s3_put_bytes
from diep_portal.exceptions import Conflict, ValidationFailed
from ingestion.events import ObjectCreated
from ingestion.models import (
    Backfill,
    BackfillState,
    ConsumedMessageStat,
    FileState,
    IngestedFile,
)
from ingestion.routing import trigger_matches
from jobs import services as job_services
from jobs.models import Job, JobRun, RunState, Trigger

logger = logging.getLogger(__name__)


@dataclass
class RecordReport:
    recorded: int = 0
    duplicates: int = 0
    unrouted: int = 0
    jobs: set[int] = field(default_factory=set)


def files_record(*, events: Sequence[ObjectCreated], source: str = "event") -> RecordReport:
    """Add each announced object to the ledger of every enabled job its key triggers.

    A redelivered or duplicate event (same object identity) changes nothing: existing
    rows are skipped and the insert ignores a concurrent twin.
    """
    report = RecordReport()
    buckets = {event.bucket for event in events}
    jobs = list(Job.objects.filter(enabled=True, trigger_bucket__in=buckets))
    candidates: list[IngestedFile] = []
    for event in events:
        matched = [job for job in jobs if trigger_matches(job, event.bucket, event.key)]
        if not matched:
            report.unrouted += 1
        for job in matched:
            candidates.append(
                IngestedFile(
                    job=job,
                    bucket=event.bucket,
                    key=event.key,
                    identity=event.version_id or event.etag or "",
                    sequencer=event.sequencer or "",
                    etag=event.etag or "",
                    version_id=event.version_id or "",
                    size=event.size,
                    event_name=event.event_name,
                    event_time=event.event_time,
                    source=source,
                )
            )
    if not candidates:
        return report
    identity = lambda f: (f.job_id, f.bucket, f.key, f.identity, f.sequencer)  # noqa: E731
    existing = set(
        IngestedFile.objects.filter(
            job_id__in={f.job_id for f in candidates}, key__in={f.key for f in candidates}
        ).values_list("job_id", "bucket", "key", "identity", "sequencer")
    )
    fresh: dict[tuple[object, ...], IngestedFile] = {}
    for candidate in candidates:
        if identity(candidate) in existing or identity(candidate) in fresh:
            report.duplicates += 1
        else:
            fresh[identity(candidate)] = candidate
    IngestedFile.objects.bulk_create(fresh.values(), ignore_conflicts=True)
    report.recorded = len(fresh)
    report.jobs = {f.job_id for f in fresh.values()}
    return report


def _chunks(files: list[IngestedFile], job: Job) -> list[list[IngestedFile]]:
    chunks: list[list[IngestedFile]] = [[]]
    size = 0
    for file in files:
        full = len(chunks[-1]) >= job.trigger_max_files or (
            chunks[-1] and size + (file.size or 0) > job.trigger_max_bytes
        )
        if full:
            chunks.append([])
            size = 0
        chunks[-1].append(file)
        size += file.size or 0
    return [chunk for chunk in chunks if chunk]


def _write_manifest(job: Job, files: list[IngestedFile]) -> str:
    key = f"manifests/{job.name}/{timezone.now():%Y/%m/%d}/{uuid.uuid4()}.json"
    manifest = {
        "job_id": str(job.job_id),
        "files": [
            {"uri": f.uri, "size": f.size, "etag": f.etag, "version_id": f.version_id or None}
            for f in files
        ],
    }
    s3_put_bytes(
        bucket=settings.DIEP_ARTIFACTS_BUCKET,
        key=key,
        data=json.dumps(manifest).encode(),
        content_type="application/json",
    )
    return f"s3://{settings.DIEP_ARTIFACTS_BUCKET}/{key}"


def files_flush(
    *, job_ids: Iterable[int] | None = None, now: datetime | None = None
) -> list[JobRun]:
    """Turn waiting files into runs: one run per chunk (max_files, max_bytes) once the
    job's window closed or a limit is reached. Each file is bound to exactly one run,
    even with several flushers at once (rows locked with SKIP LOCKED)."""
    now = now or timezone.now()
    if job_ids is None:
        job_ids = set(
            IngestedFile.objects.filter(state=FileState.RECEIVED).values_list("job_id", flat=True)
        )
    runs: list[JobRun] = []
    due = _jobs_due(set(job_ids), now)
    for job in Job.objects.filter(pk__in=due, enabled=True):
        with transaction.atomic():
            waiting = list(
                IngestedFile.objects.select_for_update(skip_locked=True)
                .filter(job=job, state=FileState.RECEIVED)
                .order_by("id")
            )
            if not waiting:
                continue
            window_closed = (
                waiting[0].received_at + timedelta(seconds=job.trigger_window_seconds) <= now
            )
            chunks = _chunks(waiting, job)
            if not window_closed:
                chunks = chunks[:-1]  # only full chunks go before the window closes
            for chunk in chunks:
                runs.append(_fire_for(job, chunk))
    return runs


def _jobs_due(job_ids: set[int], now: datetime) -> list[int]:
    """The jobs whose waiting files should go now (window closed or a limit reached),
    from one grouped aggregate over the waiting-files index, before any row is locked."""
    limits = {
        job.pk: job
        for job in Job.objects.filter(pk__in=job_ids).only(
            "trigger_window_seconds", "trigger_max_files", "trigger_max_bytes"
        )
    }
    waiting = (
        IngestedFile.objects.filter(job_id__in=job_ids, state=FileState.RECEIVED)
        .values("job_id")
        .annotate(count=Count("id"), oldest=Min("received_at"), size=Sum("size"))
    )
    due = []
    for row in waiting:
        job = limits[row["job_id"]]
        if (
            row["oldest"] + timedelta(seconds=job.trigger_window_seconds) <= now
            or row["count"] >= job.trigger_max_files
            or (row["size"] or 0) >= job.trigger_max_bytes
        ):
            due.append(job.pk)
    return due


def _fire_for(job: Job, chunk: list[IngestedFile], user: Any = None) -> JobRun:
    manifest_uri = _write_manifest(job, chunk)
    run = job_services.job_fire(
        job=job,
        parameters={},
        trigger=Trigger.EVENT,
        user=user,
        internal_arguments={"--diep_manifest": manifest_uri},
    ).run
    IngestedFile.objects.filter(pk__in=[f.pk for f in chunk]).update(
        state=FileState.BATCHED, run=run, batched_at=timezone.now()
    )
    logger.info(
        "files.batched",
        extra={
            "job_id": str(job.job_id),
            "run_id": str(run.run_id),
            "files": len(chunk),
            "manifest": manifest_uri,
        },
    )
    return run


def files_follow_run(*, run: JobRun) -> int:
    """Files of a finished run become PROCESSED (it succeeded) or FAILED."""
    state = FileState.PROCESSED if run.state == RunState.SUCCEEDED else FileState.FAILED
    return IngestedFile.objects.filter(run=run, state=FileState.BATCHED).update(state=state)


def stats_add(counts: Counter[str]) -> None:
    """Add to today's consumer counters (received, routed, duplicate, rejected:<reason>…)."""
    today = timezone.now().date()
    for outcome, count in counts.items():
        if not count:
            continue
        updated = ConsumedMessageStat.objects.filter(day=today, outcome=outcome).update(
            count=F("count") + count
        )
        if not updated:
            stat, created = ConsumedMessageStat.objects.get_or_create(
                day=today, outcome=outcome, defaults={"count": count}
            )
            if not created:
                ConsumedMessageStat.objects.filter(pk=stat.pk).update(count=F("count") + count)


def files_reprocess(*, files: Sequence[IngestedFile], user: Any) -> list[JobRun]:
    """Process recorded files again: each gets a new ledger row, marked with this
    reprocess, bound to a new run of its job; the original rows keep their history.

    Raises Conflict when a job of the selection is disabled (nothing is changed then).
    """
    marker = f"reprocess:{uuid.uuid4()}"
    by_job: dict[int, list[IngestedFile]] = {}
    for file in files:
        by_job.setdefault(file.job_id, []).append(file)
    runs: list[JobRun] = []
    with transaction.atomic():
        for job in Job.objects.filter(pk__in=by_job):
            if not job.enabled:
                raise Conflict(f"Job {job.name!r} is disabled; enable it to reprocess its files.")
            copies = IngestedFile.objects.bulk_create(
                IngestedFile(
                    job=job,
                    bucket=f.bucket,
                    key=f.key,
                    identity=f.identity,
                    sequencer=marker,
                    etag=f.etag,
                    version_id=f.version_id,
                    size=f.size,
                    event_name=f.event_name,
                    event_time=f.event_time,
                    source="reprocess",
                )
                for f in by_job[job.pk]
            )
            runs.extend(_fire_for(job, chunk, user) for chunk in _chunks(copies, job))
    logger.info("files.reprocessed", extra={"files": len(files), "runs": len(runs)})
    return runs


def backfill_request(
    *,
    job: Job,
    prefix: str,
    modified_after: datetime | None,
    modified_before: datetime | None,
    force: bool,
    user: Any,
) -> Backfill:
    """Record a backfill of objects under `prefix` (which must lie under the job's trigger
    prefix) and start it after commit. Raises ValidationFailed / Conflict."""
    if not job.trigger_bucket:
        raise Conflict(f"Job {job.name!r} has no event trigger to backfill.")
    if not prefix.startswith(job.trigger_prefix):
        raise ValidationFailed.from_fields(
            {"prefix": [f"Must lie under the job's trigger prefix {job.trigger_prefix!r}."]}
        )
    if modified_after and modified_before and modified_after >= modified_before:
        raise ValidationFailed.from_fields({"modified_before": ["Must be after modified_after."]})
    with transaction.atomic():
        backfill = Backfill.objects.create(
            job=job,
            prefix=prefix,
            modified_after=modified_after,
            modified_before=modified_before,
            force=force,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
        )
        from ingestion.tasks import backfill_run as backfill_task

        backfill_id = backfill.pk
        transaction.on_commit(lambda: backfill_task.delay(backfill_id))
    return backfill


def backfill_run(*, backfill_id: int, page_size: int = 1000) -> Backfill | None:
    """List the objects and feed them through the ledger and coalescing, page by page,
    counting progress on the Backfill row. Runs once (PENDING → RUNNING claim)."""
    if not Backfill.objects.filter(pk=backfill_id, state=BackfillState.PENDING).update(
        state=BackfillState.RUNNING
    ):
        return None
    backfill = Backfill.objects.select_related("job").get(pk=backfill_id)
    job = backfill.job
    marker = f"backfill:{backfill.pk}" if backfill.force else None
    page: list[ObjectCreated] = []

    def feed() -> None:
        report = files_record(events=page, source="backfill")
        Backfill.objects.filter(pk=backfill.pk).update(
            listed=F("listed") + len(page),
            recorded=F("recorded") + report.recorded,
            skipped=F("skipped") + report.duplicates + report.unrouted,
        )
        files_flush(job_ids=[job.pk])
        page.clear()

    try:
        for obj in s3_list_objects(bucket=job.trigger_bucket, prefix=backfill.prefix):
            if not obj.key.endswith(job.trigger_suffix):
                continue
            if backfill.modified_after and obj.last_modified < backfill.modified_after:
                continue
            if backfill.modified_before and obj.last_modified >= backfill.modified_before:
                continue
            page.append(
                ObjectCreated(
                    bucket=job.trigger_bucket,
                    key=obj.key,
                    size=obj.size,
                    etag=obj.etag,
                    version_id=None,
                    sequencer=marker,
                    event_name="Backfill",
                    event_time=obj.last_modified,
                    source="s3",
                )
            )
            if len(page) >= page_size:
                feed()
        if page:
            feed()
    except Exception as exc:
        Backfill.objects.filter(pk=backfill.pk).update(
            state=BackfillState.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        logger.exception("backfill.failed", extra={"backfill_id": backfill.pk})
        return Backfill.objects.get(pk=backfill.pk)
    Backfill.objects.filter(pk=backfill.pk).update(
        state=BackfillState.DONE, finished_at=timezone.now()
    )
    return Backfill.objects.get(pk=backfill.pk)
