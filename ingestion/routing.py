"""Job triggers (bucket, prefix, suffix) → the enabled jobs an S3 key fires."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from jobs.models import Job


def trigger_matches(job: Job, bucket: str, key: str) -> bool:
    return (
        job.trigger_bucket == bucket
        and key.startswith(job.trigger_prefix)
        and key.endswith(job.trigger_suffix)
    )


def jobs_for_key(bucket: str, key: str, *, jobs: QuerySet[Job] | None = None) -> list[Job]:
    """The enabled jobs whose trigger matches `s3://bucket/key` (index on bucket)."""
    candidates = jobs if jobs is not None else Job.objects.filter(enabled=True)
    return [
        job for job in candidates.filter(trigger_bucket=bucket) if trigger_matches(job, bucket, key)
    ]


@dataclass(frozen=True)
class TriggerOverlap:
    job_name: str
    prefix: str
    suffix: str


def _overlaps(prefix_a: str, suffix_a: str, prefix_b: str, suffix_b: str) -> bool:
    # S3 refuses two notification filters on one bucket when one prefix is a prefix of
    # the other and one suffix is a suffix of the other: some key would match both.
    prefixes = prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)
    suffixes = suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a)
    return prefixes and suffixes


def trigger_overlaps(
    *, bucket: str, prefix: str, suffix: str, exclude_job_id: int | None = None
) -> list[TriggerOverlap]:
    """Other jobs' triggers on `bucket` that overlap this one."""
    others = Job.objects.filter(trigger_bucket=bucket)
    if exclude_job_id is not None:
        others = others.exclude(pk=exclude_job_id)
    return [
        TriggerOverlap(job.name, job.trigger_prefix, job.trigger_suffix)
        for job in others
        if _overlaps(prefix, suffix, job.trigger_prefix, job.trigger_suffix)
    ]


def trigger_overlap_warnings(job: Job) -> list[str]:
    """Human warnings for the job's trigger overlapping other jobs' on its bucket."""
    if not job.trigger_bucket:
        return []
    return [
        f"The trigger overlaps job {overlap.job_name!r} (prefix {overlap.prefix!r}, suffix "
        f"{overlap.suffix!r}) on bucket {job.trigger_bucket!r}: some keys fire both jobs, and "
        "S3 refuses overlapping notification filters, so only one can be provisioned."
        for overlap in trigger_overlaps(
            bucket=job.trigger_bucket,
            prefix=job.trigger_prefix,
            suffix=job.trigger_suffix,
            exclude_job_id=job.pk,
        )
    ]
