"""Benchmark: the ETL library against the plain tools, at two input sizes.

Generates mixed-type CSVs (~0.5 GB and ~2 GB by default) on local disk, then times, each
in a fresh process (so peak RSS is its own):
  - DIEP: etl CSV → Hive-partitioned Parquet with a rename, two casts and a
    filter (the library's streaming path);
  - raw pyarrow: pyarrow.csv.read_csv + pyarrow.parquet.write_table, no transform;
  - pandas: read_csv + to_parquet, no transform.
Prints throughput, the speed ratios against raw pyarrow and pandas, and peak RSS.
Targets: DIEP >= 0.8x raw pyarrow, faster than pandas, peak RSS under 1 GB growing
less than 20% from the small input to the large one.

Run with `make bench` or `python bench/etl.py [--sizes-mb 512 2048] [--dir /tmp/x]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etl.request import EtlRequest  # noqa: E402 - needs the repository on sys.path
from etl.run import run_etl  # noqa: E402
from etl.storage import Storage  # noqa: E402

REGIONS = ["eu-west", "eu-north", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af"]


def generate(path: Path, target_bytes: int) -> int:
    """Write a CSV of about `target_bytes`: ids, ISO timestamps, a region, amounts, counts,
    names and flags. Returns the row count."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(7)
    chunk_rows = 500_000
    rows = 0
    with pa_csv.CSVWriter(path, _schema()) as writer:
        while path.stat().st_size < target_bytes if path.exists() else True:
            ids = np.arange(rows, rows + chunk_rows)
            seconds = rng.integers(1_700_000_000, 1_760_000_000, chunk_rows)
            table = pa.table(
                {
                    "id": ids,
                    "ts": pa.array(seconds.astype("datetime64[s]")).cast(pa.string()),
                    "region": pa.array(rng.choice(REGIONS, chunk_rows)),
                    "amount": np.round(rng.gamma(2.0, 40.0, chunk_rows), 2),
                    "qty": rng.integers(1, 50, chunk_rows),
                    "name": pa.array([f"customer-{n % 100_003}" for n in ids]),
                    "flag": rng.random(chunk_rows) < 0.5,
                },
                schema=_schema(),
            )
            writer.write_table(table)
            rows += chunk_rows
            if path.stat().st_size >= target_bytes:
                break
    return rows


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("ts", pa.string()),
            ("region", pa.string()),
            ("amount", pa.float64()),
            ("qty", pa.int64()),
            ("name", pa.string()),
            ("flag", pa.bool_()),
        ]
    )


# ------------------------------------------------------------------ the contenders


def run_diep(source: str, out: str) -> None:
    spec = {
        "source": {"uri": source, "format": "csv"},
        "destination": {"uri": out, "format": "parquet", "partition_by": ["region"]},
        "transform": {
            "rename": {"name": "customer"},
            "cast": {"amount": "float", "ts": "timestamp"},
            "filter": {"op": ">", "args": [{"col": "amount"}, 10]},
        },
    }
    run_etl(EtlRequest.from_spec(spec, run_id="bench"), storage=Storage())


def run_raw(source: str, out: str) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    Path(out).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa_csv.read_csv(source), f"{out}/data.parquet")


def run_pandas(source: str, out: str) -> None:
    import pandas as pd

    Path(out).mkdir(parents=True, exist_ok=True)
    pd.read_csv(source).to_parquet(f"{out}/data.parquet")


CONTENDERS = {"diep": run_diep, "raw": run_raw, "pandas": run_pandas}


IMPORTS = {
    "diep": ["etl.run", "etl.storage"],
    "raw": ["pyarrow.csv", "pyarrow.parquet"],
    "pandas": ["pandas", "pyarrow.parquet"],
}


def child(name: str, source: str, out: str) -> None:
    import importlib
    import resource

    # Throughput, not interpreter start-up: each contender's modules load untimed.
    for module in IMPORTS[name]:
        importlib.import_module(module)
    began = time.perf_counter()
    CONTENDERS[name](source, out)
    seconds = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kib / 1024}))


def measure(name: str, source: Path, work: Path) -> dict[str, float]:
    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, str(source), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    shutil.rmtree(out, ignore_errors=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(args.dir or tempfile.mkdtemp(prefix="diep-bench-etl-"))
    work.mkdir(parents=True, exist_ok=True)
    peaks: list[float] = []
    try:
        for size_mb in args.sizes_mb:
            source = work / f"input-{size_mb}mb.csv"
            rows = generate(source, size_mb * 1024 * 1024)
            actual_mb = source.stat().st_size / 1024 / 1024
            results = {name: measure(name, source, work) for name in CONTENDERS}
            source.unlink()
            diep, raw, pandas = results["diep"], results["raw"], results["pandas"]
            peaks.append(diep["peak_mb"])
            print(f"input {actual_mb:,.0f} MB, {rows:,} rows:")
            for name, result in results.items():
                print(
                    f"  {name:6s} {result['seconds']:7.1f} s  {actual_mb / result['seconds']:6.1f} "
                    f"MB/s  peak RSS {result['peak_mb']:7,.0f} MB"
                )
            print(
                f"  DIEP speed vs raw pyarrow {raw['seconds'] / diep['seconds']:.2f}x "
                f"(target >= 0.8), vs pandas {pandas['seconds'] / diep['seconds']:.2f}x "
                f"(target > 1); DIEP peak RSS {diep['peak_mb']:,.0f} MB (target < 1024)"
            )
        if len(peaks) > 1:
            growth = (peaks[-1] - peaks[0]) / peaks[0] * 100
            print(
                f"DIEP peak RSS growth from {args.sizes_mb[0]} MB to {args.sizes_mb[-1]} MB "
                f"input: {growth:+.0f}% (target < 20%)"
            )
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
