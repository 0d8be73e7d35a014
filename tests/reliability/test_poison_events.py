"""Poison S3 events among good ones, on a real queue with a redrive policy (moto server):
the consumer records every good file, counts each poison once, lives throughout, and a
redrive of the poison from the DLQ sends it back there and harms nothing."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from diep_portal.aws.session import get_client
from ingestion.consumer import Consumer
from ingestion.dlq import dlq_redrive_all
from ingestion.models import ConsumedMessageStat, IngestedFile

pytestmark = pytest.mark.django_db(transaction=True)


def record(key: str, **object_fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-29T03:00:00.000Z",
        "s3": {
            "bucket": {"name": object_fields.pop("bucket", "diep-raw")},
            "object": {"key": key, "size": 10, "eTag": f"e-{key}", **object_fields},
        },
    }


POISON = [
    record("in/nul%00.csv"),  # a NUL, URL-encoded as S3 sends keys
    record("in/p1.csv", sequencer="\ud800"),  # a lone surrogate (JSON escapes it)
    record("in/p2.csv", size=2**63),
    record("in/p3.csv", bucket="b" * 70),
    record("in/p4.csv", eTag="e" * 200),
]


def depth(url: str) -> int:
    attributes = get_client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def rejections() -> int:
    return sum(
        ConsumedMessageStat.objects.filter(outcome__startswith="rejected:").values_list(
            "count", flat=True
        )
    )


def wait_for(condition: Any, consumer: threading.Thread, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert consumer.is_alive(), "the consumer stopped"
        assert time.monotonic() < deadline, (
            f"timed out: {IngestedFile.objects.count()} files, {rejections()} rejections"
        )
        time.sleep(0.5)


def test_poison_among_200_good_events_harms_nothing(
    aws: str, make_job: Any, no_enqueue: Any, settings: Any
) -> None:
    sqs = get_client("sqs")
    dlq = sqs.create_queue(QueueName=settings.DIEP_INGEST_DLQ)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    queue = sqs.create_queue(
        QueueName=settings.DIEP_INGEST_QUEUE,
        Attributes={
            "VisibilityTimeout": "4",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": 2}
            ),
        },
    )["QueueUrl"]
    make_job(trigger={"bucket": "diep-raw", "prefix": "in/", "window_seconds": 600})
    bodies = [json.dumps({"Records": [record(f"in/good-{n}.csv")]}) for n in range(200)]
    for index, poison in enumerate(POISON):  # interleaved, so batches mix them
        bodies.insert(40 * index + 20, json.dumps({"Records": [poison]}))
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(n), "MessageBody": body}
                for n, body in enumerate(bodies[start : start + 10])
            ],
        )
    settings.DIEP_CONSUMER_VISIBILITY_SECONDS = 4  # poison returns quickly
    consumer = Consumer(queue_url=queue, wait_seconds=1)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: depth(dlq) == len(POISON), thread)
        assert IngestedFile.objects.count() == 200
        assert set(IngestedFile.objects.values_list("key", flat=True)) == {
            f"in/good-{n}.csv" for n in range(200)
        }
        assert rejections() == len(POISON)  # once each, though each was received twice

        moved = dlq_redrive_all(user=None)  # "Redrive all" puts the poison back
        assert moved == f"moved {len(POISON)} message(s)"
        wait_for(lambda: rejections() == 2 * len(POISON) and depth(dlq) == len(POISON), thread)
        assert IngestedFile.objects.count() == 200
        assert thread.is_alive()
    finally:
        consumer.stop()
        thread.join(30)
    assert depth(queue) == 0
