"""The conformance cases: a spec, its input files and the answer both engines must give.

Each case states only the parts of the answer it is about (rows, schema, partitions,
metrics, reject samples, checks, or the failure); the rest is still compared between
the two engines by the test.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conformance.harness import NOW, Case

TS = "timestamp[us, tz=UTC]"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CSV = {"format": "csv"}


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


TYPED = parquet_bytes(
    pa.table(
        {
            "name": ["a", "b", None],
            "whole": [2.0, 2.5, None],
            "flag": [True, False, None],
            "stamp": pa.array(
                [utc(2024, 5, 6, 23), utc(2024, 5, 7), None], pa.timestamp("us", tz="UTC")
            ),
            "n": [3, 0, None],
        }
    )
)

CASES: list[Case] = [
    Case(
        name="csv_is_text_until_cast",
        source=CSV,
        files={"a.csv": "id,name,amount\n1,alpha,1.5\n2,,2\n"},
        expected={
            "rows": [
                {"id": "1", "name": "alpha", "amount": "1.5"},
                {"id": "2", "name": None, "amount": "2"},
            ],
            "schema": {"id": "string", "name": "string", "amount": "string"},
            "metrics": {"files": 1, "rows_in": 2, "rows_out": 2, "rows_rejected": 0},
        },
    ),
    Case(
        name="casts_of_every_type",
        source=CSV,
        files={
            "a.csv": "i,f,b,d,t,m,s\n"
            " 7 ,1e3,Yes,2024-02-29,2024-01-01T10:00:00Z,2.675,x\n"
            "-3,-inf,0,2024-01-01,2024-01-01 10:00:00+02:00,-2.675,y\n"
            "+5,.5,F,2023-12-31,2024-01-01,12.5,z\n"
            ",,,,,,\n"
        },
        transform={
            "cast": {
                "i": "int",
                "f": "float",
                "b": "bool",
                "d": "date",
                "t": "timestamp",
                "m": {"type": "decimal", "precision": 5, "scale": 2},
                "s": "string",
            }
        },
        expected={
            "rows": [
                {
                    "i": 7,
                    "f": 1000.0,
                    "b": True,
                    "d": date(2024, 2, 29),
                    "t": utc(2024, 1, 1, 10),
                    "m": Decimal("2.68"),
                    "s": "x",
                },
                {
                    "i": -3,
                    "f": float("-inf"),
                    "b": False,
                    "d": date(2024, 1, 1),
                    "t": utc(2024, 1, 1, 8),
                    "m": Decimal("-2.68"),
                    "s": "y",
                },
                {
                    "i": 5,
                    "f": 0.5,
                    "b": False,
                    "d": date(2023, 12, 31),
                    "t": utc(2024, 1, 1),
                    "m": Decimal("12.50"),
                    "s": "z",
                },
                dict.fromkeys("ifbdtms"),
            ],
            "schema": {
                "i": "int64",
                "f": "double",
                "b": "bool",
                "d": "date32[day]",
                "t": TS,
                "m": "decimal128(5, 2)",
                "s": "string",
            },
            "metrics": {"rows_in": 4, "rows_out": 4, "rows_rejected": 0},
        },
    ),
    Case(
        name="values_a_cast_refuses_are_counted_and_sampled_in_read_order",
        source=CSV,
        files={
            "a.csv": "id,n,d,m\n1,x,2024-01-01,1\n2,1,2024-13-01,1\n3,٣,2024-01-01,1\n",
            "b.csv": "id,n,d,m\n4,1.0,2024-01-01,1000\n5,99999999999999999999,2024-1-1,1\n"
            "6,2,2024-01-02,1.5\n",
        },
        transform={
            "cast": {
                "n": "int",
                "d": "date",
                "m": {"type": "decimal", "precision": 5, "scale": 2},
            }
        },
        expected={
            "rows": [{"id": "6", "n": 2, "d": date(2024, 1, 2), "m": Decimal("1.50")}],
            "metrics": {"rows_in": 6, "rows_out": 1, "rows_rejected": 5, "rows_dropped": 0},
            "rejected_samples": [
                {"column": "n", "value": "x", "expected": "int"},
                {"column": "d", "value": "2024-13-01", "expected": "date"},
                {"column": "n", "value": "٣", "expected": "int"},
                {"column": "n", "value": "1.0", "expected": "int"},
                {"column": "n", "value": "99999999999999999999", "expected": "int"},
            ],
        },
    ),
    Case(
        name="decimal_overflow_of_precision_rejects",
        source=CSV,
        files={"a.csv": "m\n999.994\n999.995\n-999.995\n1e2\nNaN\n"},
        transform={"cast": {"m": {"type": "decimal", "precision": 5, "scale": 2}}},
        expected={
            "rows": [{"m": Decimal("999.99")}, {"m": Decimal("100.00")}],
            "metrics": {"rows_rejected": 3},
        },
    ),
    Case(
        name="strptime_formats",
        source=CSV,
        files={
            "a.csv": "d,t,u\n"
            "29/02/2024,2024-03-01 7:05 PM,01 Jan 2024\n"
            "1/2/2024,2024-03-01 12:00 AM,31 Dec 1999\n"
            "31/02/2024,2024-03-01 13:00 PM,1 Foo 2024\n"
        },
        transform={
            "cast": {
                "d": {"type": "date", "format": "%d/%m/%Y"},
                "t": {"type": "timestamp", "format": "%Y-%m-%d %I:%M %p"},
                "u": {"type": "date", "format": "%d %b %Y"},
            }
        },
        expected={
            "rows": [
                {"d": date(2024, 2, 29), "t": utc(2024, 3, 1, 19, 5), "u": date(2024, 1, 1)},
                {"d": date(2024, 2, 1), "t": utc(2024, 3, 1, 0, 0), "u": date(1999, 12, 31)},
            ],
            "metrics": {"rows_rejected": 1},
        },
    ),
    Case(
        name="csv_reader_options",
        source={
            "format": "csv",
            "options": {
                "delimiter": ";",
                "quote_char": "'",
                "encoding": "latin-1",
                "null_values": ["NA", "-"],
            },
        },
        files={
            "a.csv": "id;name;note\n1;'Müller; Anna';NA\n2;'O''Brien';-\n3;Öl;ok\n".encode(
                "latin-1"
            )
        },
        expected={
            "rows": [
                {"id": "1", "name": "Müller; Anna", "note": None},
                {"id": "2", "name": "O'Brien", "note": None},
                {"id": "3", "name": "Öl", "note": "ok"},
            ]
        },
    ),
    Case(
        name="csv_escape_character",
        source={"format": "csv", "options": {"escape_char": "\\"}},
        files={"a.csv": 'id,text\n1,"say \\"hi\\""\n2,plain\n'},
        expected={"rows": [{"id": "1", "text": 'say "hi"'}, {"id": "2", "text": "plain"}]},
    ),
    Case(
        name="csv_without_header",
        source={"format": "csv", "options": {"header": False}},
        files={"a.csv": "1,x\n2,y\n"},
        expected={"rows": [{"f0": "1", "f1": "x"}, {"f0": "2", "f1": "y"}]},
    ),
    Case(
        name="csv_column_names_replace_the_header",
        source={"format": "csv", "options": {"column_names": ["key", "value"]}},
        files={"a.csv": "a,b\n1,x\n"},
        expected={"rows": [{"key": "1", "value": "x"}]},
    ),
    Case(
        # Lines as pyarrow counts them: the empty one and the one with a quote count too.
        name="csv_skip_rows_before_the_header_in_every_file",
        source={"format": "csv", "options": {"skip_rows": 3}},
        files={
            "a.csv": 'Report "daily\n\nexported 2024-01-02\nid,v\n1,x\n\n2,y\r\n',
            "b.csv": "Report\n\nexported 2024-01-03\nid,v\n3,z\n",
        },
        expected={
            "rows": [{"id": "1", "v": "x"}, {"id": "2", "v": "y"}, {"id": "3", "v": "z"}],
            "metrics": {"files": 2, "rows_in": 3},
        },
    ),
    Case(
        name="csv_skip_rows_with_names_encoding_and_nulls",
        source={
            "format": "csv",
            "options": {
                "skip_rows": 1,
                "header": False,
                "column_names": ["key", "city"],
                "encoding": "latin-1",
                "delimiter": ";",
                "null_values": ["NA"],
            },
        },
        files={"a.csv": 'Stand: März\n1;Köln\n2;NA\n3;"quoted; yes"\n'.encode("latin-1")},
        expected={
            "rows": [
                {"key": "1", "city": "Köln"},
                {"key": "2", "city": None},
                {"key": "3", "city": "quoted; yes"},
            ],
        },
    ),
    Case(
        name="csv_skip_rows_without_header_names_f0_f1",
        source={"format": "csv", "options": {"skip_rows": 2, "header": False}},
        files={"a.csv": "x\ny\n1,2\n3,4\n"},
        expected={"rows": [{"f0": "1", "f1": "2"}, {"f0": "3", "f1": "4"}]},
    ),
    Case(
        name="csv_skip_rows_past_the_end_of_a_file_fails",
        source={"format": "csv", "options": {"skip_rows": 2}},
        files={"a.csv": "x\ny\nid\n1\n", "b.csv": "x\ny\n"},
        expected={"error": "etl"},
    ),
    Case(
        name="csv_utf8_bom_and_cp1252",
        source={"format": "csv", "options": {"encoding": "utf-8-sig"}},
        files={"a.csv": "\ufeffid,v\n1,€\n".encode()},
        expected={"rows": [{"id": "1", "v": "€"}]},
    ),
    Case(
        name="csv_cp1252",
        source={"format": "csv", "options": {"encoding": "cp1252"}},
        files={"a.csv": "id,v\n1,€ \u2013 ok\n".encode("cp1252")},
        expected={"rows": [{"id": "1", "v": "€ \u2013 ok"}]},
    ),
    Case(
        name="csv_quoted_newlines_when_declared",
        source={"format": "csv", "options": {"newlines_in_values": True}},
        files={"a.csv": 'id,text\n1,"two\nlines"\n2,one\n'},
        expected={"rows": [{"id": "1", "text": "two\nlines"}, {"id": "2", "text": "one"}]},
    ),
    Case(
        name="json_lines_keep_json_types_and_name_order",
        source={"format": "json"},
        files={
            "a.jsonl": '{"z": 1, "a": "2024-01-02", "ünï": "ç", "b": true, "f": 1.5}\n'
            '{"z": 2, "a": null, "ünï": "日本", "b": null, "f": 2.0}\n'
        },
        expected={
            "rows": [
                {"a": "2024-01-02", "b": True, "f": 1.5, "z": 1, "ünï": "ç"},
                {"a": None, "b": None, "f": 2.0, "z": 2, "ünï": "日本"},
            ],
            "schema": {"a": "string", "b": "bool", "f": "double", "z": "int64", "ünï": "string"},
        },
    ),
    Case(
        name="parquet_source_with_typed_casts",
        source={"format": "parquet"},
        files={"a.parquet": TYPED},
        transform={
            "cast": {"whole": "int", "flag": "int", "stamp": "date", "n": "bool"},
        },
        expected={
            "rows": [
                {"whole": 2, "flag": 1, "stamp": date(2024, 5, 6), "n": True, "name": "a"},
                {"whole": None, "flag": None, "stamp": None, "n": None, "name": None},
            ],
            "metrics": {"rows_in": 3, "rows_rejected": 1},
            "rejected_samples": [{"column": "whole", "value": "2.5", "expected": "int"}],
        },
    ),
    Case(
        name="parquet_columns_option",
        source={"format": "parquet", "options": {"columns": ["name", "whole"]}},
        files={"a.parquet": TYPED},
        expected={
            "rows": [
                {"name": "a", "whole": 2.0},
                {"name": "b", "whole": 2.5},
                {"name": None, "whole": None},
            ]
        },
    ),
]

FILTER_INPUT: dict[str, str | bytes] = {
    "a.csv": "id,kind,amount,day,name\n"
    "1,a,1.5,2026-01-01,alpha\n"
    "2,b,2.5,2026-01-02,box\n"
    "3,a,3.5,2026-01-03,alba\n"
    "4,,4.5,2026-01-04,délta\n"
}
FILTER_CAST = {"id": "int", "amount": "float", "day": "date"}


def col(name: str) -> dict[str, str]:
    return {"col": name}


FILTERS: list[tuple[str, dict[str, object], list[int]]] = [
    ("eq", {"op": "==", "args": [col("kind"), "a"]}, [1, 3]),
    ("ne", {"op": "!=", "args": [col("kind"), "a"]}, [2]),
    ("gt", {"op": ">", "args": [col("amount"), 2]}, [2, 3, 4]),
    ("le", {"op": "<=", "args": [col("amount"), 2.5]}, [1, 2]),
    ("lt_literal_left", {"op": "<", "args": [3, col("id")]}, [4]),
    ("ge_date_literal", {"op": ">=", "args": [col("day"), "2026-01-03"]}, [3, 4]),
    ("column_vs_column", {"op": "<", "args": [col("amount"), col("id")]}, []),
    ("in", {"op": "in", "args": [col("kind"), ["b", "c"]]}, [2]),
    ("in_with_null", {"op": "in", "args": [col("kind"), ["b", None]]}, [2, 4]),
    ("not_in", {"op": "not", "args": [{"op": "in", "args": [col("kind"), ["a"]]}]}, [2, 4]),
    ("between", {"op": "between", "args": [col("amount"), 2, 3.5]}, [2, 3]),
    ("starts_with", {"op": "starts_with", "args": [col("name"), "al"]}, [1, 3]),
    ("ends_with", {"op": "ends_with", "args": [col("name"), "x"]}, [2]),
    ("contains_unicode", {"op": "contains", "args": [col("name"), "é"]}, [4]),
    ("is_null", {"op": "is_null", "args": [col("kind")]}, [4]),
    ("is_valid", {"op": "is_valid", "args": [col("kind")]}, [1, 2, 3]),
    ("not", {"op": "not", "args": [{"op": "==", "args": [col("kind"), "a"]}]}, [2]),
    (
        "and_or",
        {
            "op": "or",
            "args": [
                {
                    "op": "and",
                    "args": [
                        {"op": "==", "args": [col("kind"), "a"]},
                        {"op": ">", "args": [col("id"), 1]},
                    ],
                },
                {"op": "==", "args": [col("id"), 4]},
            ],
        },
        [3, 4],
    ),
]


def filter_cases(
    prefix: str,
    files: dict[str, str | bytes],
    cast: dict[str, str],
    filters: list[tuple[str, dict[str, object], list[int]]],
) -> list[Case]:
    """One case per filter over the same four rows: the ids it keeps."""
    return [
        Case(
            name=f"{prefix}_{label}",
            source=CSV,
            files=files,
            transform={"cast": cast, "filter": expression},
            expected={
                "values:id": ids,
                "metrics": {"rows_in": 4, "rows_out": len(ids), "rows_dropped": 4 - len(ids)},
            },
        )
        for label, expression, ids in filters
    ]


CASES += filter_cases("filter", FILTER_INPUT, FILTER_CAST, FILTERS)

CASES += [
    Case(
        name="filter_text_column_with_a_number_is_refused",
        source=CSV,
        files={"a.csv": "id\n10\n9\n"},
        transform={"filter": {"op": "<", "args": [col("id"), 9]}},
        expected={"error": "etl", "message": "cast the column first"},
    ),
    Case(
        name="dedupe_latest_with_ties_and_nulls",
        source=CSV,
        files={
            "a.csv": "k,v,at\n1,old,1\n2,only,5\n1,new,3\n1,tie-later,3\n3,null-at,\n3,dated,0\n",
            "b.csv": "k,v,at\n2,newer,6\n4,x,\n4,y,\n",
        },
        transform={"cast": {"at": "int"}, "dedupe": {"keys": ["k"], "keep_latest_by": "at"}},
        expected={
            "rows": [
                {"k": "1", "v": "new", "at": 3},
                {"k": "2", "v": "newer", "at": 6},
                {"k": "3", "v": "dated", "at": 0},
                {"k": "4", "v": "x", "at": None},
            ],
            "metrics": {"rows_in": 9, "rows_out": 4, "rows_dropped": 5},
        },
    ),
    Case(
        name="dedupe_first_read_wins_across_files",
        source=CSV,
        files={"a.csv": "k,v\n1,first\n2,a\n", "b.csv": "k,v\n1,second\n,n1\n,n2\n"},
        transform={"dedupe": {"keys": ["k"]}},
        expected={
            "rows": [
                {"k": "1", "v": "first"},
                {"k": "2", "v": "a"},
                {"k": None, "v": "n1"},
            ]
        },
    ),
    Case(
        name="select_rename_constants_metadata",
        source=CSV,
        files={"a.csv": "id,name,junk\n1,a,x\n"},
        transform={
            "select": ["name", "id"],
            "rename": {"name": "label"},
            "constants": {"origin": "crm", "tier": 2, "ratio": 0.5, "on": True, "none": None},
            "metadata": ["ingested_at", "run_id"],
        },
        expected={
            "rows": [
                {
                    "label": "a",
                    "id": "1",
                    "origin": "crm",
                    "tier": 2,
                    "ratio": 0.5,
                    "on": True,
                    "none": None,
                    "ingested_at": NOW,
                    "run_id": "run-1-0",
                }
            ],
            "schema": {
                "label": "string",
                "id": "string",
                "origin": "string",
                "tier": "int64",
                "ratio": "double",
                "on": "bool",
                "none": "string",
                "ingested_at": TS,
                "run_id": "string",
            },
        },
    ),
    Case(
        name="missing_column_in_select_fails",
        source=CSV,
        files={"a.csv": "id\n1\n"},
        transform={"select": ["nope"]},
        expected={"error": "etl", "message": "select: column 'nope' is not in the data"},
    ),
    Case(
        name="checks_that_pass",
        source=CSV,
        files={"a.csv": "id,code\n1,a\n2,b\n"},
        transform={
            "cast": {"id": "int"},
            "checks": [
                {"type": "not_null", "columns": ["id", "code"]},
                {"type": "unique", "columns": ["id"]},
                {"type": "accepted_values", "column": "code", "values": ["a", "b"]},
                {"type": "min_rows", "value": 2},
                {"type": "required_columns", "columns": {"id": "int", "code": "string"}},
            ],
        },
        expected={
            "checks": [
                {"check": "not_null(id, code)", "passed": True, "failing_rows": 0, "problems": []},
                {"check": "unique(id)", "passed": True, "failing_rows": 0, "problems": []},
                {
                    "check": "accepted_values(code)",
                    "passed": True,
                    "failing_rows": 0,
                    "problems": [],
                },
                {"check": "min_rows(2)", "passed": True, "failing_rows": 0, "problems": []},
                {
                    "check": "required_columns(id, code)",
                    "passed": True,
                    "failing_rows": 0,
                    "problems": [],
                },
            ]
        },
    ),
    Case(
        name="checks_that_fail_publish_nothing",
        source=CSV,
        files={"a.csv": "id,code\n1,a\n1,\n2,z\n,b\n"},
        transform={
            "cast": {"id": "int"},
            "checks": [
                {"type": "not_null", "columns": ["id", "code"]},
                {"type": "unique", "columns": ["id", "code"]},
                {"type": "unique", "columns": ["id"]},
                {"type": "accepted_values", "column": "code", "values": ["a", "b"]},
                {"type": "accepted_values", "column": "id", "values": ["x"]},
                {"type": "min_rows", "value": 5},
                {"type": "required_columns", "columns": {"id": "string", "gone": "any"}},
                {"type": "not_null", "columns": ["gone"]},
            ],
        },
        destination={"partition_by": ["code"]},
        expected={
            "error": "checks",
            "checks": [
                {"check": "not_null(id, code)", "passed": False, "failing_rows": 2, "problems": []},
                {"check": "unique(id, code)", "passed": True, "failing_rows": 0, "problems": []},
                {"check": "unique(id)", "passed": False, "failing_rows": 1, "problems": []},
                {
                    "check": "accepted_values(code)",
                    "passed": False,
                    "failing_rows": 1,
                    "problems": [],
                },
                {
                    "check": "accepted_values(id)",
                    "passed": False,
                    "failing_rows": 0,
                    "problems": ["values do not fit column type int64"],
                },
                {
                    "check": "min_rows(5)",
                    "passed": False,
                    "failing_rows": 0,
                    "problems": ["4 rows, fewer than 5"],
                },
                {
                    "check": "required_columns(id, gone)",
                    "passed": False,
                    "failing_rows": 0,
                    "problems": [
                        "column 'id' is int64, expected string",
                        "column 'gone' is missing",
                    ],
                },
                {
                    "check": "not_null(gone)",
                    "passed": False,
                    "failing_rows": 0,
                    "problems": ["column 'gone' is missing"],
                },
            ],
            "published": [],
        },
    ),
    Case(
        name="empty_input_with_allow_empty",
        source={"format": "csv", "options": {"allow_empty": True}},
        files={},
        transform={"checks": [{"type": "min_rows", "value": 0}]},
        expected={
            "rows": [],
            "metrics": {"files": 0, "rows_in": 0, "rows_out": 0},
            "checks": [{"check": "min_rows(0)", "passed": True, "failing_rows": 0, "problems": []}],
        },
    ),
    Case(
        name="no_input_fails",
        source=CSV,
        files={},
        expected={"error": "etl", "message": "holds no data files"},
    ),
    Case(
        name="every_row_filtered_out",
        source=CSV,
        files={"a.csv": "id\n1\n"},
        transform={"filter": {"op": "==", "args": [col("id"), "2"]}},
        expected={"rows": [], "metrics": {"rows_in": 1, "rows_out": 0, "rows_dropped": 1}},
    ),
    Case(
        name="hive_partitions_unicode_special_and_null",
        source=CSV,
        files={"a.csv": "id,team,day\n1,a/b c,2024-01-01\n2,日本:%,2024-01-01\n3,,2024-01-02\n"},
        transform={"cast": {"day": "date"}},
        destination={"partition_by": ["team", "day"]},
        expected={
            "rows": [
                {"id": "1", "team": "a/b c", "day": "2024-01-01"},
                {"id": "2", "team": "日本:%", "day": "2024-01-01"},
                {"id": "3", "team": None, "day": "2024-01-02"},
            ],
            "partitions": [
                "team=__HIVE_DEFAULT_PARTITION__/day=2024-01-02",
                "team=a%2Fb%20c/day=2024-01-01",
                "team=%E6%97%A5%E6%9C%AC%3A%25/day=2024-01-01",
            ],
            "metrics": {"partitions": 3},
        },
    ),
    Case(
        name="overwrite_replaces_only_touched_partitions",
        source=CSV,
        before=({"a.csv": "id,region\n1,eu\n2,us\n"},),
        files={"a.csv": "id,region\n3,eu\n4,eu\n"},
        destination={"partition_by": ["region"], "mode": "overwrite"},
        expected={
            "rows": [
                {"id": "2", "region": "us"},
                {"id": "3", "region": "eu"},
                {"id": "4", "region": "eu"},
            ],
            "metrics": {"partitions": 1},
        },
    ),
    Case(
        name="append_keeps_earlier_rows",
        source=CSV,
        before=({"a.csv": "id,region\n1,eu\n"},),
        files={"a.csv": "id,region\n1,eu\n"},
        destination={"partition_by": ["region"]},
        expected={"rows": [{"id": "1", "region": "eu"}, {"id": "1", "region": "eu"}]},
    ),
    Case(
        name="many_files_and_a_manifest_with_a_deleted_one",
        source=CSV,
        files={f"part-{i:02d}.csv": f"id\n{i}\n{i + 100}\n" for i in range(12)},
        manifest=("part-00.csv", "part-05.csv", "gone.csv", "part-11.csv"),
        transform={"cast": {"id": "int"}, "metadata": ["source_file"]},
        expected={
            "values:id": [0, 100, 5, 105, 11, 111],
            "values:source_file": [f"in0/part-{i:02d}.csv" for i in (0, 0, 5, 5, 11, 11)],
            "metrics": {"files": 3, "files_missing": 1, "rows_in": 6},
        },
    ),
    Case(
        name="csv_output",
        source=CSV,
        files={
            "a.csv": "\n".join(
                [
                    "id,day,amount,t,note",
                    '1,2026-01-01,1.25,2026-01-01T10:00:00Z,"a,b"',
                    '2,2026-01-02,2.5,,""',
                    "",
                ]
            )
        },
        transform={
            "cast": {
                "id": "int",
                "day": "date",
                "amount": {"type": "decimal", "precision": 9, "scale": 2},
                "t": "timestamp",
            }
        },
        destination={"format": "csv", "options": {"delimiter": "|"}},
        expected={
            "rows": [
                {"line": '"1"|"2026-01-01"|"1.25"|"2026-01-01 10:00:00.000000Z"|"a,b"'},
                {"line": '"2"|"2026-01-02"|"2.50"|""|""'},
            ],
            "schema": {"header": ["id", "day", "amount", "t", "note"]},
        },
    ),
    Case(
        name="json_output",
        source=CSV,
        files={"a.csv": "id,day,amount,t\n1,2026-01-01,1.25,2026-01-01T10:00:00.5Z\n2,,,\n"},
        transform={
            "cast": {
                "id": "int",
                "day": "date",
                "amount": {"type": "decimal", "precision": 9, "scale": 2},
                "t": "timestamp",
            }
        },
        destination={"format": "json", "partition_by": ["id"]},
        expected={
            "rows": [
                {
                    "id": "1",
                    "day": "2026-01-01",
                    "amount": "1.25",
                    "t": "2026-01-01T10:00:00.500000Z",
                },
                {"id": "2", "day": None, "amount": None, "t": None},
            ],
        },
    ),
]
for compression in ("zstd", "gzip", "none"):
    CASES.append(
        Case(
            name=f"parquet_{compression}",
            source=CSV,
            files={"a.csv": "id\n1\n"},
            destination={"options": {"compression": compression}},
            expected={"rows": [{"id": "1"}]},
        )
    )

# Where the two engines' defaults differ (NaN, float text, time partition values): DIEP's
# answer is stated and both must give it.
NAN_INPUT: dict[str, str | bytes] = {"a.csv": "id,x\n1,nan\n2,5\n3,-inf\n4,\n"}
NAN_FILTERS: list[tuple[str, dict[str, object], list[int]]] = [
    ("gt", {"op": ">", "args": [col("x"), 1]}, [2]),
    ("le_itself", {"op": "<=", "args": [col("x"), col("x")]}, [2, 3]),
    ("ne", {"op": "!=", "args": [col("x"), 5]}, [1, 3]),
    ("between", {"op": "between", "args": [col("x"), float("-1e308"), 10]}, [2]),
]
# IEEE: NaN is unequal to everything and neither greater nor smaller.
CASES += filter_cases("nan_in_filter", NAN_INPUT, {"id": "int", "x": "float"}, NAN_FILTERS)
CASES += [
    Case(
        name="nan_in_dedupe_ordering_loses_to_every_number",
        source=CSV,
        files={"a.csv": "k,x,v\n1,5,five\n1,nan,nan\n1,,none\n2,,none\n2,nan,nan\n"},
        transform={"cast": {"x": "float"}, "dedupe": {"keys": ["k"], "keep_latest_by": "x"}},
        expected={"values:v": ["five", "nan"]},
    ),
    Case(
        name="csv_output_of_large_and_small_floats",
        source=CSV,
        files={"a.csv": "id,x\n1,1e20\n2,0.0001\n3,-0.0\n4,123456789.125\n5,nan\n6,-inf\n7,\n"},
        transform={"cast": {"id": "int", "x": "float"}},
        destination={"format": "csv"},
        expected={
            "rows": [
                {"line": '"1","1e+20"'},
                {"line": '"2","0.0001"'},
                {"line": '"3","-0"'},
                {"line": '"4","123456789.125"'},
                {"line": '"5","nan"'},
                {"line": '"6","-inf"'},
                {"line": '"7",""'},
            ]
        },
    ),
    Case(
        name="partitions_by_date_timestamp_bool_and_float",
        source=CSV,
        files={
            "a.csv": "d,t,b,f,v\n2024-01-02,2024-01-02T03:04:05.5Z,true,1.5,x\n,,,,y\n"
            "2024-01-03,2024-01-03T00:00:00Z,false,1e20,z\n"
        },
        transform={"cast": {"d": "date", "t": "timestamp", "b": "bool", "f": "float"}},
        destination={"partition_by": ["d", "t", "b", "f"]},
        expected={
            "partitions": [
                "d=2024-01-02/t=2024-01-02%2003%3A04%3A05.500000Z/b=true/f=1.5",
                "d=2024-01-03/t=2024-01-03%2000%3A00%3A00.000000Z/b=false/f=1e%2B20",
                "d=__HIVE_DEFAULT_PARTITION__/t=__HIVE_DEFAULT_PARTITION__"
                "/b=__HIVE_DEFAULT_PARTITION__/f=__HIVE_DEFAULT_PARTITION__",
            ]
        },
    ),
    Case(
        name="partition_by_every_column_is_refused",
        source=CSV,
        files={"a.csv": "a\n1\n"},
        destination={"partition_by": ["a"]},
        expected={"error": "etl", "message": "leave at least one column in the files"},
    ),
]
