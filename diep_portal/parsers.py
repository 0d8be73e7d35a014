"""Request bodies and job/grant files parsed hardened against hostile JSON and YAML."""

from __future__ import annotations

import json
from typing import Any

import yaml
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, but a deeply nested body is a 400, not a RecursionError (500),
    and so is a string holding a lone surrogate."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        where = lone_surrogate_at(data)
        if where is not None:
            # JSON may spell one (`"\ud800"`), but it is no Unicode text: PostgreSQL could not
            # store it, a response quoting it could not be encoded, S3 keys could not hold it.
            raise ParseError(f"JSON parse error - a lone surrogate (\\uD800-\\uDFFF) in {where}.")
        return data


def load_document(text: str, *, as_yaml: bool) -> Any:
    """A JSON or YAML document (job files, grants files, `create_job --file`). Raises
    ValueError with a readable reason, a lone surrogate included (YAML's and JSON's escapes
    both make them)."""
    try:
        data = yaml.safe_load(text) if as_yaml else json.loads(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
    where = lone_surrogate_at(data)
    if where is not None:
        raise ValueError(f"a lone surrogate (\\uD800-\\uDFFF) in {where}")
    return data


def lone_surrogate_at(value: Any) -> str | None:
    """Where in a parsed JSON value the first string holding a lone surrogate is (a dotted
    path such as `spec.source.uri`, `the body` for the top level), or None."""
    found = _surrogate_path(value, ())
    if found is None:
        return None
    path, in_key = found
    where = "".join(step if step.startswith("[") else f".{step}" for step in path).lstrip(".")
    where = where or "the body"
    return f"a key of {where}" if in_key else where


def _surrogate_path(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], bool] | None:
    if isinstance(value, str):
        return (path, False) if _has_surrogate(value) else None
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if _has_surrogate(key):
                return path, True
        items = value.items()
    elif isinstance(value, list):
        items = ((f"[{index}]", item) for index, item in enumerate(value))
    for key, item in items:
        found = _surrogate_path(item, (*path, key))
        if found is not None:
            return found
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
