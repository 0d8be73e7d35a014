"""The DLQ console's operations: look at dead-lettered events, send them back, drop them
(every action is written to the DlqAction audit trail); and the depth alert."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from diep_portal.aws.sqs import (
    SqsMessage,
    sqs_delete_batch,
    sqs_extend_visibility,
    sqs_get_queue_attributes,
    sqs_queue_arn,
    sqs_queue_url,
    sqs_receive,
    sqs_send,
    sqs_start_move_task,
)
from ingestion.events import ObjectCreated, parse_message
from ingestion.models import DlqAction
from jobs.alerts import alert_raise
from jobs.models import Alert, AlertKind, Job
from jobs.roles import is_platform_admin, may_see_team
from jobs.triggers import trigger_matches

logger = logging.getLogger(__name__)
# Receiving hides messages; looking must not, or an action right after finds nothing.
_PEEK_VISIBILITY_SECONDS = 0
_MAX_SCAN_RECEIVES = 20


def _queues() -> tuple[str, str]:
    return (
        sqs_queue_url(queue_name=settings.DIEP_INGEST_DLQ),
        sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE),
    )


def _actor(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def message_teams(body: str) -> set[str] | None:
    """The teams ("" = shared) of the jobs a dead-lettered message's objects trigger;
    None when it maps to no job (unparseable, or nothing matches): admins' alone."""
    created = [e for e in parse_message(body).events if isinstance(e, ObjectCreated)]
    if not created:
        return None
    jobs = Job.objects.filter(trigger_bucket__in={e.bucket for e in created}).only(
        "team", "trigger_bucket", "trigger_prefix", "trigger_suffix"
    )
    teams = {job.team for e in created for job in jobs if trigger_matches(job, e.bucket, e.key)}
    return teams or None


def may_handle(user: Any, message: SqsMessage) -> bool:
    """Whether `user` may see, redrive or delete the message: every job it concerns is
    one of theirs (platform admins: all, unmappable ones included)."""
    if user is None or is_platform_admin(user):
        return True
    teams = message_teams(message.body)
    return teams is not None and all(may_see_team(user, team) for team in teams)


def dlq_peek(*, limit: int = 50, user: Any = None) -> list[SqsMessage]:
    """Up to `limit` dead-lettered messages (each receive also counts as one)."""
    dlq_url, _ = _queues()
    seen: dict[str, SqsMessage] = {}
    for _ in range(_MAX_SCAN_RECEIVES):
        batch = sqs_receive(
            queue_url=dlq_url, wait_seconds=0, visibility_timeout=_PEEK_VISIBILITY_SECONDS
        )
        if not batch:
            break
        seen.update((m.message_id, m) for m in batch if may_handle(user, m))
        if len(seen) >= limit:
            break
    return list(seen.values())[:limit]


def _take(dlq_url: str, message_ids: set[str], user: Any) -> list[SqsMessage]:
    found: dict[str, SqsMessage] = {}
    for _ in range(_MAX_SCAN_RECEIVES):
        batch = sqs_receive(queue_url=dlq_url, wait_seconds=0, visibility_timeout=30)
        if not batch:
            break
        mine = {m.message_id for m in batch if m.message_id in message_ids and may_handle(user, m)}
        found.update((m.message_id, m) for m in batch if m.message_id in mine)
        others = [m.receipt_handle for m in batch if m.message_id not in mine]
        if others:  # not ours to act on: visible again at once
            sqs_extend_visibility(queue_url=dlq_url, receipt_handles=others, seconds=0)
        if set(found) >= message_ids:
            break
    return list(found.values())


def dlq_redrive(*, message_ids: Iterable[str], user: Any) -> int:
    """Send the chosen messages back to the ingestion queue, then delete them here."""
    dlq_url, queue_url = _queues()
    moved = 0
    for message in _take(dlq_url, set(message_ids), user):
        sqs_send(queue_url=queue_url, body=message.body)
        sqs_delete_batch(queue_url=dlq_url, receipt_handles=[message.receipt_handle])
        DlqAction.objects.create(
            action="redrive", message_id=message.message_id, actor=_actor(user)
        )
        moved += 1
    return moved


def dlq_delete(*, message_ids: Iterable[str], user: Any) -> int:
    """Drop the chosen messages for good."""
    dlq_url, _ = _queues()
    taken = _take(dlq_url, set(message_ids), user)
    sqs_delete_batch(queue_url=dlq_url, receipt_handles=[m.receipt_handle for m in taken])
    DlqAction.objects.bulk_create(
        DlqAction(action="delete", message_id=m.message_id, actor=_actor(user), detail=m.body[:500])
        for m in taken
    )
    return len(taken)


def dlq_redrive_all(*, user: Any) -> str:
    """Everything back: SQS's own move task where available, else message by message.
    Platform admins only (callers check): it moves every team's messages."""
    dlq_url, queue_url = _queues()
    # Emulators (moto) lack the move task; real AWS does it server-side, without limits.
    if not settings.AWS_ENDPOINT_URL:
        sqs_start_move_task(source_arn=sqs_queue_arn(queue_url=dlq_url))
        DlqAction.objects.create(
            action="redrive_all", actor=_actor(user), detail="StartMessageMoveTask"
        )
        return "started SQS message move task"
    moved = 0
    for _ in range(1000):  # bounded: a console action, not a migration
        batch = sqs_receive(queue_url=dlq_url, wait_seconds=0, visibility_timeout=30)
        if not batch:
            break
        for message in batch:
            sqs_send(queue_url=queue_url, body=message.body)
        sqs_delete_batch(queue_url=dlq_url, receipt_handles=[m.receipt_handle for m in batch])
        moved += len(batch)
    DlqAction.objects.create(action="redrive_all", actor=_actor(user), detail=f"moved {moved}")
    return f"moved {moved} message(s)"


def dlq_check_depth() -> int | None:
    """The DLQ's depth, alerting the operators when it reaches DIEP_DLQ_ALERT_DEPTH;
    None when there is no DLQ yet (a warning each check says how to make it, not a
    traceback a minute)."""
    attributes = sqs_get_queue_attributes(queue_name=settings.DIEP_INGEST_DLQ)
    if attributes is None:
        logger.warning(
            "dlq.missing",
            extra={"queue": settings.DIEP_INGEST_DLQ, "hint": "manage.py provision creates it"},
        )
        return None
    depth = int(attributes.get("ApproximateNumberOfMessages", "0"))
    check_dlq_depth(depth=depth)
    return depth


def check_dlq_depth(*, depth: int, now: datetime | None = None) -> Alert | None:
    """Alert the platform's operators when the DLQ holds DIEP_DLQ_ALERT_DEPTH messages
    or more; at most one alert an hour while it stays so."""
    now = now or timezone.now()
    if depth < settings.DIEP_DLQ_ALERT_DEPTH:
        return None
    return alert_raise(
        kind=AlertKind.DLQ_DEPTH,
        dedupe_key=f"dlq:{settings.DIEP_INGEST_DLQ}:{now:%Y-%m-%dT%H}",
        subject=f"[DIEP] {depth} message(s) in the dead-letter queue",
        text=f"The DLQ {settings.DIEP_INGEST_DLQ} holds {depth} message(s) the consumer "
        "could not handle. Inspect and redrive them in the admin's DLQ console.",
        emails=settings.DIEP_OPS_ALERT_EMAILS,
        webhooks=settings.DIEP_OPS_ALERT_WEBHOOKS,
    )
