"""SQS hooks for provisioning on moto in-process: a queue's attributes read, created, set."""

from __future__ import annotations

from diep_portal.aws.sqs import (
    sqs_create_queue,
    sqs_get_queue_attributes,
    sqs_queue_url,
    sqs_set_queue_attributes,
)


def test_missing_queue_has_no_attributes(moto_aws: None) -> None:
    assert sqs_get_queue_attributes(queue_name="no-such-queue") is None


def test_create_then_set_attributes(moto_aws: None) -> None:
    sqs_create_queue(
        queue_name="diep-ingest", attributes={"VisibilityTimeout": "120", "DelaySeconds": "5"}
    )
    created = sqs_get_queue_attributes(queue_name="diep-ingest")
    assert created is not None
    assert (created["VisibilityTimeout"], created["DelaySeconds"]) == ("120", "5")
    assert created["QueueArn"].endswith(":diep-ingest")

    sqs_set_queue_attributes(
        queue_url=sqs_queue_url(queue_name="diep-ingest"), attributes={"VisibilityTimeout": "60"}
    )

    updated = sqs_get_queue_attributes(queue_name="diep-ingest")
    assert updated is not None
    assert (updated["VisibilityTimeout"], updated["DelaySeconds"]) == ("60", "5")
