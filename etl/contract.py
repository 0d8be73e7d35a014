"""The portal↔engine contract: what the portal hands a run (its arguments and, for an
event run, the manifest of its files) and what the engine hands back (the run report).

Both sides build and read these types, never the strings and JSON keys: the portal
(jobs/, ingestion/) writes arguments and manifests and reads reports; the engines (the
Glue script, the local worker) read arguments and manifests and write reports. A rename
here changes both sides at once, and tests/etl/test_contract.py round-trips each one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal

#: Every DIEP argument starts with this; job parameters may not (jobs.validators).
ARGUMENT_PREFIX = "--diep_"
#: Set on the Glue job definition, not per run: where DIEP keeps its artifacts.
ARTIFACTS_BUCKET_ARGUMENT = "--diep_artifacts_bucket"


class ContractError(ValueError):
    """A document or argument list that does not follow the contract."""


@dataclass(frozen=True)
class RunArguments:
    """DIEP's own arguments of one run, beside the job's parameters (`--name value`).

    `run_id` and `job_id` are the run's own; `manifest_uri` (an event run's files) and
    `bookmark` (read only files modified after it) are its input, kept by a retry;
    `spec_uri` and `metrics_uri` are added by the Glue engine when it starts the run
    (where the script reads the job version's spec, where it writes its report).
    """

    run_id: str
    job_id: str = ""
    manifest_uri: str | None = None
    bookmark: datetime | None = None
    spec_uri: str | None = None
    metrics_uri: str | None = None

    @staticmethod
    def argument(field_name: str) -> str:
        """The argument a field travels as: `--diep_<field>` (spec_uri → --diep_spec)."""
        return ARGUMENT_PREFIX + _ARGUMENT_NAMES.get(field_name, field_name)

    def to_arguments(self) -> dict[str, str]:
        """The `--diep_*` arguments, the unset ones left out."""
        arguments: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value in (None, ""):
                continue
            arguments[self.argument(item.name)] = (
                value.isoformat() if isinstance(value, datetime) else str(value)
            )
        return arguments

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, str]) -> RunArguments:
        """Read DIEP's arguments out of a run's arguments (other names are ignored).
        Raises ContractError without a run id or with a bookmark that is no ISO time."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = arguments.get(cls.argument(item.name))
            if raw in (None, ""):
                continue
            values[item.name] = raw
        if "run_id" not in values:
            raise ContractError(f"missing argument {cls.argument('run_id')}")
        if "bookmark" in values:
            try:
                values["bookmark"] = datetime.fromisoformat(values["bookmark"])
            except ValueError as exc:
                raise ContractError(f"{cls.argument('bookmark')} is not an ISO time") from exc
        return cls(**values)

    def for_retry(self, *, run_id: str) -> RunArguments:
        """The next attempt's arguments: the same input (manifest, bookmark), its own run
        id; the engine adds its spec and report locations again when it starts it."""
        return replace(self, run_id=run_id, spec_uri=None, metrics_uri=None)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every argument name, without the leading dashes (as Glue's getResolvedOptions
        takes them)."""
        return tuple(cls.argument(item.name)[2:] for item in fields(cls))


_ARGUMENT_NAMES = {"spec_uri": "spec", "metrics_uri": "metrics", "manifest_uri": "manifest"}


@dataclass(frozen=True)
class ManifestFile:
    """One file of an event run, as the file ledger recorded it."""

    uri: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The files a coalesced event run reads (written by ingestion, read by the engine)."""

    job_id: str
    files: tuple[ManifestFile, ...] = ()

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "job_id": self.job_id,
                "files": [
                    {"uri": f.uri, "size": f.size, "etag": f.etag, "version_id": f.version_id}
                    for f in self.files
                ],
            }
        ).encode()

    @classmethod
    def from_json(cls, document: object, *, where: str = "") -> Manifest:
        """Parse a manifest; ContractError (naming `where`) when it is not one."""
        data = _load(document, where)
        entries = data.get("files") if isinstance(data, Mapping) else None
        if not isinstance(entries, list) or not all(
            isinstance(entry, Mapping) and isinstance(entry.get("uri"), str) for entry in entries
        ):
            raise ContractError(f"{where or 'document'} is not a DIEP manifest (files: [{{uri}}]).")
        return cls(
            job_id=str(data.get("job_id") or ""),
            files=tuple(
                ManifestFile(
                    uri=entry["uri"],
                    size=_optional_int(entry.get("size")),
                    etag=_optional_str(entry.get("etag")),
                    version_id=_optional_str(entry.get("version_id")),
                )
                for entry in entries
            ),
        )


RunStatus = Literal["SUCCEEDED", "FAILED"]


@dataclass(frozen=True)
class RunReport:
    """How a run went, as the engine reports it: its status, its metrics (rows, files,
    bytes, checks, rejected samples, the bookmark it reached) and, if it failed, why."""

    run_id: str
    status: RunStatus
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> bytes:
        document: dict[str, Any] = {"run_id": self.run_id, "status": self.status}
        if self.metrics:
            document["metrics"] = dict(self.metrics)
        if self.error is not None:
            document["error"] = self.error
        return json.dumps(document, default=str).encode()

    @classmethod
    def from_json(cls, document: object, *, where: str = "") -> RunReport:
        """Parse a report; ContractError (naming `where`) when it is not one."""
        data = _load(document, where)
        status, metrics = data.get("status"), data.get("metrics", {})
        if status not in ("SUCCEEDED", "FAILED") or not isinstance(metrics, Mapping):
            raise ContractError(f"{where or 'document'} is not a DIEP run report.")
        error = data.get("error")
        return cls(
            run_id=str(data.get("run_id") or ""),
            status=status,
            metrics=dict(metrics),
            error=error if isinstance(error, str) else None,
        )


def _load(document: object, where: str) -> Mapping[str, Any]:
    """`document` as a JSON object: parsed from bytes or text, or as it came."""
    if isinstance(document, Mapping):
        return document
    if not isinstance(document, bytes | str):
        raise ContractError(f"{where or 'document'} is not a JSON object.")
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"{where or 'document'} is not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ContractError(f"{where or 'document'} is not a JSON object.")
    return data


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
