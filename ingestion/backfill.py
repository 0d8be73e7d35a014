"""Backfills: the objects already under a job's trigger prefix, listed and fed through the
ledger and coalescing as if their events had just arrived (for that job alone)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from diep_portal.aws.s3 import s3_list_objects
from diep_portal.celery import enqueue_on_commit
from diep_portal.exceptions import Conflict, ValidationFailed
from diep_portal.text import storable_text
from ingestion.events import ObjectCreated
from ingestion.models import Backfill, BackfillState
from ingestion.services import files_flush, files_record
from jobs.models import Job

logger = logging.getLogger(__name__)


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
        enqueue_on_commit(
            "ingestion.backfill_run", backfill.pk, recovered_by="a new backfill request"
        )
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
        report = files_record(events=page, source="backfill", job=job)
        Backfill.objects.filter(pk=backfill.pk).update(
            listed=F("listed") + len(page),
            recorded=F("recorded") + report.recorded,
            skipped=F("skipped") + report.duplicates + report.unrouted + report.refused,
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
            state=BackfillState.FAILED,
            error=storable_text(str(exc), 2000),
            finished_at=timezone.now(),
        )
        logger.exception("backfill.failed", extra={"backfill_id": backfill.pk})
        return Backfill.objects.get(pk=backfill.pk)
    Backfill.objects.filter(pk=backfill.pk).update(
        state=BackfillState.DONE, finished_at=timezone.now()
    )
    return Backfill.objects.get(pk=backfill.pk)
