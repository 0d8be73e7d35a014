"""Recording announced files (idempotently), coalescing them into runs, and keeping
their state in step with those runs."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from diep_portal.aws.s3 import s3_put_bytes
from diep_portal.exceptions import ApplicationError, Conflict
from etl.contract import Manifest, ManifestFile
from ingestion.events import ObjectCreated
from ingestion.models import (
    ConsumedMessageStat,
    FileState,
    IngestedFile,
)
from jobs import services as job_services
from jobs.locations import Grants, Location
from jobs.models import FireSource, Job, JobRun, RunState
from jobs.runs.state import RunEnded, RunRetried
from jobs.triggers import S3Trigger

logger = logging.getLogger(__name__)


@dataclass
class RecordReport:
    recorded: int = 0
    duplicates: int = 0
    unrouted: int = 0
    # (job, object) pairs whose trigger matched but whose team may not read the object
    # (a grant withdrawn, or a job that broke the rule before it existed): never recorded.
    refused: int = 0
    jobs: set[int] = field(default_factory=set)


def files_record(
    *, events: Sequence[ObjectCreated], source: str = "event", job: Job | None = None
) -> RecordReport:
    """Add each announced object to the ledger of every enabled job its key triggers
    (of `job` alone, when given: a backfill feeds only the job it was asked for) whose
    team may read it (jobs.locations).

    A redelivered or duplicate event (same object identity) changes nothing: the insert
    skips rows that hit the ledger's unique constraint, including a concurrent twin's.
    """
    report = RecordReport()
    buckets = {event.bucket for event in events}
    candidates = Job.objects.filter(enabled=True, trigger_bucket__in=buckets)
    if job is not None:
        candidates = candidates.filter(pk=job.pk)
    jobs = list(candidates.only(*_ROUTING))
    # Each job's trigger built once per batch, not once per (event, job) pair.
    triggers = [(job, trigger) for job in jobs if (trigger := S3Trigger.of(job)) is not None]
    grants = Grants.load({job.team for job in jobs})
    # Raw SQL skips the fields' conversions: SQLite stores datetimes as naive UTC text.
    adapt_datetime = connection.ops.adapt_datetimefield_value
    now = timezone.now()
    fresh: dict[tuple[object, ...], tuple[object, ...]] = {}
    for event in events:
        matched = [job for job, trigger in triggers if trigger.matches(event.bucket, event.key)]
        if not matched:
            report.unrouted += 1
        identity = event.version_id or event.etag or ""
        sequencer = event.sequencer or ""
        for target in matched:
            if not grants.allows(target.team, Location(event.bucket, event.key), write=False):
                report.refused += 1
                logger.warning(
                    "files.refused",
                    extra={"job": target.name, "bucket": event.bucket, "key": event.key[:200]},
                )
                continue
            unique = (target.pk, event.bucket, event.key, identity, sequencer)
            if unique in fresh:
                report.duplicates += 1
                continue
            fresh[unique] = (
                *unique,
                event.etag or "",
                event.version_id or "",
                event.size,
                event.event_name,
                adapt_datetime(event.event_time),
                adapt_datetime(now),
                FileState.RECEIVED,
                source,
            )
    rows = list(fresh.values())
    for start in range(0, len(rows), _INSERT_CHUNK):
        inserted_jobs = _insert_new_files(rows[start : start + _INSERT_CHUNK])
        report.recorded += len(inserted_jobs)
        report.jobs.update(inserted_jobs)
    report.duplicates += len(rows) - report.recorded
    return report


_ROUTING = ("name", "team", "trigger_bucket", "trigger_prefix", "trigger_suffix")
_INSERT_COLUMNS = (
    "job_id",
    "bucket",
    "key",
    "identity",
    "sequencer",
    "etag",
    "version_id",
    "size",
    "event_name",
    "event_time",
    "received_at",
    "state",
    "source",
)
_POSTGRES_TYPES = (
    "bigint",
    *["text"] * 6,
    "bigint",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
)
_INSERT_CHUNK = 500  # 13 parameters a row: well under SQLite's 32,766 per statement


def _insert_new_files(rows: list[tuple[object, ...]]) -> list[int]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: the job of each row actually inserted.

    One statement does the duplicate check and the insert, where the ORM needs a
    lookup first (bulk_create with ignore_conflicts cannot say which rows it skipped);
    PostgreSQL and SQLite (3.35+) both speak this dialect.
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _INSERT_COLUMNS)
    if connection.vendor == "postgresql":
        # One array per column: the statement's text and plan stay the same whatever
        # the batch size, where VALUES lists grow 13 placeholders a row.
        arrays = ", ".join(f"%s::{kind}[]" for kind in _POSTGRES_TYPES)
        source = f"SELECT * FROM unnest({arrays})"  # noqa: S608 - fixed type names only
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        placeholders = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
        source = f"VALUES {', '.join([placeholders] * len(rows))}"
        params = [value for row in rows for value in row]
    sql = (
        f"INSERT INTO {quote(IngestedFile._meta.db_table)} ({columns}) {source} "
        f"ON CONFLICT DO NOTHING RETURNING {quote('job_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [job_id for (job_id,) in cursor.fetchall()]


class BatchedFile(NamedTuple):
    """What a manifest and the binding need of a ledger row (a model instance costs
    ten times more to build, and a flush after a burst loads thousands)."""

    pk: int
    job_id: int
    bucket: str
    key: str
    etag: str
    version_id: str
    size: int | None
    received_at: datetime

    @classmethod
    def of(cls, file: IngestedFile) -> BatchedFile:
        return cls(*(getattr(file, name) for name in cls._fields))


def _chunks(files: list[BatchedFile], job: Job) -> list[list[BatchedFile]]:
    chunks: list[list[BatchedFile]] = [[]]
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


def _write_manifest(job: Job, files: list[BatchedFile]) -> str:
    key = f"manifests/{job.name}/{timezone.now():%Y/%m/%d}/{uuid.uuid4()}.json"
    manifest = Manifest(
        job_id=str(job.job_id),
        files=tuple(
            ManifestFile(
                uri=f"s3://{f.bucket}/{f.key}",
                size=f.size,
                etag=f.etag,
                version_id=f.version_id or None,
            )
            for f in files
        ),
    )
    s3_put_bytes(
        bucket=settings.DIEP_ARTIFACTS_BUCKET,
        key=key,
        data=manifest.to_json(),
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
    due = _jobs_due(set(job_ids), now)
    if not due:
        return []
    with transaction.atomic():
        waiting: dict[int, list[BatchedFile]] = {}
        for row in (
            IngestedFile.objects.select_for_update(skip_locked=True)
            .filter(job_id__in=due, state=FileState.RECEIVED)
            .order_by("job_id", "id")
            .values_list(*BatchedFile._fields)
        ):
            file = BatchedFile(*row)
            waiting.setdefault(file.job_id, []).append(file)
        batches: list[tuple[Job, list[BatchedFile]]] = []
        for job in Job.objects.filter(pk__in=waiting, enabled=True):
            files = waiting[job.pk]
            window_closed = files[0].received_at + timedelta(seconds=job.trigger_window_seconds)
            chunks = _chunks(files, job)
            if window_closed > now:
                chunks = chunks[:-1]  # only full chunks go before the window closes
            batches.extend((job, chunk) for chunk in chunks)
        return _fire_batches(batches)


def _fire_batches(batches: list[tuple[Job, list[BatchedFile]]], user: Any = None) -> list[JobRun]:
    """One run per (job, files): the manifests are written concurrently (a PutObject is
    tens of milliseconds; a flush after a burst has one per job), then the runs fired.

    A job that refuses the fire (say, its parameters schema now requires a value) keeps
    its files waiting and is logged; it does not hold up the other jobs' files.
    """
    if len(batches) <= 1:
        manifests = [_write_manifest(*batch) for batch in batches]
    else:
        with ThreadPoolExecutor(max_workers=min(len(batches), _MANIFEST_WRITERS)) as pool:
            manifests = list(pool.map(lambda batch: _write_manifest(*batch), batches))
    runs = []
    for (job, chunk), manifest in zip(batches, manifests, strict=True):
        try:
            with transaction.atomic():
                runs.append(_fire_for(job, chunk, manifest, user))
        except ApplicationError as exc:
            logger.error(  # noqa: TRY400 - a refusal the operator reads, not a crash
                "files.fire_refused",
                extra={"job_id": str(job.job_id), "files": len(chunk), "error": str(exc)},
            )
    return runs


_MANIFEST_WRITERS = 8


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


def _fire_for(job: Job, chunk: list[BatchedFile], manifest_uri: str, user: Any) -> JobRun:
    run = job_services.job_fire(
        job=job,
        parameters={},
        trigger=FireSource.EVENT,
        user=user,
        manifest_uri=manifest_uri,
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


def files_follow_run(event: RunEnded) -> int:
    """Run-ended listener: the files of a finished run become PROCESSED (it succeeded)
    or FAILED; those it found deleted (listed in its metrics) MISSING."""
    run = event.run
    state = FileState.PROCESSED if run.state == RunState.SUCCEEDED else FileState.FAILED
    files = IngestedFile.objects.filter(run=run, state=FileState.BATCHED)
    gone = (run.metrics or {}).get("missing_files") if run.state == RunState.SUCCEEDED else None
    marked = 0
    if isinstance(gone, list) and gone:
        keys = [uri.removeprefix("s3://").partition("/") for uri in gone if isinstance(uri, str)]
        missing = Q()
        for bucket, _, key in keys:
            missing |= Q(bucket=bucket, key=key)
        marked = files.filter(missing).update(state=FileState.MISSING)
    return marked + files.update(state=state)


def files_follow_retry(event: RunRetried) -> int:
    """Run-retried listener: a retry reads the same manifest, so the files move to it,
    to end with its outcome."""
    return IngestedFile.objects.filter(run=event.run).update(
        run=event.retry, state=FileState.BATCHED, batched_at=timezone.now()
    )


def stats_add(counts: Counter[str]) -> None:
    """Add to today's consumer counters (received, routed, duplicate, rejected:<reason>…)
    in one upsert, safe against concurrent consumers."""
    rows = [(outcome, count) for outcome, count in counts.items() if count]
    if not rows:
        return
    table = connection.ops.quote_name(ConsumedMessageStat._meta.db_table)
    today = connection.ops.adapt_datefield_value(timezone.now().date())
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, outcome, count) VALUES {values} "  # noqa: S608
            f"ON CONFLICT (day, outcome) DO UPDATE SET count = {table}.count + excluded.count",
            [value for outcome, count in rows for value in (today, outcome, count)],
        )


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
            chunks = _chunks([BatchedFile.of(copy) for copy in copies], job)
            runs.extend(_fire_batches([(job, chunk) for chunk in chunks], user))
    logger.info("files.reprocessed", extra={"files": len(files), "runs": len(runs)})
    return runs
