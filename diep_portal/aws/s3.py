"""S3 hooks: small objects (manifests) written and read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client


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
