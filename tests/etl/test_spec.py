"""The transform/option specification language (etl.spec): pure, no Django."""

from __future__ import annotations

import ast
import copy
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from etl import spec as etl_spec
from etl.spec import (
    DESTINATION_FORMATS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_SPEC_BYTES,
    SOURCE_FORMATS,
    TRANSFORM_JSON_SCHEMA,
    WRITE_MODES,
    SpecError,
    validate_destination_options,
    validate_source_options,
    validate_transform,
)
from etl.spec.base import MAX_REPORTED_ERRORS
from etl.spec.guards import json_depth, validate_identifier

ALLOWED_TOP = "select, rename, cast, constants, metadata, filter, dedupe, checks"
ALL_OPS = (
    "==, !=, <, <=, >, >=, and, or, not, is_null, is_valid, in, between, "
    "starts_with, ends_with, contains"
)
IDENTIFIER_RULE = "cannot contain '/' or '=', nor be '.' or '..'."


def col(name: str) -> dict[str, str]:
    return {"col": name}


def op(name: str, *args: Any) -> dict[str, Any]:
    return {"op": name, "args": list(args)}


def errors_of(spec: object) -> dict[str, list[str]]:
    with pytest.raises(SpecError) as info:
        validate_transform(spec)
    return info.value.errors


def nested_not(levels: int, leaf: Any = None) -> dict[str, Any]:
    """`levels` nested "not" expressions around a column, built without recursion."""
    node: Any = col("flag") if leaf is None else leaf
    for _ in range(levels):
        node = op("not", node)
    return node


FULL_SPEC: dict[str, Any] = {
    "select": ["id", "amount", "Price/Unit", "created", "status", "email"],
    "rename": {"id": "order_id", "Price/Unit": "price_per_unit"},
    "cast": {
        "order_id": "int",
        "amount": {"type": "decimal", "precision": 12, "scale": 2},
        "created": {"type": "timestamp", "format": "%Y-%m-%dT%H:%M:%S"},
        "price_per_unit": "float",
    },
    "constants": {"source_system": "shop", "version": 2, "ratio": 0.5, "live": True, "x": None},
    "metadata": ["ingested_at", "source_file", "run_id"],
    "filter": op(
        "and",
        op(">", col("amount"), 0),
        op("not", op("is_null", col("email"))),
        op("in", col("status"), ["paid", "shipped"]),
    ),
    "dedupe": {"keys": ["order_id"], "keep_latest_by": "created"},
    "checks": [
        {"type": "not_null", "columns": ["order_id"]},
        {"type": "unique", "columns": ["order_id"]},
        {"type": "accepted_values", "column": "status", "values": ["paid", "shipped"]},
        {"type": "min_rows", "value": 1},
        {"type": "required_columns", "columns": {"order_id": "int", "amount": "decimal"}},
    ],
}


# --- constants ---------------------------------------------------------------------------


def test_format_and_mode_constants() -> None:
    assert SOURCE_FORMATS == ("csv", "json", "parquet")
    assert DESTINATION_FORMATS == ("parquet", "csv", "json")
    assert WRITE_MODES == ("append", "overwrite")


def test_module_is_django_free() -> None:
    # The same package runs inside AWS Glue, where Django is not installed.
    trees = [
        ast.parse(source.read_text(encoding="utf-8"))
        for source in sorted(Path(etl_spec.__file__).parent.glob("*.py"))
    ]
    assert len(trees) > 1
    imported = [
        name
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    ]
    assert imported
    assert not [name for name in imported if name.split(".")[0] in {"django", "rest_framework"}]


# --- valid transforms ----------------------------------------------------------------------


@pytest.mark.parametrize("spec", [{}, None])
def test_empty_spec_is_the_identity(spec: object) -> None:
    assert validate_transform(spec) == {}


def test_full_spec_is_valid_and_normalised() -> None:
    original = copy.deepcopy(FULL_SPEC)
    result = validate_transform(FULL_SPEC)
    assert result == FULL_SPEC
    assert original == FULL_SPEC  # the input is not modified


def test_result_is_a_detached_copy() -> None:
    spec = {"select": ["a"], "dedupe": {"keys": ["a"]}}
    result = validate_transform(spec)
    result["select"].append("b")
    result["dedupe"]["keys"].append("b")
    assert spec == {"select": ["a"], "dedupe": {"keys": ["a"]}}


def test_dedupe_default_is_filled_and_normalisation_is_idempotent() -> None:
    result = validate_transform({"dedupe": {"keys": ["id"]}})
    assert result == {"dedupe": {"keys": ["id"], "keep_latest_by": None}}
    assert validate_transform(result) == result


@pytest.mark.parametrize(
    "expression",
    [
        *(op(name, col("a"), 1) for name in ("==", "!=", "<", "<=", ">", ">=")),
        op("and", op("==", col("a"), 1), op("==", col("b"), "x")),
        op("and", op("==", col("a"), 1), op("==", col("b"), 2), col("flag")),
        op("or", op("is_null", col("a")), op("is_valid", col("b"))),
        op("not", op("==", col("a"), None)),
        op("is_null", col("a")),
        op("is_valid", col("a")),
        op("in", col("a"), [1, "two", 3.5, True, None]),
        op("in", col("a"), list(range(1000))),
        op("between", col("a"), 1, 10),
        op("between", col("a"), col("low"), col("high")),
        op("starts_with", col("a"), "pre"),
        op("ends_with", col("a"), ".csv"),
        op("contains", col("a"), ""),
        op("==", col("a"), col("b")),
        op("and", True, op("==", col("a"), 1)),
        op("==", col("Price/Unit"), 1),  # references may be awkward source names
    ],
)
def test_every_operator_is_accepted(expression: dict[str, Any]) -> None:
    assert validate_transform({"filter": expression}) == {"filter": expression}
    # The published schema agrees with the Python checker on valid filters.
    assert jsonschema.Draft202012Validator(TRANSFORM_JSON_SCHEMA).is_valid({"filter": expression})


@pytest.mark.parametrize(
    "check",
    [
        {"type": "not_null", "columns": ["a", "b"]},
        {"type": "unique", "columns": ["a"]},
        {"type": "accepted_values", "column": "a", "values": ["x", 1, 2.5, False, None]},
        {"type": "min_rows", "value": 0},
        {"type": "min_rows", "value": 10_000_000},
        {
            "type": "required_columns",
            "columns": {"a": "string", "b": "decimal", "c": "any", "d": "timestamp"},
        },
    ],
)
def test_every_check_shape_is_accepted(check: dict[str, Any]) -> None:
    assert validate_transform({"checks": [check]}) == {"checks": [check]}


@pytest.mark.parametrize(
    "cast",
    [
        *etl_spec.SIMPLE_TYPES,
        {"type": "decimal", "precision": 38, "scale": 38},
        {"type": "decimal", "precision": 1, "scale": 0},
        {"type": "date", "format": "%d/%m/%Y"},
        {"type": "timestamp", "format": "%d %b %Y %I:%M %p"},
        {"type": "timestamp", "format": "x" * 62 + "%Y"},
    ],
)
def test_every_cast_form_is_accepted(cast: object) -> None:
    assert validate_transform({"cast": {"c": cast}}) == {"cast": {"c": cast}}


def test_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(TRANSFORM_JSON_SCHEMA)
    assert TRANSFORM_JSON_SCHEMA["$schema"].endswith("2020-12/schema")
    validator = jsonschema.Draft202012Validator(TRANSFORM_JSON_SCHEMA)
    assert validator.is_valid(FULL_SPEC)
    # What the schema can express about filters, it rejects too.
    for bad in (op("like", col("a"), 1), op("==", col("a")), op("in", col("a"), "x")):
        assert not validator.is_valid({"filter": bad})


# --- transform errors: paths and messages --------------------------------------------------


def test_non_object_spec() -> None:
    assert errors_of([1]) == {"": ["The transform spec is a JSON object, got a list."]}
    assert errors_of("{}") == {"": ["The transform spec is a JSON object, got a string."]}


def test_unknown_top_level_keys_are_named() -> None:
    assert errors_of({"explode": True, "select": ["a"], "zap": 1}) == {
        "": [f'Unknown key(s) "explode", "zap"; allowed: {ALLOWED_TOP}.']
    }


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"select": "a"}, "select", "Expected a list, got a string."),
        ({"select": []}, "select", "Must have at least 1 item(s) (has 0)."),
        ({"select": ["a", "b", "a"]}, "select", 'Items must be unique; "a" is repeated.'),
        ({"select": ["a", ""]}, "select.1", "Cannot be empty."),
        ({"select": ["a", 5]}, "select.1", "Expected a string, got an integer."),
        (
            {"select": ["x" * 129]},
            "select.0",
            "Must have at most 128 character(s) (has 129).",
        ),
        (
            {"select": [f"c{i}" for i in range(501)]},
            "select",
            "Must have at most 500 item(s) (has 501).",
        ),
        ({"rename": ["a"]}, "rename", "Expected an object, got a list."),
        ({"rename": {"a": 1}}, "rename.a", "Expected a string, got an integer."),
        ({"rename": {"a": "b/c"}}, "rename.a", f'Column name "b/c" {IDENTIFIER_RULE}'),
        ({"rename": {"a": ".."}}, "rename.a", f'Column name ".." {IDENTIFIER_RULE}'),
        (
            {"rename": {"a": "x", "b": "x"}},
            "rename.b",
            '"x" is already the new name of "a".',
        ),
        (
            {"cast": {"amount": "integer"}},
            "cast.amount",
            '"integer" is not accepted; use one of: "string", "int", "float", "bool", '
            '"date", "timestamp".',
        ),
        ({"cast": {"a": 5}}, "cast.a", "Expected a string or an object, got an integer."),
        (
            {"cast": {"a": {"type": "money"}}},
            "cast.a.type",
            '"money" is not accepted; use one of: "decimal", "date", "timestamp".',
        ),
        ({"cast": {"a": {"precision": 3}}}, "cast.a.type", "This key is required."),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 10}}},
            "cast.amount.scale",
            "This key is required.",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 39, "scale": 2}}},
            "cast.amount.precision",
            "Must be at most 38.",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 0, "scale": 0}}},
            "cast.amount.precision",
            "Must be at least 1.",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 10.0, "scale": 2}}},
            "cast.amount.precision",
            "Expected an integer, got a number.",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": True, "scale": 0}}},
            "cast.amount.precision",
            "Expected an integer, got a boolean.",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 5, "scale": 6}}},
            "cast.amount.scale",
            "The scale (6) cannot exceed the precision (5).",
        ),
        (
            {"cast": {"amount": {"type": "decimal", "precision": 5, "scale": 2, "x": 1}}},
            "cast.amount",
            'Unknown key(s) "x"; allowed: type, precision, scale.',
        ),
        (
            {"cast": {"d": {"type": "date", "format": "YYYY-MM-DD"}}},
            "cast.d.format",
            "A strptime format with at least one % directive, e.g. %d/%m/%Y.",
        ),
        (
            {"cast": {"d": {"type": "timestamp", "format": "%Y-%m-%dT%H:%M:%S%z"}}},
            "cast.d.format",
            "Unsupported directive(s) %z; use %Y %y %m %d %H %I %M %S %p %b %B %j and %% "
            "(times are UTC).",
        ),
        (
            {"cast": {"d": {"type": "date", "format": "100%%"}}},
            "cast.d.format",
            "A strptime format with at least one % directive, e.g. %d/%m/%Y.",
        ),
        (
            {"cast": {"d": {"type": "timestamp", "format": "%Y" + "x" * 63}}},
            "cast.d.format",
            "Must have at most 64 character(s) (has 65).",
        ),
        ({"cast": {"d": {"type": "date"}}}, "cast.d.format", "This key is required."),
        (
            {"cast": {"d": {"type": "date", "format": "%Y", "precision": 2}}},
            "cast.d",
            'Unknown key(s) "precision"; allowed: type, format.',
        ),
        (
            {"constants": {"a": [1]}},
            "constants.a",
            "Expected a string, number, boolean or null, got a list.",
        ),
        ({"constants": {"a=1": 1}}, "constants.a=1", f'Column name "a=1" {IDENTIFIER_RULE}'),
        ({"constants": {"big": 2**63}}, "constants.big", "Integers must fit in 64 bits."),
        (
            {"constants": {"n": float("nan")}},
            "constants.n",
            "NaN and infinite numbers are not JSON.",
        ),
        (
            {"constants": {"n": float("-inf")}},
            "constants.n",
            "NaN and infinite numbers are not JSON.",
        ),
        ({"constants": {"t": (1, 2)}}, "constants.t", "Not a JSON value (tuple)."),
        ({"constants": {"b": b"x"}}, "constants.b", "Not a JSON value (bytes)."),
        (
            {"constants": {"run_id": "x"}, "metadata": ["run_id"]},
            "constants.run_id",
            '"run_id" is also requested as a metadata column.',
        ),
        (
            {"metadata": ["ingested_at", "loaded_at"]},
            "metadata.1",
            '"loaded_at" is not accepted; use one of: "ingested_at", "source_file", "run_id".',
        ),
        (
            {"metadata": ["run_id", "run_id"]},
            "metadata",
            'Items must be unique; "run_id" is repeated.',
        ),
        ({"dedupe": {}}, "dedupe.keys", "This key is required."),
        ({"dedupe": {"keys": []}}, "dedupe.keys", "Must have at least 1 item(s) (has 0)."),
        (
            {"dedupe": {"keys": ["a"], "keep_latest_by": 3}},
            "dedupe.keep_latest_by",
            "Expected a string or null, got an integer.",
        ),
        (
            {"dedupe": {"keys": ["a"], "keep": "last"}},
            "dedupe",
            'Unknown key(s) "keep"; allowed: keys, keep_latest_by.',
        ),
        (
            {"dedupe": {"keys": ["a\u0000"]}},
            "dedupe.keys.0",
            'Column name "a\\u0000" contains control or invisible characters.',
        ),
        ({"checks": {}}, "checks", "Expected a list, got an object."),
        ({"checks": [5]}, "checks.0", "Expected an object, got an integer."),
        ({"checks": [{"columns": ["a"]}]}, "checks.0.type", "This key is required."),
        (
            {"checks": [{"type": "not_empty", "columns": ["a"]}]},
            "checks.0.type",
            '"not_empty" is not accepted; use one of: "not_null", "unique", '
            '"accepted_values", "min_rows", "required_columns".',
        ),
        ({"checks": [{"type": "not_null"}]}, "checks.0.columns", "This key is required."),
        (
            {"checks": [{"type": "unique", "columns": []}]},
            "checks.0.columns",
            "Must have at least 1 item(s) (has 0).",
        ),
        (
            {"checks": [{"type": "unique", "columns": ["a"], "column": "b"}]},
            "checks.0",
            'Unknown key(s) "column"; allowed: type, columns.',
        ),
        (
            {"checks": [{"type": "accepted_values", "column": "a", "values": []}]},
            "checks.0.values",
            "Must have at least 1 item(s) (has 0).",
        ),
        (
            {"checks": [{"type": "accepted_values", "column": "a", "values": [{"x": 1}]}]},
            "checks.0.values.0",
            "Expected a string, number, boolean or null, got an object.",
        ),
        ({"checks": [{"type": "min_rows", "value": -1}]}, "checks.0.value", "Must be at least 0."),
        (
            {"checks": [{"type": "min_rows", "value": 1.0}]},
            "checks.0.value",
            "Expected an integer, got a number.",
        ),
        (
            {"checks": [{"type": "required_columns", "columns": {"a": "integer"}}]},
            "checks.0.columns.a",
            '"integer" is not accepted; use one of: "string", "int", "float", "bool", '
            '"date", "timestamp", "decimal", "any".',
        ),
        (
            {"checks": [{"type": "required_columns", "columns": {}}]},
            "checks.0.columns",
            "Must have at least 1 entry(ies) (has 0).",
        ),
        (
            {"checks": [{"type": "required_columns", "columns": {"a\n": "int"}}]},
            "checks.0.columns.a\\u000a",
            'Column name "a\\n" contains control or invisible characters.',
        ),
        (
            {"checks": [{"type": "min_rows", "value": 1}] * 101},
            "checks",
            "Must have at most 100 item(s) (has 101).",
        ),
    ],
)
def test_transform_error_paths_and_messages(spec: Any, path: str, message: str) -> None:
    assert errors_of(spec) == {path: [message]}


def test_errors_in_several_places_are_all_reported() -> None:
    errors = errors_of(
        {
            "select": ["a", "a"],
            "cast": {"b": "integer"},
            "filter": op("like", col("a"), "x"),
            "checks": [{"type": "min_rows"}],
        }
    )
    assert set(errors) == {"select", "cast.b", "filter.op", "checks.0.value"}


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "path", "message"),
    [
        (
            op("like", col("a"), "x%"),
            "filter.op",
            f'Unknown operator "like"; use one of: {ALL_OPS}.',
        ),
        (
            op("and", op("==", col("a"), 1), op("regex", col("b"), ".*")),
            "filter.args.1.op",
            f'Unknown operator "regex"; use one of: {ALL_OPS}.',
        ),
        ({"op": 7, "args": []}, "filter.op", f"Unknown operator 7; use one of: {ALL_OPS}."),
        (
            op("__import__", "os"),
            "filter.op",
            f'Unknown operator "__import__"; use one of: {ALL_OPS}.',
        ),
        (op("==", col("a")), "filter.args", '"==" takes exactly 2 argument(s), got 1.'),
        (op("<", 1, 2, 3), "filter.args", '"<" takes exactly 2 argument(s), got 3.'),
        (
            op("and", op("is_null", col("a"))),
            "filter.args",
            '"and" takes at least 2 argument(s), got 1.',
        ),
        (op("or"), "filter.args", '"or" takes at least 2 argument(s), got 0.'),
        (
            op("not", col("a"), col("b")),
            "filter.args",
            '"not" takes exactly 1 argument(s), got 2.',
        ),
        (op("is_null"), "filter.args", '"is_null" takes exactly 1 argument(s), got 0.'),
        (
            op("is_valid", col("a"), 1),
            "filter.args",
            '"is_valid" takes exactly 1 argument(s), got 2.',
        ),
        (
            op("between", col("a"), 1),
            "filter.args",
            '"between" takes exactly 3 argument(s), got 2.',
        ),
        (
            op("in", col("a"), [1], [2]),
            "filter.args",
            '"in" takes exactly 2 argument(s), got 3.',
        ),
        (
            op("in", col("a"), "abc"),
            "filter.args.1",
            '"in" takes a literal list of 1 to 1000 scalars.',
        ),
        (
            op("in", col("a"), []),
            "filter.args.1",
            '"in" takes a literal list of 1 to 1000 scalars.',
        ),
        (
            op("in", col("a"), list(range(1001))),
            "filter.args.1",
            '"in" takes a literal list of 1 to 1000 scalars.',
        ),
        (
            op("in", col("a"), [1, col("b")]),
            "filter.args.1",
            '"in" takes a literal list of 1 to 1000 scalars.',
        ),
        (
            op("in", col("a"), [[1]]),
            "filter.args.1",
            '"in" takes a literal list of 1 to 1000 scalars.',
        ),
        (
            op("starts_with", col("a"), col("b")),
            "filter.args.1",
            '"starts_with" takes a string literal here.',
        ),
        (
            op("ends_with", col("a"), 5),
            "filter.args.1",
            '"ends_with" takes a string literal here.',
        ),
        (
            op("contains", col("a"), None),
            "filter.args.1",
            '"contains" takes a string literal here.',
        ),
        (
            op("and", "a", op("==", col("b"), 1)),
            "filter.args.0",
            '"and" takes conditions, not a string.',
        ),
        (op("not", 1), "filter.args.0", '"not" takes conditions, not an integer.'),
        (
            op("==", [1, 2], 1),
            "filter.args.0",
            'A list is only accepted as the second argument of "in".',
        ),
        ({"op": "==", "args": "a"}, "filter.args", "Expected a list, got a string."),
        ({"op": "is_null"}, "filter.args", "This key is required."),
        ({"args": [1]}, "filter", 'The filter is an expression: {"op": name, "args": [...]}.'),
        (col("flag"), "filter", 'The filter is an expression: {"op": name, "args": [...]}.'),
        (True, "filter", 'The filter is an expression: {"op": name, "args": [...]}.'),
        ("a > 1", "filter", 'The filter is an expression: {"op": name, "args": [...]}.'),
        (
            {"op": "is_null", "args": [col("a")], "negate": True},
            "filter",
            'Unknown key(s) "negate"; allowed: op, args.',
        ),
        (
            op("is_null", {"col": "a", "table": "t"}),
            "filter.args.0",
            'Unknown key(s) next to "col"; a column is {"col": name}.',
        ),
        (
            op("is_null", {"column": "a"}),
            "filter.args.0",
            'Unknown key(s) "column"; allowed: op, args.',
        ),
        (
            op("is_null", col("")),
            "filter.args.0.col",
            "Column names have 1 to 128 characters (has 0).",
        ),
        (op("is_null", col(5)), "filter.args.0.col", "A column name is a string, got an integer."),  # type: ignore[arg-type]
        (
            op("and", op("is_null", col("ok")), op("is_null", col("bad\u200b"))),
            "filter.args.1.args.0.col",
            'Column name "bad\\u200b" contains control or invisible characters.',
        ),
        (
            op("==", col("a"), 2**64),
            "filter.args.1",
            "Integers must fit in 64 bits.",
        ),
    ],
)
def test_filter_error_paths_and_messages(expression: Any, path: str, message: str) -> None:
    assert errors_of({"filter": expression}) == {path: [message]}


def test_filter_errors_come_in_argument_order() -> None:
    errors = errors_of(
        {"filter": op("or", op("bad1", 1), op("==", col("a")), op("in", col("b"), "x"))}
    )
    assert list(errors) == ["filter.args.0.op", "filter.args.1.args", "filter.args.2.args.1"]


def test_filter_depth_limit_is_exact() -> None:
    assert validate_transform({"filter": nested_not(MAX_FILTER_DEPTH)})
    # The deepest legal "in" still fits under the JSON depth guard.
    deepest_in = nested_not(MAX_FILTER_DEPTH - 1, op("in", col("a"), [1, 2]))
    assert validate_transform({"filter": deepest_in})
    assert errors_of({"filter": nested_not(MAX_FILTER_DEPTH + 1)}) == {
        "filter": ["Expressions are nested deeper than 32 levels."]
    }


@pytest.mark.parametrize("levels", [34, 10_000, 200_000])
def test_depth_bomb_is_refused_without_recursion(levels: int) -> None:
    # Far deeper than Python's recursion limit: a recursive validator would crash here.
    bomb = nested_not(levels)
    assert errors_of({"filter": bomb}) == {
        "filter": ["Expressions are nested deeper than 32 levels."]
    }


@pytest.mark.parametrize("key", ["select", "rename", "cast", "constants", "checks", "zzz"])
def test_depth_bomb_outside_the_filter_is_refused(key: str) -> None:
    bomb: Any = "x"
    for _ in range(10_000):
        bomb = [bomb]
    assert errors_of({key: bomb}) == {key: ["Nested deeper than 8 levels."]}


def test_shared_substructure_cannot_blow_up_the_walk() -> None:
    # 2**30 nodes when expanded, built from 30 objects.
    node: Any = op("is_null", col("a"))
    for _ in range(30):
        node = op("and", node, node)
    started = time.monotonic()
    assert errors_of({"filter": node}) == {
        "": [f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."]
    }
    assert time.monotonic() - started < 5


def test_filter_node_limit() -> None:
    # One "and" over n "is_null" expressions, each with a column: 1 + 2n nodes.
    def wide(n: int) -> dict[str, Any]:
        return op("and", *(op("is_null", col(f"c{i}")) for i in range(n)))

    assert validate_transform({"filter": wide((MAX_FILTER_NODES - 1) // 2)})
    assert errors_of({"filter": wide(MAX_FILTER_NODES // 2)}) == {
        "filter": ["The filter has more than 1000 nodes."]
    }


def test_filter_is_never_evaluated() -> None:
    # Strings that look like code are just literals.
    spec = {"filter": op("==", col("a"), "__import__('os').system('true')")}
    assert validate_transform(spec) == spec


# --- size, types, error cap ----------------------------------------------------------------


def test_huge_spec_is_refused() -> None:
    assert errors_of({"constants": {"c": "x" * (MAX_SPEC_BYTES + 1)}}) == {
        "": [f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."]
    }


def test_spec_just_under_the_limit_is_accepted() -> None:
    overhead = len('{"constants":{"c":""}}')
    spec = {"constants": {"c": "x" * (MAX_SPEC_BYTES - overhead)}}
    assert validate_transform(spec) == spec
    spec["constants"]["c"] += "x"
    assert "" in errors_of(spec)


def test_size_is_counted_in_utf8_bytes() -> None:
    # 40,000 characters but 80,000 bytes.
    errors = errors_of({"constants": {"c": "é" * 40_000}})
    assert errors[""][0].startswith(f"The transform spec is larger than {MAX_SPEC_BYTES} bytes (")


def test_huge_list_is_refused_before_being_walked() -> None:
    assert errors_of({"select": ["a"] * 1_000_000}) == {
        "": [f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."]
    }


def test_lone_surrogate_is_refused() -> None:
    assert errors_of({"constants": {"c": "\ud800"}}) == {
        "": ["The transform spec contains invalid Unicode (a lone surrogate)."]
    }


def test_non_string_keys_are_refused() -> None:
    assert errors_of({1: "x"}) == {"": ["Keys must be strings, got an integer."]}
    assert errors_of({"rename": {1: "x"}}) == {"rename": ["Keys must be strings, got an integer."]}


def test_many_errors_are_capped() -> None:
    spec = {"select": [f"c{i}\u0000" for i in range(80)]}
    errors = errors_of(spec)
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[""] == ["30 more invalid place(s) not shown."]


def test_spec_error_is_a_readable_value_error() -> None:
    with pytest.raises(ValueError, match=r"^\(root\): Unknown key\(s\) \"x\"") as info:
        validate_transform({"x": 1, "select": []})
    assert isinstance(info.value, SpecError)
    assert str(info.value).endswith("select: Must have at least 1 item(s) (has 0).")


def test_messages_and_paths_never_carry_raw_control_characters() -> None:
    errors = errors_of({"constants": {"a\u0000/b": 1}})
    assert errors == {
        "constants.a\\u0000/b": [
            'Column name "a\\u0000/b" contains control or invisible characters.'
        ]
    }
    assert "\x00" not in str(SpecError(errors))


def test_messages_have_no_python_reprs() -> None:
    errors = errors_of(
        {
            "select": [None],
            "cast": {"a": {"type": "decimal", "precision": True, "scale": None}},
            "checks": [{"type": "min_rows", "value": False}],
        }
    )
    text = json.dumps(errors)
    for python_only in ("None", "True", "False", "'"):
        assert python_only not in text


# --- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "order_id", "Amount EUR", "a.b", "prix_€", "名前", "x" * 128, "-", "...", "a\\b"],
)
def test_valid_identifiers(name: str) -> None:
    validate_identifier(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Column names have 1 to 128 characters (has 0)."),
        ("x" * 129, "Column names have 1 to 128 characters (has 129)."),
        ("a/b", f'Column name "a/b" {IDENTIFIER_RULE}'),
        ("a=b", f'Column name "a=b" {IDENTIFIER_RULE}'),
        (".", f'Column name "." {IDENTIFIER_RULE}'),
        ("..", f'Column name ".." {IDENTIFIER_RULE}'),
        ("a\u0000b", 'Column name "a\\u0000b" contains control or invisible characters.'),
        ("a\nb", 'Column name "a\\nb" contains control or invisible characters.'),
        ("a\tb", 'Column name "a\\tb" contains control or invisible characters.'),
        ("a\u007f", 'Column name "a\\u007f" contains control or invisible characters.'),
        ("a\u0085", 'Column name "a\\u0085" contains control or invisible characters.'),
        ("a\u200b", 'Column name "a\\u200b" contains control or invisible characters.'),
        ("admin\u202e", 'Column name "admin\\u202e" contains control or invisible characters.'),
        ("\ufeffid", 'Column name "\\ufeffid" contains control or invisible characters.'),
        ("a\u2028b", 'Column name "a\\u2028b" contains control or invisible characters.'),
        ("a\ud800", 'Column name "a\\ud800" contains control or invisible characters.'),
        (5, "A column name is a string, got an integer."),
        (None, "A column name is a string, got null."),
    ],
)
def test_invalid_identifiers(name: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_identifier(name)
    assert info.value.errors == {"": [message]}


# --- source options --------------------------------------------------------------------------

CSV_DEFAULTS = {
    "delimiter": ",",
    "header": True,
    "quote_char": '"',
    "escape_char": None,
    "encoding": "utf-8",
    "skip_rows": 0,
}


@pytest.mark.parametrize("options", [None, {}])
def test_source_defaults(options: object) -> None:
    assert validate_source_options("csv", options) == CSV_DEFAULTS
    assert validate_source_options("json", options) == {"block_size_bytes": 1024**2}
    assert validate_source_options("parquet", options) == {}


def test_csv_options_full() -> None:
    options = {
        "delimiter": "\t",
        "header": False,
        "quote_char": "'",
        "escape_char": "\\",
        "encoding": "utf-16",
        "null_values": ["", "NULL", "n/a"],
        "skip_rows": 2,
        "column_names": ["id", "amount"],
    }
    assert validate_source_options("csv", options) == options


@pytest.mark.parametrize("encoding", etl_spec.CSV_ENCODINGS)
def test_csv_encodings(encoding: str) -> None:
    assert validate_source_options("csv", {"encoding": encoding})["encoding"] == encoding


def test_source_options_result_is_detached() -> None:
    options = {"null_values": ["NA"]}
    result = validate_source_options("csv", options)
    result["null_values"].append("x")
    assert options == {"null_values": ["NA"]}


def source_errors(fmt: Any, options: object) -> dict[str, list[str]]:
    with pytest.raises(SpecError) as info:
        validate_source_options(fmt, options)
    return info.value.errors


@pytest.mark.parametrize(
    ("fmt", "options", "path", "message"),
    [
        (
            "csv",
            {"sep": ";"},
            "",
            'Unknown key(s) "sep"; allowed: delimiter, header, quote_char, escape_char, '
            "encoding, null_values, skip_rows, column_names, newlines_in_values, "
            "block_size_bytes, bookmark, allow_empty.",
        ),
        ("csv", {"delimiter": ";;"}, "delimiter", "Must have at most 1 character(s) (has 2)."),
        ("csv", {"delimiter": ""}, "delimiter", "Cannot be empty."),
        ("csv", {"delimiter": "\n"}, "delimiter", "Cannot be a line break."),
        ("csv", {"quote_char": "\r"}, "quote_char", "Cannot be a line break."),
        ("csv", {"delimiter": '"'}, "quote_char", "Cannot be the same character as delimiter."),
        (
            "csv",
            {"escape_char": ","},
            "escape_char",
            "Cannot be the same character as delimiter.",
        ),
        ("csv", {"escape_char": 5}, "escape_char", "Expected a string or null, got an integer."),
        ("csv", {"header": "yes"}, "header", "Expected true or false, got a string."),
        (
            "csv",
            {"encoding": "utf8"},
            "encoding",
            '"utf8" is not accepted; use one of: "utf-8", "utf-8-sig", "latin-1", "cp1252", '
            '"utf-16".',
        ),
        (
            "csv",
            {"null_values": ["x"] * 101},
            "null_values",
            "Must have at most 100 item(s) (has 101).",
        ),
        ("csv", {"null_values": [1]}, "null_values.0", "Expected a string, got an integer."),
        ("csv", {"skip_rows": -1}, "skip_rows", "Must be at least 0."),
        ("csv", {"skip_rows": 1.5}, "skip_rows", "Expected an integer, got a number."),
        ("csv", {"column_names": []}, "column_names", "Must have at least 1 item(s) (has 0)."),
        (
            "csv",
            {"column_names": ["a", "a"]},
            "column_names",
            'Items must be unique; "a" is repeated.',
        ),
        (
            "csv",
            {"column_names": ["a", "b=c"]},
            "column_names.1",
            f'Column name "b=c" {IDENTIFIER_RULE}',
        ),
        ("csv", {"column_names": [[[["a"]]]]}, "column_names", "Nested too deeply."),
        (
            "json",
            {"block_size_bytes": 1023},
            "block_size_bytes",
            "Must be at least 1024.",
        ),
        (
            "json",
            {"block_size_bytes": 256 * 1024**2 + 1},
            "block_size_bytes",
            f"Must be at most {256 * 1024**2}.",
        ),
        (
            "json",
            {"encoding": "utf-8"},
            "",
            'Unknown key(s) "encoding"; allowed: block_size_bytes, bookmark, allow_empty.',
        ),
        ("parquet", {"columns": "a"}, "columns", "Expected a list, got a string."),
        ("parquet", {"columns": ["a", 1]}, "columns.1", "Expected a string, got an integer."),
        (
            "parquet",
            {"columns": ["a"], "filters": []},
            "",
            'Unknown key(s) "filters"; allowed: columns, bookmark, allow_empty.',
        ),
        ("csv", [], "", "Options are a JSON object, got a list."),
        ("xml", {}, "", 'Unknown format "xml"; use one of: csv, json, parquet.'),
        (None, {}, "", "Unknown format null; use one of: csv, json, parquet."),
    ],
)
def test_source_option_errors(fmt: Any, options: object, path: str, message: str) -> None:
    assert source_errors(fmt, options) == {path: [message]}


def test_json_multiline_gets_a_hint() -> None:
    assert source_errors("json", {"multiline": True}) == {
        "": [
            "Multi-line JSON is not supported: the json format reads JSON Lines "
            "(one object per line).",
            'Unknown key(s) "multiline"; allowed: block_size_bytes, bookmark, allow_empty.',
        ]
    }


def test_json_and_parquet_options_valid() -> None:
    assert validate_source_options("json", {"block_size_bytes": 1024}) == {"block_size_bytes": 1024}
    assert validate_source_options("parquet", {"columns": ["a", "Price/Unit"]}) == {
        "columns": ["a", "Price/Unit"]
    }


# --- destination options ---------------------------------------------------------------------


def test_destination_defaults() -> None:
    assert validate_destination_options("parquet", None) == {"compression": "snappy"}
    assert validate_destination_options("csv", {}) == {"delimiter": ",", "header": True}
    assert validate_destination_options("json", {}) == {}


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "none"])
def test_parquet_compressions(compression: str) -> None:
    assert validate_destination_options("parquet", {"compression": compression}) == {
        "compression": compression
    }


def test_csv_destination_options() -> None:
    assert validate_destination_options("csv", {"delimiter": "|", "header": False}) == {
        "delimiter": "|",
        "header": False,
    }


@pytest.mark.parametrize(
    ("fmt", "options", "path", "message"),
    [
        (
            "parquet",
            {"compression": "lz4"},
            "compression",
            '"lz4" is not accepted; use one of: "snappy", "zstd", "gzip", "none".',
        ),
        (
            "parquet",
            {"row_group_size": 10},
            "",
            'Unknown key(s) "row_group_size"; allowed: compression.',
        ),
        ("csv", {"delimiter": "ab"}, "delimiter", "Must have at most 1 character(s) (has 2)."),
        ("csv", {"header": 1}, "header", "Expected true or false, got an integer."),
        (
            "csv",
            {"quote_char": "'"},
            "",
            'Unknown key(s) "quote_char"; allowed: delimiter, header.',
        ),
        ("json", {"lines": True}, "", 'Unknown key(s) "lines"; allowed: none.'),
        ("avro", {}, "", 'Unknown format "avro"; use one of: parquet, csv, json.'),
        ("parquet", "snappy", "", "Options are a JSON object, got a string."),
    ],
)
def test_destination_option_errors(fmt: str, options: object, path: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_destination_options(fmt, options)
    assert info.value.errors == {path: [message]}


# --- json_depth (shared with jobs.validators) ------------------------------------------------


def test_json_depth_counts_iteratively_and_stops_at_the_limit() -> None:
    assert json_depth("x", 5) == 1
    assert json_depth({"a": [1, {"b": 2}]}, 10) == 4
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert json_depth(deep, 20) == 21
