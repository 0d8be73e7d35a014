"""The transform spec applied to one record batch at a time, with pyarrow compute.

Order: select, rename, cast, constants, metadata, filter (dedupe needs every row and
runs on the whole result; see etl.run). A value a cast cannot convert rejects
its row, which is counted and sampled rather than failing the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import EtlError

MAX_REJECT_SAMPLES = 20

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_TRUE, _FALSE = ["true", "t", "yes", "y", "1"], ["false", "f", "no", "n", "0"]


@dataclass
class Rejections:
    """Rows a cast refused: counted, with a few samples for the run's report."""

    rows: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)

    def add(self, column: str, values: pa.Array, kind: str) -> None:
        self.rows += len(values)
        for value in values.to_pylist()[: MAX_REJECT_SAMPLES - len(self.samples)]:
            self.samples.append({"column": column, "value": str(value)[:200], "expected": kind})


@dataclass(frozen=True)
class RunContext:
    run_id: str
    ingested_at: datetime


class Transform:
    """A validated transform spec (etl.spec.validate_transform), compiled once."""

    def __init__(self, spec: Mapping[str, Any], context: RunContext) -> None:
        self.spec, self.context = spec, context
        self.rename: dict[str, str] = dict(spec.get("rename") or {})
        self.cast: dict[str, Any] = dict(spec.get("cast") or {})
        self.predicate = _compile(spec["filter"]) if spec.get("filter") else None
        self.rejections = Rejections()

    def input_text_columns(self) -> set[str]:
        """Source columns the cast types itself: readers hand them over as text."""
        original = {new: old for old, new in self.rename.items()}
        return {original.get(column, column) for column in self.cast}

    def apply(self, batch: pa.RecordBatch, source_file: str) -> pa.RecordBatch:
        if select := self.spec.get("select"):
            batch = batch.select([_require(batch, name, "select") for name in select])
        if self.rename:
            for old in self.rename:
                _require(batch, old, "rename")
            batch = batch.rename_columns([self.rename.get(n, n) for n in batch.schema.names])
        for column, kind in self.cast.items():
            batch = self._cast(batch, column, kind)
        for column, value in (self.spec.get("constants") or {}).items():
            batch = _append(batch, column, pa.scalar(value), len(batch))
        for column in self.spec.get("metadata") or []:
            batch = _append(batch, column, self._metadata(column, source_file), len(batch))
        if self.predicate is not None and len(batch):
            try:
                mask = self.predicate(batch)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise EtlError(f"The filter cannot be evaluated on this data: {exc}") from exc
            batch = batch.filter(mask, null_selection_behavior="drop")
        return batch

    def _metadata(self, column: str, source_file: str) -> pa.Scalar:
        if column == "ingested_at":
            return pa.scalar(self.context.ingested_at, pa.timestamp("us", tz="UTC"))
        if column == "source_file":
            return pa.scalar(source_file)
        return pa.scalar(self.context.run_id)

    def _cast(self, batch: pa.RecordBatch, column: str, kind: Any) -> pa.RecordBatch:
        index = batch.schema.get_field_index(_require(batch, column, "cast"))
        converted, bad = cast_values(batch.column(index), kind)
        if bad is not None:
            self.rejections.add(column, batch.column(index).filter(bad), _describe(kind))
            keep = pc.invert(bad)
            batch, converted = batch.filter(keep), converted.filter(keep)
        return batch.set_column(index, column, converted)


def _require(batch: pa.RecordBatch, name: str, where: str) -> str:
    if batch.schema.get_field_index(name) < 0:
        columns = ", ".join(batch.schema.names)
        raise EtlError(f"{where}: column {name!r} is not in the data (columns: {columns}).")
    return name


def _append(batch: pa.RecordBatch, name: str, value: pa.Scalar, length: int) -> pa.RecordBatch:
    if batch.schema.get_field_index(name) >= 0:
        raise EtlError(f"Column {name!r} already exists in the data; choose another name.")
    return batch.append_column(name, pa.repeat(value, length))


def _describe(kind: Any) -> str:
    if isinstance(kind, str):
        return kind
    if kind["type"] == "decimal":
        return f"decimal({kind['precision']},{kind['scale']})"
    return f"{kind['type']} ({kind['format']})"


# ---------------------------------------------------------------------------------------
# Casting


def cast_values(values: pa.Array, kind: Any) -> tuple[pa.Array, pa.Array | None]:
    """Convert `values` to the spec type `kind`; the converted array (nulls where a value
    was refused) and a mask of refused rows (None when every value converted). Nulls stay
    null and are never refused."""
    name = kind if isinstance(kind, str) else kind["type"]
    if name == "string":
        return pc.cast(values, pa.string()), None
    text = (
        values if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) else None
    )
    if name in ("date", "timestamp") and isinstance(kind, dict):
        return _strptime(_as_text(values), kind["format"], name)
    if name == "decimal":
        return _decimal(_as_text(values), kind["precision"], kind["scale"])
    target = _TARGETS[name]
    source = pc.utf8_trim_whitespace(text) if text is not None else values
    if name == "bool" and text is not None:
        return _bool(source)
    if name == "timestamp" and text is not None and not _has_offset(source):
        # Times without an offset are UTC. Decided on the first value because a failed
        # cast is expensive (tens of ms a batch), then checked by the cast itself.
        target = pa.timestamp("us")
    try:
        converted = pc.cast(source, target, safe=True)
        return pc.cast(converted, _TARGETS[name]), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some values do not convert: find them, keep the rest
    return _per_value(_as_text(values), name)


_OFFSET = re.compile(r"(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)


def _has_offset(text: pa.Array) -> bool:
    valid = pc.drop_null(text)
    return bool(len(valid)) and bool(_OFFSET.search(valid[0].as_py()))


_TARGETS: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _as_text(values: pa.Array) -> pa.Array:
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _refused(original: pa.Array, converted: pa.Array) -> pa.Array | None:
    bad = pc.and_(pc.is_valid(original), pc.is_null(converted))
    return bad if pc.any(bad).as_py() else None


def _bool(text: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    lowered = pc.utf8_lower(text)
    is_true = pc.is_in(lowered, value_set=pa.array(_TRUE))
    is_false = pc.is_in(lowered, value_set=pa.array(_FALSE))
    converted = pc.if_else(is_true, True, pc.if_else(is_false, False, None))
    return converted, _refused(text, converted)


def _strptime(text: pa.Array, fmt: str, name: str) -> tuple[pa.Array, pa.Array | None]:
    parsed = pc.strptime(pc.utf8_trim_whitespace(text), format=fmt, unit="us", error_is_null=True)
    converted = (
        pc.cast(parsed, pa.date32()) if name == "date" else pc.assume_timezone(parsed, "UTC")
    )
    return converted, _refused(text, converted)


def _decimal(text: pa.Array, precision: int, scale: int) -> tuple[pa.Array, pa.Array | None]:
    quantum, limit = Decimal(1).scaleb(-scale), Decimal(10) ** (precision - scale)
    values: list[Decimal | None] = []
    for raw in text.to_pylist():
        try:
            # Half up, as people round money; Decimal's default (half even) surprises them.
            number = (
                Decimal(raw.strip()).quantize(quantum, ROUND_HALF_UP) if raw is not None else None
            )
        except (InvalidOperation, ValueError):
            number = None
        values.append(number if number is None or abs(number) < limit else None)
    converted = pa.array(values, pa.decimal128(precision, scale))
    return converted, _refused(text, converted)


def _per_value(text: pa.Array, name: str) -> tuple[pa.Array, pa.Array | None]:
    """The slow path, for a batch where the vectorised cast refused some value."""
    parse = _PARSERS[name]
    values = []
    for raw in text.to_pylist():
        try:
            values.append(parse(raw.strip()) if raw is not None else None)
        except (ValueError, OverflowError):
            values.append(None)
    converted = pa.array(values, _TARGETS[name])
    return converted, _refused(text, converted)


def _int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise OverflowError(text)
    return value


def _float(text: str) -> float:
    if not re.match(_FLOAT, text):
        raise ValueError(text)
    return float(text)


def _timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _date(text: str) -> date:
    return date.fromisoformat(text)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "int": _int,
    "float": _float,
    "date": _date,
    "timestamp": _timestamp,
}


# ---------------------------------------------------------------------------------------
# Filters

Evaluator = Callable[[pa.RecordBatch], Any]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _compile(node: Any) -> Evaluator:
    """An evaluator for a validated filter tree. Validation bounded its depth (32), so
    this recursion is safe."""
    if isinstance(node, dict) and "col" in node and "op" not in node:
        name = node["col"]
        return lambda batch: batch.column(_require(batch, name, "filter"))
    if not isinstance(node, dict):
        return lambda batch: node
    op, args = node["op"], node["args"]
    if op in _COMPARE:
        return _comparison(_COMPARE[op], _compile(args[0]), _compile(args[1]))
    if op in ("and", "or"):
        combine = pc.and_kleene if op == "and" else pc.or_kleene
        parts = [_compile(arg) for arg in args]

        def boolean(batch: pa.RecordBatch) -> Any:
            result = parts[0](batch)
            for part in parts[1:]:
                result = combine(result, part(batch))
            return result

        return boolean
    first = _compile(args[0])
    if op == "not":
        return lambda batch: pc.invert(first(batch))
    if op == "is_null":
        return lambda batch: pc.is_null(first(batch))
    if op == "is_valid":
        return lambda batch: pc.is_valid(first(batch))
    if op == "in":
        values = list(args[1])

        def member(batch: pa.RecordBatch) -> Any:
            operand = first(batch)
            value_set = pa.array(values)
            if isinstance(operand, pa.Array | pa.ChunkedArray) and value_set.type != operand.type:
                value_set = _coerce_array(value_set, operand.type)
            return pc.is_in(operand, value_set=value_set)

        return member
    if op == "between":
        low, high = _compile(args[1]), _compile(args[2])
        lower = _comparison(pc.greater_equal, first, low)
        upper = _comparison(pc.less_equal, first, high)
        return lambda batch: pc.and_kleene(lower(batch), upper(batch))
    pattern = args[1]
    if op == "starts_with":
        return lambda batch: pc.starts_with(first(batch), pattern=pattern)
    if op == "ends_with":
        return lambda batch: pc.ends_with(first(batch), pattern=pattern)
    return lambda batch: pc.match_substring(first(batch), pattern=pattern)


def _comparison(kernel: Callable[[Any, Any], Any], left: Evaluator, right: Evaluator) -> Evaluator:
    def compare(batch: pa.RecordBatch) -> Any:
        a, b = left(batch), right(batch)
        # A literal takes the type of the column it is compared with ("2026-01-01" against
        # a date column), so specs can be written in plain JSON.
        if isinstance(a, pa.Array | pa.ChunkedArray) and not isinstance(
            b, pa.Array | pa.ChunkedArray
        ):
            b = _coerce_scalar(b, a.type)
        elif isinstance(b, pa.Array | pa.ChunkedArray) and not isinstance(
            a, pa.Array | pa.ChunkedArray
        ):
            a = _coerce_scalar(a, b.type)
        return kernel(a, b)

    return compare


def _coerce_scalar(value: Any, target: pa.DataType) -> Any:
    if value is None:
        return pa.scalar(None, target)
    scalar = pa.scalar(value)
    if scalar.type == target or (pa.types.is_integer(scalar.type) and pa.types.is_floating(target)):
        return scalar
    try:
        return scalar.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EtlError(f"The filter compares a {target} column with {value!r}: {exc}") from exc


def _coerce_array(values: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EtlError(f"The filter's 'in' list does not fit a {target} column: {exc}") from exc
