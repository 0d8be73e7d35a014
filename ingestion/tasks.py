"""Celery tasks of ingestion: thin wrappers over services and the consumer."""

from __future__ import annotations

from django.conf import settings

from diep_portal.aws.sqs import sqs_queue_url
from diep_portal.celery import Queue, diep_task
from diep_portal.locks import single_flight
from ingestion import backfill, freshness, retention, services
from ingestion.consumer import Consumer
from ingestion.dlq import dlq_check_depth


@diep_task(name="ingestion.flush_windows", queue=Queue.MAINTENANCE)
def flush_windows() -> int:
    """Turn files whose coalescing window closed into runs; how many runs."""
    return len(services.files_flush())


@diep_task(name="ingestion.drain_events", queue=Queue.MAINTENANCE)
def drain_events(max_seconds: float = 50.0) -> int:
    """Consume the event queue for a bounded time, one drainer at a time (for
    deployments that run only workers and Beat, no `consume_events` process)."""
    with single_flight("ingestion.drain_events", timeout_seconds=int(max_seconds) + 30) as mine:
        if not mine:
            return 0
        queue_url = sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE)
        consumer = Consumer(queue_url=queue_url, wait_seconds=5)
        return consumer.run(max_seconds=max_seconds).received


@diep_task(name="ingestion.backfill_run", queue=Queue.MAINTENANCE)
def backfill_run(backfill_id: int) -> None:
    """Feed a requested backfill's objects through the ledger (ingestion.services)."""
    backfill.backfill_run(backfill_id=backfill_id)


@diep_task(name="ingestion.check_dlq_depth", queue=Queue.MAINTENANCE)
def check_dlq_depth() -> int | None:
    """Alert when the DLQ fills up (ingestion.dlq); the depth (None: no DLQ yet)."""
    return dlq_check_depth()


@diep_task(name="ingestion.check_freshness", queue=Queue.MAINTENANCE)
def check_freshness() -> int:
    """Alert for jobs whose files are late (freshness SLAs, ingestion.freshness)."""
    return freshness.check_freshness()


@diep_task(name="ingestion.purge_files", queue=Queue.MAINTENANCE)
def purge_files() -> int:
    """Delete settled file-ledger rows past DIEP_RETENTION_DAYS (ingestion.retention)."""
    return retention.purge_files()
