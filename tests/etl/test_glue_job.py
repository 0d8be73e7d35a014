"""The script AWS Glue runs (etl/glue_job.py): its argument parsing, run as a
process on local files, and run with exactly the arguments the Glue engine sent, against
the moto server, with the portal then picking up its metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from diep_portal.aws.glue import glue_get_job_runs
from diep_portal.aws.session import get_client
from etl.contract import RunArguments
from etl.glue_job import main, parse_arguments
from jobs import services
from jobs.engines.glue.tracking import poll_glue_runs
from jobs.models import RunState
from jobs.runs.start import run_start

ROOT = Path(__file__).resolve().parents[2]


def test_arguments_as_glue_passes_them() -> None:
    argv = ["--JOB_NAME", "diep-ingest", "--diep_run_id", "r1", "--diep_spec=s3://a/s.json"]
    argv += ["--diep_manifest", "s3://a/old.json", "--diep_manifest", "s3://a/m.json"]
    assert parse_arguments(argv) == RunArguments(
        run_id="r1",
        spec_uri="s3://a/s.json",
        manifest_uri="s3://a/m.json",  # the run's argument follows the job's default
    )
    with pytest.raises(SystemExit, match="--diep_spec"):
        parse_arguments(["--diep_run_id", "r1"])


def spec_file(tmp_path: Path, **transform: Any) -> Path:
    spec = {
        "source": {"uri": str(tmp_path / "in"), "format": "csv"},
        "destination": {"uri": str(tmp_path / "out"), "partition_by": ["region"]},
        "transform": transform,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.spark
def test_runs_spark_as_a_process_on_local_files(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id,region\n1,eu\n2,us\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": [{"uri": str(tmp_path / "in" / "a.csv")}]}))
    metrics = tmp_path / "report" / "metrics.json"
    arguments = ["--diep_run_id", "r1", "--diep_spec", str(spec_file(tmp_path))]
    arguments += ["--diep_manifest", str(manifest), "--diep_metrics", str(metrics)]
    done = subprocess.run(
        [sys.executable, "-m", "etl.glue_job", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Its log names the Spark application and how the work was split.
    assert "diep.spark_run r1 app=diep-etl (local-" in done.stderr
    assert "tasks=" in done.stderr
    report = json.loads(metrics.read_text())
    assert report["status"] == "SUCCEEDED"
    assert report["metrics"]["rows_out"] == 2
    assert sorted(p.parent.name for p in (tmp_path / "out").rglob("*.parquet")) == [
        "region=eu",
        "region=us",
    ]


@pytest.mark.spark
def test_failed_checks_exit_non_zero_with_the_report(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id,region\n1,eu\n")
    metrics = tmp_path / "metrics.json"
    spec = spec_file(tmp_path, checks=[{"type": "min_rows", "value": 5}])
    argv = ["--diep_run_id", "r1", "--diep_spec", str(spec), "--diep_metrics", str(metrics)]
    assert main(argv) == 1
    report = json.loads(metrics.read_text())
    assert report["status"] == "FAILED"
    assert "min_rows(5)" in report["error"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


@pytest.mark.spark
@pytest.mark.django_db
def test_the_script_with_the_engines_arguments_on_the_moto_server(
    glue_job: str, buckets: Any, make_job: Any, no_enqueue: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    s3 = buckets
    job = make_job(
        source={"uri": "s3://diep-raw/orders/", "format": "csv"},
        destination={"uri": "s3://diep-curated/orders/", "partition_by": ["order_date"]},
        transform={"rename": {"id": "order_id"}, "cast": {"order_id": "int"}},
        parameters={},
        parameters_schema={},
    )
    run = services.job_fire(job=job, parameters={}, trigger="api").run
    run_start(run_id=run.run_id, last_attempt=False)
    run.refresh_from_db()
    (glue_run,) = list(glue_get_job_runs(job_name=glue_job, max_pages=1))
    spec_uri = glue_run.arguments["--diep_spec"]
    assert spec_uri.startswith("s3://diep-artifacts/specs/")
    # pyspark has no S3 connector (Glue has its own): the data moves to local paths, in
    # the spec the portal stored; arguments, spec and report stay on the moto server.
    bucket, key = spec_uri.removeprefix("s3://").split("/", 1)
    spec = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "day one.csv").write_text("id,order_date\n1,2026-11-28\n")
    spec["source"]["uri"] = str(tmp_path / "raw")
    spec["destination"]["uri"] = str(tmp_path / "curated")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(spec).encode())
    # What Glue would do with them: run the script, with the job's credentials.
    monkeypatch.setenv("AWS_ENDPOINT_URL", get_client("s3").meta.endpoint_url)
    argv = [token for name, value in glue_run.arguments.items() for token in (name, value)]
    assert main(argv) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "curated").rglob("*.*"))
    assert written == [f"curated/order_date=2026-11-28/part-{run.run_id}-0.parquet"]
    poll_glue_runs()
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert run.metrics["rows_out"] == 1
    assert run.metrics["files"] == 1
