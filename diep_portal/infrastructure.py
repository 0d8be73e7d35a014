"""DIEP's AWS infrastructure for the jobs as they are now: the one composition of
"enabled jobs → desired state → plan or apply" that the provision task and
`manage.py provision` both call.

diep_portal/aws/provision knows nothing of jobs (DESIGN.md §1); this is where the jobs'
triggers become its notification filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diep_portal.aws.provision import (
    Change,
    NotificationFilter,
    apply,
    desired_infrastructure,
    iam_policy,
    plan,
    summarize,
)
from jobs import selectors


@dataclass(frozen=True)
class InfrastructureResult:
    """What a provisioning run found (`applied=False`: a plan) or did, resource by
    resource, in dependency order."""

    applied: bool
    changes: tuple[Change, ...]

    @property
    def summary(self) -> dict[str, int]:
        """Counts by action: {"create": N, "update": M, "unchanged": K}."""
        return summarize(self.changes)


def infrastructure_notification_filters() -> list[NotificationFilter]:
    """The enabled jobs' S3 triggers as the bucket notification filters they need."""
    return [
        NotificationFilter(
            job_name=trigger.job_name,
            bucket=trigger.bucket,
            prefix=trigger.prefix,
            suffix=trigger.suffix,
        )
        for trigger in selectors.job_triggers()
    ]


def infrastructure_apply(*, plan_only: bool = False) -> InfrastructureResult:
    """Provision what the enabled jobs need (buckets, queue and DLQ and their policy,
    bucket notifications, mirror tables, Glue artifacts and job, the Glue state rule).

    `plan_only` reads AWS and changes nothing. Idempotent: a second apply finds every
    resource unchanged. Raises ProvisionError (nothing changed) for a state AWS would
    refuse, and AwsError for AWS failures; not serialised: callers that may run
    concurrently take a lock (bucket notifications are read-modify-written).
    """
    desired = desired_infrastructure(triggers=infrastructure_notification_filters())
    if plan_only:
        return InfrastructureResult(applied=False, changes=tuple(plan(desired)))
    return InfrastructureResult(applied=True, changes=tuple(apply(desired)))


def infrastructure_iam_policy() -> dict[str, Any]:
    """The portal role's least-privilege IAM policy document for the jobs as they are:
    notification rights on every trigger bucket, runs on every Glue job jobs name."""
    return iam_policy(
        trigger_buckets={f.bucket for f in infrastructure_notification_filters()},
        glue_job_names=selectors.glue_job_names(),
    )
