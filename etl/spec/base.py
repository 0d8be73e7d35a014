"""What every part of the spec language shares: its limits and names, and how errors
are collected and shown.

One place for the numbers, so the JSON Schema the API documents and the Python checks
behind it cannot drift apart; one error collector, so transforms and options report
problems the same way (by dotted path, deduplicated, capped).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Final

SOURCE_FORMATS: Final = ("csv", "json", "parquet")
DESTINATION_FORMATS: Final = ("parquet", "csv", "json")
WRITE_MODES: Final = ("append", "overwrite")

MAX_SPEC_BYTES: Final = 64 * 1024
MAX_FILTER_DEPTH: Final = 32  # nested expressions ({"op": ...}); columns and literals are leaves
MAX_FILTER_NODES: Final = 1000  # expressions, columns and literal arguments
MAX_IN_VALUES: Final = 1000
MAX_IDENTIFIER_CHARS: Final = 128
MAX_COLUMNS: Final = 500
MAX_CHECKS: Final = 100
MAX_STRPTIME_CHARS: Final = 64
# Past this many paths the rest is noise; the caller fixes these and resubmits.
MAX_REPORTED_ERRORS: Final = 50
# Arrow integers are 64-bit; a bigger literal could only fail later, at run time.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

METADATA_COLUMNS: Final = ("ingested_at", "source_file", "run_id")
SIMPLE_TYPES: Final = ("string", "int", "float", "bool", "date", "timestamp")
CHECK_TYPES: Final = ("not_null", "unique", "accepted_values", "min_rows", "required_columns")
# Type names a required_columns check may demand; "any" only requires the column to exist.
REQUIRED_COLUMN_TYPES: Final = (*SIMPLE_TYPES, "decimal", "any")
CSV_ENCODINGS: Final = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")
PARQUET_COMPRESSIONS: Final = ("snappy", "zstd", "gzip", "none")

COMPARISON_OPS: Final = ("==", "!=", "<", "<=", ">", ">=")
STRING_OPS: Final = ("starts_with", "ends_with", "contains")
BOOLEAN_OPS: Final = ("and", "or", "not")
# op → (min args, max args); None = unbounded.
FILTER_OPS: Final[dict[str, tuple[int, int | None]]] = {
    **dict.fromkeys(COMPARISON_OPS, (2, 2)),
    "and": (2, None),
    "or": (2, None),
    "not": (1, 1),
    "is_null": (1, 1),
    "is_valid": (1, 1),
    "in": (2, 2),
    "between": (3, 3),
    **dict.fromkeys(STRING_OPS, (2, 2)),
}

# Characters no column name may contain: C0/C1 controls (Cc), invisible format characters
# such as bidi overrides and zero-width joiners that make two names look alike (Cf), lone
# surrogates that cannot be encoded as UTF-8 in an S3 key or a Parquet schema (Cs), and
# line/paragraph separators (Zl, Zp) that break logs and CSV headers.
UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

Path = tuple[str | int, ...]


class SpecError(ValueError):
    """An invalid spec; `errors` maps a dotted path within the validated object ("" is the
    root) to human-readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{path or '(root)'}: {' '.join(msgs)}" for path, msgs in errors.items())
        )


class Errors:
    """Messages by dotted path, without duplicates, in the order found."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        messages = self.by_path.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    def raise_if_any(self) -> None:
        if not self.by_path:
            return
        # Root problems first (unknown keys, size): they often explain the rest.
        paths = sorted(self.by_path, key=lambda path: path != "")
        if len(paths) <= MAX_REPORTED_ERRORS:
            raise SpecError({path: self.by_path[path] for path in paths})
        kept = {path: self.by_path[path] for path in paths[:MAX_REPORTED_ERRORS]}
        kept.setdefault("", []).append(
            f"{len(paths) - MAX_REPORTED_ERRORS} more invalid place(s) not shown."
        )
        raise SpecError(kept)


def _escape_unsafe(text: str) -> str:
    # Messages and paths end up in logs and HTML; show invisible characters as \uXXXX.
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in UNSAFE_CATEGORIES else char
        for char in text
    )


def show(value: object, limit: int = 60) -> str:
    """A value as it would appear in JSON, made safe to print and cut to `limit` chars."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    text = _escape_unsafe(text[: limit + 1])  # cut first: the value may be 64 KiB long
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dotted_path(parts: Iterable[object]) -> str:
    return ".".join(_escape_unsafe(str(part)) for part in parts)


def json_type(value: object) -> str:
    """How a JSON value's type is named in messages ("an integer", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__
