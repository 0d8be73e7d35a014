"""The transform spec as Spark column expressions, with the pyarrow engine's semantics.

Casts follow etl.semantics (the same accepted text, the same rounding); a row with a
value a cast cannot convert is marked with the position of the first such cast, counted
and sampled, never silently dropped. Filter literals are coerced by the pyarrow engine's
own function (etl.transform.coerce_scalar) against the column's type, so `"2026-01-01"`
against a date column means the same thing on both engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from etl import semantics
from etl.errors import EtlError
from etl.semantics import coerce_array, coerce_scalar, describe_cast
from etl.spark.read import FILE_INDEX, FILE_URI, HIDDEN, ROW_ORDER, column

REJECTED_AT: Final = "__diep_rejected_at"  # the position of the first failing cast, or null
_FLOATING: Final = (st.DoubleType, st.FloatType)  # the types with NaN


def arrow_type(spark_type: st.DataType) -> pa.DataType:
    """The pyarrow type a Spark column's values have once written (for coercion rules and
    the names in messages, which then read the same on both engines)."""
    simple: dict[type, pa.DataType] = {
        st.StringType: pa.string(),
        st.LongType: pa.int64(),
        st.IntegerType: pa.int32(),
        st.ShortType: pa.int16(),
        st.ByteType: pa.int8(),
        st.DoubleType: pa.float64(),
        st.FloatType: pa.float32(),
        st.BooleanType: pa.bool_(),
        st.DateType: pa.date32(),
        st.TimestampType: pa.timestamp("us", tz="UTC"),
        st.TimestampNTZType: pa.timestamp("us"),
        st.BinaryType: pa.binary(),
        st.NullType: pa.null(),
    }
    if isinstance(spark_type, st.DecimalType):
        return pa.decimal128(spark_type.precision, spark_type.scale)
    for kind, arrow in simple.items():
        if isinstance(spark_type, kind):
            return arrow
    return pa.string()  # nested values: only ever compared as a whole, never coerced


def require(frame: DataFrame, name: str, where: str) -> str:
    if name not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c not in HIDDEN and c != REJECTED_AT)
        raise EtlError(f"{where}: column {name!r} is not in the data (columns: {columns}).")
    return name


def data_columns(frame: DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in HIDDEN and c != REJECTED_AT]


# ---------------------------------------------------------------------------------------
# select, rename, casts


def select_and_rename(frame: DataFrame, spec: Mapping[str, Any]) -> DataFrame:
    if select := spec.get("select"):
        frame = frame.select(*[column(require(frame, n, "select")) for n in select], *HIDDEN)
    if rename := spec.get("rename"):
        for old in rename:
            require(frame, old, "rename")
        frame = frame.select(
            *[column(name).alias(rename.get(name, name)) for name in data_columns(frame)],
            *HIDDEN,
        )
    return frame


def mark_rejections(frame: DataFrame, casts: Mapping[str, Any]) -> DataFrame:
    """Cast every column the spec casts and add REJECTED_AT: the position (in the spec's
    order) of the first cast this row's value failed, null for a good row. The original
    values stay in `__diep_raw_<i>` for the reject samples."""
    fields = {f.name: f.dataType for f in frame.schema.fields}
    converted: dict[str, Column] = {}
    raws: list[Column] = []
    for position, (name, kind) in enumerate(casts.items()):
        require(frame, name, "cast")
        converted[name] = cast_column(column(name), fields[name], kind)
        raws.append(column(name).cast("string").alias(f"__diep_raw_{position}"))
    cast = frame.select(
        *[converted.get(name, column(name)).alias(name) for name in data_columns(frame)],
        *HIDDEN,
        *raws,
    )
    # Judged on the converted columns of the projection before: Spark keeps the two
    # apart (an expensive expression used twice is not inlined), so each conversion
    # runs once per value, not once for the value and again for each verdict.
    failures = [
        sf.when(sf.col(f"__diep_raw_{position}").isNotNull() & column(name).isNull(), position)
        for position, name in enumerate(casts)
    ]
    rejected_at = sf.coalesce(*failures) if failures else sf.lit(None)
    return cast.withColumn(REJECTED_AT, rejected_at.cast("int"))


def good_rows(frame: DataFrame, casts: Mapping[str, Any]) -> DataFrame:
    return frame.where(sf.col(REJECTED_AT).isNull()).drop(
        REJECTED_AT, *[f"__diep_raw_{i}" for i in range(len(casts))]
    )


def reject_samples(frame: DataFrame, casts: Mapping[str, Any]) -> list[dict[str, str]]:
    """The first MAX_REJECT_SAMPLES rejected rows in read order (file, then row), as the
    pyarrow engine samples them; a bounded top-k, the only rows the driver sees."""
    names = list(casts)
    rows = (
        frame.where(sf.col(REJECTED_AT).isNotNull())
        .orderBy(FILE_INDEX, ROW_ORDER)
        .select(REJECTED_AT, *[f"__diep_raw_{i}" for i in range(len(names))])
        .limit(semantics.MAX_REJECT_SAMPLES)
        .collect()
    )
    samples = []
    for row in rows:
        position = row[REJECTED_AT]
        samples.append(
            {
                "column": names[position],
                "value": str(row[f"__diep_raw_{position}"])[: semantics.MAX_SAMPLE_CHARS],
                "expected": describe_cast(casts[names[position]]),
            }
        )
    return samples


def cast_column(value: Column, source: st.DataType, kind: Any) -> Column:
    """The converted value, null where the cast refuses a non-null value."""
    name = kind if isinstance(kind, str) else kind["type"]
    if name == "string":
        return value.cast("string")
    numeric = isinstance(source, st.NumericType)
    text = value if isinstance(source, st.StringType) else value.cast("string")
    trimmed = sf.btrim(text, sf.lit(semantics.SPACE_AROUND_VALUES))
    if isinstance(kind, dict) and name in ("date", "timestamp"):
        pattern = semantics.java_datetime_pattern(kind["format"])
        parsed = sf.to_timestamp(trimmed, pattern)
        converted = parsed.cast("date") if name == "date" else parsed
    elif name == "decimal":
        target = f"decimal({kind['precision']},{kind['scale']})"
        converted = sf.when(trimmed.rlike(semantics.DECIMAL_TEXT), trimmed.cast(target))
    elif name == "int":
        if isinstance(source, st.IntegralType | st.BooleanType):
            converted = value.cast("long")
        elif numeric:
            whole = (value == sf.floor(value)) & (sf.abs(value) < sf.lit(2.0**63))
            converted = sf.when(whole, value.cast("long"))
        else:
            converted = sf.when(trimmed.rlike(semantics.INT_TEXT), trimmed.cast("long"))
    elif name == "float":
        if numeric or isinstance(source, st.BooleanType):
            converted = value.cast("double")
        else:
            converted = sf.when(trimmed.rlike(semantics.FLOAT_TEXT), _float_text(trimmed))
    elif name == "bool":
        if numeric:
            converted = value.cast("boolean")
        elif isinstance(source, st.BooleanType):
            converted = value
        else:
            lowered = sf.lower(trimmed)
            converted = sf.when(lowered.isin(list(semantics.TRUE_TEXT)), sf.lit(True)).when(
                lowered.isin(list(semantics.FALSE_TEXT)), sf.lit(False)
            )
    elif name == "date":
        if isinstance(source, st.DateType | st.TimestampType):
            converted = value.cast("date")
        else:
            converted = sf.when(trimmed.rlike(semantics.DATE_TEXT), trimmed.cast("date"))
    else:  # timestamp
        if isinstance(source, st.DateType | st.TimestampType):
            converted = value.cast("timestamp")
        else:
            converted = sf.when(trimmed.rlike(semantics.TIMESTAMP_TEXT), trimmed.cast("timestamp"))
    return converted


def _float_text(trimmed: Column) -> Column:
    lowered = sf.lower(sf.regexp_replace(trimmed, r"^\+", ""))
    return (
        sf.when(lowered.isin("inf", "infinity"), sf.lit(float("inf")))
        .when(lowered.isin("-inf", "-infinity"), sf.lit(float("-inf")))
        .when(lowered.isin("nan", "-nan"), sf.lit(float("nan")))
        .otherwise(trimmed.cast("double"))
    )


# ---------------------------------------------------------------------------------------
# constants, metadata, filter, dedupe


def add_columns(
    frame: DataFrame, spec: Mapping[str, Any], *, run_id: str, ingested_at: datetime
) -> DataFrame:
    added: list[tuple[str, Column]] = []
    for name, value in (spec.get("constants") or {}).items():
        added.append((name, _literal(value)))
    for name in spec.get("metadata") or []:
        if name == "ingested_at":
            added.append((name, sf.lit(ingested_at).cast("timestamp")))
        elif name == "source_file":
            added.append((name, sf.col(FILE_URI)))
        else:
            added.append((name, sf.lit(run_id)))
    for name, value in added:
        if name in frame.columns:
            raise EtlError(f"Column {name!r} already exists in the data; choose another name.")
        frame = frame.withColumn(name, value)
    return frame


def _literal(value: Any) -> Column:
    if value is None:
        return sf.lit(None).cast("string")
    if isinstance(value, bool):
        return sf.lit(value).cast("boolean")
    if isinstance(value, int):
        return sf.lit(value).cast("long")
    if isinstance(value, float):
        return sf.lit(value).cast("double")
    return sf.lit(value).cast("string")


def apply_filter(frame: DataFrame, tree: Mapping[str, Any]) -> DataFrame:
    types = {f.name: f.dataType for f in frame.schema.fields}
    return frame.where(_Compiler(frame, types).condition(tree))


_COMPARE: Final = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Compiler:
    """A validated filter tree (depth ≤ 32, so recursion is safe) as one Spark Column."""

    def __init__(self, frame: DataFrame, types: Mapping[str, st.DataType]) -> None:
        self.frame, self.types = frame, types

    def condition(self, node: Any) -> Column:
        operand = self.operand(node)
        return operand[0] if operand[1] is not None else sf.lit(operand[0])

    def operand(self, node: Any) -> tuple[Any, st.DataType | None]:
        """A Column and its type, or a Python literal and None."""
        if isinstance(node, dict) and "col" in node and "op" not in node:
            name = require(self.frame, node["col"], "filter")
            return column(name), self.types[name]
        if not isinstance(node, dict):
            return node, None
        return self.expression(node["op"], node["args"]), st.BooleanType()

    def expression(self, op: str, args: list[Any]) -> Column:
        if op in _COMPARE:
            return self._compared(op, self.operand(args[0]), self.operand(args[1]))
        if op in ("and", "or"):
            parts = [self.condition(arg) for arg in args]
            result = parts[0]
            for part in parts[1:]:
                result = (result & part) if op == "and" else (result | part)
            return result
        first, first_type = self.operand(args[0])
        first_column = first if first_type is not None else sf.lit(first)
        if op == "not":
            return ~first_column
        if op == "is_null":
            return first_column.isNull()
        if op == "is_valid":
            return first_column.isNotNull()
        if op == "in":
            return self._member(first_column, first_type, list(args[1]))
        if op == "between":
            low = self._compared(">=", (first, first_type), self.operand(args[1]))
            return low & self._compared("<=", (first, first_type), self.operand(args[2]))
        if first_type is not None and not isinstance(first_type, st.StringType):
            raise EtlError(
                f"The filter cannot be evaluated on this data: {op!r} needs a string, "
                f"the column is {arrow_type(first_type)}."
            )
        pattern = args[1]
        if op == "starts_with":
            return first_column.startswith(pattern)
        if op == "ends_with":
            return first_column.endswith(pattern)
        return first_column.contains(pattern)

    def _compared(
        self, op: str, left: tuple[Any, st.DataType | None], right: tuple[Any, st.DataType | None]
    ) -> Column:
        a, b = self._aligned(left, right)
        compared = _COMPARE[op](a, b)
        if not any(isinstance(kind, _FLOATING) for kind in (left[1], right[1])):
            return compared
        # IEEE, as pyarrow compares: NaN is unequal to everything, itself included, and
        # neither greater nor smaller (Spark orders it above every number).
        nan = sf.isnan(a) | sf.isnan(b)
        return (compared | nan) if op == "!=" else (compared & ~nan)

    def _aligned(
        self, left: tuple[Any, st.DataType | None], right: tuple[Any, st.DataType | None]
    ) -> tuple[Column, Column]:
        # A literal takes the type of the column it is compared with, by pyarrow's rules.
        (a, a_type), (b, b_type) = left, right
        if a_type is not None and b_type is None:
            return a, self._coerced(b, a_type)
        if b_type is not None and a_type is None:
            return self._coerced(a, b_type), b
        if a_type is None and b_type is None:
            return sf.lit(a), sf.lit(b)
        return a, b

    def _coerced(self, value: Any, spark_type: st.DataType) -> Column:
        scalar = coerce_scalar(value, arrow_type(spark_type))
        python = scalar.as_py() if isinstance(scalar, pa.Scalar) else scalar
        return sf.lit(python).cast(spark_type)

    def _member(self, operand: Column, spark_type: st.DataType | None, values: list[Any]) -> Column:
        if spark_type is not None:
            coerced = coerce_array(pa.array(values), arrow_type(spark_type)).to_pylist()
        else:
            coerced = values
        present = [value for value in coerced if value is not None]
        literals = [
            sf.lit(value).cast(spark_type) if spark_type else sf.lit(value) for value in present
        ]
        matched = operand.isin(*literals) if literals else sf.lit(False)
        # pyarrow's is_in never answers null: a null operand matches a null in the list.
        null_matches = sf.lit(len(present) < len(coerced))
        return sf.coalesce(matched, sf.lit(False)) | (operand.isNull() & null_matches)


def dedupe(frame: DataFrame, keys: Sequence[str], latest_by: str | None) -> DataFrame:
    """Keep one row per key: the greatest `latest_by` (nulls last), ties and no ordering
    column going to the first row read. A shuffle by key, not one partition."""
    for name in [*keys, *([latest_by] if latest_by else [])]:
        if name not in frame.columns:
            raise EtlError(f"dedupe: column {name!r} is not in the data.")
    order = [sf.col(FILE_INDEX), sf.col(ROW_ORDER)]
    if latest_by:
        order.insert(0, column(latest_by).desc_nulls_last())
        if isinstance(frame.schema[latest_by].dataType, _FLOATING):
            # NaN after every number and before null, as pyarrow sorts (Spark: first).
            value = column(latest_by)
            order.insert(0, sf.when(value.isNull(), 2).when(sf.isnan(value), 1).otherwise(0))
    window = Window.partitionBy(*[column(k) for k in keys]).orderBy(*order)
    return (
        frame.withColumn("__diep_rank", sf.row_number().over(window))
        .where(sf.col("__diep_rank") == 1)
        .drop("__diep_rank")
    )
