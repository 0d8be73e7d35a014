"""What the ETL raises: one base class, so callers map failures without knowing pyarrow."""

from __future__ import annotations

from typing import Any


class EtlError(Exception):
    """The run cannot proceed (unreadable input, bad data for the spec, missing column)."""


class InputMissing(EtlError):
    """An input file is gone (deleted between its event and its run)."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} does not exist (any more).")
        self.uri = uri


class EtlStopped(EtlError):
    """Stop was requested; nothing was published."""


class ChecksFailed(EtlError):
    """Data-quality checks failed; `report` lists each check with its outcome."""

    def __init__(self, report: list[dict[str, Any]]) -> None:
        self.report = report
        failed = [item["check"] for item in report if not item["passed"]]
        super().__init__(f"Data-quality checks failed: {', '.join(failed)}")
