"""The transform and reader/writer option language of DIEP jobs.

Pure (no Django): the same module validates a job in the portal and inside the
AWS Glue job. Specs are JSON data, interpreted by the ETL library, never eval'd.

A transform spec is a JSON object whose keys are all optional and are applied in
this order: select, rename, cast, constants, metadata, filter, dedupe; the checks
then run on the result. `{}` is the identity.

Structure is described by a Draft 2020-12 JSON Schema (`TRANSFORM_JSON_SCHEMA`,
also shown by the API docs). What a schema cannot say, or cannot say safely, is
checked in Python: expression depth and size (iteratively, so a hostile
10,000-deep tree cannot exhaust the stack), operator arity, column-name rules
and a few cross-field rules. Every error is reported under a dotted path within
the validated object ("filter.args.0", "cast.amount.scale"; "" for the root).
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final

import jsonschema

__all__ = [
    "DESTINATION_FORMATS",
    "FILTER_OPS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "MAX_SPEC_BYTES",
    "SOURCE_FORMATS",
    "TRANSFORM_JSON_SCHEMA",
    "WRITE_MODES",
    "SpecError",
    "json_depth",
    "validate_destination_options",
    "validate_identifier",
    "validate_source_options",
    "validate_transform",
]

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
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Nesting allowed outside "filter": the deepest legal value (a required_columns type name,
# checks → item → columns → type) is 4 levels down; the margin keeps messages about the
# actual mistake coming from the schema rather than from this guard.
_MAX_PLAIN_DEPTH: Final = 8
# A legal filter uses at most 2 JSON levels per expression (an object holding an args list)
# plus a leaf and the items of an "in" list. This guard only keeps recursive code safe;
# the margin leaves the exact limit, and its message, to _check_filter.
_MAX_FILTER_JSON_DEPTH: Final = 2 * MAX_FILTER_DEPTH + 8

Path = tuple[str | int, ...]


class SpecError(ValueError):
    """An invalid spec; `errors` maps a dotted path within the validated object ("" is the
    root) to human-readable messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{path or '(root)'}: {' '.join(msgs)}" for path, msgs in errors.items())
        )


class _Errors:
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
        f"\\u{ord(char):04x}" if unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in text
    )


def _show(value: object, limit: int = 60) -> str:
    """A value as it would appear in JSON, made safe to print and cut to `limit` chars."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    text = _escape_unsafe(text[: limit + 1])  # cut first: the value may be 64 KiB long
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(parts: Iterable[object]) -> str:
    return ".".join(_escape_unsafe(str(part)) for part in parts)


# ---------------------------------------------------------------------------------------
# The JSON Schema


def _names(max_items: int = MAX_COLUMNS) -> dict[str, Any]:
    return {
        "type": "array",
        "items": _COLUMN,
        "minItems": 1,
        "maxItems": max_items,
        "uniqueItems": True,
    }


def _when_type(value: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    # A discriminated union: unlike oneOf, errors come from the one branch that applies.
    test = {"const": value} if isinstance(value, str) else {"enum": value}
    return {
        "if": {"type": "object", "properties": {"type": test}, "required": ["type"]},
        "then": {**then, "additionalProperties": False},
    }


_COLUMN: Final[dict[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_IDENTIFIER_CHARS,
    "description": "A column name. Names the spec creates (rename targets, constants) cannot "
    "contain '/', '=' or control characters, nor be '.' or '..'.",
}
_SCALAR: Final[dict[str, Any]] = {"type": ["string", "number", "boolean", "null"]}
_CAST_TYPE: Final[dict[str, Any]] = {
    "type": ["string", "object"],
    "if": {"type": "string"},
    "then": {"enum": list(SIMPLE_TYPES)},
    "else": {
        "properties": {"type": {"enum": ["decimal", "date", "timestamp"]}},
        "required": ["type"],
        "allOf": [
            _when_type(
                "decimal",
                {
                    "properties": {
                        "type": True,
                        "precision": {"type": "integer", "minimum": 1, "maximum": 38},
                        "scale": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 38,
                            "description": "At most the precision.",
                        },
                    },
                    "required": ["precision", "scale"],
                },
            ),
            _when_type(
                ["date", "timestamp"],
                {
                    "properties": {
                        "type": True,
                        "format": {
                            "type": "string",
                            "maxLength": MAX_STRPTIME_CHARS,
                            "pattern": "%[A-Za-z]",
                            "description": "A strptime format with at least one % directive, "
                            "e.g. %d/%m/%Y.",
                        },
                    },
                    "required": ["format"],
                },
            ),
        ],
    },
}
_CHECK: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"type": {"enum": list(CHECK_TYPES)}},
    "required": ["type"],
    "allOf": [
        _when_type(
            ["not_null", "unique"],
            {"properties": {"type": True, "columns": _names()}, "required": ["columns"]},
        ),
        _when_type(
            "accepted_values",
            {
                "properties": {
                    "type": True,
                    "column": _COLUMN,
                    "values": {
                        "type": "array",
                        "items": _SCALAR,
                        "minItems": 1,
                        "maxItems": MAX_IN_VALUES,
                    },
                },
                "required": ["column", "values"],
            },
        ),
        _when_type(
            "min_rows",
            {
                "properties": {
                    "type": True,
                    "value": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
                },
                "required": ["value"],
            },
        ),
        _when_type(
            "required_columns",
            {
                "properties": {
                    "type": True,
                    "columns": {
                        "type": "object",
                        "additionalProperties": {"enum": list(REQUIRED_COLUMN_TYPES)},
                        "minProperties": 1,
                        "maxProperties": MAX_COLUMNS,
                    },
                },
                "required": ["columns"],
            },
        ),
    ],
}


def _expression_form(ops: list[str], args: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"op": {"enum": ops}, "args": {"type": "array", **args}},
        "required": ["op", "args"],
        "additionalProperties": False,
    }


_OPERAND_REF: Final = {"$ref": "#/$defs/operand"}
# The filter grammar, for documentation and external tools. DIEP itself checks filters
# with the iterative walker below: recursive $ref validation of a hostile tree would
# recurse once per level, and oneOf errors would not say which argument is wrong.
_FILTER_DEFS: Final[dict[str, Any]] = {
    "scalar": _SCALAR,
    "column": {
        "type": "object",
        "properties": {"col": _COLUMN},
        "required": ["col"],
        "additionalProperties": False,
    },
    "operand": {
        "anyOf": [
            {"$ref": "#/$defs/scalar"},
            {"$ref": "#/$defs/column"},
            {"$ref": "#/$defs/expression"},
        ]
    },
    "expression": {
        "description": f"At most {MAX_FILTER_DEPTH} expressions deep and {MAX_FILTER_NODES} "
        "nodes in all (checked outside the schema).",
        "oneOf": [
            _expression_form(
                list(COMPARISON_OPS),
                {"prefixItems": [_OPERAND_REF, _OPERAND_REF], "items": False, "minItems": 2},
            ),
            _expression_form(["and", "or"], {"items": _OPERAND_REF, "minItems": 2}),
            _expression_form(
                ["not", "is_null", "is_valid"],
                {"prefixItems": [_OPERAND_REF], "items": False, "minItems": 1},
            ),
            _expression_form(
                ["in"],
                {
                    "prefixItems": [
                        _OPERAND_REF,
                        {
                            "type": "array",
                            "items": _SCALAR,
                            "minItems": 1,
                            "maxItems": MAX_IN_VALUES,
                        },
                    ],
                    "items": False,
                    "minItems": 2,
                },
            ),
            _expression_form(
                ["between"],
                {
                    "prefixItems": [_OPERAND_REF, _OPERAND_REF, _OPERAND_REF],
                    "items": False,
                    "minItems": 3,
                },
            ),
            _expression_form(
                list(STRING_OPS),
                {"prefixItems": [_OPERAND_REF, {"type": "string"}], "items": False, "minItems": 2},
            ),
        ],
    },
}

TRANSFORM_JSON_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "DIEP transform spec",
    "description": "Every key is optional; they apply in this order: select, rename, cast, "
    "constants, metadata, filter, dedupe; then the checks run on the result. {} is the "
    f"identity. At most {MAX_SPEC_BYTES} bytes serialised.",
    "type": "object",
    "properties": {
        "select": {**_names(), "description": "Keep only these columns, in this order."},
        "rename": {
            "type": "object",
            "additionalProperties": _COLUMN,
            "maxProperties": MAX_COLUMNS,
            "description": "{old name: new name}.",
        },
        "cast": {
            "type": "object",
            "additionalProperties": _CAST_TYPE,
            "maxProperties": MAX_COLUMNS,
            "description": "{column: type}: a type name, {type: decimal, precision, scale} or "
            "{type: date|timestamp, format}.",
        },
        "constants": {
            "type": "object",
            "additionalProperties": _SCALAR,
            "maxProperties": MAX_COLUMNS,
            "description": "{new column: literal value}.",
        },
        "metadata": {
            "type": "array",
            "items": {"enum": list(METADATA_COLUMNS)},
            "uniqueItems": True,
            "description": "Columns describing the run added to every row.",
        },
        "filter": {
            "$ref": "#/$defs/expression",
            "description": "Keep the rows for which this expression is true.",
        },
        "dedupe": {
            "type": "object",
            "properties": {
                "keys": _names(),
                "keep_latest_by": {
                    **_COLUMN,
                    "type": ["string", "null"],
                    "description": "Keep the row with the greatest value of this column; "
                    "null keeps the first row read.",
                },
            },
            "required": ["keys"],
            "additionalProperties": False,
        },
        "checks": {"type": "array", "items": _CHECK, "maxItems": MAX_CHECKS},
    },
    "additionalProperties": False,
    "$defs": _FILTER_DEFS,
}


def _strict_integer(checker: object, instance: object) -> bool:
    # JSON Schema counts 10.0 as an integer; pyarrow's decimal128(10.0) and row counts don't.
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator: Final = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)
# Filters are checked by _check_filter, so the validator only needs to know it is there.
_TRANSFORM_VALIDATOR: Final = _Validator(
    {**TRANSFORM_JSON_SCHEMA, "properties": {**TRANSFORM_JSON_SCHEMA["properties"], "filter": True}}
)

_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "object": "an object",
    "array": "a list",
}


def _json_type(value: object) -> str:
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


def _schema_messages(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(path, message) pairs for one jsonschema error, worded for people, not Python."""
    where: Path = tuple(error.absolute_path)
    # jsonschema types these as unions with its "unset" sentinel; for an error yielded by
    # iter_errors they are always set.
    keyword: Any = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    schema: Any = error.schema
    if keyword == "required" and isinstance(value, dict):
        return [
            (_path((*where, key)), "This key is required.") for key in expected if key not in value
        ]
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        unknown = ", ".join(_show(key) for key in value if key not in allowed)
        message = f"Unknown key(s) {unknown}; allowed: {', '.join(allowed) or 'none'}."
        return [(_path(where), message)]
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        if set(types) == set(_SCALAR["type"]):
            wanted = "a string, number, boolean or null"
        else:
            wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in types)
        message = f"Expected {wanted}, got {_json_type(value)}."
    elif keyword == "enum":
        message = f"{_show(value)} is not accepted; use one of: {', '.join(map(_show, expected))}."
    elif keyword == "const":
        message = f"Expected {_show(expected)}."
    elif keyword in {"minLength", "maxLength"}:
        if keyword == "minLength" and expected == 1:
            message = "Cannot be empty."
        else:
            bound = "at least" if keyword == "minLength" else "at most"
            message = f"Must have {bound} {expected} character(s) (has {len(value)})."
    elif keyword in {"minItems", "maxItems", "minProperties", "maxProperties"}:
        bound = "at least" if keyword.startswith("min") else "at most"
        noun = "item(s)" if keyword.endswith("Items") else "entry(ies)"
        message = f"Must have {bound} {expected} {noun} (has {len(value)})."
    elif keyword in {"minimum", "maximum"}:
        message = f"Must be {'at least' if keyword == 'minimum' else 'at most'} {expected}."
    elif keyword == "uniqueItems":
        message = f"Items must be unique; {_show(_first_repeated(value))} is repeated."
    elif keyword == "pattern":
        message = str(schema.get("description") or f"Must match {expected}.")
    else:  # a keyword added to the schema without a wording here
        message = f"Invalid value ({keyword})."
    return [(_path(where), message)]


def _first_repeated(items: list[object]) -> object:
    seen: list[object] = []  # a list, not a set: items may be unhashable
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def _schema_errors(validator: Any, value: object, errors: _Errors) -> None:
    for error in validator.iter_errors(value):
        for path, message in _schema_messages(error):
            errors.add(path, message)


# ---------------------------------------------------------------------------------------
# Python checks


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value (a scalar is 1), counted iteratively so a hostile
    document cannot exhaust the stack, and stopping as soon as it exceeds `limit`."""
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


def _json_problem(
    value: object, where: Path, max_depth: int, deep_message: str, budget: list[int]
) -> tuple[str, str] | None:
    """The first reason `value` is not plain, bounded JSON, as (path, message).

    Runs before anything recursive (json.dumps, jsonschema, equality of nested lists).
    `budget` is shared across calls: it roughly counts characters, so even a value built
    to be huge (or a structure repeating one list many times) is refused in linear time.
    """
    stack: list[tuple[object, Path, int]] = [(value, where, 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            return _path(where), deep_message
        if isinstance(node, dict | list | str):
            budget[0] -= len(node) + 1
        if budget[0] < 0:
            return "", f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    return _path(path), f"Keys must be strings, got {_json_type(key)}."
                budget[0] -= len(key)
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(node, list):
            stack.extend((child, (*path, index), depth + 1) for index, child in enumerate(node))
        elif isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                return _path(path), "Integers must fit in 64 bits."
        elif isinstance(node, float):
            if not math.isfinite(node):
                return _path(path), "NaN and infinite numbers are not JSON."
        else:
            return _path(path), f"Not a JSON value ({type(node).__name__})."
    return None


def _name_problem(name: object, *, creates: bool) -> str | None:
    """Why `name` cannot be used as a column name, or None.

    Names the spec only refers to may be awkward source names ("price/unit"), since
    select and rename are how such columns get fixed; names it creates must also be
    usable as a Hive partition directory (`name=value/`).
    """
    if not isinstance(name, str):
        return f"A column name is a string, got {_json_type(name)}."
    if not 1 <= len(name) <= MAX_IDENTIFIER_CHARS:
        return f"Column names have 1 to {MAX_IDENTIFIER_CHARS} characters (has {len(name)})."
    if any(unicodedata.category(char) in _UNSAFE_CATEGORIES for char in name):
        return f"Column name {_show(name)} contains control or invisible characters."
    if creates and (name in {".", ".."} or "/" in name or "=" in name):
        return f"Column name {_show(name)} cannot contain '/' or '=', nor be '.' or '..'."
    return None


def validate_identifier(name: str) -> None:
    """Check a column name the job creates or partitions by: 1 to 128 characters, no '/',
    '=' or control/invisible characters, not '.' or '..'. Raises SpecError (path "")."""
    if problem := _name_problem(name, creates=True):
        raise SpecError({"": [problem]})


def _is_expression(node: object) -> bool:
    return isinstance(node, dict) and "op" in node


def _check_filter(root: object, errors: _Errors) -> None:
    """Check the filter expression tree without recursion (depth, size, ops, arity)."""
    if not _is_expression(root):
        errors.add("filter", 'The filter is an expression: {"op": name, "args": [...]}.')
        return
    stack: list[tuple[object, Path, int]] = [(root, ("filter",), 1)]
    nodes = 0
    while stack:
        node, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            errors.add("filter", f"The filter has more than {MAX_FILTER_NODES} nodes.")
            return
        path = _path(where)
        if isinstance(node, list):
            errors.add(path, 'A list is only accepted as the second argument of "in".')
            continue
        if not isinstance(node, dict):
            continue  # a literal scalar; _json_problem already refused anything else
        if "col" in node and "op" not in node:
            if set(node) != {"col"}:
                errors.add(path, 'Unknown key(s) next to "col"; a column is {"col": name}.')
            elif problem := _name_problem(node["col"], creates=False):
                errors.add(_path((*where, "col")), problem)
            continue
        if depth > MAX_FILTER_DEPTH:
            errors.add("filter", f"Expressions are nested deeper than {MAX_FILTER_DEPTH} levels.")
            return
        if unknown := [key for key in node if key not in {"op", "args"}]:
            errors.add(path, f"Unknown key(s) {', '.join(map(_show, unknown))}; allowed: op, args.")
            continue
        if "op" not in node or "args" not in node:
            missing = "op" if "op" not in node else "args"
            errors.add(_path((*where, missing)), "This key is required.")
            continue
        op, args = node["op"], node["args"]
        if not isinstance(op, str) or op not in FILTER_OPS:
            errors.add(
                _path((*where, "op")),
                f"Unknown operator {_show(op, 40)}; use one of: {', '.join(FILTER_OPS)}.",
            )
            continue
        if not isinstance(args, list):
            errors.add(_path((*where, "args")), f"Expected a list, got {_json_type(args)}.")
            continue
        low, high = FILTER_OPS[op]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            errors.add(
                _path((*where, "args")), f'"{op}" takes {wanted} argument(s), got {len(args)}.'
            )
            continue
        children: list[tuple[object, Path, int]] = []
        for index, arg in enumerate(args):
            arg_path = (*where, "args", index)
            if index == 1 and op == "in":
                if (
                    not isinstance(arg, list)
                    or not 1 <= len(arg) <= MAX_IN_VALUES
                    or any(isinstance(item, dict | list) for item in arg)
                ):
                    errors.add(
                        _path(arg_path),
                        f'"in" takes a literal list of 1 to {MAX_IN_VALUES} scalars.',
                    )
            elif index == 1 and op in STRING_OPS:
                if not isinstance(arg, str):
                    errors.add(_path(arg_path), f'"{op}" takes a string literal here.')
            elif op in BOOLEAN_OPS and not isinstance(arg, dict | bool) and arg is not None:
                # "and" on a string literal is always a mistake (usually a missing {"col": ...}).
                errors.add(_path(arg_path), f'"{op}" takes conditions, not {_json_type(arg)}.')
            else:
                children.append((arg, arg_path, depth + 1))
        stack.extend(reversed(children))  # so errors come in argument order


def _check_names(spec: Mapping[str, Any], errors: _Errors) -> None:
    """Column-name rules and cross-field rules, for the parts the schema accepted."""

    def check(name: object, where: Path, *, creates: bool = False) -> None:
        path = _path(where)
        if path not in errors.by_path and (problem := _name_problem(name, creates=creates)):
            errors.add(path, problem)

    select, rename, cast = spec.get("select"), spec.get("rename"), spec.get("cast")
    constants, dedupe, checks = spec.get("constants"), spec.get("dedupe"), spec.get("checks")
    if isinstance(select, list):
        for index, name in enumerate(select):
            check(name, ("select", index))
    if isinstance(rename, dict):
        targets: dict[str, str] = {}
        for old, new in rename.items():
            check(old, ("rename", old))
            check(new, ("rename", old), creates=True)
            if not isinstance(new, str):
                continue
            if new in targets:
                errors.add(
                    _path(("rename", old)),
                    f"{_show(new)} is already the new name of {_show(targets[new])}.",
                )
            targets.setdefault(new, old)
    if isinstance(cast, dict):
        for column, kind in cast.items():
            check(column, ("cast", column))
            if (
                isinstance(kind, dict)
                and isinstance(kind.get("precision"), int)
                and isinstance(kind.get("scale"), int)
                and kind["scale"] > kind["precision"]
            ):
                errors.add(
                    _path(("cast", column, "scale")),
                    f"The scale ({kind['scale']}) cannot exceed the precision "
                    f"({kind['precision']}).",
                )
    metadata = spec.get("metadata")
    if isinstance(constants, dict):
        for column in constants:
            check(column, ("constants", column), creates=True)
            if isinstance(metadata, list) and column in metadata:
                errors.add(
                    _path(("constants", column)),
                    f"{_show(column)} is also requested as a metadata column.",
                )
    if isinstance(dedupe, dict):
        if isinstance(dedupe.get("keys"), list):
            for index, name in enumerate(dedupe["keys"]):
                check(name, ("dedupe", "keys", index))
        if dedupe.get("keep_latest_by") is not None:
            check(dedupe["keep_latest_by"], ("dedupe", "keep_latest_by"))
    if isinstance(checks, list):
        for index, item in enumerate(checks):
            if not isinstance(item, dict):
                continue
            columns = item.get("columns")
            if isinstance(columns, list):
                for position, name in enumerate(columns):
                    check(name, ("checks", index, "columns", position))
            elif isinstance(columns, dict):
                for name in columns:
                    check(name, ("checks", index, "columns", name))
            if "column" in item:
                check(item["column"], ("checks", index, "column"))


def _normalised(spec: Mapping[str, Any]) -> dict[str, Any]:
    # A detached copy holding only JSON types; then the defaults, so the ETL reads every
    # optional field the same way. Idempotent: a normalised spec validates to itself.
    result: dict[str, Any] = json.loads(json.dumps(spec))
    if isinstance(result.get("dedupe"), dict):
        result["dedupe"].setdefault("keep_latest_by", None)
    return result


def validate_transform(spec: object) -> dict[str, Any]:
    """Validate a transform spec and return it normalised (a detached copy with defaults
    filled: dedupe.keep_latest_by → null). `{}` (or None) is the identity.

    Raises SpecError with messages by dotted path; unknown keys, ops and check types are
    named. The spec is bounded in size (MAX_SPEC_BYTES serialised) and depth before
    anything recursive touches it.
    """
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SpecError({"": [f"The transform spec is a JSON object, got {_json_type(spec)}."]})
    errors = _Errors()
    budget = [MAX_SPEC_BYTES]
    for key, value in spec.items():
        if not isinstance(key, str):
            errors.add("", f"Keys must be strings, got {_json_type(key)}.")
            continue
        if key == "filter":
            limit = _MAX_FILTER_JSON_DEPTH
            deep = f"Expressions are nested deeper than {MAX_FILTER_DEPTH} levels."
        else:
            limit, deep = _MAX_PLAIN_DEPTH, f"Nested deeper than {_MAX_PLAIN_DEPTH} levels."
        if problem := _json_problem(value, (key,), limit, deep, budget):
            errors.add(*problem)
            if problem[0] == "":
                break  # over the size budget: nothing more is worth reading
    errors.raise_if_any()
    try:
        size = len(json.dumps(spec, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except UnicodeEncodeError:
        raise SpecError(
            {"": ["The transform spec contains invalid Unicode (a lone surrogate)."]}
        ) from None
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            {"": [f"The transform spec is larger than {MAX_SPEC_BYTES} bytes ({size})."]}
        )
    _schema_errors(_TRANSFORM_VALIDATOR, spec, errors)
    if "filter" in spec:
        _check_filter(spec["filter"], errors)
    _check_names(spec, errors)
    errors.raise_if_any()
    return _normalised(spec)


# ---------------------------------------------------------------------------------------
# Reader and writer options

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
        "column_names": _names(),
    },
    # JSON Lines only: one object per line, which keeps files splittable and streamable.
    "json": {
        "block_size_bytes": {"type": "integer", "minimum": 1024, "maximum": 256 * 1024**2},
    },
    "parquet": {"columns": _names()},
}
for _options in _SOURCE_OPTIONS.values():
    # Runs without a manifest read only files modified since the last successful run.
    _options["bookmark"] = {"type": "boolean"}
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
        fmt: _Validator({"type": "object", "properties": props, "additionalProperties": False})
        for fmt, props in schemas.items()
    }


_SOURCE_VALIDATORS: Final = _option_validators(_SOURCE_OPTIONS)
_DESTINATION_VALIDATORS: Final = _option_validators(_DESTINATION_OPTIONS)


def _check_csv_chars(options: Mapping[str, Any], errors: _Errors) -> None:
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
            {"": [f"Unknown format {_show(fmt, 30)}; use one of: {', '.join(validators)}."]}
        )
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise SpecError({"": [f"Options are a JSON object, got {_json_type(options)}."]})
    # Options are flat (at most a list of strings). The guard runs first because jsonschema's
    # uniqueItems compares nested lists recursively.
    budget = [MAX_SPEC_BYTES]
    for key, value in options.items():
        if guard := _json_problem(value, (key,), 2, "Nested too deeply.", budget):
            path, message = guard
            raise SpecError({path: [message.replace("transform spec", "options")]})
    errors = _Errors()
    for key in options:
        if (fmt, key) in _HINTS:
            errors.add("", _HINTS[(fmt, key)])
    _schema_errors(validators[fmt], options, errors)
    if fmt == "csv":
        _check_csv_chars({**defaults[fmt], **options}, errors)
        names = options.get("column_names")
        if isinstance(names, list):
            for index, name in enumerate(names):
                path = _path(("column_names", index))
                if path not in errors.by_path and (problem := _name_problem(name, creates=True)):
                    errors.add(path, problem)
    errors.raise_if_any()
    return {**defaults[fmt], **json.loads(json.dumps(options))}


def validate_source_options(fmt: str, options: object) -> dict[str, Any]:
    """Validate reader options for source format `fmt` and return them with defaults filled
    (None means {}). Unknown keys are refused with the list of allowed ones.

    csv: delimiter, header (true), quote_char, escape_char (null), encoding (utf-8),
    null_values, skip_rows (0), column_names. json (JSON Lines): block_size_bytes
    (1 MiB). parquet: columns.
    """
    return _validate_options(fmt, options, _SOURCE_VALIDATORS, _SOURCE_DEFAULTS)


def validate_destination_options(fmt: str, options: object) -> dict[str, Any]:
    """Validate writer options for destination format `fmt` and return them with defaults
    filled (None means {}). parquet: compression (snappy|zstd|gzip|none, default snappy);
    csv: delimiter (","), header (true); json: none."""
    return _validate_options(fmt, options, _DESTINATION_VALIDATORS, _DESTINATION_DEFAULTS)
