"""DIEP's AWS infrastructure for the jobs as they are now: the one composition of
"enabled jobs → desired state → plan or apply" that the provision task and
`manage.py provision` both call.

diep_portal/aws/provision knows nothing of jobs (DESIGN.md §1); this is where the jobs'
triggers become its notification filters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from diep_portal.aws.provision import (
    Change,
    DataLocation,
    NotificationFilter,
    apply,
    desired_infrastructure,
    iam_policy,
    plan,
    summarize,
    trigger_refusals,
)
from etl.publish import TEMP_DIR
from jobs import selectors
from jobs.locations import Grants, violations


@dataclass(frozen=True)
class InfrastructureResult:
    """What a provisioning run found (`applied=False`: a plan) or did, resource by
    resource, in dependency order."""

    applied: bool
    changes: tuple[Change, ...]
    # Jobs left out (their triggers get no notification) because they break a
    # data-location rule: job name → the reasons (jobs.locations).
    skipped: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        """Counts by action: {"create": N, "update": M, "unchanged": K}."""
        return summarize(self.changes)


def infrastructure_notification_filters(
    refused: dict[str, list[str]] | None = None,
) -> list[NotificationFilter]:
    """The enabled jobs' S3 triggers as the bucket notification filters they need,
    leaving out jobs that break a data-location rule (`refused`: job name → reasons;
    computed when not given)."""
    refused = violations() if refused is None else refused
    return [
        NotificationFilter(
            job_name=trigger.job_name,
            bucket=trigger.bucket,
            prefix=trigger.prefix,
            suffix=trigger.suffix,
        )
        for trigger in selectors.job_triggers()
        if trigger.job_name not in refused
    ]


def infrastructure_apply(*, plan_only: bool = False) -> InfrastructureResult:
    """Provision what the enabled jobs need (buckets, queue and DLQ and their policy,
    bucket notifications, mirror tables, Glue artifacts and job, the Glue state rule).

    `plan_only` reads AWS and changes nothing. Idempotent: a second apply finds every
    resource unchanged. Raises ProvisionError (nothing changed) for a state AWS would
    refuse, and AwsError for AWS failures; not serialised: callers that may run
    concurrently take a lock (bucket notifications are read-modify-written).
    """
    refused = violations()
    triggers = infrastructure_notification_filters(refused)
    desired = desired_infrastructure(triggers=triggers)
    # One job's bad trigger never blocks the others: it is left out and reported.
    for job_name, reasons in trigger_refusals(desired).items():
        refused.setdefault(job_name, []).extend(reasons)
    # The same desired state less those triggers (not built again: that reads the Glue
    # script and zips the ETL package).
    desired = replace(desired, triggers=tuple(t for t in triggers if t.job_name not in refused))
    skipped = tuple((name, tuple(reasons)) for name, reasons in sorted(refused.items()))
    if plan_only:
        return InfrastructureResult(applied=False, changes=tuple(plan(desired)), skipped=skipped)
    return InfrastructureResult(applied=True, changes=tuple(apply(desired)), skipped=skipped)


def infrastructure_iam_policy() -> dict[str, Any]:
    """The portal role's least-privilege IAM policy document: data rights exactly as
    the admins granted locations, runs on the Glue jobs settings name. Nothing in it
    comes from what operators typed into jobs."""
    return iam_policy(
        data_locations=[
            DataLocation(loc.bucket, loc.prefix, read, write)
            for loc, read, write in Grants.load().statements()
        ],
        glue_job_names=settings.DIEP_GLUE_JOB_NAMES,
        staging_prefix=f"{TEMP_DIR}/",
    )
