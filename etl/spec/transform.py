"""Validation of a transform spec: the schema first, then what a schema cannot say.

The filter tree is walked here without recursion (a hostile 10,000-deep tree must not
exhaust the stack), together with operator arity, column-name and cross-field rules;
validate_transform is the one entry point that runs every step in the order that keeps
it safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from etl.semantics import strptime_problem
from etl.spec.base import (
    BOOLEAN_OPS,
    FILTER_OPS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_IN_VALUES,
    MAX_SPEC_BYTES,
    STRING_OPS,
    Errors,
    Path,
    SpecError,
    dotted_path,
    json_type,
    show,
)
from etl.spec.guards import json_problem, name_problem
from etl.spec.schema import TRANSFORM_VALIDATOR, schema_errors

# Nesting allowed outside "filter": the deepest legal value (a required_columns type name,
# checks → item → columns → type) is 4 levels down; the margin keeps messages about the
# actual mistake coming from the schema rather than from this guard.
_MAX_PLAIN_DEPTH: Final = 8
# A legal filter uses at most 2 JSON levels per expression (an object holding an args list)
# plus a leaf and the items of an "in" list. This guard only keeps recursive code safe;
# the margin leaves the exact limit, and its message, to _check_filter.
_MAX_FILTER_JSON_DEPTH: Final = 2 * MAX_FILTER_DEPTH + 8


def _is_expression(node: object) -> bool:
    return isinstance(node, dict) and "op" in node


def _check_filter(root: object, errors: Errors) -> None:
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
        path = dotted_path(where)
        if isinstance(node, list):
            errors.add(path, 'A list is only accepted as the second argument of "in".')
            continue
        if not isinstance(node, dict):
            continue  # a literal scalar; json_problem already refused anything else
        if "col" in node and "op" not in node:
            if set(node) != {"col"}:
                errors.add(path, 'Unknown key(s) next to "col"; a column is {"col": name}.')
            elif problem := name_problem(node["col"], creates=False):
                errors.add(dotted_path((*where, "col")), problem)
            continue
        if depth > MAX_FILTER_DEPTH:
            errors.add("filter", f"Expressions are nested deeper than {MAX_FILTER_DEPTH} levels.")
            return
        if unknown := [key for key in node if key not in {"op", "args"}]:
            errors.add(path, f"Unknown key(s) {', '.join(map(show, unknown))}; allowed: op, args.")
            continue
        if "op" not in node or "args" not in node:
            missing = "op" if "op" not in node else "args"
            errors.add(dotted_path((*where, missing)), "This key is required.")
            continue
        op, args = node["op"], node["args"]
        if not isinstance(op, str) or op not in FILTER_OPS:
            errors.add(
                dotted_path((*where, "op")),
                f"Unknown operator {show(op, 40)}; use one of: {', '.join(FILTER_OPS)}.",
            )
            continue
        if not isinstance(args, list):
            errors.add(dotted_path((*where, "args")), f"Expected a list, got {json_type(args)}.")
            continue
        low, high = FILTER_OPS[op]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            errors.add(
                dotted_path((*where, "args")),
                f'"{op}" takes {wanted} argument(s), got {len(args)}.',
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
                        dotted_path(arg_path),
                        f'"in" takes a literal list of 1 to {MAX_IN_VALUES} scalars.',
                    )
            elif index == 1 and op in STRING_OPS:
                if not isinstance(arg, str):
                    errors.add(dotted_path(arg_path), f'"{op}" takes a string literal here.')
            elif op in BOOLEAN_OPS and not isinstance(arg, dict | bool) and arg is not None:
                # "and" on a string literal is always a mistake (usually a missing {"col": ...}).
                errors.add(dotted_path(arg_path), f'"{op}" takes conditions, not {json_type(arg)}.')
            else:
                children.append((arg, arg_path, depth + 1))
        stack.extend(reversed(children))  # so errors come in argument order


def _check_names(spec: Mapping[str, Any], errors: Errors) -> None:
    """Column-name rules and cross-field rules, for the parts the schema accepted."""

    def check(name: object, where: Path, *, creates: bool = False) -> None:
        path = dotted_path(where)
        if path not in errors.by_path and (problem := name_problem(name, creates=creates)):
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
                    dotted_path(("rename", old)),
                    f"{show(new)} is already the new name of {show(targets[new])}.",
                )
            targets.setdefault(new, old)
    if isinstance(cast, dict):
        for column, kind in cast.items():
            check(column, ("cast", column))
            fmt = kind.get("format") if isinstance(kind, dict) else None
            if isinstance(fmt, str) and (problem := strptime_problem(fmt)):
                errors.add(dotted_path(("cast", column, "format")), problem)
            if (
                isinstance(kind, dict)
                and isinstance(kind.get("precision"), int)
                and isinstance(kind.get("scale"), int)
                and kind["scale"] > kind["precision"]
            ):
                errors.add(
                    dotted_path(("cast", column, "scale")),
                    f"The scale ({kind['scale']}) cannot exceed the precision "
                    f"({kind['precision']}).",
                )
    metadata = spec.get("metadata")
    if isinstance(constants, dict):
        for column in constants:
            check(column, ("constants", column), creates=True)
            if isinstance(metadata, list) and column in metadata:
                errors.add(
                    dotted_path(("constants", column)),
                    f"{show(column)} is also requested as a metadata column.",
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
        raise SpecError({"": [f"The transform spec is a JSON object, got {json_type(spec)}."]})
    errors = Errors()
    budget = [MAX_SPEC_BYTES]
    for key, value in spec.items():
        if not isinstance(key, str):
            errors.add("", f"Keys must be strings, got {json_type(key)}.")
            continue
        if key == "filter":
            limit = _MAX_FILTER_JSON_DEPTH
            deep = f"Expressions are nested deeper than {MAX_FILTER_DEPTH} levels."
        else:
            limit, deep = _MAX_PLAIN_DEPTH, f"Nested deeper than {_MAX_PLAIN_DEPTH} levels."
        if problem := json_problem(value, (key,), limit, deep, budget):
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
    schema_errors(TRANSFORM_VALIDATOR, spec, errors)
    if "filter" in spec:
        _check_filter(spec["filter"], errors)
    _check_names(spec, errors)
    errors.raise_if_any()
    return _normalised(spec)
