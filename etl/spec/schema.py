"""The transform spec as a JSON Schema, and jsonschema's errors reworded for people.

The schema is published (API docs, external tools) and also validates the structure of
every spec, so there is one description of the language rather than two. Messages are
translated here because jsonschema's own name Python types and schema keywords, which
mean nothing to someone writing a job.
"""

from __future__ import annotations

from typing import Any, Final

import jsonschema

from etl.spec.base import (
    CHECK_TYPES,
    COMPARISON_OPS,
    INT64_MAX,
    MAX_CHECKS,
    MAX_COLUMNS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_IDENTIFIER_CHARS,
    MAX_IN_VALUES,
    MAX_SPEC_BYTES,
    MAX_STRPTIME_CHARS,
    METADATA_COLUMNS,
    REQUIRED_COLUMN_TYPES,
    SIMPLE_TYPES,
    STRING_OPS,
    Errors,
    Path,
    dotted_path,
    json_type,
    show,
)


def names_schema(max_items: int = MAX_COLUMNS) -> dict[str, Any]:
    """A non-empty list of distinct column names (also used by the reader options)."""
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
            {"properties": {"type": True, "columns": names_schema()}, "required": ["columns"]},
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
# with the iterative walker in etl.spec.transform: recursive $ref validation of a hostile
# tree would recurse once per level, and oneOf errors would not say which argument is wrong.
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
        "select": {**names_schema(), "description": "Keep only these columns, in this order."},
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
                "keys": names_schema(),
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


Validator: Final = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)
# Filters are checked by etl.spec.transform, so the validator only needs to know it is there.
TRANSFORM_VALIDATOR: Final = Validator(
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
            (dotted_path((*where, key)), "This key is required.")
            for key in expected
            if key not in value
        ]
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        unknown = ", ".join(show(key) for key in value if key not in allowed)
        message = f"Unknown key(s) {unknown}; allowed: {', '.join(allowed) or 'none'}."
        return [(dotted_path(where), message)]
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        if set(types) == set(_SCALAR["type"]):
            wanted = "a string, number, boolean or null"
        else:
            wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in types)
        message = f"Expected {wanted}, got {json_type(value)}."
    elif keyword == "enum":
        message = f"{show(value)} is not accepted; use one of: {', '.join(map(show, expected))}."
    elif keyword == "const":
        message = f"Expected {show(expected)}."
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
        message = f"Items must be unique; {show(_first_repeated(value))} is repeated."
    elif keyword == "pattern":
        message = str(schema.get("description") or f"Must match {expected}.")
    else:  # a keyword added to the schema without a wording here
        message = f"Invalid value ({keyword})."
    return [(dotted_path(where), message)]


def _first_repeated(items: list[object]) -> object:
    seen: list[object] = []  # a list, not a set: items may be unhashable
    for item in items:
        if item in seen:
            return item
        seen.append(item)
    return None


def schema_errors(validator: Any, value: object, errors: Errors) -> None:
    """Add every error `validator` finds in `value` to `errors`, reworded."""
    for error in validator.iter_errors(value):
        for path, message in _schema_messages(error):
            errors.add(path, message)
