"""The Spark reader where it differs in kind from the local one: skip_rows counted per
file over files split across tasks, and the combinations it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl.errors import EtlError
from etl.spark.read import FILE_INDEX, ROW_ORDER, read_inputs
from etl.storage import InputFile

pytestmark = pytest.mark.spark


@pytest.fixture
def small_splits(spark: Any) -> Iterator[None]:
    # Splits of ~1 KiB, so a file's skipped lines and its data fall in several tasks.
    names = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    saved = {name: spark.conf.get(name) for name in names}
    for name in names:
        spark.conf.set(name, "1024")
    yield
    for name, value in saved.items():
        spark.conf.set(name, value)


def inputs(tmp_path: Path, files: dict[str, str]) -> list[InputFile]:
    found = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        found.append(InputFile(uri=str(path), size=path.stat().st_size))
    return found


def test_skip_rows_counts_lines_per_file_across_splits(
    spark: Any, small_splits: None, tmp_path: Path
) -> None:
    preamble = "".join(f"note {n:04d} with some padding to fill a split\n" for n in range(60))
    files = inputs(
        tmp_path,
        {
            "a.csv": preamble + "id,v\n" + "".join(f"{n},a{n}\n" for n in range(300)),
            "b.csv": preamble + "id,v\n" + "".join(f"{n},b{n}\n" for n in range(300, 400)),
        },
    )
    frame = read_inputs(spark, "csv", {"skip_rows": 60}, files)
    assert frame.rdd.getNumPartitions() > 2  # the files were split
    rows = frame.orderBy(FILE_INDEX, ROW_ORDER).select("id", "v", FILE_INDEX).collect()
    assert [(row["id"], row["v"], row[FILE_INDEX]) for row in rows] == [
        (str(n), f"{'a' if n < 300 else 'b'}{n}", 0 if n < 300 else 1) for n in range(400)
    ]


def test_skip_rows_refuses_files_whose_headers_differ(spark: Any, tmp_path: Path) -> None:
    files = inputs(tmp_path, {"a.csv": "x\nid,v\n1,2\n", "b.csv": "x\nv,id\n2,1\n"})
    with pytest.raises(EtlError, match=r"disagree on columns: .*b\.csv has the header 'v,id'"):
        read_inputs(spark, "csv", {"skip_rows": 1}, files)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"newlines_in_values": True}, "together with newlines_in_values"),
        ({"encoding": "utf-16"}, "for UTF-16 files"),
    ],
)
def test_skip_rows_refuses_what_it_cannot_count(
    spark: Any, tmp_path: Path, options: dict[str, Any], reason: str
) -> None:
    files = inputs(tmp_path, {"a.csv": "x\nid\n1\n"})
    with pytest.raises(EtlError, match=reason):
        read_inputs(spark, "csv", {"skip_rows": 1, **options}, files)
