"""S3 hooks: small objects (manifests) written and read."""

from __future__ import annotations

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
