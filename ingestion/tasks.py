"""Celery tasks of ingestion: thin wrappers over services and the consumer."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from diep_portal.aws.sqs import sqs_queue_url
from diep_portal.locks import single_flight
from ingestion import services
from ingestion.consumer import Consumer


@shared_task(name="ingestion.flush_windows", acks_late=True, ignore_result=True)
def flush_windows() -> int:
    """Turn files whose coalescing window closed into runs; how many runs."""
    return len(services.files_flush())


@shared_task(name="ingestion.drain_events", acks_late=True, ignore_result=True)
def drain_events(max_seconds: float = 50.0) -> int:
    """Consume the event queue for a bounded time, one drainer at a time (for
    deployments that run only workers and Beat, no `consume_events` process)."""
    with single_flight("ingestion.drain_events", timeout_seconds=int(max_seconds) + 30) as mine:
        if not mine:
            return 0
        queue_url = sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE)
        consumer = Consumer(queue_url=queue_url, wait_seconds=5)
        return consumer.run(max_seconds=max_seconds).received


@shared_task(name="ingestion.backfill_run", acks_late=True, ignore_result=True)
def backfill_run(backfill_id: int) -> None:
    """Feed a requested backfill's objects through the ledger (ingestion.services)."""
    services.backfill_run(backfill_id=backfill_id)


@shared_task(name="ingestion.check_dlq_depth", acks_late=True, ignore_result=True)
def check_dlq_depth() -> int:
    """Alert when the DLQ fills up (ingestion.dlq); the depth."""
    from ingestion.dlq import dlq_check_depth

    return dlq_check_depth()
