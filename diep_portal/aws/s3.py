"""S3 hooks: small objects (manifests, Glue artifacts) written and read; buckets, their
privacy settings and their notification configuration for provisioning."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client
from diep_portal.exceptions import PermanentAwsError


def s3_put_bytes(*, bucket: str, key: str, data: bytes, content_type: str) -> None:
    """PutObject of a small object (server-side encrypted)."""
    with translate_aws_errors("s3", "PutObject"):
        get_client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )


def s3_get_bytes(*, bucket: str, key: str) -> bytes:
    """GetObject body of a small object."""
    with translate_aws_errors("s3", "GetObject"):
        return bytes(get_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    last_modified: datetime


def s3_list_objects(*, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under `prefix`, page by page (ListObjectsV2)."""
    paginator = get_client("s3").get_paginator("list_objects_v2")
    with translate_aws_errors("s3", "ListObjectsV2"):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield S3Object(
                    key=item["Key"],
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")).strip('"'),
                    last_modified=item["LastModified"],
                )


BucketStatus = Literal["exists", "missing", "forbidden"]

#: The top-level keys of a bucket's notification configuration (everything else in
#: GetBucketNotificationConfiguration's answer is response metadata).
NOTIFICATION_KEYS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)

# S3 answers a missing bucket or object with any of these, depending on the operation
# (HEAD requests have no body, hence the bare status) and on AWS or moto.
_NOT_FOUND_CODES = frozenset({"404", "NoSuchBucket", "NotFound", "NoSuchKey"})
_FORBIDDEN_CODES = frozenset({"403", "AccessDenied", "Forbidden"})


def s3_filters_overlap(*, prefix_a: str, suffix_a: str, prefix_b: str, suffix_b: str) -> bool:
    """Whether two notification filters (for the same event type, on one bucket) overlap.

    They do when one prefix is a prefix of the other and one suffix ends with the
    other (an empty prefix or suffix matches every key): some key would then match
    both, S3 could not tell which destination gets the event, and so it rejects the
    whole PutBucketNotificationConfiguration.
    """
    prefixes = prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)
    suffixes = suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a)
    return prefixes and suffixes


def s3_bucket_status(*, bucket: str, retries: bool = True) -> BucketStatus:
    """HeadBucket as one word: "exists" (ours to use), "missing", or "forbidden"
    (it exists, in someone else's account or out of our reach). `retries=False` makes
    one attempt, for a check a person is waiting on."""
    try:
        with translate_aws_errors("s3", "HeadBucket"):
            get_client("s3", retries=retries).head_bucket(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return "missing"
        if exc.code in _FORBIDDEN_CODES:
            return "forbidden"
        raise
    return "exists"


def s3_create_bucket(*, bucket: str, region: str) -> None:
    """CreateBucket in `region` (no other settings: see the put hooks)."""
    request: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 is the one region that refuses an explicit LocationConstraint.
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with translate_aws_errors("s3", "CreateBucket"):
        get_client("s3").create_bucket(**request)


def s3_get_public_access_block(*, bucket: str) -> dict[str, bool] | None:
    """The bucket's public access block settings; None when it has none."""
    try:
        with translate_aws_errors("s3", "GetPublicAccessBlock"):
            response = get_client("s3").get_public_access_block(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    return {k: bool(v) for k, v in response["PublicAccessBlockConfiguration"].items()}


def s3_put_public_access_block(*, bucket: str, configuration: Mapping[str, bool]) -> None:
    """PutPublicAccessBlock with these settings (BlockPublicAcls, ...)."""
    with translate_aws_errors("s3", "PutPublicAccessBlock"):
        get_client("s3").put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=dict(configuration)
        )


def s3_get_default_encryption(*, bucket: str) -> list[str]:
    """The default encryption algorithms of the bucket's rules; [] when it has none."""
    try:
        with translate_aws_errors("s3", "GetBucketEncryption"):
            response = get_client("s3").get_bucket_encryption(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code == "ServerSideEncryptionConfigurationNotFoundError":
            return []
        raise
    rules = response["ServerSideEncryptionConfiguration"].get("Rules", [])
    return [
        str(rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", ""))
        for rule in rules
    ]


def s3_put_default_encryption(*, bucket: str, algorithm: str) -> None:
    """PutBucketEncryption: one rule encrypting new objects with `algorithm` ("AES256")."""
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}
    with translate_aws_errors("s3", "PutBucketEncryption"):
        get_client("s3").put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
        )


def s3_get_notifications(*, bucket: str) -> dict[str, Any] | None:
    """The bucket's notification configuration (NOTIFICATION_KEYS only, as AWS returned
    them); None when the bucket does not exist."""
    try:
        with translate_aws_errors("s3", "GetBucketNotificationConfiguration"):
            response = get_client("s3").get_bucket_notification_configuration(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return None
        raise
    return {key: response[key] for key in NOTIFICATION_KEYS if key in response}


def s3_put_notifications(*, bucket: str, configuration: Mapping[str, Any]) -> None:
    """PutBucketNotificationConfiguration: replaces the bucket's whole configuration, so
    callers read-modify-write it (DESIGN.md rule 6)."""
    with translate_aws_errors("s3", "PutBucketNotificationConfiguration"):
        get_client("s3").put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=dict(configuration)
        )


def s3_object_etag(*, bucket: str, key: str) -> str | None:
    """An object's ETag without quotes; None when it (or its bucket) does not exist."""
    try:
        with translate_aws_errors("s3", "HeadObject"):
            response = get_client("s3").head_object(Bucket=bucket, Key=key)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return None
        raise
    return str(response.get("ETag", "")).strip('"')
