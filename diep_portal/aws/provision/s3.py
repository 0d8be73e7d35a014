"""S3 steps: DIEP's private buckets, the Glue artifacts in them, and the bucket
notifications that send the jobs' triggers to the ingest queue.

Bucket notifications are read-modify-written (DESIGN.md rule 6): only queue
configurations whose Id starts with `diep-` are ours; every other entry on the bucket
is kept exactly as AWS returned it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from diep_portal.aws.provision.errors import ProvisionError
from diep_portal.aws.provision.resources import (
    NOTIFICATION_EVENTS,
    NOTIFICATION_ID_MAX,
    NOTIFICATION_ID_PREFIX,
    Action,
    Artifact,
    Change,
    NotificationFilter,
)
from diep_portal.aws.provision.sqs import previous_policy_buckets
from diep_portal.aws.provision.steps import PlanContext, Step, noop
from diep_portal.aws.s3 import (
    NOTIFICATION_KEYS,
    s3_bucket_status,
    s3_create_bucket,
    s3_filters_overlap,
    s3_get_default_encryption,
    s3_get_notifications,
    s3_get_public_access_block,
    s3_object_etag,
    s3_put_bytes,
    s3_put_default_encryption,
    s3_put_notifications,
    s3_put_public_access_block,
)

_ENCRYPTION_ALGORITHM = "AES256"
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

# ------------------------------------------------------------------ buckets


def bucket_step(context: PlanContext, bucket: str) -> Step:
    """One of our buckets: exists, blocks public access, encrypts by default."""
    status = s3_bucket_status(bucket=bucket)
    if status == "forbidden":
        raise ProvisionError(
            f"Bucket {bucket!r} exists but is not ours (access denied): choose another name."
        )
    if status == "missing":
        return Step(
            Change("bucket", bucket, "create", "block all public access, SSE-S3 (AES256)"),
            lambda: _create_bucket(bucket, context.desired.region),
        )
    differences = []
    block = s3_get_public_access_block(bucket=bucket)
    if block != _PUBLIC_ACCESS_BLOCK:
        off = sorted(k for k, v in _PUBLIC_ACCESS_BLOCK.items() if (block or {}).get(k) != v)
        differences.append("public access block: " + ", ".join(f"{k} → true" for k in off))
    algorithms = s3_get_default_encryption(bucket=bucket)
    if algorithms != [_ENCRYPTION_ALGORITHM]:
        differences.append(
            f"default encryption: {', '.join(algorithms) or 'none'} → {_ENCRYPTION_ALGORITHM}"
        )
    if not differences:
        return Step(Change("bucket", bucket, "unchanged", "private, SSE-S3"), noop)
    return Step(
        Change("bucket", bucket, "update", "; ".join(differences)),
        lambda: _configure_bucket(bucket),
    )


def _create_bucket(bucket: str, region: str) -> None:
    """CreateBucket in the configured region, then its settings."""
    s3_create_bucket(bucket=bucket, region=region)
    _configure_bucket(bucket)


def _configure_bucket(bucket: str) -> None:
    """Block all public access and default to SSE-S3."""
    s3_put_public_access_block(bucket=bucket, configuration=_PUBLIC_ACCESS_BLOCK)
    s3_put_default_encryption(bucket=bucket, algorithm=_ENCRYPTION_ALGORITHM)


# ------------------------------------------------------------------ notifications


def overlapping_triggers(
    triggers: Iterable[NotificationFilter],
) -> list[tuple[NotificationFilter, NotificationFilter]]:
    """Pairs of triggers S3 would refuse together on one bucket (`s3_filters_overlap`),
    each in the order given (a stable sort by bucket)."""
    ordered = sorted(triggers, key=lambda t: t.bucket)
    pairs = []
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if first.bucket == second.bucket and s3_filters_overlap(
                prefix_a=first.prefix,
                suffix_a=first.suffix,
                prefix_b=second.prefix,
                suffix_b=second.suffix,
            ):
                pairs.append((first, second))
    return pairs


def notification_id(job_name: str) -> str:
    """Our configuration Id for a job's trigger: `diep-<job_name>`, hashed when long."""
    full = f"{NOTIFICATION_ID_PREFIX}{job_name}"
    if len(full) <= NOTIFICATION_ID_MAX:
        return full
    digest = hashlib.sha256(job_name.encode()).hexdigest()[:8]
    return f"{full[: NOTIFICATION_ID_MAX - 9]}-{digest}"


def _is_ours(configuration: Mapping[str, Any]) -> bool:
    """Whether a notification configuration is one DIEP manages (by its Id)."""
    return str(configuration.get("Id", "")).startswith(NOTIFICATION_ID_PREFIX)


def _queue_configuration(trigger: NotificationFilter, queue_arn: str) -> dict[str, Any]:
    """The QueueConfiguration a trigger needs; filter rules only for non-empty values."""
    configuration: dict[str, Any] = {
        "Id": notification_id(trigger.job_name),
        "QueueArn": queue_arn,
        "Events": list(NOTIFICATION_EVENTS),
    }
    rules = [
        {"Name": name, "Value": value}
        for name, value in (("prefix", trigger.prefix), ("suffix", trigger.suffix))
        if value
    ]
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def _normalised_configuration(configuration: Mapping[str, Any]) -> tuple[Any, ...]:
    """A queue configuration in a comparable form."""
    # AWS answers "Prefix"/"Suffix", moto and our own requests say "prefix"/"suffix";
    # rule and event order carry no meaning.
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return (
        configuration.get("Id", ""),
        configuration.get("QueueArn", ""),
        tuple(sorted(configuration.get("Events", []))),
        tuple(sorted((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules)),
    )


def merge_notifications(
    current: Mapping[str, Any], ours: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The bucket's notification configuration with our queue entries replaced by `ours`.

    Everything else (foreign queue entries, topics, lambdas, EventBridge) is kept as
    `current` has it.
    """
    # EventBridgeConfiguration is an empty dict when on: kept by key, not by truth.
    merged: dict[str, Any] = {key: current[key] for key in NOTIFICATION_KEYS if key in current}
    queues = [c for c in current.get("QueueConfigurations", []) if not _is_ours(c)]
    queues.extend(dict(c) for c in ours)
    if queues:
        merged["QueueConfigurations"] = queues
    else:
        merged.pop("QueueConfigurations", None)
    return merged


def notification_steps(context: PlanContext) -> list[Step]:
    """One step per bucket that has triggers now or had our entries before."""
    desired = context.desired
    by_bucket: dict[str, list[NotificationFilter]] = {b: [] for b in desired.trigger_buckets}
    for trigger in desired.triggers:
        by_bucket[trigger.bucket].append(trigger)
    # Buckets we sent from last time but no job triggers on any more: our entries
    # there are stale and must go, though no trigger names the bucket now.
    for bucket in previous_policy_buckets(context):
        by_bucket.setdefault(bucket, [])
    steps = []
    for bucket in sorted(by_bucket):
        step = _notification_step(context, bucket, by_bucket[bucket])
        if step is not None:
            steps.append(step)
    return steps


def _notification_step(
    context: PlanContext, bucket: str, triggers: list[NotificationFilter]
) -> Step | None:
    """Our entries on one bucket; None when it has none and needs none."""
    if not triggers and s3_bucket_status(bucket=bucket) != "exists":
        return None
    current = s3_get_notifications(bucket=bucket) or {}
    wanted = [_queue_configuration(t, context.queue_arn) for t in triggers]
    present = [c for c in current.get("QueueConfigurations", []) if _is_ours(c)]
    foreign = (
        len(current.get("TopicConfigurations", []))
        + len(current.get("LambdaFunctionConfigurations", []))
        + len(current.get("QueueConfigurations", []))
        - len(present)
        + ("EventBridgeConfiguration" in current)
    )
    if not wanted and not present:
        return None
    have = {_normalised_configuration(c) for c in present}
    want = {_normalised_configuration(c) for c in wanted}
    kept = f"keep {foreign} foreign configuration(s)"
    if have == want and len(present) == len(wanted):
        return Step(Change("notification", bucket, "unchanged", kept), noop)
    present_ids = {str(c.get("Id")) for c in present}
    wanted_ids = {str(c["Id"]) for c in wanted}
    parts = []
    for configuration, trigger in zip(wanted, triggers, strict=True):
        if configuration["Id"] not in present_ids:
            parts.append(f"add {configuration['Id']} ({_filter_text(trigger)})")
        elif _normalised_configuration(configuration) not in have:
            parts.append(f"change {configuration['Id']} ({_filter_text(trigger)})")
    parts.extend(f"remove {i}" for i in sorted(present_ids - wanted_ids))
    parts.append(kept)
    action: Action = "create" if not present else "update"
    return Step(
        Change("notification", bucket, action, "; ".join(parts)),
        lambda: _put_notifications(bucket, wanted),
    )


def _put_notifications(bucket: str, wanted: list[dict[str, Any]]) -> None:
    """Read-modify-write the bucket's notifications with our entries replaced."""
    # Read again right before writing: the window in which another team's change
    # could be lost is one round trip, not the whole provisioning run.
    current = s3_get_notifications(bucket=bucket) or {}
    s3_put_notifications(bucket=bucket, configuration=merge_notifications(current, wanted))


def _filter_text(trigger: NotificationFilter) -> str:
    """A trigger's filter for humans."""
    return f"prefix {trigger.prefix!r}, suffix {trigger.suffix!r}"


# ------------------------------------------------------------------ artifacts


def artifact_step(artifact: Artifact) -> Step:
    """An object whose ETag must be the MD5 of the local bytes."""
    name = f"s3://{artifact.bucket}/{artifact.key}"
    etag = s3_object_etag(bucket=artifact.bucket, key=artifact.key)
    size = f"{len(artifact.data)} bytes, md5 {artifact.md5}"
    if etag == artifact.md5:
        return Step(Change("artifact", name, "unchanged", size), noop)
    action: Action = "create" if etag is None else "update"
    detail = size if etag is None else f"content changed (etag {etag} → {artifact.md5})"
    return Step(
        Change("artifact", name, action, detail),
        lambda: s3_put_bytes(
            bucket=artifact.bucket,
            key=artifact.key,
            data=artifact.data,
            content_type=artifact.content_type,
        ),
    )
