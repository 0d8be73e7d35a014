"""Runs a conformance case on an engine and reads back what it published, in a form
both engines' answers (and the case's expectation) can be compared in.

An answer is the destination's rows (partition values included, as the strings in the
directory names), the data files' column types, the partition directories, the metrics
that do not depend on timing or file layout, the reject samples and the check report;
or, for a run that must fail, the kind of failure.
"""

from __future__ import annotations

import csv
import json
import math
import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.parquet as pq

from etl.errors import ChecksFailed, EtlError
from etl.request import EtlRequest, EtlResult
from etl.storage import Storage

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
RUN_ID = "run-1"
# Metrics that say what happened to the data, not how long it took or how it was laid out.
COMPARED_METRICS = (
    "files",
    "files_missing",
    "rows_in",
    "rows_out",
    "rows_rejected",
    "rows_dropped",
    "partitions",
)

Engine = Callable[[EtlRequest, Storage, datetime], EtlResult]


@dataclass(frozen=True)
class Case:
    name: str
    source: dict[str, Any]  # format and options; the uri is the case's input directory
    files: Mapping[str, str | bytes]  # input files by relative path, written in this order
    transform: dict[str, Any] = field(default_factory=dict)
    destination: dict[str, Any] = field(default_factory=dict)  # format, options, ...
    expected: dict[str, Any] = field(default_factory=dict)
    # Earlier runs into the same destination (each a set of input files), for overwrite.
    before: tuple[Mapping[str, str | bytes], ...] = ()
    manifest: tuple[str, ...] | None = None  # relative paths (missing ones allowed)


def run_case(case: Case, engine: Engine, workdir: Path) -> dict[str, Any]:
    """The case's answer on `engine`."""
    destination = workdir / "out"
    answer: dict[str, Any] = {}
    for index, files in enumerate([*case.before, case.files]):
        inputs = workdir / f"in{index}"
        _write_inputs(inputs, files)
        job = {
            "source": {**case.source, "uri": str(inputs)},
            "destination": {"format": "parquet", **case.destination, "uri": str(destination)},
            "transform": case.transform,
        }
        manifest_uri = None
        if case.manifest is not None and index == len(case.before):
            manifest_path = workdir / f"manifest{index}.json"
            entries = [{"uri": str(inputs / name)} for name in case.manifest]
            manifest_path.write_text(json.dumps({"files": entries}))
            manifest_uri = str(manifest_path)
        try:
            request = EtlRequest.from_spec(
                job, run_id=f"{RUN_ID}-{index}", manifest_uri=manifest_uri
            )
            result = engine(request, Storage(), NOW)
        except ChecksFailed as exc:
            answer = {"error": "checks", "checks": exc.report}
            continue
        except EtlError as exc:
            answer = {"error": "etl", "message": str(exc)}
            continue
        answer = {
            "metrics": {key: result.metrics[key] for key in COMPARED_METRICS},
            "rejected_samples": result.metrics["rejected_samples"],
            "checks": result.metrics["checks"],
        }
    if "error" not in answer:
        found = read_destination(destination, case.destination.get("format", "parquet"))
        # Input paths relative to the case's directory ("in0/a.csv"): the same on every run.
        for row in found["rows"]:
            if isinstance(row.get("source_file"), str):
                row["source_file"] = os.path.relpath(row["source_file"], workdir)
        answer.update(found)
    elif destination.exists():
        answer["published"] = sorted(_data_files(destination))
    return answer


def _write_inputs(directory: Path, files: Mapping[str, str | bytes]) -> None:
    directory.mkdir(parents=True)
    for order, (name, content) in enumerate(files.items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        # Inputs are read oldest first; make "written in this order" what that means.
        stamp = 1_700_000_000 + order
        os.utime(path, (stamp, stamp))


def _data_files(destination: Path) -> list[str]:
    found = []
    for root, _dirs, names in os.walk(destination):
        relative_root = os.path.relpath(root, destination)
        if relative_root != "." and relative_root.split(os.sep)[0].startswith(("_", ".")):
            continue
        for name in names:
            if not name.startswith(("_", ".")):
                found.append(posixpath.normpath(posixpath.join(relative_root, name)))
    return found


def read_destination(destination: Path, fmt: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    schema: dict[str, Any] = {}
    partitions = set()
    for relative in _data_files(destination):
        directory = posixpath.dirname(relative)
        partitions.add(directory)
        values = {}
        for segment in directory.split("/") if directory else []:
            name, _, value = segment.partition("=")
            decoded = unquote(value)
            values[name] = None if decoded == "__HIVE_DEFAULT_PARTITION__" else decoded
        path = destination / relative
        if fmt == "parquet":
            table = pq.read_table(path)
            schema.update({f.name: str(f.type) for f in table.schema})
            file_rows = table.to_pylist()
        elif fmt == "csv":
            # Compared as written, byte for byte: quoting, number and time formats too.
            header, *lines = path.read_text(encoding="utf-8").splitlines()
            # The header as names: pyarrow quotes every name, Spark none (same CSV).
            schema["header"] = next(csv.reader([header], delimiter=_delimiter(header)))
            file_rows = [{"line": line} for line in lines]
        else:
            file_rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        rows.extend({**row, **values} for row in file_rows)
    return {
        "rows": sorted((_comparable(row) for row in rows), key=repr),
        "schema": schema,
        "partitions": sorted(partitions),
    }


def _delimiter(header: str) -> str:
    return next((char for char in header if char in ",;|\t"), ",")


def _comparable(row: Mapping[str, Any]) -> dict[str, Any]:
    # NaN is not equal to itself; a marker is.
    return {
        key: ("NaN" if isinstance(value, float) and math.isnan(value) else value)
        for key, value in sorted(row.items())
    }


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """What in `actual` differs from the parts of the answer `expected` states."""
    found = []
    for key, wanted in expected.items():
        if key.startswith("values:"):
            # One column's values (sorted), where the other columns do not matter.
            name = key.removeprefix("values:")
            values = sorted(row.get(name) for row in actual.get("rows") or [])
            if values != sorted(wanted):
                found.append(f"{key}: expected {sorted(wanted)!r}, got {values!r}")
            continue
        got: Any = actual.get(key)
        if key == "rows":
            wanted = sorted((_comparable(row) for row in wanted), key=repr)
        if key == "partitions":
            wanted = sorted(wanted)
        if key == "metrics":
            got = {k: (got or {}).get(k) for k in wanted}
        if key == "message" and got is not None and wanted in str(got):
            continue
        if got != wanted:
            found.append(f"{key}: expected {wanted!r}, got {got!r}")
    return found
