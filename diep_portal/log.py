"""Log formatting: readable lines that still carry the structured `extra=` fields, and
the id of the request being served on each of them.

Imported by the LOGGING configuration, before Django loads the apps: nothing here may
import a model."""

from __future__ import annotations

import contextvars
import logging

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class KeyValueFormatter(logging.Formatter):
    """`time LEVEL logger event key=value ...`: the event name plus every extra field,
    so `run.started run_id=… glue_run_id=…` reads well and greps well."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return line


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every log record made while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current and not getattr(record, "request_id", ""):
            record.request_id = current
        return True
