"""The ETL library on local files: every format, transform and check, and the atomic
publish. Pure pyarrow: no Django, no database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from etl.errors import ChecksFailed, EtlError, EtlStopped
from etl.request import EtlRequest
from etl.run import run_etl
from etl.storage import Storage

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path


def run(
    lake: Path,
    *,
    source: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
    transform: dict[str, Any] | None = None,
    run_id: str = "run1",
    should_stop: Callable[[], bool] = lambda: False,
    **request: Any,
) -> dict[str, Any]:
    spec = {
        "source": {"uri": str(lake / "in"), "format": "csv", **(source or {})},
        "destination": {"uri": str(lake / "out"), "format": "parquet", **(destination or {})},
        "transform": transform or {},
    }
    etl = EtlRequest.from_spec(spec, run_id=run_id, **request)
    return run_etl(etl, storage=Storage(), should_stop=should_stop, now=NOW).metrics


def output(lake: Path, **options: Any) -> list[dict[str, Any]]:
    if not (lake / "out").exists():
        return []
    table = ds.dataset(lake / "out", partitioning="hive", **options).to_table()
    return sorted(table.to_pylist(), key=lambda row: json.dumps(row, default=str))


def files(lake: Path) -> list[str]:
    return sorted(
        str(p.relative_to(lake / "out")) for p in (lake / "out").rglob("*") if p.is_file()
    )


def write(lake: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    (lake / "in" / name).write_bytes(text.encode(encoding))


# ------------------------------------------------------------------ formats


def test_csv_options_delimiter_quotes_nulls_and_encoding(lake: Path) -> None:
    write(lake, "a.csv", 'id;name;note\n1;"Müller; Anna";NA\n2;"Ö ""quoted""";ok\n', "latin-1")
    metrics = run(
        lake,
        source={"options": {"delimiter": ";", "encoding": "latin-1", "null_values": ["NA"]}},
    )
    assert output(lake) == [
        {"id": "1", "name": "Müller; Anna", "note": None},
        {"id": "2", "name": 'Ö "quoted"', "note": "ok"},
    ]
    assert metrics["rows_in"] == metrics["rows_out"] == 2
    assert metrics["files"] == 1


def test_csv_without_header_takes_column_names(lake: Path) -> None:
    write(lake, "a.csv", "1,x\n2,y\n")
    run(lake, source={"options": {"header": False, "column_names": ["id", "code"]}})
    assert output(lake) == [{"id": "1", "code": "x"}, {"id": "2", "code": "y"}]


def test_json_lines_and_parquet_inputs(lake: Path) -> None:
    write(lake, "a.json", '{"id": 1, "tags": "a"}\n{"id": 2, "tags": null}\n')
    run(lake, source={"format": "json"})
    assert output(lake) == [{"id": 1, "tags": "a"}, {"id": 2, "tags": None}]
    pq.write_table(pa.table({"id": [7, 8], "v": [0.5, 1.5]}), lake / "in" / "b.parquet")
    (lake / "in" / "a.json").unlink()
    run(lake, source={"format": "parquet", "options": {"columns": ["id"]}}, run_id="run2")
    table = pq.read_table(lake / "out" / "part-run2-0.parquet")
    assert table.column_names == ["id"]
    assert table.column("id").to_pylist() == [7, 8]


@pytest.mark.parametrize("compression", ["snappy", "zstd", "none"])
def test_parquet_output_compression(lake: Path, compression: str) -> None:
    write(lake, "a.csv", "id\n1\n2\n")
    run(lake, destination={"options": {"compression": compression}})
    meta = pq.ParquetFile(lake / "out" / "part-run1-0.parquet").metadata
    expected = "UNCOMPRESSED" if compression == "none" else compression.upper()
    assert meta.row_group(0).column(0).compression == expected


def test_csv_and_json_lines_outputs(lake: Path) -> None:
    write(lake, "a.csv", "id,day,amount\n1,2026-01-01,1.25\n2,2026-01-02,2.5\n")
    transform = {"cast": {"day": "date", "amount": {"type": "decimal", "precision": 9, "scale": 2}}}
    run(lake, destination={"format": "csv", "options": {"delimiter": "|"}}, transform=transform)
    assert (lake / "out" / "part-run1-0.csv").read_text().splitlines() == [
        '"id"|"day"|"amount"',
        '"1"|"2026-01-01"|"1.25"',
        '"2"|"2026-01-02"|"2.50"',
    ]
    run(lake, destination={"format": "json", "uri": str(lake / "js")}, transform=transform)
    lines = (lake / "js" / "part-run1-0.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "1", "day": "2026-01-01", "amount": "1.25"},
        {"id": "2", "day": "2026-01-02", "amount": "2.50"},
    ]
    assert not list((lake / "js").rglob("*.parquet"))


# ------------------------------------------------------------------ transforms


def test_select_rename_constants_and_metadata(lake: Path) -> None:
    write(lake, "a.csv", "id,name,junk\n1,a,x\n")
    run(
        lake,
        transform={
            "select": ["name", "id"],
            "rename": {"name": "label"},
            "constants": {"origin": "crm", "tier": 2},
            "metadata": ["ingested_at", "source_file", "run_id"],
        },
    )
    assert output(lake) == [
        {
            "label": "a",
            "id": "1",
            "origin": "crm",
            "tier": 2,
            "ingested_at": NOW,
            "source_file": str(lake / "in" / "a.csv"),
            "run_id": "run1",
        }
    ]


def test_casts_convert_and_reject_rows_they_cannot_convert(lake: Path) -> None:
    write(
        lake,
        "a.csv",
        "n,f,d,b,day,at,iso,s\n"
        " 1 ,1e3,10.005,Yes,29/11/2026,2026-11-29 10:00,2026-11-29T10:00:00+01:00,7\n"
        "x,2.5,1,no,01/01/2026,2026-01-01 00:00,2026-01-01,8\n"
        "3,inf,123456.7,maybe,02/01/2026,2026-01-02 00:00,2026-01-02T00:00:00,9\n"
        ",,,,,,,\n",
    )
    metrics = run(
        lake,
        transform={
            "cast": {
                "n": "int",
                "f": "float",
                "d": {"type": "decimal", "precision": 6, "scale": 2},
                "b": "bool",
                "day": {"type": "date", "format": "%d/%m/%Y"},
                "at": {"type": "timestamp", "format": "%Y-%m-%d %H:%M"},
                "iso": "timestamp",
                "s": "string",
            }
        },
    )
    rows = pq.read_table(lake / "out" / "part-run1-0.parquet").to_pylist()
    assert rows[0] == {
        "n": 1,
        "f": 1000.0,
        "d": Decimal("10.01"),
        "b": True,
        "day": date(2026, 11, 29),
        "at": datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        "iso": datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        "s": "7",
    }
    assert rows[1] == dict.fromkeys(rows[0])  # nulls stay null, never rejected
    assert len(rows) == 2
    # Row 2: "x" is not an int. Row 3: 123456.7 overflows decimal(6,2), "maybe" is no bool.
    assert metrics["rows_rejected"] == 2
    assert {(s["column"], s["value"]) for s in metrics["rejected_samples"]} >= {("n", "x")}


FILTERS: list[tuple[dict[str, Any], list[int]]] = [
    ({"op": "==", "args": [{"col": "kind"}, "a"]}, [1, 3]),
    ({"op": "!=", "args": [{"col": "kind"}, "a"]}, [2]),  # null != "a" is unknown: dropped
    ({"op": ">", "args": [{"col": "amount"}, 2]}, [2, 3, 4]),
    ({"op": "<=", "args": [{"col": "amount"}, 2.5]}, [1, 2]),
    ({"op": ">=", "args": [{"col": "day"}, "2026-01-03"]}, [3, 4]),
    ({"op": "<", "args": [{"col": "amount"}, {"col": "id"}]}, []),
    ({"op": "in", "args": [{"col": "kind"}, ["b", "c"]]}, [2]),
    ({"op": "between", "args": [{"col": "amount"}, 2, 3.5]}, [2, 3]),
    ({"op": "starts_with", "args": [{"col": "name"}, "al"]}, [1, 3]),
    ({"op": "ends_with", "args": [{"col": "name"}, "x"]}, [2]),
    ({"op": "contains", "args": [{"col": "name"}, "lb"]}, [3]),
    ({"op": "is_null", "args": [{"col": "kind"}]}, [4]),
    ({"op": "is_valid", "args": [{"col": "kind"}]}, [1, 2, 3]),
    ({"op": "not", "args": [{"op": "==", "args": [{"col": "kind"}, "a"]}]}, [2]),
    (
        {
            "op": "or",
            "args": [
                {"op": "and", "args": [{"col": "flag"}, {"op": "==", "args": [{"col": "id"}, 1]}]},
                {"op": "==", "args": [{"col": "id"}, 4]},
            ],
        },
        [1, 4],
    ),
]


@pytest.mark.parametrize(("expression", "ids"), FILTERS)
def test_filter_operators(lake: Path, expression: dict[str, Any], ids: list[int]) -> None:
    write(
        lake,
        "a.csv",
        "id,kind,amount,day,name,flag\n"
        "1,a,1.5,2026-01-01,alpha,true\n"
        "2,b,2.5,2026-01-02,box,false\n"
        "3,a,3.5,2026-01-03,alba,true\n"
        "4,,4.5,2026-01-04,delta,\n",
    )
    cast = {"id": "int", "amount": "float", "day": "date", "flag": "bool"}
    metrics = run(lake, transform={"cast": cast, "filter": expression})
    assert sorted(row["id"] for row in output(lake)) == ids
    assert metrics["rows_dropped"] == 4 - len(ids)


def test_filter_type_mismatch_is_a_clear_error(lake: Path) -> None:
    write(lake, "a.csv", "id\n1\n")
    with pytest.raises(EtlError, match="compares a int64 column with 'abc'"):
        run(
            lake,
            transform={
                "cast": {"id": "int"},
                "filter": {"op": "==", "args": [{"col": "id"}, "abc"]},
            },
        )
    assert not (lake / "out").exists() or not files(lake)


def test_comparing_text_with_a_number_asks_for_a_cast(lake: Path) -> None:
    # As text, "10" < "9": a CSV column is text until cast, so this is refused, not guessed.
    write(lake, "a.csv", "id\n10\n9\n")
    with pytest.raises(EtlError, match="compares a text column with 9: cast the column"):
        run(lake, transform={"filter": {"op": "<", "args": [{"col": "id"}, 9]}})


def test_dedupe_keeps_the_latest_row_per_key(lake: Path) -> None:
    write(lake, "a.csv", "id,v,at\n1,old,1\n2,only,5\n1,new,3\n1,mid,2\n")
    write(lake, "b.csv", "id,v,at\n2,newer,6\n")
    cast = {"id": "int", "at": "int"}
    run(lake, transform={"cast": cast, "dedupe": {"keys": ["id"], "keep_latest_by": "at"}})
    assert {(r["id"], r["v"]) for r in output(lake)} == {(1, "new"), (2, "newer")}


# ------------------------------------------------------------------ partitions, modes


def test_hive_partitions_append_and_overwrite_touched_partitions(lake: Path) -> None:
    write(lake, "a.csv", "id,region\n1,eu\n2,us\n")
    run(lake, destination={"partition_by": ["region"]})
    assert files(lake) == ["region=eu/part-run1-0.parquet", "region=us/part-run1-0.parquet"]
    write(lake, "a.csv", "id,region\n3,eu\n")
    run(lake, destination={"partition_by": ["region"]}, run_id="run2")
    assert sorted(r["id"] for r in output(lake)) == ["1", "2", "3"]  # append
    write(lake, "a.csv", "id,region\n4,eu\n")
    metrics = run(
        lake, destination={"partition_by": ["region"], "mode": "overwrite"}, run_id="run3"
    )
    assert sorted((r["region"], r["id"]) for r in output(lake)) == [("eu", "4"), ("us", "2")]
    assert metrics["partitions"] == 1
    assert metrics["output_files"] == 1
    assert not (lake / "out" / "_diep_tmp").exists()


def test_partition_values_with_slashes_and_spaces_stay_one_level(lake: Path) -> None:
    write(lake, "a.csv", "id,team\n1,a/b c\n")
    run(lake, destination={"partition_by": ["team"]})
    assert output(lake) == [{"id": "1", "team": "a/b c"}]
    assert len(files(lake)) == 1
    assert files(lake)[0].count("/") == 1


# ------------------------------------------------------------------ checks, atomicity, stop


CHECKS: list[tuple[dict[str, Any], str]] = [
    ({"type": "not_null", "columns": ["code"]}, "not_null(code)"),
    ({"type": "unique", "columns": ["id"]}, "unique(id)"),
    ({"type": "accepted_values", "column": "code", "values": ["a", "b"]}, "accepted_values(code)"),
    ({"type": "min_rows", "value": 10}, "min_rows(10)"),
    ({"type": "required_columns", "columns": {"id": "int"}}, "required_columns(id)"),
    ({"type": "required_columns", "columns": {"missing": "any"}}, "required_columns(missing)"),
]


@pytest.mark.parametrize(("check", "name"), CHECKS)
def test_a_failing_check_fails_the_run_and_publishes_nothing(
    lake: Path, check: dict[str, Any], name: str
) -> None:
    write(lake, "a.csv", "id,code\n1,a\n1,\n2,z\n")
    with pytest.raises(ChecksFailed) as failure:
        run(lake, transform={"checks": [check]}, destination={"partition_by": ["code"]})
    (item,) = failure.value.report
    assert item["check"] == name
    assert not item["passed"]
    assert not (lake / "out").exists() or files(lake) == []


def test_passing_checks_are_reported(lake: Path) -> None:
    write(lake, "a.csv", "id,code\n1,a\n2,b\n")
    checks = [
        {"type": "not_null", "columns": ["id", "code"]},
        {"type": "unique", "columns": ["id"]},
        {"type": "accepted_values", "column": "code", "values": ["a", "b"]},
        {"type": "min_rows", "value": 2},
        {"type": "required_columns", "columns": {"id": "int", "code": "string"}},
    ]
    metrics = run(lake, transform={"cast": {"id": "int"}, "checks": checks})
    assert [c["passed"] for c in metrics["checks"]] == [True] * 5


def test_a_bad_file_mid_run_leaves_no_output(lake: Path) -> None:
    write(lake, "a.csv", "id,region\n1,eu\n")
    write(lake, "b.csv", "id,zone\n2,us\n")
    with pytest.raises(EtlError, match="disagree on columns"):
        run(lake, destination={"partition_by": ["region"]})
    assert not (lake / "out").exists() or files(lake) == []


def test_stop_publishes_nothing(lake: Path) -> None:
    write(lake, "a.csv", "id\n1\n")
    with pytest.raises(EtlStopped):
        run(lake, should_stop=lambda: True)
    assert not (lake / "out").exists() or files(lake) == []


def test_bookmark_reads_only_newer_files(lake: Path) -> None:
    write(lake, "old.csv", "id\n1\n")
    first = run(lake)
    assert first["files"] == 1
    bookmark = datetime.fromisoformat(first["bookmark"])
    import os

    later = bookmark.timestamp() + 5
    write(lake, "new.csv", "id\n2\n")
    os.utime(lake / "in" / "new.csv", (later, later))
    second = run(lake, run_id="run2", bookmark=bookmark)
    assert second["files"] == 1
    assert second["rows_out"] == 1
    nothing = run(lake, run_id="run3", bookmark=datetime.fromisoformat(second["bookmark"]))
    assert nothing["files"] == 0
    assert nothing["output_files"] == 0


def test_hidden_files_and_markers_are_skipped(lake: Path) -> None:
    write(lake, "a.csv", "id\n1\n")
    write(lake, "_SUCCESS", "x")
    write(lake, ".keep", "x")
    assert run(lake)["files"] == 1


def test_manifest_input(lake: Path) -> None:
    write(lake, "a b.csv", "id\n1\n")
    write(lake, "ignored.csv", "id\n2\n")
    manifest = lake / "manifest.json"
    manifest.write_text(json.dumps({"files": [{"uri": str(lake / "in" / "a b.csv"), "size": 5}]}))
    metrics = run(lake, manifest_uri=str(manifest))
    assert metrics["files"] == 1
    assert output(lake) == [{"id": "1"}]


def test_a_source_with_nothing_in_it_fails_unless_allowed(lake: Path) -> None:
    # A mistyped prefix, a deleted object, a missing folder: never a green run of 0 rows.
    with pytest.raises(EtlError, match="holds no data files"):
        run(lake)
    with pytest.raises(EtlError, match="holds no data files"):
        run(lake, source={"uri": str(lake / "in" / "gone.csv")})
    with pytest.raises(EtlError, match="holds no data files"):
        run(lake, source={"uri": str(lake / "no-such-folder")})
    allowed = run(lake, source={"options": {"allow_empty": True}})
    assert (allowed["files"], allowed["rows_out"], allowed["output_files"]) == (0, 0, 0)


def test_files_deleted_before_their_run_are_skipped_and_listed(lake: Path) -> None:
    write(lake, "a.csv", "id\n1\n")
    manifest = lake / "manifest.json"
    gone = [str(lake / "in" / "deleted-1.csv"), str(lake / "in" / "deleted-2.csv")]
    entries = [{"uri": uri, "size": 5} for uri in [str(lake / "in" / "a.csv"), *gone]]
    manifest.write_text(json.dumps({"files": entries}))
    metrics = run(lake, manifest_uri=str(manifest))
    assert (metrics["files"], metrics["files_missing"]) == (1, 2)
    assert metrics["missing_files"] == gone
    assert output(lake) == [{"id": "1"}]
    # Every file gone: nothing was ingested, and the run says so.
    manifest.write_text(json.dumps({"files": [{"uri": uri, "size": 5} for uri in gone]}))
    with pytest.raises(EtlError, match="Every input file of this run is gone"):
        run(lake, run_id="run2", manifest_uri=str(manifest))


def test_csv_rows_longer_than_a_block_need_the_block_size_option(lake: Path) -> None:
    long = "x" * 20_000
    write(lake, "wide.csv", f"id,text\n1,{long}\n2,{long}\n")
    small = {"options": {"block_size_bytes": 4096}}
    with pytest.raises(EtlError, match="raise the source option block_size_bytes"):
        run(lake, source=small)
    metrics = run(lake, source={"options": {"block_size_bytes": 65536}})
    assert metrics["rows_out"] == 2


def test_a_spec_the_etl_cannot_trust_is_refused(lake: Path) -> None:
    with pytest.raises(EtlError, match="Invalid job spec"):
        run(lake, transform={"filter": {"op": "eval", "args": ["__import__('os')"]}})
