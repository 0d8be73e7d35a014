"""A job's S3 trigger (bucket, prefix, suffix) as one value: which keys it fires on and
which other triggers it collides with. Routing (ingestion), provisioning (the bucket
notifications) and the overlap warnings of the API and admin all use this one rule."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from diep_portal.aws.provision.resources import own_buckets
from diep_portal.aws.s3 import s3_bucket_status, s3_filters_overlap
from diep_portal.exceptions import AwsError
from jobs.models import Job
from jobs.roles import may_see_team

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Trigger:
    """Objects created in `bucket` whose key starts with `prefix` and ends with `suffix`
    fire the job `job_name`."""

    job_name: str
    bucket: str
    prefix: str = ""
    suffix: str = ""

    @classmethod
    def of(cls, job: Job) -> S3Trigger | None:
        """The job's trigger; None for a job without one."""
        if not job.trigger_bucket:
            return None
        return cls(job.name, job.trigger_bucket, job.trigger_prefix, job.trigger_suffix)

    def matches(self, bucket: str, key: str) -> bool:
        return self.bucket == bucket and key.startswith(self.prefix) and key.endswith(self.suffix)

    def overlaps(self, other: S3Trigger) -> bool:
        """Whether some key would fire both: S3 then refuses the pair of notification
        filters, so only one of the two can be provisioned."""
        return self.bucket == other.bucket and s3_filters_overlap(
            prefix_a=self.prefix, suffix_a=self.suffix, prefix_b=other.prefix, suffix_b=other.suffix
        )


def trigger_matches(job: Job, bucket: str, key: str) -> bool:
    trigger = S3Trigger.of(job)
    return trigger is not None and trigger.matches(bucket, key)


def jobs_for_key(bucket: str, key: str, *, jobs: QuerySet[Job] | None = None) -> list[Job]:
    """The enabled jobs whose trigger matches `s3://bucket/key` (index on bucket)."""
    candidates = jobs if jobs is not None else Job.objects.filter(enabled=True)
    return [
        job for job in candidates.filter(trigger_bucket=bucket) if trigger_matches(job, bucket, key)
    ]


def trigger_overlaps(
    *, bucket: str, prefix: str, suffix: str, exclude_job_id: int | None = None
) -> list[tuple[S3Trigger, str]]:
    """Other jobs' triggers on `bucket` that overlap this one, with their jobs' teams."""
    mine = S3Trigger("", bucket, prefix, suffix)
    others = Job.objects.filter(trigger_bucket=bucket)
    if exclude_job_id is not None:
        others = others.exclude(pk=exclude_job_id)
    theirs = ((S3Trigger.of(job), job.team) for job in others.order_by("name"))
    return [
        (trigger, team)
        for trigger, team in theirs
        if trigger is not None and mine.overlaps(trigger)
    ]


def trigger_overlap_warnings(job: Job, *, user: Any = None) -> list[str]:
    """Human warnings for the job's trigger overlapping other jobs' on its bucket; jobs
    of teams `user` may not see are "another job", their filters not shown."""
    if not job.trigger_bucket:
        return []
    warnings = []
    for overlap, team in trigger_overlaps(
        bucket=job.trigger_bucket,
        prefix=job.trigger_prefix,
        suffix=job.trigger_suffix,
        exclude_job_id=job.pk,
    ):
        other = (
            f"job {overlap.job_name!r} (prefix {overlap.prefix!r}, suffix {overlap.suffix!r})"
            if may_see_team(user, team)
            else "another job"
        )
        warnings.append(
            f"The trigger overlaps {other} on bucket {job.trigger_bucket!r}: some keys fire "
            "both jobs, and S3 refuses overlapping notification filters, so only one can be "
            "provisioned."
        )
    return warnings


def trigger_bucket_warnings(job: Job) -> list[str]:
    """A warning when the job's trigger bucket does not exist. Not an error: the bucket
    may be someone else's and made later; until then provisioning skips the trigger."""
    return missing_bucket_warnings({job.trigger_bucket}).get(job.trigger_bucket, [])


def missing_bucket_warnings(buckets: Iterable[str]) -> dict[str, list[str]]:
    """The warning for each of these trigger buckets that does not exist, asking S3 once
    per bucket. DIEP's own buckets are never checked (provisioning creates them), and a
    check that cannot reach S3 says nothing rather than holding up the save (one
    attempt each)."""
    warnings: dict[str, list[str]] = {}
    for bucket in set(buckets) - {""} - set(own_buckets()):
        try:
            status = s3_bucket_status(bucket=bucket, retries=False)
        except AwsError as exc:
            logger.info("trigger.bucket_unchecked", extra={"bucket": bucket, "error": str(exc)})
            continue
        if status == "missing":
            warnings[bucket] = [
                f"The trigger bucket {bucket!r} does not exist: nothing fires this job until "
                "it does (DIEP creates only its own buckets, and provisioning skips this "
                "trigger). Once the bucket exists, run `manage.py provision` to set up its "
                "notification."
            ]
    return warnings


def trigger_warnings(job: Job, *, user: Any = None) -> list[str]:
    """Everything the API and admin warn about a saved job's trigger."""
    return trigger_bucket_warnings(job) + trigger_overlap_warnings(job, user=user)
