"""Retention of the file ledger: rows older than DIEP_RETENTION_DAYS that no longer wait
for a run (RECEIVED and BATCHED files are kept however old: they are work to do)."""

from __future__ import annotations

import logging
from datetime import datetime

from ingestion.models import FileState, IngestedFile
from jobs.retention import purge_in_batches, retention_cutoff

logger = logging.getLogger(__name__)


def purge_files(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete settled ledger rows past DIEP_RETENTION_DAYS, in batches; how many went."""
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return 0
    settled = IngestedFile.objects.filter(received_at__lt=cutoff).exclude(
        state__in=(FileState.RECEIVED, FileState.BATCHED)
    )
    purged = purge_in_batches(settled, batch=batch)
    if purged:
        logger.info("files.purged", extra={"files": purged})
    return purged
