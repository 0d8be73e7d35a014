"""Pure parser: one SQS message body -> typed ingestion events.

No Django, stdlib only. :func:`parse_message` never raises.

Accepted shapes
---------------
1. S3 notification ``{"Records": [...]}`` (eventVersion 2.x, eventSource ``aws:s3``).
   ``ObjectCreated:*`` -> :class:`ObjectCreated`, ``ObjectRemoved:*`` -> :class:`ObjectRemoved`.
   Any other eventName (``ObjectRestore:*``, ``Replication:*``, ``LifecycleExpiration:*`` ...)
   is *skipped silently*: the message is not rejected, it simply yields no event for that
   record. So ``ParseResult(events=[], rejected=None)`` is a valid "nothing to do" outcome.
   Keys are URL-encoded with quote_plus rules and are decoded with ``unquote_plus``.
   Validation is strict: one bad record rejects the whole message.
2. ``{"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": ...}`` -> :class:`TestEvent`.
3. SNS envelope ``{"Type": "Notification", "Message": "<json of 1 or 2>"}``; S3 records get
   ``source="sns"``. Anything else inside (SNS in SNS, EventBridge) -> UNKNOWN_SHAPE.
4. EventBridge S3 ``Object Created`` / ``Object Deleted`` (keys are NOT encoded). Other
   ``aws.s3`` detail-types are skipped silently, like non-create/remove S3 records.
5. EventBridge ``Glue Job State Change`` -> :class:`GlueStateChange`.

Everything else -> ``Rejected(UNKNOWN_SHAPE)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import unquote_plus

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_KEY_BYTES",
    "Event",
    "GlueStateChange",
    "ObjectCreated",
    "ObjectRemoved",
    "ParseResult",
    "RejectReason",
    "Rejected",
    "TestEvent",
    "parse_message",
]

MAX_BODY_BYTES = 256 * 1024
MAX_KEY_BYTES = 1024
_MAX_DETAIL = 300
# What the file ledger can store: longer texts, sizes beyond a signed 64-bit integer, NULs
# and lone surrogates are refused here, so a record either parses or is a counted
# rejection, never a database error that fails its whole batch.
MAX_SIZE = 2**63 - 1
_MAX_TEXT = 1024
_LIMITS = {"name": 63, "eTag": 128, "etag": 128, "sequencer": 64, "eventName": 64}

Source = Literal["s3", "sns", "eventbridge"]


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None
    event_name: str
    event_time: datetime | None
    source: Source


@dataclass(frozen=True)
class ObjectRemoved:
    bucket: str
    key: str
    version_id: str | None
    sequencer: str | None
    event_name: str
    event_time: datetime | None
    source: Source


@dataclass(frozen=True)
class GlueStateChange:
    event: dict[str, Any]
    job_name: str
    job_run_id: str
    state: str


@dataclass(frozen=True)
class TestEvent:
    __test__ = False  # not a pytest test class

    bucket: str | None


class RejectReason(StrEnum):
    NOT_JSON = "not_json"
    TOO_LARGE = "too_large"
    UNKNOWN_SHAPE = "unknown_shape"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    UNSUPPORTED_VERSION = "unsupported_version"


@dataclass(frozen=True)
class Rejected:
    reason: RejectReason
    detail: str


Event = ObjectCreated | ObjectRemoved | GlueStateChange | TestEvent


@dataclass(frozen=True)
class ParseResult:
    events: list[Event]
    rejected: Rejected | None


class _Reject(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _short(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - repr of JSON values should not fail; be safe
        text = "<unrepresentable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reject(reason: RejectReason, detail: str) -> ParseResult:
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 3] + "..."
    return ParseResult(events=[], rejected=Rejected(reason=reason, detail=detail))


# --------------------------------------------------------------------------- field helpers


def _get(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj or obj[name] is None:
        raise _Reject(RejectReason.MISSING_FIELD, f"{where}.{name} is missing")
    return obj[name]


def _dict(obj: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = _get(obj, name, where)
    if not isinstance(value, dict):
        raise _Reject(RejectReason.BAD_FIELD, f"{where}.{name} is not an object")
    return value


def _str(obj: dict[str, Any], name: str, where: str) -> str:
    value = _get(obj, name, where)
    if not isinstance(value, str):
        raise _Reject(RejectReason.BAD_FIELD, f"{where}.{name} is not a string: {_short(value)}")
    if not value:
        raise _Reject(RejectReason.BAD_FIELD, f"{where}.{name} is empty")
    return _storable(value, f"{where}.{name}", _LIMITS.get(name, _MAX_TEXT))


def _opt_str(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Reject(RejectReason.BAD_FIELD, f"{where}.{name} is not a string: {_short(value)}")
    return _storable(value, f"{where}.{name}", _LIMITS.get(name, _MAX_TEXT))


def _storable(value: str, where: str, limit: int) -> str:
    if "\x00" in value:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} holds a lone surrogate") from None
    if len(value) > limit:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} is {len(value)} characters (> {limit})")
    return value


def _opt_size(obj: dict[str, Any], name: str, where: str) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        raise _Reject(
            RejectReason.BAD_FIELD,
            f"{where}.{name} is not an integer from 0 to 2^63-1: {_short(value)}",
        )
    return value


def _opt_etag(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = _opt_str(obj, name, where)
    if value is None:
        return None
    return value.strip('"') or None


def _opt_time(obj: dict[str, Any], name: str, where: str) -> datetime | None:
    value = _opt_str(obj, name, where)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(
            RejectReason.BAD_FIELD, f"{where}.{name} is not an ISO-8601 time: {_short(value)}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _Reject(RejectReason.BAD_FIELD, f"{where}.{name} is out of range") from None


def _check_key(key: str, where: str) -> str:
    """The decoded key (a %00 or %ED%A0%80 decodes to what the raw text could not hold)."""
    if not key:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} key is empty")
    if "\x00" in key:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} key holds a NUL character")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} key is not valid unicode") from None
    if size > MAX_KEY_BYTES:
        raise _Reject(RejectReason.BAD_FIELD, f"{where} key is {size} bytes (> {MAX_KEY_BYTES})")
    return key


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _Reject(RejectReason.NOT_JSON, f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, int too long, ...
        raise _Reject(RejectReason.NOT_JSON, f"{what} is not JSON: {exc}") from None


# --------------------------------------------------------------------------- shapes


def _is_test_event(doc: dict[str, Any]) -> bool:
    return doc.get("Event") == "s3:TestEvent"


def _test_event(doc: dict[str, Any]) -> TestEvent:
    return TestEvent(bucket=_opt_str(doc, "Bucket", "TestEvent"))


def _s3_record(record: Any, index: int, source: Source) -> Event | None:
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise _Reject(RejectReason.BAD_FIELD, f"{where} is not an object")
    version = _str(record, "eventVersion", where)
    if version.split(".", 1)[0] != "2":
        raise _Reject(
            RejectReason.UNSUPPORTED_VERSION, f"{where}.eventVersion {_short(version)} is not 2.x"
        )
    event_source = _str(record, "eventSource", where)
    if event_source != "aws:s3":
        raise _Reject(RejectReason.UNKNOWN_SHAPE, f"{where}.eventSource is {_short(event_source)}")
    event_name = _str(record, "eventName", where)
    s3 = _dict(record, "s3", where)
    bucket = _str(_dict(s3, "bucket", f"{where}.s3"), "name", f"{where}.s3.bucket")
    obj = _dict(s3, "object", f"{where}.s3")
    ow = f"{where}.s3.object"
    key = _check_key(unquote_plus(_str(obj, "key", ow)), ow)
    version_id = _opt_str(obj, "versionId", ow)
    sequencer = _opt_str(obj, "sequencer", ow)
    event_time = _opt_time(record, "eventTime", where)
    if event_name.startswith("ObjectCreated:"):
        return ObjectCreated(
            bucket=bucket,
            key=key,
            size=_opt_size(obj, "size", ow),
            etag=_opt_etag(obj, "eTag", ow),
            version_id=version_id,
            sequencer=sequencer,
            event_name=event_name,
            event_time=event_time,
            source=source,
        )
    if event_name.startswith("ObjectRemoved:"):
        return ObjectRemoved(
            bucket=bucket,
            key=key,
            version_id=version_id,
            sequencer=sequencer,
            event_name=event_name,
            event_time=event_time,
            source=source,
        )
    return None  # ObjectRestore:*, Replication:*, ... skipped on purpose


def _s3_records(doc: dict[str, Any], source: Source) -> list[Event]:
    records = doc["Records"]
    if not isinstance(records, list):
        raise _Reject(RejectReason.BAD_FIELD, "Records is not a list")
    if not records:
        raise _Reject(RejectReason.BAD_FIELD, "Records is empty")
    events: list[Event] = []
    for index, record in enumerate(records):
        event = _s3_record(record, index, source)
        if event is not None:
            events.append(event)
    return events


def _sns(doc: dict[str, Any]) -> list[Event]:
    message = _get(doc, "Message", "SNS")
    if not isinstance(message, str):
        raise _Reject(RejectReason.BAD_FIELD, "SNS.Message is not a string")
    inner = _loads(message, "SNS.Message")
    if not isinstance(inner, dict):
        raise _Reject(RejectReason.UNKNOWN_SHAPE, "SNS.Message is not a JSON object")
    if "Records" in inner:
        return _s3_records(inner, "sns")
    if _is_test_event(inner):
        return [_test_event(inner)]
    raise _Reject(RejectReason.UNKNOWN_SHAPE, "SNS.Message is neither S3 records nor a test event")


def _eventbridge(doc: dict[str, Any]) -> list[Event]:
    version = doc.get("version")
    if version is not None and version != "0":
        raise _Reject(
            RejectReason.UNSUPPORTED_VERSION, f"EventBridge version {_short(version)} is not '0'"
        )
    detail_type = _str(doc, "detail-type", "EventBridge")
    source = _str(doc, "source", "EventBridge")
    if source == "aws.s3":
        return _eventbridge_s3(doc, detail_type)
    if source == "aws.glue" and detail_type == "Glue Job State Change":
        detail = _dict(doc, "detail", "EventBridge")
        return [
            GlueStateChange(
                event=doc,
                job_name=_str(detail, "jobName", "detail"),
                job_run_id=_str(detail, "jobRunId", "detail"),
                state=_str(detail, "state", "detail"),
            )
        ]
    raise _Reject(
        RejectReason.UNKNOWN_SHAPE,
        f"EventBridge source {_short(source)} detail-type {_short(detail_type)} not handled",
    )


def _eventbridge_s3(doc: dict[str, Any], detail_type: str) -> list[Event]:
    if detail_type not in ("Object Created", "Object Deleted"):
        return []  # Object Restore *, Object Tags *, ... skipped on purpose
    detail = _dict(doc, "detail", "EventBridge")
    bucket = _str(_dict(detail, "bucket", "detail"), "name", "detail.bucket")
    obj = _dict(detail, "object", "detail")
    key = _check_key(_str(obj, "key", "detail.object"), "detail.object")  # NOT encoded
    version_id = _opt_str(obj, "version-id", "detail.object")
    sequencer = _opt_str(obj, "sequencer", "detail.object")
    event_time = _opt_time(doc, "time", "EventBridge")
    if detail_type == "Object Created":
        return [
            ObjectCreated(
                bucket=bucket,
                key=key,
                size=_opt_size(obj, "size", "detail.object"),
                etag=_opt_etag(obj, "etag", "detail.object"),
                version_id=version_id,
                sequencer=sequencer,
                event_name=detail_type,
                event_time=event_time,
                source="eventbridge",
            )
        ]
    return [
        ObjectRemoved(
            bucket=bucket,
            key=key,
            version_id=version_id,
            sequencer=sequencer,
            event_name=detail_type,
            event_time=event_time,
            source="eventbridge",
        )
    ]


def _parse(body: str | bytes) -> list[Event]:
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_BODY_BYTES:
            raise _Reject(RejectReason.TOO_LARGE, f"body is {len(raw)} bytes (> {MAX_BODY_BYTES})")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(RejectReason.NOT_JSON, "body is not valid UTF-8") from None
    elif isinstance(body, str):
        # Cheap bound first (<= 4 bytes per char), exact count only when needed.
        if len(body) * 4 > MAX_BODY_BYTES:
            size = len(body.encode("utf-8", "surrogatepass"))
            if size > MAX_BODY_BYTES:
                raise _Reject(RejectReason.TOO_LARGE, f"body is {size} bytes (> {MAX_BODY_BYTES})")
        text = body
    else:
        raise _Reject(RejectReason.NOT_JSON, f"body is a {type(body).__name__}, not str/bytes")

    doc = _loads(text, "body")
    if not isinstance(doc, dict):
        raise _Reject(RejectReason.UNKNOWN_SHAPE, f"body is a JSON {type(doc).__name__}")
    if "Records" in doc:
        return _s3_records(doc, "s3")
    if _is_test_event(doc):
        return [_test_event(doc)]
    if doc.get("Type") == "Notification" and "Message" in doc:
        return _sns(doc)
    if "detail-type" in doc and "source" in doc:
        return _eventbridge(doc)
    raise _Reject(
        RejectReason.UNKNOWN_SHAPE, f"unrecognised message, keys {_short(sorted(doc)[:8])}"
    )


def parse_message(body: str | bytes) -> ParseResult:
    """Parse one SQS message body. Never raises.

    Returns events (possibly empty when every record is a skipped kind) and ``rejected=None``,
    or no events and a :class:`Rejected` explaining why the whole message was refused.
    """
    try:
        events = _parse(body)
    except _Reject as exc:
        return _reject(exc.reason, exc.detail)
    except RecursionError:
        return _reject(RejectReason.NOT_JSON, "body is nested too deeply")
    except Exception as exc:  # noqa: BLE001 - contract: never raise on any input
        return _reject(RejectReason.BAD_FIELD, f"unexpected {type(exc).__name__} while parsing")
    return ParseResult(events=events, rejected=None)
