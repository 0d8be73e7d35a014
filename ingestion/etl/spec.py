"""The transform and reader/writer option language of DIEP jobs.

Pure (no Django): the same module validates a job in the portal and inside the
AWS Glue job. Specs are JSON data, interpreted by the ETL library, never eval'd.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import jsonschema

SOURCE_FORMATS = ("csv", "json", "parquet")
DESTINATION_FORMATS = ("parquet", "csv", "json")
WRITE_MODES = ("append", "overwrite")
MAX_SPEC_BYTES = 64 * 1024
MAX_FILTER_DEPTH = 32
MAX_SPEC_DEPTH = MAX_FILTER_DEPTH * 2 + 4  # a filter node is an object holding a list
MAX_FILTER_NODES = 1000
METADATA_COLUMNS = ("ingested_at", "source_file", "run_id")
SIMPLE_TYPES = ("string", "int", "float", "bool", "date", "timestamp")
COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
# op → (min args, max args); None = unbounded.
FILTER_OPS: dict[str, tuple[int, int | None]] = {
    **dict.fromkeys(COMPARISON_OPS, (2, 2)),
    "and": (2, None),
    "or": (2, None),
    "not": (1, 1),
    "is_null": (1, 1),
    "is_valid": (1, 1),
    "in": (2, 2),
    "between": (3, 3),
    "starts_with": (2, 2),
    "ends_with": (2, 2),
    "contains": (2, 2),
}


class SpecError(ValueError):
    """Invalid spec; `errors` maps a dotted path ("" = root) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{path or '(root)'}: {' '.join(msgs)}" for path, msgs in errors.items())
        )


_COLUMN = {"type": "string", "minLength": 1, "maxLength": 128}
_COLUMNS = {"type": "array", "items": _COLUMN, "minItems": 1, "maxItems": 500, "uniqueItems": True}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_CAST_TYPE = {
    "oneOf": [
        {"enum": list(SIMPLE_TYPES)},
        {
            "type": "object",
            "properties": {
                "type": {"const": "decimal"},
                "precision": {"type": "integer", "minimum": 1, "maximum": 38},
                "scale": {"type": "integer", "minimum": 0, "maximum": 38},
            },
            "required": ["type", "precision", "scale"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "type": {"enum": ["date", "timestamp"]},
                "format": {"type": "string", "minLength": 2, "maxLength": 64, "pattern": "%"},
            },
            "required": ["type", "format"],
            "additionalProperties": False,
        },
    ]
}
TRANSFORM_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "DIEP transform spec",
    "description": "Applied in order: select, rename, cast, constants, metadata, filter, "
    "dedupe; then checks run on the result.",
    "type": "object",
    "properties": {
        "select": _COLUMNS,
        "rename": {"type": "object", "additionalProperties": _COLUMN, "maxProperties": 500},
        "cast": {"type": "object", "additionalProperties": _CAST_TYPE, "maxProperties": 500},
        "constants": {"type": "object", "additionalProperties": _SCALAR, "maxProperties": 100},
        "metadata": {
            "type": "array",
            "items": {"enum": list(METADATA_COLUMNS)},
            "uniqueItems": True,
        },
        "filter": {"type": "object"},
        "dedupe": {
            "type": "object",
            "properties": {"keys": _COLUMNS, "keep_latest_by": _COLUMN},
            "required": ["keys"],
            "additionalProperties": False,
        },
        "checks": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "type": {"enum": ["not_null", "unique"]},
                            "columns": _COLUMNS,
                        },
                        "required": ["type", "columns"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "accepted_values"},
                            "column": _COLUMN,
                            "values": {
                                "type": "array",
                                "items": _SCALAR,
                                "minItems": 1,
                                "maxItems": 1000,
                            },
                        },
                        "required": ["type", "column", "values"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "min_rows"},
                            "value": {"type": "integer", "minimum": 0},
                        },
                        "required": ["type", "value"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "required_columns"},
                            "columns": {
                                "type": "object",
                                "additionalProperties": {"enum": [*SIMPLE_TYPES, "decimal", "any"]},
                                "minProperties": 1,
                            },
                        },
                        "required": ["type", "columns"],
                        "additionalProperties": False,
                    },
                ]
            },
        },
    },
    "additionalProperties": False,
}
_TRANSFORM_VALIDATOR = jsonschema.Draft202012Validator(TRANSFORM_JSON_SCHEMA)


def _path(parts: Any) -> str:
    return ".".join(str(part) for part in parts)


def _schema_errors(validator: jsonschema.Draft202012Validator, value: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(value):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            message = f"Unknown key(s) {', '.join(map(repr, unknown))}"
            message += f"; allowed: {', '.join(allowed)}." if allowed else "."
        elif error.validator == "oneOf":
            message = "Does not match any accepted form; see the transform spec documentation."
        else:
            message = error.message[:300]
        errors.setdefault(_path(error.absolute_path), []).append(message)
    return errors


def validate_identifier(name: str) -> None:
    """A column name usable in paths (partition_by) and expressions."""
    problem = None
    if not isinstance(name, str) or not 1 <= len(name) <= 128:
        problem = "Column names have 1 to 128 characters."
    elif name in {".", ".."} or any(char in name for char in "/=\\"):
        problem = f"Column name {name!r} cannot contain '/', '\\' or '=' or be '.' or '..'."
    elif any(unicodedata.category(char) in {"Cc", "Cf"} for char in name):
        problem = "Column names cannot contain control characters."
    if problem:
        raise SpecError({"": [problem]})


def _check_filter(root: Any, errors: dict[str, list[str]]) -> None:
    # Iterative walk: a hostile 10,000-deep tree must not exhaust the Python stack.
    stack: list[tuple[Any, str, int]] = [(root, "filter", 1)]
    nodes = 0
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            errors.setdefault("filter", []).append(f"More than {MAX_FILTER_NODES} nodes.")
            return
        if depth > MAX_FILTER_DEPTH:
            errors.setdefault("filter", []).append(f"Nested deeper than {MAX_FILTER_DEPTH} levels.")
            return
        if isinstance(node, dict) and set(node) == {"col"}:
            try:
                validate_identifier(node["col"])
            except SpecError as exc:
                errors.setdefault(f"{path}.col", []).extend(exc.errors[""])
            continue
        if not isinstance(node, dict):
            if node is not None and not isinstance(node, str | int | float | bool):
                errors.setdefault(path, []).append("Expected an expression, a column or a scalar.")
            continue
        op, args = node.get("op"), node.get("args")
        if set(node) != {"op", "args"} or not isinstance(args, list):
            errors.setdefault(path, []).append(
                'An expression is {"op": name, "args": [...]}; a column is {"col": name}.'
            )
            continue
        if op not in FILTER_OPS:
            errors.setdefault(f"{path}.op", []).append(
                f"Unknown operator {str(op)[:40]!r}; known: {', '.join(FILTER_OPS)}."
            )
            continue
        low, high = FILTER_OPS[op]
        if len(args) < low or (high is not None and len(args) > high):
            expected = f"{low}" if low == high else f"at least {low}"
            errors.setdefault(f"{path}.args", []).append(f"{op} takes {expected} argument(s).")
            continue
        if op == "in":
            values = args[1]
            if (
                not isinstance(values, list)
                or len(values) > 1000
                or any(isinstance(v, dict | list) for v in values)
            ):
                errors.setdefault(f"{path}.args.1", []).append(
                    "in takes a literal list of at most 1000 scalars."
                )
            args = args[:1]
        if op in {"starts_with", "ends_with", "contains"}:
            if not isinstance(args[1], str):
                errors.setdefault(f"{path}.args.1", []).append(f"{op} takes a string literal.")
            args = args[:1]
        for index, arg in enumerate(args):
            stack.append((arg, f"{path}.args.{index}", depth + 1))


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counted iteratively and stopping past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def validate_transform(spec: object) -> dict[str, Any]:
    """The validated transform spec (`{}` is the identity); SpecError otherwise."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SpecError({"": ["The transform spec is a JSON object."]})
    if json_depth(spec, MAX_SPEC_DEPTH) > MAX_SPEC_DEPTH:
        raise SpecError(
            {"": [f"The transform spec is nested deeper than {MAX_SPEC_DEPTH} levels."]}
        )
    try:
        size = len(json.dumps(spec))
    except (TypeError, ValueError):
        raise SpecError({"": ["The transform spec is not serialisable JSON."]}) from None
    if size > MAX_SPEC_BYTES:
        raise SpecError({"": [f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."]})
    errors: dict[str, list[str]] = {}
    filter_tree = spec.get("filter")
    if filter_tree is not None:
        _check_filter(filter_tree, errors)
    errors.update(
        _schema_errors(_TRANSFORM_VALIDATOR, {k: v for k, v in spec.items() if k != "filter"})
    )
    columns: list[Any] = []
    for key in ("select", "rename", "cast", "constants"):
        value = spec.get(key)
        if isinstance(value, list):
            columns.extend(value)
        elif isinstance(value, dict):
            columns.extend(value.values() if key == "rename" else value)
    for column in columns:
        try:
            validate_identifier(column)
        except SpecError as exc:
            errors.setdefault("columns", []).extend(exc.errors[""])
    casts = spec.get("cast")
    for name, cast in casts.items() if isinstance(casts, dict) else []:
        if (
            isinstance(cast, dict)
            and isinstance(cast.get("scale"), int)
            and isinstance(cast.get("precision"), int)
            and cast["scale"] > cast["precision"]
        ):
            errors.setdefault(f"cast.{name}", []).append("scale cannot exceed precision.")
    if errors:
        raise SpecError(errors)
    return dict(spec)


_SOURCE_OPTIONS: dict[str, dict[str, Any]] = {
    "csv": {
        "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
        "header": {"type": "boolean"},
        "quote_char": {"type": "string", "minLength": 1, "maxLength": 1},
        "escape_char": {"type": ["string", "null"], "minLength": 1, "maxLength": 1},
        "encoding": {"enum": ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]},
        "null_values": {
            "type": "array",
            "items": {"type": "string", "maxLength": 64},
            "maxItems": 100,
        },
        "skip_rows": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "column_names": {**_COLUMNS},
    },
    "json": {"block_size_bytes": {"type": "integer", "minimum": 1024, "maximum": 256 * 1024**2}},
    "parquet": {"columns": _COLUMNS},
}
_SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "csv": {"delimiter": ",", "header": True, "quote_char": '"', "encoding": "utf-8"},
    "json": {},
    "parquet": {},
}
_DESTINATION_OPTIONS: dict[str, dict[str, Any]] = {
    "parquet": {"compression": {"enum": ["snappy", "zstd", "gzip", "none"]}},
    "csv": {
        "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
        "header": {"type": "boolean"},
    },
    "json": {},
}
_DESTINATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "parquet": {"compression": "snappy"},
    "csv": {"delimiter": ",", "header": True},
    "json": {},
}


def _validate_options(
    fmt: str,
    options: object,
    schemas: dict[str, dict[str, Any]],
    defaults: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    if fmt not in schemas:
        raise SpecError(
            {"": [f"Unknown format {str(fmt)[:20]!r}; use one of {', '.join(schemas)}."]}
        )
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise SpecError({"": ["Options are a JSON object."]})
    validator = jsonschema.Draft202012Validator(
        {"type": "object", "properties": schemas[fmt], "additionalProperties": False}
    )
    if errors := _schema_errors(validator, options):
        raise SpecError(errors)
    return {**defaults[fmt], **options}


def validate_source_options(fmt: str, options: object) -> dict[str, Any]:
    """Reader options for `fmt` with defaults filled; SpecError names unknown keys."""
    return _validate_options(fmt, options, _SOURCE_OPTIONS, _SOURCE_DEFAULTS)


def validate_destination_options(fmt: str, options: object) -> dict[str, Any]:
    """Writer options for `fmt` with defaults filled; SpecError names unknown keys."""
    return _validate_options(fmt, options, _DESTINATION_OPTIONS, _DESTINATION_DEFAULTS)
