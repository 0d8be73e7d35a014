"""Celery tasks of ingestion: thin wrappers over services and the consumer."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from diep_portal.aws.sqs import sqs_queue_url
from ingestion import services
from ingestion.consumer import Consumer

_DRAIN_LOCK = "ingestion.drain_events.lock"


@shared_task(name="ingestion.flush_windows", acks_late=True, ignore_result=True)
def flush_windows() -> int:
    """Turn files whose coalescing window closed into runs; how many runs."""
    return len(services.files_flush())


@shared_task(name="ingestion.drain_events", acks_late=True, ignore_result=True)
def drain_events(max_seconds: float = 50.0) -> int:
    """Consume the event queue for a bounded time, one drainer at a time (for
    deployments that run only workers and Beat, no `consume_events` process)."""
    if not cache.add(_DRAIN_LOCK, "1", timeout=int(max_seconds) + 30):
        return 0
    try:
        queue_url = sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE)
        return Consumer(queue_url=queue_url, wait_seconds=5).run(max_seconds=max_seconds).received
    finally:
        cache.delete(_DRAIN_LOCK)


@shared_task(name="ingestion.backfill_run", acks_late=True, ignore_result=True)
def backfill_run(backfill_id: int) -> None:
    """Feed a requested backfill's objects through the ledger (ingestion.services)."""
    services.backfill_run(backfill_id=backfill_id)
