"""SQS steps: the ingest queue and its DLQ, and the queue policy letting S3 (and
EventBridge) send to it."""

from __future__ import annotations

import json
from typing import Any

from diep_portal.aws.provision.resources import (
    DLQ_RETENTION_SECONDS,
    EVENTS_STATEMENT_SID,
    QUEUE_WAIT_SECONDS,
    S3_STATEMENT_SID,
    Change,
)
from diep_portal.aws.provision.steps import PlanContext, Step, canonical, noop
from diep_portal.aws.sqs import (
    sqs_create_queue,
    sqs_get_queue_attributes,
    sqs_queue_url,
    sqs_set_queue_attributes,
)

# ------------------------------------------------------------------ queues


def dlq_attributes() -> dict[str, str]:
    """The DLQ's attributes as SQS reports them (strings)."""
    return {
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
        "SqsManagedSseEnabled": "true",
    }


def queue_attributes(context: PlanContext) -> dict[str, str]:
    """The ingest queue's attributes as SQS reports them (strings)."""
    redrive = {
        "deadLetterTargetArn": context.dlq_arn,
        "maxReceiveCount": context.desired.max_receive_count,
    }
    return {
        "VisibilityTimeout": str(context.desired.visibility_seconds),
        "ReceiveMessageWaitTimeSeconds": str(QUEUE_WAIT_SECONDS),
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps(redrive, sort_keys=True),
    }


def queue_step(context: PlanContext, name: str, desired: dict[str, str]) -> Step:
    """A queue with the given attributes (others are left as they are)."""
    current = sqs_get_queue_attributes(queue_name=name)
    if current is None:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(desired.items()))
        return Step(
            Change("queue", name, "create", detail),
            lambda: sqs_create_queue(queue_name=name, attributes=desired),
        )
    differences = [
        f"{key} {current.get(key, '(unset)')} → {value}"
        for key, value in sorted(desired.items())
        if not _same_queue_attribute(key, current.get(key), value)
    ]
    if not differences:
        return Step(Change("queue", name, "unchanged", "attributes match"), noop)
    return Step(
        Change("queue", name, "update", "; ".join(differences)),
        lambda: _set_queue_attributes(context, name, desired),
    )


def _set_queue_attributes(context: PlanContext, name: str, attributes: dict[str, str]) -> None:
    """SetQueueAttributes on an existing queue."""
    url = sqs_queue_url(queue_name=name)
    if name == context.desired.queue:
        # moto drops a queue's Policy on any SetQueueAttributes that leaves it out;
        # sending the desired one along changes nothing on AWS.
        attributes = {**attributes, "Policy": json.dumps(queue_policy(context))}
    sqs_set_queue_attributes(queue_url=url, attributes=attributes)


def _same_queue_attribute(key: str, current: str | None, desired: str) -> bool:
    """Whether SQS's value of an attribute means the desired one."""
    if current is None:
        return False
    if key == "RedrivePolicy":
        try:
            have = json.loads(current)
        except ValueError:
            return False
        want = json.loads(desired)
        return bool(
            have.get("deadLetterTargetArn") == want["deadLetterTargetArn"]
            and int(have.get("maxReceiveCount", 0)) == int(want["maxReceiveCount"])
        )
    return current.strip().lower() == desired.strip().lower()


# ------------------------------------------------------------------ queue policy


def policy_source_buckets(context: PlanContext) -> list[str]:
    """Buckets S3 may send from: every trigger bucket, and always the raw bucket."""
    return sorted({context.desired.raw_bucket, *context.desired.trigger_buckets})


def previous_policy_buckets(context: PlanContext) -> list[str]:
    """Buckets the queue policy currently lets S3 send from (what we set last time)."""
    buckets = []
    for statement in (context.current_queue_policy() or {}).get("Statement", []):
        if statement.get("Sid") != S3_STATEMENT_SID:
            continue
        arns = statement.get("Condition", {}).get("ArnLike", {}).get("aws:SourceArn", [])
        for arn in [arns] if isinstance(arns, str) else arns:
            buckets.append(str(arn).rsplit(":", 1)[-1])
    return buckets


def queue_policy(context: PlanContext) -> dict[str, Any]:
    """The ingest queue's resource policy (S3, and EventBridge when enabled)."""
    desired, arns = context.desired, context.arns
    statements: list[dict[str, Any]] = [
        {
            "Sid": S3_STATEMENT_SID,
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": context.queue_arn,
            "Condition": {
                "ArnLike": {
                    "aws:SourceArn": [arns.bucket(b) for b in policy_source_buckets(context)]
                },
                "StringEquals": {"aws:SourceAccount": arns.account},
            },
        }
    ]
    if desired.glue_events:
        statements.append(
            {
                "Sid": EVENTS_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": context.queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": arns.rule(desired.glue_events_rule)}},
            }
        )
    return {
        "Version": "2012-10-17",
        "Id": f"{desired.queue}-policy",
        "Statement": statements,
    }


def queue_policy_step(context: PlanContext) -> Step:
    """The ingest queue's policy, compared as parsed JSON."""
    name = context.desired.queue
    desired = queue_policy(context)
    current = context.current_queue_policy()
    if current is None:
        detail = "allow S3 from " + ", ".join(policy_source_buckets(context))
        if context.desired.glue_events:
            detail += f" and EventBridge rule {context.desired.glue_events_rule}"
        return Step(
            Change("queue-policy", name, "create", detail), lambda: _put_policy(name, desired)
        )
    if canonical(current) == canonical(desired):
        return Step(Change("queue-policy", name, "unchanged", "policy matches"), noop)
    before = set(previous_policy_buckets(context))
    after = set(policy_source_buckets(context))
    parts = []
    if after - before:
        parts.append("allow " + ", ".join(sorted(after - before)))
    if before - after:
        parts.append("stop allowing " + ", ".join(sorted(before - after)))
    return Step(
        Change("queue-policy", name, "update", "; ".join(parts) or "policy differs"),
        lambda: _put_policy(name, desired),
    )


def _put_policy(queue: str, policy: dict[str, Any]) -> None:
    """Set the queue's policy."""
    sqs_set_queue_attributes(
        queue_url=sqs_queue_url(queue_name=queue), attributes={"Policy": json.dumps(policy)}
    )
