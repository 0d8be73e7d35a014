"""The transform spec applied to one record batch at a time, with pyarrow compute.

Order: select, rename, cast, constants, metadata, filter (dedupe needs every row and
runs on the whole result; see etl.run). A value a cast cannot convert rejects its row,
which is counted and sampled rather than failing the run. What a cast accepts is
etl.semantics', shared with the Spark engine.
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

from etl import semantics
from etl.errors import EtlError
from etl.semantics import coerce_array, coerce_scalar, describe_cast

MAX_REJECT_SAMPLES = semantics.MAX_REJECT_SAMPLES


@dataclass
class Rejections:
    """Rows a cast refused: counted, with the first ones (in read order) as samples."""

    rows: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)

    def add(self, count: int, samples: list[dict[str, str]]) -> None:
        self.rows += count
        self.samples.extend(samples[: MAX_REJECT_SAMPLES - len(self.samples)])

    @property
    def room(self) -> int:
        return MAX_REJECT_SAMPLES - len(self.samples)


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

    def apply(self, batch: pa.RecordBatch, source_file: str) -> pa.RecordBatch:
        if select := self.spec.get("select"):
            batch = batch.select([_require(batch, name, "select") for name in select])
        if self.rename:
            for old in self.rename:
                _require(batch, old, "rename")
            batch = batch.rename_columns([self.rename.get(n, n) for n in batch.schema.names])
        if self.cast:
            batch = self._cast(batch)
        for column, value in (self.spec.get("constants") or {}).items():
            batch = _append(batch, column, _constant(value), len(batch))
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

    def _cast(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Every cast on the whole batch; a row is rejected by the first cast (in the
        spec's order) that refused its value, and sampled in read order."""
        positions = [_require(batch, column, "cast") for column in self.cast]
        originals = [batch.column(name) for name in positions]
        kinds = self.cast.values()
        results = [cast_values(v, kind) for v, kind in zip(originals, kinds, strict=True)]
        refusals = [bad for _, bad in results if bad is not None]
        converted = [values for values, _ in results]
        if refusals:
            rejected = refusals[0]
            for bad in refusals[1:]:
                rejected = pc.or_(rejected, bad)
            self.rejections.add(
                pc.sum(rejected).as_py() or 0, self._samples(rejected, results, originals)
            )
            keep = pc.invert(rejected)
            batch = batch.filter(keep)
            converted = [values.filter(keep) for values in converted]
        for name, values in zip(positions, converted, strict=True):
            batch = batch.set_column(batch.schema.get_field_index(name), name, values)
        return batch

    def _samples(
        self,
        rejected: pa.Array,
        results: list[tuple[pa.Array, pa.Array | None]],
        originals: list[pa.Array],
    ) -> list[dict[str, str]]:
        if self.rejections.room <= 0:
            return []
        samples = []
        names, kinds = list(self.cast), list(self.cast.values())
        for row in pc.indices_nonzero(rejected)[: self.rejections.room].to_pylist():
            for position, (_, bad) in enumerate(results):
                if bad is not None and bad[row].as_py():
                    value = originals[position][row].as_py()
                    samples.append(
                        {
                            "column": names[position],
                            "value": str(value)[: semantics.MAX_SAMPLE_CHARS],
                            "expected": describe_cast(kinds[position]),
                        }
                    )
                    break
        return samples


def _require(batch: pa.RecordBatch, name: str, where: str) -> str:
    if batch.schema.get_field_index(name) < 0:
        columns = ", ".join(batch.schema.names)
        raise EtlError(f"{where}: column {name!r} is not in the data (columns: {columns}).")
    return name


def _append(batch: pa.RecordBatch, name: str, value: pa.Scalar, length: int) -> pa.RecordBatch:
    if batch.schema.get_field_index(name) >= 0:
        raise EtlError(f"Column {name!r} already exists in the data; choose another name.")
    return batch.append_column(name, pa.repeat(value, length))


def _constant(value: Any) -> pa.Scalar:
    # A null constant is a text column of nulls (a column of Arrow's null type is one
    # no Spark or Hive table can hold).
    return pa.scalar(value, pa.string()) if value is None else pa.scalar(value)


# ---------------------------------------------------------------------------------------
# Casting


def cast_values(values: pa.Array, kind: Any) -> tuple[pa.Array, pa.Array | None]:
    """Convert `values` to the spec type `kind`; the converted array (nulls where a value
    was refused) and a mask of refused rows (None when every value converted). Nulls stay
    null and are never refused."""
    name = kind if isinstance(kind, str) else kind["type"]
    source = values.type
    if name == "string":
        return pc.cast(values, pa.string()), None
    if isinstance(kind, dict) and name in ("date", "timestamp"):
        return _strptime(_trimmed(values), kind["format"], name)
    if name == "decimal":
        return _decimal(_trimmed(values), kind["precision"], kind["scale"])
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    if name == "int":
        if pa.types.is_integer(source) or pa.types.is_boolean(source):
            return _refusing(values, pc.cast(values, pa.int64(), safe=False))
        if pa.types.is_floating(source):
            whole = pc.and_(pc.equal(pc.floor(values), values), pc.less(pc.abs(values), 2.0**63))
            kept = pc.if_else(whole, values, pa.scalar(None, source))
            return _refusing(values, pc.cast(kept, pa.int64(), safe=False))
        return _parsed(_trimmed(values), semantics.INT_TEXT, pa.int64(), _int)
    if name == "float":
        if numeric or pa.types.is_boolean(source) or pa.types.is_decimal(source):
            return pc.cast(values, pa.float64()), None
        return _parsed(_trimmed(values), semantics.FLOAT_TEXT, pa.float64(), float)
    if name == "bool":
        if pa.types.is_boolean(source):
            return values, None
        if numeric:
            return pc.cast(values, pa.bool_()), None
        return _bool(_trimmed(values))
    temporal = pa.types.is_date(source) or pa.types.is_timestamp(source)
    if name == "date":
        if temporal:
            return _refusing(values, pc.cast(_utc(values), pa.date32()))
        return _parsed(_trimmed(values), semantics.DATE_TEXT, pa.date32(), date.fromisoformat)
    if temporal:
        return _refusing(values, pc.cast(_utc(values), pa.timestamp("us", tz="UTC")))
    return _timestamps(_trimmed(values))


def _utc(values: pa.Array) -> pa.Array:
    # Naive times are UTC, as everywhere in DIEP.
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        return pc.assume_timezone(values, "UTC")
    return values


def _trimmed(values: pa.Array) -> pa.Array:
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    return pc.utf8_trim(text, characters=semantics.SPACE_AROUND_VALUES)


def _refusing(original: pa.Array, converted: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    return converted, _refused(original, converted)


def _refused(original: pa.Array, converted: pa.Array) -> pa.Array | None:
    bad = pc.and_(pc.is_valid(original), pc.is_null(converted))
    return bad if pc.any(bad).as_py() else None


def _parsed(
    text: pa.Array, pattern: str, target: pa.DataType, parse: Callable[[str], Any]
) -> tuple[pa.Array, pa.Array | None]:
    """Text matching `pattern`, converted (vectorised; per value where Arrow refuses
    one that matches, e.g. 2024-02-30 or an integer past 64 bits)."""
    matching = pc.if_else(
        pc.match_substring_regex(text, pattern), text, pa.scalar(None, pa.string())
    )
    try:
        converted = pc.cast(matching, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = []
        for raw in matching.to_pylist():
            try:
                values.append(parse(raw) if raw is not None else None)
            except (ValueError, OverflowError):
                values.append(None)
        converted = pa.array(values, target)
    return converted, _refused(text, converted)


def _timestamps(text: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    matching = pc.if_else(
        pc.match_substring_regex(text, semantics.TIMESTAMP_TEXT),
        text,
        pa.scalar(None, pa.string()),
    )
    converted = None
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            converted = pc.cast(pc.cast(matching, target, safe=True), pa.timestamp("us", tz="UTC"))
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    if converted is None:  # mixed offsets and naive times, or a 25th hour: one by one
        values = []
        for raw in matching.to_pylist():
            try:
                values.append(_timestamp(raw) if raw is not None else None)
            except ValueError:
                values.append(None)
        converted = pa.array(values, pa.timestamp("us", tz="UTC"))
    return converted, _refused(text, converted)


def _bool(text: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    lowered = pc.utf8_lower(text)
    is_true = pc.is_in(lowered, value_set=pa.array(semantics.TRUE_TEXT))
    is_false = pc.is_in(lowered, value_set=pa.array(semantics.FALSE_TEXT))
    converted = pc.if_else(is_true, True, pc.if_else(is_false, False, None))
    return converted, _refused(text, converted)


def _strptime(text: pa.Array, fmt: str, name: str) -> tuple[pa.Array, pa.Array | None]:
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    # Arrow's strptime rolls 31/02 over into March; Python's (like Spark's) refuses it.
    # Values that do not print back as written (single digits, or such a roll-over) are
    # checked one by one.
    unsure = pc.fill_null(pc.not_equal(pc.strftime(parsed, format=fmt), text), False)
    if pc.any(unsure).as_py():
        checked = []
        for raw, value, doubt in zip(
            text.to_pylist(), parsed.to_pylist(), unsure.to_pylist(), strict=True
        ):
            if doubt:
                try:
                    value = datetime.strptime(raw, fmt)  # noqa: DTZ007 - naive, then UTC
                except ValueError:
                    value = None
            checked.append(value)
        parsed = pa.array(checked, pa.timestamp("us"))
    converted = (
        pc.cast(parsed, pa.date32()) if name == "date" else pc.assume_timezone(parsed, "UTC")
    )
    return converted, _refused(text, converted)


_DECIMAL = re.compile(semantics.DECIMAL_TEXT)


def _decimal(text: pa.Array, precision: int, scale: int) -> tuple[pa.Array, pa.Array | None]:
    quantum, limit = Decimal(1).scaleb(-scale), Decimal(10) ** (precision - scale)
    values: list[Decimal | None] = []
    for raw in text.to_pylist():
        number = None
        if raw is not None and _DECIMAL.match(raw):
            try:
                # Half up, as people round money; Decimal's default (half even) surprises them.
                number = Decimal(raw).quantize(quantum, ROUND_HALF_UP)
            except InvalidOperation:
                number = None
        values.append(number if number is None or abs(number) < limit else None)
    converted = pa.array(values, pa.decimal128(precision, scale))
    return converted, _refused(text, converted)


def _int(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise OverflowError(text)
    return value


def _timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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
                value_set = coerce_array(value_set, operand.type)
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
            b = coerce_scalar(b, a.type)
        elif isinstance(b, pa.Array | pa.ChunkedArray) and not isinstance(
            a, pa.Array | pa.ChunkedArray
        ):
            a = coerce_scalar(a, b.type)
        return kernel(a, b)

    return compare
