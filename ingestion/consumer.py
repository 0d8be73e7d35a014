"""The SQS consumer: long-poll a batch, record it, delete it only after the commit.

At-least-once all the way: a crash before the delete means SQS delivers the batch
again, and recording it again is a no-op (the ledger's unique constraint). A message
that cannot be handled is left alone: after maxReceiveCount receives the queue's
redrive policy moves it to the DLQ.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from diep_portal.aws.sqs import SqsMessage, sqs_delete_batch, sqs_extend_visibility, sqs_receive
from diep_portal.exceptions import AwsError
from ingestion import events as parsed
from ingestion.services import files_flush, files_record, stats_add
from jobs.engines.glue.tracking import run_apply_glue_event

logger = logging.getLogger(__name__)


@dataclass
class BatchReport:
    received: int = 0
    deleted: int = 0
    left_for_redrive: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    max_lag_seconds: float | None = None


# What the database says of a value it cannot store: psycopg refuses NULs and lone
# surrogates before sending (ValueError), PostgreSQL too-long or out-of-range values
# (DataError); a job deleted meanwhile breaks a foreign key (IntegrityError).
_REFUSED = (DataError, IntegrityError, ValueError)


@dataclass
class _Parsed:
    """One message's share of a batch."""

    message: SqsMessage
    created: list[parsed.ObjectCreated] = field(default_factory=list)
    glue_events: list[dict[str, object]] = field(default_factory=list)


def process_batch(messages: list[SqsMessage]) -> tuple[list[str], BatchReport]:
    """Record a received batch in one transaction; the receipt handles safe to delete.

    A message the database refuses (a value no check foresaw) must not fail the others:
    then each message is recorded in a transaction of its own, and the refused one is a
    counted `rejected:bad_field`, left for the DLQ."""
    report = BatchReport(received=len(messages))
    report.counts["received"] += len(messages)
    accepted: list[_Parsed] = []
    now = timezone.now()
    for message in messages:
        result = parsed.parse_message(message.body)
        if result.rejected is not None:
            _reject(report, message, str(result.rejected.reason), result.rejected.detail)
            continue
        share = _Parsed(message)
        for event in result.events:
            if isinstance(event, parsed.ObjectCreated):
                share.created.append(event)
                if event.event_time is not None:
                    lag = (now - event.event_time).total_seconds()
                    report.max_lag_seconds = max(report.max_lag_seconds or lag, lag)
            elif isinstance(event, parsed.TestEvent):
                report.counts["test_event"] += 1
            elif isinstance(event, parsed.GlueStateChange):
                share.glue_events.append(event.event)
            else:
                report.counts["ignored"] += 1
        accepted.append(share)
    try:
        counted: Counter[str] = Counter()  # kept only if the batch commits
        with transaction.atomic():
            jobs: set[int] = _record(accepted, counted)
            stats_add(report.counts + counted)
        report.counts.update(counted)
    except _REFUSED as exc:
        jobs = set()
        logger.warning("consumer.batch_refused", extra={"error": str(exc)[:300]})
        recorded: list[_Parsed] = []
        for share in accepted:
            counts: Counter[str] = Counter()
            try:
                with transaction.atomic():
                    jobs |= _record([share], counts)
            except _REFUSED as refused:
                _reject(report, share.message, str(parsed.RejectReason.BAD_FIELD), str(refused))
            else:
                report.counts.update(counts)
                recorded.append(share)
        accepted = recorded
        stats_add(report.counts)
    if jobs:
        files_flush(job_ids=jobs)
    return [share.message.receipt_handle for share in accepted], report


def _record(shares: list[_Parsed], counts: Counter[str]) -> set[int]:
    """Ledger rows and Glue state changes of these messages; the jobs with new files."""
    recorded = files_record(events=[event for share in shares for event in share.created])
    glue_events = [event for share in shares for event in share.glue_events]
    for glue_event in glue_events:
        run_apply_glue_event(glue_event)
    counts["routed"] += recorded.recorded
    counts["duplicate"] += recorded.duplicates
    counts["unrouted"] += recorded.unrouted
    counts["refused"] += recorded.refused
    counts["glue_event"] += len(glue_events)
    return set(recorded.jobs)


def _reject(report: BatchReport, message: SqsMessage, reason: str, detail: str) -> None:
    """Leave a message for the DLQ; count it on its first receive only (it comes back
    until the queue's maxReceiveCount moves it)."""
    report.left_for_redrive += 1
    if message.receive_count <= 1:
        report.counts[f"rejected:{reason}"] += 1
    logger.warning(
        "event.rejected",
        extra={
            "message_id": message.message_id,
            "reason": reason,
            "detail": detail[:300],
            "receive_count": message.receive_count,
        },
    )


class Consumer:
    """Long-polls one queue until stopped; SIGTERM (stop()) finishes the current batch."""

    def __init__(self, *, queue_url: str, wait_seconds: int = 20) -> None:
        self.queue_url = queue_url
        self.wait_seconds = wait_seconds
        self.visibility = settings.DIEP_CONSUMER_VISIBILITY_SECONDS
        self.max_batch = settings.DIEP_CONSUMER_MAX_BATCH
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run_once(self) -> BatchReport:
        """Receive a batch (10 messages per receive, more receives while the queue is
        busy, up to DIEP_CONSUMER_MAX_BATCH), process it in one transaction, delete the
        handled messages after the commit."""
        messages = sqs_receive(
            queue_url=self.queue_url,
            wait_seconds=self.wait_seconds,
            visibility_timeout=self.visibility,
        )
        # In a burst, gather more receives (no waiting) into one transaction: the
        # per-batch database work is then paid once per up to max_batch messages.
        last = messages
        while len(last) == 10 and len(messages) < self.max_batch:
            last = sqs_receive(
                queue_url=self.queue_url, wait_seconds=0, visibility_timeout=self.visibility
            )
            messages.extend(last)
        if not messages:
            return BatchReport()
        handles = [m.receipt_handle for m in messages]
        keeper = _VisibilityKeeper(self.queue_url, handles, self.visibility)
        keeper.start()
        try:
            deletable, report = process_batch(messages)
        finally:
            keeper.stop()
        failed = sqs_delete_batch(queue_url=self.queue_url, receipt_handles=deletable)
        if failed:  # retried once; what still fails comes back and is a no-op then
            failed = sqs_delete_batch(queue_url=self.queue_url, receipt_handles=failed)
        report.deleted = len(deletable) - len(failed)
        logger.info(
            "consumer.batch",
            extra={"received": report.received, "deleted": report.deleted, **report.counts},
        )
        return report

    def run(self, *, max_seconds: float | None = None) -> BatchReport:
        """Loop until stop() or `max_seconds`; the totals."""
        total = BatchReport()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        failures = 0
        while not self._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                report = self.run_once()
            except AwsError as exc:
                logger.warning("consumer.aws_error", extra={"error": str(exc)})
                self._stopping.wait(2)
                continue
            except Exception:
                # Whatever it was (the database gone, a bug), the batch was not deleted
                # and comes back: log, wait longer each time (up to a minute), go on.
                failures += 1
                logger.exception("consumer.batch_failed", extra={"consecutive": failures})
                self._stopping.wait(min(60, 2**failures))
                continue
            failures = 0
            total.received += report.received
            total.deleted += report.deleted
            total.left_for_redrive += report.left_for_redrive
            total.counts.update(report.counts)
        return total


class _VisibilityKeeper:
    """Extends the batch's visibility while processing runs long."""

    def __init__(self, queue_url: str, handles: list[str], visibility: int) -> None:
        self.queue_url, self.handles, self.visibility = queue_url, handles, visibility
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._done.wait(self.visibility / 2):
            try:
                sqs_extend_visibility(
                    queue_url=self.queue_url, receipt_handles=self.handles, seconds=self.visibility
                )
            except AwsError as exc:
                logger.warning("consumer.extend_failed", extra={"error": str(exc)})
