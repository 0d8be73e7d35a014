"""Plan and apply: read AWS, compare with the desired state, change only what differs.

`plan()` reads AWS and returns one `Change` per resource ("create", "update" or
"unchanged" with a detail of what differs); `apply()` makes the same reads, refuses
before writing anything when the desired state cannot be provisioned (overlapping
triggers, a missing foreign bucket), then performs only the creates and updates, in
dependency order. A second `apply()` finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from diep_portal.aws.provision import dynamodb, events, glue, s3, sqs
from diep_portal.aws.provision.arns import Arns, caller_account_id
from diep_portal.aws.provision.errors import ProvisionError
from diep_portal.aws.provision.resources import Change, Desired, NotificationFilter
from diep_portal.aws.provision.steps import PlanContext, Step
from diep_portal.aws.s3 import s3_bucket_status

logger = logging.getLogger(__name__)


def trigger_refusals(desired: Desired) -> dict[str, list[str]]:
    """The triggers AWS would refuse or DIEP must not provision, by job name with the
    reasons: the later (as given) of two overlapping triggers on a bucket (S3 refuses
    overlapping notification filters) and every trigger on a foreign bucket that does
    not exist (DIEP creates only its own buckets). The rest can be provisioned."""
    refused: dict[str, list[str]] = {}
    for first, second in s3.overlapping_triggers(desired.triggers):
        if first.job_name not in refused:
            refused.setdefault(second.job_name, []).append(
                f"its trigger overlaps {_describe_trigger(first)} (S3 refuses overlapping "
                "notification filters)"
            )
    for bucket in desired.foreign_trigger_buckets:
        if s3_bucket_status(bucket=bucket) == "missing":
            for trigger in desired.triggers:
                if trigger.bucket == bucket:
                    refused.setdefault(trigger.job_name, []).append(
                        f"its trigger bucket {bucket!r} does not exist (DIEP creates only "
                        "its own buckets)"
                    )
    return refused


def check_refusals(desired: Desired) -> None:
    """Raise ProvisionError for a desired state with triggers `trigger_refusals` refuses
    (callers that provision what they can leave those out first)."""
    refused = trigger_refusals(desired)
    if refused:
        raise ProvisionError(
            "Triggers that cannot be provisioned: "
            + "; ".join(f"job {job!r}: {', '.join(reasons)}" for job, reasons in refused.items()),
            extra={"refused": refused},
        )


def _describe_trigger(trigger: NotificationFilter) -> str:
    """A trigger for humans."""
    return (
        f"job {trigger.job_name!r} (bucket {trigger.bucket!r}, prefix {trigger.prefix!r}, "
        f"suffix {trigger.suffix!r})"
    )


def _steps(desired: Desired, *, account_id: str | None = None) -> list[Step]:
    """Every resource's step, in dependency order; refusals are raised first."""
    check_refusals(desired)
    context = PlanContext(
        desired=desired,
        arns=Arns(region=desired.region, account=account_id or caller_account_id()),
    )
    # Order is dependency order for apply: the DLQ before the queue that redrives to
    # it, the queue policy before notifications (S3 checks it may send), the artifacts
    # bucket before the artifacts, the queue before the rule targeting it.
    steps = [s3.bucket_step(context, bucket) for bucket in desired.buckets]
    steps.append(sqs.queue_step(context, desired.dlq, sqs.dlq_attributes()))
    steps.append(sqs.queue_step(context, desired.queue, sqs.queue_attributes(context)))
    steps.append(sqs.queue_policy_step(context))
    steps.extend(s3.notification_steps(context))
    steps.extend(dynamodb.table_step(table) for table in desired.tables)
    steps.extend(s3.artifact_step(artifact) for artifact in desired.artifacts)
    steps.append(glue.glue_job_step(desired.glue_job))
    if desired.glue_events:
        steps.append(events.event_rule_step(context))
    return steps


def plan(desired: Desired, *, account_id: str | None = None) -> list[Change]:
    """What apply would do, resource by resource, without changing anything.

    `account_id` defaults to the caller's account (STS). Raises ProvisionError for a
    desired state that cannot be provisioned.
    """
    return [step.change for step in _steps(desired, account_id=account_id)]


def apply(desired: Desired, *, account_id: str | None = None) -> list[Change]:
    """Plan, then perform every create and update in dependency order.

    Returns the whole plan as performed: "unchanged" entries were left alone. Every
    refusal is raised before the first write; an AWS failure midway leaves the earlier
    changes in place, and running apply again continues from there.
    """
    steps = _steps(desired, account_id=account_id)
    for step in steps:
        if step.change.action == "unchanged":
            continue
        logger.info(
            "provision.apply",
            extra={
                "kind": step.change.kind,
                "resource": step.change.name,
                "action": step.change.action,
                "detail": step.change.detail,
            },
        )
        step.perform()
    return [step.change for step in steps]


def summarize(changes: Iterable[Change]) -> dict[str, int]:
    """Counts by action: {"create": N, "update": M, "unchanged": K}."""
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for change in changes:
        counts[change.action] += 1
    return counts
