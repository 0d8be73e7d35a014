"""Checks that must pass before anything recursive touches a value, and the column-name rules.

A spec arrives as arbitrary JSON from the API; json.dumps, jsonschema and even `==` on
nested lists recurse, so size, depth and JSON-ness are bounded first, iteratively. The
name rules live beside them because transforms, reader options and the portal (partition
columns) all apply the same ones.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from etl.spec.base import (
    INT64_MAX,
    INT64_MIN,
    MAX_IDENTIFIER_CHARS,
    MAX_SPEC_BYTES,
    UNSAFE_CATEGORIES,
    Path,
    SpecError,
    dotted_path,
    json_type,
    show,
)


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


def json_problem(
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
            return dotted_path(where), deep_message
        if isinstance(node, dict | list | str):
            budget[0] -= len(node) + 1
        if budget[0] < 0:
            return "", f"The transform spec is larger than {MAX_SPEC_BYTES} bytes."
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    return dotted_path(path), f"Keys must be strings, got {json_type(key)}."
                budget[0] -= len(key)
                stack.append((child, (*path, key), depth + 1))
        elif isinstance(node, list):
            stack.extend((child, (*path, index), depth + 1) for index, child in enumerate(node))
        elif isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                return dotted_path(path), "Integers must fit in 64 bits."
        elif isinstance(node, float):
            if not math.isfinite(node):
                return dotted_path(path), "NaN and infinite numbers are not JSON."
        else:
            return dotted_path(path), f"Not a JSON value ({type(node).__name__})."
    return None


def name_problem(name: object, *, creates: bool) -> str | None:
    """Why `name` cannot be used as a column name, or None.

    Names the spec only refers to may be awkward source names ("price/unit"), since
    select and rename are how such columns get fixed; names it creates must also be
    usable as a Hive partition directory (`name=value/`).
    """
    if not isinstance(name, str):
        return f"A column name is a string, got {json_type(name)}."
    if not 1 <= len(name) <= MAX_IDENTIFIER_CHARS:
        return f"Column names have 1 to {MAX_IDENTIFIER_CHARS} characters (has {len(name)})."
    if any(unicodedata.category(char) in UNSAFE_CATEGORIES for char in name):
        return f"Column name {show(name)} contains control or invisible characters."
    if creates and (name in {".", ".."} or "/" in name or "=" in name):
        return f"Column name {show(name)} cannot contain '/' or '=', nor be '.' or '..'."
    return None


def validate_identifier(name: str) -> None:
    """Check a column name the job creates or partitions by: 1 to 128 characters, no '/',
    '=' or control/invisible characters, not '.' or '..'. Raises SpecError (path "")."""
    if problem := name_problem(name, creates=True):
        raise SpecError({"": [problem]})
