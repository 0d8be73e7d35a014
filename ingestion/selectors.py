"""Read queries of the file ledger and the consumer's counters. Services write; these
only read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Min, QuerySet

from ingestion.models import Backfill, ConsumedMessageStat, FileState, IngestedFile
from jobs.models import Job
from jobs.selectors import visible_jobs


def visible_files(user: Any = None) -> QuerySet[IngestedFile]:
    """The ledger rows of the jobs `user` may see, with their job and run."""
    return IngestedFile.objects.select_related("job", "run").filter(job__in=visible_jobs(user))


def files_by_ids(ids: Iterable[int], *, user: Any = None) -> list[IngestedFile]:
    """The ledger rows with these ids among those `user` may see (others are left out)."""
    return list(IngestedFile.objects.filter(pk__in=set(ids), job__in=visible_jobs(user)))


def job_backfills(job: Job) -> QuerySet[Backfill]:
    return Backfill.objects.filter(job=job).select_related("job")


def event_lag(*, since: datetime) -> timedelta | None:
    """Average time from an S3 event to its ledger row, over files received since
    `since`; None without any."""
    lag = IngestedFile.objects.filter(received_at__gte=since, event_time__isnull=False).aggregate(
        lag=Avg(F("received_at") - F("event_time"))
    )["lag"]
    return lag if isinstance(lag, timedelta) else None


def files_waiting() -> tuple[int, datetime | None]:
    """How many files wait in coalescing windows, and when the oldest arrived."""
    waiting = IngestedFile.objects.filter(state=FileState.RECEIVED).aggregate(
        n=Count("id"), oldest=Min("received_at")
    )
    return waiting["n"], waiting["oldest"]


def consumed_messages(day: date) -> list[tuple[str, int]]:
    """The consumer's counters for `day`: (outcome, messages)."""
    return list(ConsumedMessageStat.objects.filter(day=day).values_list("outcome", "count"))
