"""What a value means, once, for both engines: which text a cast accepts, how a strptime
format reads in Spark, how nulls and booleans are spelled, where partition directories
and reject samples come from.

The pyarrow engine (etl.transform) and the Spark engine (etl.spark) both read their
rules from here, so a value cannot convert on one engine and be rejected on the other;
the conformance suite (tests/conformance) holds them to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, unquote

import pyarrow as pa

from etl.errors import EtlError

# Trimmed from around a value before a cast reads it (ASCII whitespace only).
SPACE_AROUND_VALUES: Final = " \t\n\r\f\v"
# ASCII digits only: Python's \d also matches other scripts' digits, Java's does not.
INT_TEXT: Final = r"^[+-]?[0-9]+$"
FLOAT_TEXT: Final = (
    r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF]|[iI][nN][fF][iI][nN][iI][tT][yY]|[nN][aA][nN])$"
)
DECIMAL_TEXT: Final = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
DATE_TEXT: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# ISO 8601 as people write it: a date, optionally a time (seconds and up to six decimals
# optional), optionally Z or a ±hh:mm offset. Without an offset the time is UTC.
TIMESTAMP_TEXT: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
OFFSET_TEXT: Final = r"(Z|[+-][0-9]{2}:[0-9]{2})$"
TRUE_TEXT: Final = ("true", "t", "yes", "y", "1")
FALSE_TEXT: Final = ("false", "f", "no", "n", "0")

#: What an empty CSV field is, whatever else the job declares as null.
CSV_NULLS: Final = ("",)

MAX_REJECT_SAMPLES: Final = 20
MAX_SAMPLE_CHARS: Final = 200

# strptime directive → Java DateTimeFormatter letters (Spark's datetime patterns). Only
# directives both engines read the same way: one- or two-digit fields where C's strptime
# accepts either, names in English.
_STRPTIME_TO_JAVA: Final = {
    "Y": "yyyy",
    "y": "yy",
    "m": "M",
    "d": "d",
    "H": "H",
    "I": "h",
    "M": "m",
    "S": "s",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "j": "D",
}
STRPTIME_DIRECTIVES: Final = tuple(_STRPTIME_TO_JAVA)
_DIRECTIVE = re.compile(r"%(.)", re.DOTALL)


def strptime_problem(fmt: str) -> str | None:
    """Why `fmt` cannot be used by both engines, or None."""
    unknown = []
    for match in _DIRECTIVE.finditer(fmt.replace("%%", "")):
        if match.group(1) not in _STRPTIME_TO_JAVA:
            unknown.append("%" + match.group(1))
    if fmt.replace("%%", "").endswith("%"):
        unknown.append("%")
    if unknown:
        return (
            f"Unsupported directive(s) {', '.join(sorted(set(unknown)))}; use "
            f"{' '.join('%' + d for d in STRPTIME_DIRECTIVES)} and %% (times are UTC)."
        )
    return None


def java_datetime_pattern(fmt: str) -> str:
    """A validated strptime format as a Spark datetime pattern (literal text quoted)."""
    pattern: list[str] = []
    literal: list[str] = []
    index = 0

    def flush() -> None:
        if literal:
            text = "".join(literal).replace("'", "''")
            pattern.append(f"'{text}'")
            literal.clear()

    while index < len(fmt):
        char = fmt[index]
        if char == "%" and index + 1 < len(fmt):
            directive = fmt[index + 1]
            index += 2
            if directive == "%":
                literal.append("%")
                continue
            flush()
            pattern.append(_STRPTIME_TO_JAVA[directive])
            continue
        literal.append(char)
        index += 1
    flush()
    return "".join(pattern)


def partition_segment(column: str, value: str | None) -> str:
    """A Hive partition directory, `column=value`, spelled one way whichever engine wrote
    it (each escapes differently): percent-encoded UTF-8, null as Hive's default name."""
    if value is None:
        return f"{column}=__HIVE_DEFAULT_PARTITION__"
    return f"{column}={quote(value, safe='')}"


def canonical_partition_path(relative_dir: str) -> str:
    """An engine's partition directory (`a=x/b=y`, escaped its own way) in DIEP's spelling."""
    if not relative_dir or relative_dir == ".":
        return ""
    segments = []
    for segment in relative_dir.split("/"):
        column, _, value = segment.partition("=")
        decoded = unquote(value)
        segments.append(
            partition_segment(column, None if decoded == "__HIVE_DEFAULT_PARTITION__" else decoded)
        )
    return "/".join(segments)


def describe_cast(kind: Any) -> str:
    """A cast's type as reject samples name it: int, decimal(12,2), date (%d/%m/%Y)."""
    if isinstance(kind, str):
        return kind
    if kind["type"] == "decimal":
        return f"decimal({kind['precision']},{kind['scale']})"
    return f"{kind['type']} ({kind['format']})"


# Type names a required_columns check uses, as tests of an Arrow type.
TYPE_TESTS = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "int": pa.types.is_integer,
    "float": pa.types.is_floating,
    "bool": pa.types.is_boolean,
    "date": pa.types.is_date,
    "timestamp": pa.types.is_timestamp,
    "decimal": pa.types.is_decimal,
    "any": lambda t: True,
}


def check_result(spec: Mapping[str, Any], failing: int, problems: list[str]) -> dict[str, Any]:
    """One check's entry in the run's report, either engine."""
    return {
        "check": check_name(spec),
        "passed": not failing and not problems,
        "failing_rows": failing,
        "problems": problems,
    }


def check_name(spec: Mapping[str, Any]) -> str:
    kind = spec["type"]
    if kind in ("not_null", "unique"):
        return f"{kind}({', '.join(spec['columns'])})"
    if kind == "accepted_values":
        return f"accepted_values({spec['column']})"
    if kind == "min_rows":
        return f"min_rows({spec['value']})"
    return f"required_columns({', '.join(spec['columns'])})"


def coerce_scalar(value: Any, target: pa.DataType) -> Any:
    """A filter literal as a value of the column's type (both engines use this)."""
    if value is None:
        return pa.scalar(None, target)
    if pa.types.is_string(target) and not isinstance(value, str):
        # "10" < "9" as text: comparing text with a number is never what was meant.
        raise EtlError(
            f"The filter compares a text column with {value!r}: cast the column first "
            "(transform.cast; CSV columns are text until cast)."
        )
    scalar = pa.scalar(value)
    if scalar.type == target or (pa.types.is_integer(scalar.type) and pa.types.is_floating(target)):
        return scalar
    try:
        return scalar.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EtlError(f"The filter compares a {target} column with {value!r}: {exc}") from exc


def coerce_array(values: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EtlError(f"The filter's 'in' list does not fit a {target} column: {exc}") from exc
