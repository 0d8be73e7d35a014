"""Tests for the pure SQS message parser (no Django needed: run with -p no:django)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion import events as ev

R = ev.RejectReason


# --------------------------------------------------------------------------- fixtures


def s3_record(
    event_name: str = "ObjectCreated:Put",
    key: str = "my+file%2B%C3%A9.csv",
    bucket: str = "diep-landing",
    **obj_extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": key,
        "size": 1024,
        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
        "versionId": "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
        "sequencer": "0055AED6DCD90281E5",
    }
    if event_name.startswith("ObjectRemoved"):
        obj.pop("size")
        obj.pop("eTag")
    obj.update(obj_extra)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-1",
        "eventTime": "2026-11-29T03:00:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "diep-ingest",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_message(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2026-11-29T03:00:00.000Z",
    "Bucket": "diep-landing",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def sns_wrap(inner: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:diep-landing",
            "Subject": "Amazon S3 Notification",
            "Message": inner,
            "Timestamp": "2026-11-29T03:00:01.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/x.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def eb_s3(detail_type: str = "Object Created", key: str = "raw/a+b c.csv") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": key,
        "size": 5,
        "etag": '"b1946ac92492d2347c6235b4d2611184"',
        "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        "sequencer": "617f08299329d189",
    }
    if detail_type == "Object Deleted":
        obj = {"key": key, "version-id": "v1", "sequencer": "617f0837b476e463"}
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-29T03:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:s3:::diep-landing"],
        "detail": {
            "version": "0",
            "bucket": {"name": "diep-landing"},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject" if detail_type == "Object Created" else "DeleteObject",
        },
    }


def eb_glue(state: str = "FAILED") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "abcdef00-1234-5678-9abc-def012345678",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2026-11-29T03:05:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "jobName": "diep-etl",
            "severity": "ERROR",
            "state": state,
            "jobRunId": "jr_0123456789abcdef",
            "message": "Command failed with exit code 1",
        },
    }


def ok(body: str | bytes) -> list[ev.Event]:
    res = ev.parse_message(body)
    assert res.rejected is None, res.rejected
    return res.events


def rejected(body: str | bytes) -> ev.Rejected:
    res = ev.parse_message(body)
    assert res.events == []
    assert res.rejected is not None
    assert len(res.rejected.detail) <= 300
    return res.rejected


# --------------------------------------------------------------------------- accepted shapes


def test_s3_put_decodes_key() -> None:
    (e,) = ok(s3_message(s3_record()))
    assert e == ev.ObjectCreated(
        bucket="diep-landing",
        key="my file+é.csv",
        size=1024,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        version_id="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
        sequencer="0055AED6DCD90281E5",
        event_name="ObjectCreated:Put",
        event_time=datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
        source="s3",
    )
    assert e.event_time is not None
    assert e.event_time.utcoffset() is not None


def test_s3_multiple_records_multipart_copy_removed() -> None:
    events = ok(
        s3_message(
            s3_record("ObjectCreated:CompleteMultipartUpload", key="big.parquet"),
            s3_record("ObjectCreated:Copy", key="dir%2Fcopy.csv"),
            s3_record("ObjectCreated:Post", key="post.csv", eTag='"quoted"'),
            s3_record("ObjectRemoved:Delete", key="gone.csv"),
        )
    )
    assert [type(e) for e in events] == [
        ev.ObjectCreated,
        ev.ObjectCreated,
        ev.ObjectCreated,
        ev.ObjectRemoved,
    ]
    assert [getattr(e, "key", None) for e in events] == [
        "big.parquet",
        "dir/copy.csv",
        "post.csv",
        "gone.csv",
    ]
    assert getattr(events[0], "event_name", None) == "ObjectCreated:CompleteMultipartUpload"
    assert isinstance(events[2], ev.ObjectCreated)
    assert events[2].etag == "quoted"
    removed = events[3]
    assert isinstance(removed, ev.ObjectRemoved)
    assert removed.event_name == "ObjectRemoved:Delete"
    assert removed.version_id == "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"


def test_s3_removed_delete_marker() -> None:
    (e,) = ok(s3_message(s3_record("ObjectRemoved:DeleteMarkerCreated", key="x.csv")))
    assert isinstance(e, ev.ObjectRemoved)
    assert e.source == "s3"


def test_moto_record_without_sequencer_or_version() -> None:
    rec = s3_record(key="a+b%2Bc.csv")
    del rec["s3"]["object"]["sequencer"]
    del rec["s3"]["object"]["versionId"]
    (e,) = ok(s3_message(rec))
    assert isinstance(e, ev.ObjectCreated)
    assert (e.key, e.sequencer, e.version_id) == ("a b+c.csv", None, None)


def test_s3_other_event_names_are_skipped_not_rejected() -> None:
    events = ok(
        s3_message(
            s3_record("ObjectRestore:Completed"),
            s3_record("Replication:OperationFailedReplication"),
            s3_record("ObjectCreated:Put", key="kept.csv"),
        )
    )
    assert [e.key for e in events if isinstance(e, ev.ObjectCreated)] == ["kept.csv"]
    assert ok(s3_message(s3_record("ObjectRestore:Post"))) == []


def test_s3_event_version_2_0_accepted() -> None:
    rec = s3_record()
    rec["eventVersion"] = "2.0"
    assert len(ok(s3_message(rec))) == 1


def test_odd_percent_sequences_do_not_crash() -> None:
    (e,) = ok(s3_message(s3_record(key="100%25+%zz%+%C3.csv")))
    assert isinstance(e, ev.ObjectCreated)
    assert e.key.startswith("100% %zz% ")


def test_test_event() -> None:
    assert ok(json.dumps(TEST_EVENT)) == [ev.TestEvent(bucket="diep-landing")]


def test_sns_wrapped_s3() -> None:
    (e,) = ok(sns_wrap(s3_message(s3_record())))
    assert isinstance(e, ev.ObjectCreated)
    assert (e.key, e.source) == ("my file+é.csv", "sns")


def test_sns_wrapped_test_event() -> None:
    assert ok(sns_wrap(json.dumps(TEST_EVENT))) == [ev.TestEvent(bucket="diep-landing")]


def test_eventbridge_object_created_key_not_decoded() -> None:
    (e,) = ok(json.dumps(eb_s3()))
    assert e == ev.ObjectCreated(
        bucket="diep-landing",
        key="raw/a+b c.csv",
        size=5,
        etag="b1946ac92492d2347c6235b4d2611184",
        version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        sequencer="617f08299329d189",
        event_name="Object Created",
        event_time=datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
        source="eventbridge",
    )


def test_eventbridge_object_deleted() -> None:
    (e,) = ok(json.dumps(eb_s3("Object Deleted", key="x%2By.csv")))
    assert isinstance(e, ev.ObjectRemoved)
    assert (e.key, e.event_name, e.source) == ("x%2By.csv", "Object Deleted", "eventbridge")


def test_eventbridge_other_s3_detail_type_skipped() -> None:
    assert ok(json.dumps(eb_s3("Object Restore Completed"))) == []


def test_eventbridge_glue_failed() -> None:
    doc = eb_glue("FAILED")
    (e,) = ok(json.dumps(doc))
    assert isinstance(e, ev.GlueStateChange)
    assert (e.job_name, e.job_run_id, e.state) == ("diep-etl", "jr_0123456789abcdef", "FAILED")
    assert e.event == doc


def test_bytes_body_accepted() -> None:
    assert len(ok(s3_message(s3_record()).encode())) == 1


# --------------------------------------------------------------------------- rejections


def test_too_large() -> None:
    big = json.dumps({"Records": [], "pad": "x" * ev.MAX_BODY_BYTES})
    assert rejected(big).reason == R.TOO_LARGE
    assert rejected(big.encode()).reason == R.TOO_LARGE
    # multi-byte chars count as utf-8 bytes
    assert rejected("é" * (ev.MAX_BODY_BYTES // 2 + 1)).reason == R.TOO_LARGE


@pytest.mark.parametrize(
    "body",
    ["", "not json", "{", b"\xff\xfe{}", "[" * 100_000 + "]" * 100_000, "{'a': 1}"],
)
def test_not_json(body: str | bytes) -> None:
    assert rejected(body).reason == R.NOT_JSON


def test_deeply_nested_json_is_not_json() -> None:
    body = "[" * 100_000 + "]" * 100_000
    r = rejected(body)
    assert r.reason == R.NOT_JSON
    assert len(r.detail) <= 300


@pytest.mark.parametrize(
    "doc",
    [
        [],
        42,
        "string",
        None,
        {},
        {"hello": "world"},
        {"Type": "SubscriptionConfirmation", "Message": "x"},
        {**eb_glue(), "detail-type": "Glue Job Run Status"},
        {**eb_glue(), "source": "aws.ec2"},
    ],
)
def test_unknown_shape(doc: Any) -> None:
    assert rejected(json.dumps(doc)).reason == R.UNKNOWN_SHAPE


def test_nested_sns_rejected() -> None:
    assert rejected(sns_wrap(sns_wrap(s3_message(s3_record())))).reason == R.UNKNOWN_SHAPE


def test_sns_inner_not_json() -> None:
    assert rejected(sns_wrap("nope")).reason == R.NOT_JSON


def test_non_s3_event_source_rejected() -> None:
    rec = s3_record()
    rec["eventSource"] = "aws:sqs"
    assert rejected(s3_message(rec)).reason == R.UNKNOWN_SHAPE


def _without(path: list[str], rec: dict[str, Any] | None = None) -> dict[str, Any]:
    rec = copy.deepcopy(rec if rec is not None else s3_record())
    node = rec
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return rec


@pytest.mark.parametrize(
    "path",
    [
        ["s3", "bucket", "name"],
        ["s3", "bucket"],
        ["s3", "object", "key"],
        ["s3", "object"],
        ["s3"],
        ["eventName"],
        ["eventVersion"],
    ],
)
def test_s3_missing_field_rejects_whole_message(path: list[str]) -> None:
    body = s3_message(s3_record(key="fine.csv"), _without(path))
    assert rejected(body).reason == R.MISSING_FIELD


@pytest.mark.parametrize("field", ["jobRunId", "state", "jobName"])
def test_glue_missing_field(field: str) -> None:
    doc = eb_glue()
    del doc["detail"][field]
    assert rejected(json.dumps(doc)).reason == R.MISSING_FIELD


def test_eventbridge_s3_missing_key() -> None:
    doc = eb_s3()
    del doc["detail"]["object"]["key"]
    assert rejected(json.dumps(doc)).reason == R.MISSING_FIELD


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Records": "nope"}),
        json.dumps({"Records": {}}),
        json.dumps({"Records": []}),
        json.dumps({"Records": [42]}),
        s3_message(s3_record(size="12")),
        s3_message(s3_record(size=True)),
        s3_message(s3_record(size=-1)),
        s3_message(s3_record(size=1.5)),
        s3_message(s3_record(key=123)),  # type: ignore[arg-type]
        s3_message(s3_record(key="")),
        s3_message(s3_record(key="%C3%A9" * 600)),  # decodes to 1,200 utf-8 bytes
        s3_message(s3_record(eTag=5)),
        s3_message(s3_record(bucket="")),
        json.dumps({"Records": [{**s3_record(), "eventTime": "yesterday"}]}),
        json.dumps({"Records": [{**s3_record(), "s3": []}]}),
        sns_wrap(s3_message(s3_record(size="big"))),
        json.dumps({"Type": "Notification", "Message": {"Records": []}}),
        json.dumps({**TEST_EVENT, "Bucket": 7}),
        json.dumps({**eb_s3(), "detail": "x"}),
        json.dumps({**eb_glue(), "detail": {**eb_glue()["detail"], "state": 3}}),
    ],
)
def test_bad_field(body: str) -> None:
    assert rejected(body).reason == R.BAD_FIELD


def test_key_decoding_to_empty_is_bad_field() -> None:
    # unquote_plus never empties a non-empty key ("%" stays "%", "+" is " ").
    assert ok(s3_message(s3_record(key="+")))[0] == ok(s3_message(s3_record(key="%20")))[0]
    assert rejected(s3_message(s3_record(key=""))).reason == R.BAD_FIELD
    assert rejected(json.dumps(eb_s3(key=""))).reason == R.BAD_FIELD


def test_key_limit_is_1024_bytes() -> None:
    assert len(ok(s3_message(s3_record(key="a" * 1024)))) == 1
    assert rejected(s3_message(s3_record(key="a" * 1025))).reason == R.BAD_FIELD
    assert rejected(json.dumps(eb_s3(key="é" * 513))).reason == R.BAD_FIELD


@pytest.mark.parametrize("version", ["1.0", "3.0", "22.1", ""])
def test_unsupported_version(version: str) -> None:
    rec = s3_record()
    rec["eventVersion"] = version
    reason = rejected(s3_message(rec)).reason
    assert reason == (R.BAD_FIELD if version == "" else R.UNSUPPORTED_VERSION)


def test_eventbridge_unsupported_version() -> None:
    assert rejected(json.dumps({**eb_glue(), "version": "1"})).reason == R.UNSUPPORTED_VERSION


def test_detail_never_echoes_big_body() -> None:
    rec = s3_record(size="x" * 10_000)
    r = rejected(s3_message(rec))
    assert r.reason == R.BAD_FIELD
    assert len(r.detail) <= 300


# --------------------------------------------------------------------------- properties


def _check(res: ev.ParseResult) -> None:
    assert isinstance(res, ev.ParseResult)
    assert isinstance(res.events, list)
    if res.rejected is not None:
        assert res.events == []
        assert isinstance(res.rejected.reason, ev.RejectReason)
        assert len(res.rejected.detail) <= 300
    for e in res.events:
        assert isinstance(
            e, ev.ObjectCreated | ev.ObjectRemoved | ev.GlueStateChange | ev.TestEvent
        )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["Records", "aws:s3", "2.1", "ObjectCreated:Put", "s3:TestEvent"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Records",
                    "eventVersion",
                    "eventSource",
                    "eventName",
                    "eventTime",
                    "s3",
                    "bucket",
                    "object",
                    "name",
                    "key",
                    "size",
                    "eTag",
                    "Type",
                    "Message",
                    "Event",
                    "Bucket",
                    "detail-type",
                    "source",
                    "detail",
                    "jobName",
                    "jobRunId",
                    "state",
                    "time",
                    "version",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300)
@given(st.text())
def test_never_raises_on_text(body: str) -> None:
    _check(ev.parse_message(body))


@settings(max_examples=300)
@given(st.binary())
def test_never_raises_on_bytes(body: bytes) -> None:
    _check(ev.parse_message(body))


@settings(max_examples=500)
@given(json_values)
def test_never_raises_on_json_values(value: Any) -> None:
    body = json.dumps(value)
    _check(ev.parse_message(body))
    _check(ev.parse_message(sns_wrap(body)))


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=200))
def test_s3_key_roundtrip(key: str) -> None:
    from urllib.parse import quote_plus

    try:
        encoded_len = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return
    res = ev.parse_message(s3_message(s3_record(key=quote_plus(key))))
    if "\x00" in key:  # S3 keys cannot hold one; the ledger could not store it
        assert res.rejected is not None
        assert res.rejected.detail.endswith("key holds a NUL character")
    elif encoded_len <= ev.MAX_KEY_BYTES:
        assert [e.key for e in res.events if isinstance(e, ev.ObjectCreated)] == [key]
