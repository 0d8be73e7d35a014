"""Benchmark: the same job on the local engine (pyarrow) and on Spark local[2].

Generates CSVs (~300 MB and ~1 GB by default, bench/etl.py's generator) and runs one
job spec, CSV → Parquet partitioned by region with a rename, casts, a filter and a
dedupe, on each engine. Prints both times, the Spark/pyarrow time ratio (the baseline
is the local engine, measured in the same run), Spark's tasks per stage (evidence the
input is split across tasks), and the output bytes and file counts of both.

Run with `make bench` or `python bench/spark.py [--sizes-mb 300 1000] [--dir /tmp/x]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.etl import generate  # noqa: E402 - needs the repository on sys.path
from etl.request import EtlRequest  # noqa: E402
from etl.run import run_etl  # noqa: E402
from etl.spark.run import run_spark_etl  # noqa: E402
from etl.spark.session import spark_session  # noqa: E402
from etl.storage import Storage  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(source: Path, out: Path) -> dict[str, Any]:
    return {
        "source": {"uri": str(source), "format": "csv"},
        "destination": {"uri": str(out), "format": "parquet", "partition_by": ["region"]},
        "transform": {
            "rename": {"name": "customer"},
            "cast": {"id": "int", "amount": "float", "qty": "int", "ts": "timestamp"},
            "filter": {"op": ">", "args": [{"col": "amount"}, 10]},
            "dedupe": {"keys": ["id"], "keep_latest_by": "ts"},
        },
    }


def output_size(out: Path) -> tuple[int, int]:
    files = [p for p in out.rglob("*.parquet") if "_diep_tmp" not in p.parts]
    return sum(p.stat().st_size for p in files), len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="diep-bench-spark-"))
    spark = spark_session()
    spark.range(1).count()  # the JVM is started before anything is timed
    try:
        for size_mb in args.sizes_mb:
            source = base / f"in-{size_mb}"
            source.mkdir(parents=True, exist_ok=True)
            csv = source / "data.csv"
            if not csv.exists():
                rows = generate(csv, size_mb * 1024 * 1024)
                print(f"generated {csv} ({csv.stat().st_size / 1e6:.0f} MB, {rows} rows)")
            times: dict[str, float] = {}
            for engine in ("pyarrow", "spark"):
                out = base / f"out-{size_mb}-{engine}"
                shutil.rmtree(out, ignore_errors=True)
                request = EtlRequest.from_spec(job(source, out), run_id=f"bench-{engine}")
                began = time.perf_counter()
                if engine == "pyarrow":
                    result = run_etl(request, storage=Storage(), now=NOW)
                else:
                    result = run_spark_etl(request, storage=Storage(), spark=spark, now=NOW)
                times[engine] = time.perf_counter() - began
                size, files = output_size(out)
                metrics = result.metrics
                print(
                    f"{size_mb} MB {engine:8s} {times[engine]:7.1f} s  rows in/out "
                    f"{metrics['rows_in']}/{metrics['rows_out']}  output {size / 1e6:.1f} MB "
                    f"in {files} files"
                )
                if result.stages:
                    print(f"  spark tasks per stage: {[s['tasks'] for s in result.stages]}")
            ratio = times["pyarrow"] / times["spark"]
            print(f"{size_mb} MB ratio: Spark local[2] runs at {ratio:.2f}x the local engine")
    finally:
        spark.stop()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
