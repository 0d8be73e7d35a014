"""S3 hooks on moto in-process: buckets, their privacy settings, notifications, objects;
and the one rule for overlapping notification filters."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from diep_portal.aws.s3 import (
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
from diep_portal.aws.session import get_client

BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        # The provisioning rule's own cases are in provision/test_s3.py; these are the
        # edges: identical filters, suffixes alone, sibling prefixes, case.
        (("in/", ".csv"), ("in/", ".csv"), True),
        (("", ".csv"), ("", "eu.csv"), True),
        (("", ".csv"), ("", ".json"), False),
        (("in/a", ""), ("in/b", ""), False),
        (("In/", ""), ("in/", ""), False),
    ],
)
def test_filters_overlap(a: tuple[str, str], b: tuple[str, str], overlap: bool) -> None:
    forwards = s3_filters_overlap(prefix_a=a[0], suffix_a=a[1], prefix_b=b[0], suffix_b=b[1])
    backwards = s3_filters_overlap(prefix_a=b[0], suffix_a=b[1], prefix_b=a[0], suffix_b=a[1])
    assert forwards is overlap
    assert backwards is overlap  # the rule is symmetric


def test_bucket_status_and_create(moto_aws: None) -> None:
    assert s3_bucket_status(bucket="diep-raw") == "missing"
    s3_create_bucket(bucket="diep-raw", region="us-east-1")
    assert s3_bucket_status(bucket="diep-raw") == "exists"


def test_create_bucket_outside_us_east_1_names_its_region(moto_aws: None) -> None:
    s3_create_bucket(bucket="diep-eu", region="eu-west-1")
    location = get_client("s3").get_bucket_location(Bucket="diep-eu")["LocationConstraint"]
    assert location == "eu-west-1"


def test_someone_elses_bucket_is_forbidden(aws_settings: None) -> None:
    with Stubber(get_client("s3")) as stub:
        stub.add_client_error("head_bucket", "403", http_status_code=403)
        assert s3_bucket_status(bucket="not-ours") == "forbidden"


def test_public_access_block_and_encryption(moto_aws: None) -> None:
    s3_create_bucket(bucket="diep-raw", region="us-east-1")
    assert s3_get_public_access_block(bucket="diep-raw") is None
    get_client("s3").delete_bucket_encryption(Bucket="diep-raw")  # moto defaults to SSE-S3
    assert s3_get_default_encryption(bucket="diep-raw") == []

    s3_put_public_access_block(bucket="diep-raw", configuration=BLOCK)
    s3_put_default_encryption(bucket="diep-raw", algorithm="AES256")

    assert s3_get_public_access_block(bucket="diep-raw") == BLOCK
    assert s3_get_default_encryption(bucket="diep-raw") == ["AES256"]


def test_notifications_round_trip(moto_aws: None) -> None:
    assert s3_get_notifications(bucket="no-such-bucket") is None
    s3_create_bucket(bucket="diep-raw", region="us-east-1")
    queue_arn = get_client("sqs").get_queue_attributes(
        QueueUrl=get_client("sqs").create_queue(QueueName="ingest")["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    assert s3_get_notifications(bucket="diep-raw") == {}
    entry = {"Id": "diep-orders", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}

    s3_put_notifications(bucket="diep-raw", configuration={"QueueConfigurations": [entry]})

    assert s3_get_notifications(bucket="diep-raw") == {"QueueConfigurations": [entry]}


def test_object_etag(moto_aws: None) -> None:
    assert s3_object_etag(bucket="no-such-bucket", key="a") is None
    s3_create_bucket(bucket="diep-artifacts", region="us-east-1")
    assert s3_object_etag(bucket="diep-artifacts", key="glue/a.py") is None
    s3_put_bytes(bucket="diep-artifacts", key="glue/a.py", data=b"x", content_type="text/plain")
    assert s3_object_etag(bucket="diep-artifacts", key="glue/a.py") == (
        "9dd4e461268c8034f5c8564e155c67a6"  # MD5 of b"x"
    )
