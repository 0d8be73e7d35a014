"""Hostile SQS bodies never stop the consumer: each is counted by reason and left for
the queue's redrive policy (the DLQ); good messages in the same batch still go through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diep_portal.aws.sqs import SqsMessage
from ingestion.consumer import process_batch
from ingestion.models import ConsumedMessageStat

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    json_values.map(json.dumps),
    st.builds(lambda v: json.dumps({"Records": v}), json_values),
    st.builds(lambda v: json.dumps({"Type": "Notification", "Message": v}), st.text(max_size=50)),
    st.just("[" * 50_000 + "]" * 50_000),
    st.just("x" * 300_000),
)


def message(body: str, n: int) -> SqsMessage:
    return SqsMessage(
        message_id=f"m{n}", receipt_handle=f"h{n}", body=body, receive_count=1, sent_at_ms=None
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(garbage=st.lists(bodies, min_size=1, max_size=5))
def test_garbage_is_counted_and_never_raises(garbage: list[str], make_job: Any) -> None:
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    batch = [message(body, n) for n, body in enumerate([*garbage, test_event])]
    deletable, report = process_batch(batch)
    assert "h" + str(len(garbage)) in deletable  # the good message still went through
    rejected = sum(v for k, v in report.counts.items() if k.startswith("rejected:"))
    assert rejected == report.left_for_redrive
    assert len(deletable) + report.left_for_redrive == len(batch)


def test_rejections_are_counted_by_reason(db: None) -> None:
    batch = [message("{", 0), message("x" * 300_000, 1), message('{"Hello": 1}', 2)]
    deletable, _ = process_batch(batch)
    assert deletable == []
    counts = dict(ConsumedMessageStat.objects.values_list("outcome", "count"))
    assert counts["rejected:not_json"] == 1
    assert counts["rejected:too_large"] == 1
    assert counts["rejected:unknown_shape"] == 1
    assert counts["received"] == 3


def test_garbage_ends_in_the_dlq_through_the_redrive_policy(
    aws: str, make_job: Any, settings: Any
) -> None:
    """On a real queue (moto server) with a redrive policy: every hostile body is received
    up to maxReceiveCount times, counted each time, then moved to the DLQ by SQS; the good
    message in between is recorded and deleted."""
    import time

    from diep_portal.aws.session import get_client
    from ingestion.consumer import Consumer

    sqs = get_client("sqs")
    dlq = sqs.create_queue(QueueName="garbage-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    queue = sqs.create_queue(
        QueueName="garbage",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 2}
            ),
        },
    )["QueueUrl"]
    hostile = ["{", "x" * 300_000, '{"Hello": 1}', "[" * 50_000 + "]" * 50_000, "\x00\x01"]
    for body in hostile:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}),
    )
    settings.DIEP_CONSUMER_VISIBILITY_SECONDS = 1  # the consumer asks for this on receive
    consumer = Consumer(queue_url=queue, wait_seconds=1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        consumer.run_once()
        moved = sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )
        if int(moved["Attributes"]["ApproximateNumberOfMessages"]) == len(hostile):
            break
        time.sleep(1.1)  # the visibility timeout, so SQS offers them again
    in_dlq = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(in_dlq["Attributes"]["ApproximateNumberOfMessages"]) == len(hostile)
    left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (
        left["ApproximateNumberOfMessages"] == left["ApproximateNumberOfMessagesNotVisible"] == "0"
    )
    counts = dict(ConsumedMessageStat.objects.values_list("outcome", "count"))
    assert counts["test_event"] == 1
    assert counts["rejected:not_json"] >= 2
    assert counts["rejected:too_large"] >= 1
    assert counts["rejected:unknown_shape"] >= 1
