"""Hostile SQS bodies never stop the consumer: each is counted by reason (once per message,
however often SQS offers it again) and left for the queue's redrive policy (the DLQ);
good messages in the same batch still go through. That holds for garbage and for valid
S3, SNS-wrapped and EventBridge records carrying a hostile value in any field, and for a
value the database refuses although the parser let it through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diep_portal.aws.sqs import SqsMessage
from ingestion import events
from ingestion.consumer import process_batch
from ingestion.models import ConsumedMessageStat, IngestedFile
from tests.ingestion.test_events import eb_s3, s3_message, s3_record, sns_wrap

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


def message(body: str, n: int, receive_count: int = 1) -> SqsMessage:
    return SqsMessage(
        message_id=f"m{n}",
        receipt_handle=f"h{n}",
        body=body,
        receive_count=receive_count,
        sent_at_ms=None,
    )


# Values no field should hold: NULs, lone surrogates, numbers past 64 bits, texts past
# every column, wrong types; and, for keys, their URL-encoded spellings.
hostile_values: st.SearchStrategy[Any] = st.one_of(
    st.text(min_size=1, max_size=5).map(lambda text: f"a\x00{text}"),
    st.integers(0xD800, 0xDFFF).map(lambda point: f"x{chr(point)}y"),
    st.integers(min_value=2**63 - 2, max_value=2**70) | st.integers(max_value=-1),
    st.text(min_size=1100, max_size=1200),
    st.sampled_from(["", "%00", "%ED%A0%80", None, True, 1.5, [], {}, "\ud800"]),
)
S3_FIELDS = (
    ("eventVersion",),
    ("eventSource",),
    ("eventName",),
    ("eventTime",),
    ("s3", "bucket", "name"),
    ("s3", "object", "key"),
    ("s3", "object", "size"),
    ("s3", "object", "eTag"),
    ("s3", "object", "versionId"),
    ("s3", "object", "sequencer"),
)
EVENTBRIDGE_FIELDS = (
    ("version",),
    ("detail-type",),
    ("source",),
    ("time",),
    ("detail", "bucket", "name"),
    ("detail", "object", "key"),
    ("detail", "object", "size"),
    ("detail", "object", "etag"),
    ("detail", "object", "version-id"),
    ("detail", "object", "sequencer"),
)


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value
    return document


@st.composite
def poisoned(draw: Any, n: int) -> str:
    """A valid S3, SNS-wrapped or EventBridge record for the test job's trigger, with a
    hostile value in one or more of its fields."""
    shape = draw(st.sampled_from(["s3", "sns", "eventbridge"]))
    key = f"orders/poison-{n}.csv"
    if shape == "eventbridge":
        document, fields = eb_s3(key=key), EVENTBRIDGE_FIELDS
        document["detail"]["bucket"]["name"] = "diep-raw"
    else:
        document, fields = s3_record(key=key, bucket="diep-raw"), S3_FIELDS
    for path in draw(st.sets(st.sampled_from(fields), min_size=1, max_size=3)):
        _set(document, path, draw(hostile_values))
    if shape == "eventbridge":
        return json.dumps(document)
    body = s3_message(document)
    return sns_wrap(body) if shape == "sns" else body


@pytest.fixture
def triggered(make_job: Any, artifacts: str) -> Any:
    """A job triggered by CSV files under s3://diep-raw/orders/ (a claimed size past its
    max_bytes closes its window at once: the manifest goes to the artifacts bucket)."""
    return make_job(engine="local", glue_job_name="", schedule="")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_values_in_valid_records_never_harm_the_batch(data: Any, triggered: Any) -> None:
    IngestedFile.objects.all().delete()  # the examples share the test's transaction
    poison = [data.draw(poisoned(n), label=f"poison {n}") for n in range(3)]
    good = [s3_message(s3_record(key=f"orders/good-{n}.csv", bucket="diep-raw")) for n in range(3)]
    batch = [message(body, n) for n, body in enumerate([good[0], *poison, good[1], good[2]])]
    deletable, report = process_batch(batch)
    assert {"h0", "h4", "h5"} <= set(deletable)  # every good message went through
    recorded = set(IngestedFile.objects.values_list("key", flat=True))
    assert {f"orders/good-{n}.csv" for n in range(3)} <= recorded
    assert len(deletable) + report.left_for_redrive == len(batch)
    rejected = sum(v for k, v in report.counts.items() if k.startswith("rejected:"))
    assert rejected == report.left_for_redrive


def test_a_value_the_database_refuses_is_a_rejection_of_its_message_alone(
    triggered: Any, monkeypatch: Any
) -> None:
    # As if the parser's check on sequencers (the ledger's 64 characters) had been forgotten.
    monkeypatch.setitem(events._LIMITS, "sequencer", 1024)
    good = [s3_message(s3_record(key=f"orders/{n}.csv", bucket="diep-raw")) for n in range(3)]
    poison = s3_message(s3_record(key="orders/p.csv", bucket="diep-raw", sequencer="9" * 100))
    deletable, report = process_batch(
        [message(good[0], 0), message(poison, 1), message(good[1], 2), message(good[2], 3)]
    )
    assert deletable == ["h0", "h2", "h3"]
    assert report.counts["rejected:bad_field"] == 1
    assert report.counts["routed"] == 3
    assert sorted(IngestedFile.objects.values_list("key", flat=True)) == [
        "orders/0.csv",
        "orders/1.csv",
        "orders/2.csv",
    ]
    counts = dict(ConsumedMessageStat.objects.values_list("outcome", "count"))
    assert (counts["routed"], counts["rejected:bad_field"], counts["received"]) == (3, 1, 4)


def test_a_rejection_is_counted_once_however_often_it_comes_back(db: None) -> None:
    for receive in (1, 2, 3):
        process_batch([message("{", 0, receive_count=receive)])
    counts = dict(ConsumedMessageStat.objects.values_list("outcome", "count"))
    assert counts["rejected:not_json"] == 1
    assert counts["received"] == 3  # receives are receives


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
    up to maxReceiveCount times, counted once, then moved to the DLQ by SQS; the good
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
    assert counts["rejected:not_json"] == 3
    assert counts["rejected:too_large"] == 1
    assert counts["rejected:unknown_shape"] == 1
