"""etl.contract: every type survives its trip through the wire format unchanged, and the
wire format is what both sides (the portal, the Glue script, the local worker) read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from etl.contract import (
    ARGUMENT_PREFIX,
    ContractError,
    Manifest,
    ManifestFile,
    RunArguments,
    RunReport,
)


def test_run_arguments_round_trip_and_names() -> None:
    arguments = RunArguments(
        run_id="r1",
        job_id="j1",
        manifest_uri="s3://a/m.json",
        bookmark=datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC),
        spec_uri="s3://a/spec.json",
        metrics_uri="s3://a/metrics.json",
    )
    wire = arguments.to_arguments()
    assert wire == {
        "--diep_run_id": "r1",
        "--diep_job_id": "j1",
        "--diep_manifest": "s3://a/m.json",
        "--diep_bookmark": "2026-01-02T03:04:05.600000+00:00",
        "--diep_spec": "s3://a/spec.json",
        "--diep_metrics": "s3://a/metrics.json",
    }
    # Job parameters beside them are not DIEP's and are left alone.
    assert RunArguments.from_arguments({**wire, "--region": "eu"}) == arguments
    assert set(RunArguments.names()) == {name[2:] for name in wire}
    assert all(name.startswith(ARGUMENT_PREFIX) for name in wire)


def test_unset_arguments_are_left_out_and_a_retry_keeps_its_input() -> None:
    first = RunArguments(run_id="r1", job_id="j1", manifest_uri="s3://a/m.json", spec_uri="x")
    assert RunArguments(run_id="r1").to_arguments() == {"--diep_run_id": "r1"}
    retry = first.for_retry(run_id="r2")
    assert retry == RunArguments(run_id="r2", job_id="j1", manifest_uri="s3://a/m.json")


@pytest.mark.parametrize(
    "arguments",
    [{}, {"--diep_job_id": "j"}, {"--diep_run_id": "r", "--diep_bookmark": "yesterday"}],
)
def test_arguments_without_a_run_id_or_with_a_bad_bookmark_are_refused(
    arguments: dict[str, str],
) -> None:
    with pytest.raises(ContractError):
        RunArguments.from_arguments(arguments)


def test_manifest_round_trip() -> None:
    manifest = Manifest(
        job_id="j1",
        files=(
            ManifestFile(uri="s3://raw/a b.csv", size=12, etag="e1", version_id="v1"),
            ManifestFile(uri="s3://raw/c.csv"),
        ),
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert json.loads(manifest.to_json())["files"][0] == {
        "uri": "s3://raw/a b.csv",
        "size": 12,
        "etag": "e1",
        "version_id": "v1",
    }


@pytest.mark.parametrize(
    "document", [b"not json", b"[]", b'{"files": 3}', b'{"files": [{"size": 1}]}', 42]
)
def test_what_is_not_a_manifest_is_refused_by_name(document: object) -> None:
    with pytest.raises(ContractError, match=r"s3://a/m\.json"):
        Manifest.from_json(document, where="s3://a/m.json")


def test_run_report_round_trip() -> None:
    succeeded = RunReport(run_id="r1", status="SUCCEEDED", metrics={"rows_out": 3, "checks": []})
    failed = RunReport(run_id="r1", status="FAILED", error="bad row", metrics={"checks": [1]})
    for report in (succeeded, failed, RunReport(run_id="r1", status="FAILED", error="x")):
        assert RunReport.from_json(report.to_json()) == report
    with pytest.raises(ContractError):
        RunReport.from_json(b'{"status": "MAYBE"}')
