"""Reader (source) and writer (destination) options: their schemas and defaults.

Defaults are written into the stored options so a job keeps its behaviour even if a
reader library changes its own; the option schemas are flat, per format, and refuse
unknown keys by naming the allowed ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from etl.spec.base import (
    CSV_ENCODINGS,
    MAX_SPEC_BYTES,
    PARQUET_COMPRESSIONS,
    Errors,
    SpecError,
    dotted_path,
    json_type,
    show,
)
from etl.spec.guards import json_problem, name_problem
from etl.spec.schema import Validator, names_schema, schema_errors

_ONE_CHAR: Final[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 1}
_SOURCE_OPTIONS: Final[dict[str, dict[str, Any]]] = {
    "csv": {
        "delimiter": _ONE_CHAR,
        "header": {"type": "boolean"},
        "quote_char": _ONE_CHAR,
        "escape_char": {**_ONE_CHAR, "type": ["string", "null"]},
        "encoding": {"enum": list(CSV_ENCODINGS)},
        "null_values": {
            "type": "array",
            "items": {"type": "string", "maxLength": 64},
            "maxItems": 100,
        },
        "skip_rows": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        # Names for the columns; without a header they replace the generated f0, f1, ...
        "column_names": names_schema(),
        # Quoted fields may hold line breaks. Off by default: such a file cannot be split,
        # so Spark reads it in one task (the local engine reads it either way).
        "newlines_in_values": {"type": "boolean"},
        # The most a row may span (pyarrow reads in blocks; a longer row cannot be read).
        "block_size_bytes": {"type": "integer", "minimum": 1024, "maximum": 256 * 1024**2},
    },
    # JSON Lines only: one object per line, which keeps files splittable and streamable.
    "json": {
        "block_size_bytes": {"type": "integer", "minimum": 1024, "maximum": 256 * 1024**2},
    },
    "parquet": {"columns": names_schema()},
}
for _options in _SOURCE_OPTIONS.values():
    # Runs without a manifest read only files modified since the last successful run.
    _options["bookmark"] = {"type": "boolean"}
    # A source with no data files fails its run (a mistyped prefix, a deleted file or
    # bucket) unless the job says finding nothing is normal.
    _options["allow_empty"] = {"type": "boolean"}
# Defaults are written into the stored options so a job keeps its behaviour even if a
# reader library changes its own defaults.
_SOURCE_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "csv": {
        "delimiter": ",",
        "header": True,
        "quote_char": '"',
        "escape_char": None,
        "encoding": "utf-8",
        "skip_rows": 0,
    },
    "json": {"block_size_bytes": 1024**2},
    "parquet": {},
}
_DESTINATION_OPTIONS: Final[dict[str, dict[str, Any]]] = {
    "parquet": {"compression": {"enum": list(PARQUET_COMPRESSIONS)}},
    "csv": {"delimiter": _ONE_CHAR, "header": {"type": "boolean"}},
    "json": {},
}
_DESTINATION_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "parquet": {"compression": "snappy"},
    "csv": {"delimiter": ",", "header": True},
    "json": {},
}
_HINTS: Final[dict[tuple[str, str], str]] = {
    ("json", "multiline"): "Multi-line JSON is not supported: the json format reads JSON "
    "Lines (one object per line).",
}


def _option_validators(schemas: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        fmt: Validator({"type": "object", "properties": props, "additionalProperties": False})
        for fmt, props in schemas.items()
    }


_SOURCE_VALIDATORS: Final = _option_validators(_SOURCE_OPTIONS)
_DESTINATION_VALIDATORS: Final = _option_validators(_DESTINATION_OPTIONS)


def _check_csv_chars(options: Mapping[str, Any], errors: Errors) -> None:
    # A delimiter equal to the quote, or a newline as either, makes every file ambiguous.
    seen: dict[str, str] = {}
    for key in ("delimiter", "quote_char", "escape_char"):
        char = options.get(key)
        if not isinstance(char, str) or len(char) != 1 or key in errors.by_path:
            continue
        if char in "\r\n":
            errors.add(key, "Cannot be a line break.")
        elif char in seen:
            errors.add(key, f"Cannot be the same character as {seen[char]}.")
        seen.setdefault(char, key)


def _validate_options(
    fmt: object,
    options: object,
    validators: Mapping[str, Any],
    defaults: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    if not isinstance(fmt, str) or fmt not in validators:
        raise SpecError(
            {"": [f"Unknown format {show(fmt, 30)}; use one of: {', '.join(validators)}."]}
        )
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise SpecError({"": [f"Options are a JSON object, got {json_type(options)}."]})
    # Options are flat (at most a list of strings). The guard runs first because jsonschema's
    # uniqueItems compares nested lists recursively.
    budget = [MAX_SPEC_BYTES]
    for key, value in options.items():
        if guard := json_problem(value, (key,), 2, "Nested too deeply.", budget):
            path, message = guard
            raise SpecError({path: [message.replace("transform spec", "options")]})
    errors = Errors()
    for key in options:
        if (fmt, key) in _HINTS:
            errors.add("", _HINTS[(fmt, key)])
    schema_errors(validators[fmt], options, errors)
    if fmt == "csv":
        _check_csv_chars({**defaults[fmt], **options}, errors)
        names = options.get("column_names")
        if isinstance(names, list):
            for index, name in enumerate(names):
                path = dotted_path(("column_names", index))
                if path not in errors.by_path and (problem := name_problem(name, creates=True)):
                    errors.add(path, problem)
    errors.raise_if_any()
    return {**defaults[fmt], **json.loads(json.dumps(options))}


def validate_source_options(fmt: str, options: object) -> dict[str, Any]:
    """Validate reader options for source format `fmt` and return them with defaults filled
    (None means {}). Unknown keys are refused with the list of allowed ones.

    csv: delimiter, header (true), quote_char, escape_char (null), encoding (utf-8),
    null_values (besides the empty field, always null), skip_rows (0), column_names,
    newlines_in_values (false), block_size_bytes (8 MiB: the longest row).
    json (JSON Lines): block_size_bytes (1 MiB). parquet: columns. Every format:
    bookmark, allow_empty (false: a source with no data files fails the run).
    """
    return _validate_options(fmt, options, _SOURCE_VALIDATORS, _SOURCE_DEFAULTS)


def validate_destination_options(fmt: str, options: object) -> dict[str, Any]:
    """Validate writer options for destination format `fmt` and return them with defaults
    filled (None means {}). parquet: compression (snappy|zstd|gzip|none, default snappy);
    csv: delimiter (","), header (true); json: none."""
    return _validate_options(fmt, options, _DESTINATION_VALIDATORS, _DESTINATION_DEFAULTS)
