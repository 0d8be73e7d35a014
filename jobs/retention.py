"""Retention of the jobs ledger: finished runs (with their events) and alerts older than
DIEP_RETENTION_DAYS. The file ledger's rows are ingestion's (ingestion/retention.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import TERMINAL_STATES, Alert, JobRun

logger = logging.getLogger(__name__)


def purge_in_batches(query: QuerySet[Any], *, batch: int = 1000) -> int:
    """Delete what `query` selects, `batch` rows at a time, so a first purge of a large
    table never holds long locks. Returns how many rows went."""
    purged = 0
    while ids := list(query.values_list("pk", flat=True)[:batch]):
        query.model._default_manager.filter(pk__in=ids).delete()
        purged += len(ids)
    return purged


def retention_cutoff(now: datetime | None = None) -> datetime | None:
    """Rows older than this may go; None when retention is off (DIEP_RETENTION_DAYS ≤ 0)."""
    days = settings.DIEP_RETENTION_DAYS
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def purge_history(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Delete finished runs (with their events) and alerts past DIEP_RETENTION_DAYS.
    Returns how many rows of each went."""
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return {}
    purged = {
        "runs": purge_in_batches(
            JobRun.objects.filter(finished_at__lt=cutoff, state__in=TERMINAL_STATES), batch=batch
        ),
        "alerts": purge_in_batches(Alert.objects.filter(created_at__lt=cutoff), batch=batch),
    }
    if any(purged.values()):
        logger.info("history.purged", extra=purged)
    return purged
