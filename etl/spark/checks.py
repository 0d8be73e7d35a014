"""The data-quality checks as Spark aggregates: counts ride along with the write (one
Observation, no extra pass); `unique` is a group-by of its key columns. The report is
the pyarrow engine's, field for field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

from etl.semantics import TYPE_TESTS, check_result, coerce_array
from etl.spark.read import column
from etl.spark.transform import arrow_type, data_columns


class SparkChecks:
    def __init__(self, specs: Sequence[Mapping[str, Any]], frame: DataFrame | None) -> None:
        """`frame` is the output; None when there was no input at all."""
        self.specs = list(specs)
        self.frame = frame
        self.columns = data_columns(frame) if frame is not None else []
        self.types = {f.name: f.dataType for f in frame.schema.fields} if frame else {}
        self.problems: list[list[str]] = [[] for _ in self.specs]
        self.aggregates: dict[str, Column] = {}
        for index, spec in enumerate(self.specs):
            self._plan(index, spec)

    def _present(self, index: int, names: Sequence[str]) -> list[str]:
        for name in names:
            if name not in self.columns:
                self._problem(index, f"column {name!r} is missing")
        return [name for name in names if name in self.columns]

    def _problem(self, index: int, message: str) -> None:
        if message not in self.problems[index]:
            self.problems[index].append(message)

    def _plan(self, index: int, spec: Mapping[str, Any]) -> None:
        kind = spec["type"]
        if kind == "not_null":
            present = self._present(index, spec["columns"])
            if present:
                nulls = sum(
                    (sf.when(column(name).isNull(), 1).otherwise(0) for name in present), sf.lit(0)
                )
                self.aggregates[f"check_{index}"] = sf.sum(nulls)
        elif kind == "accepted_values":
            for name in self._present(index, [spec["column"]]):
                target = arrow_type(self.types[name])
                try:
                    accepted = coerce_array(pa.array(spec["values"]), target).to_pylist()
                except Exception:  # noqa: BLE001 - the pyarrow engine's message, below
                    self._problem(index, f"values do not fit column type {target}")
                    continue
                values = [sf.lit(v).cast(self.types[name]) for v in accepted if v is not None]
                inside = column(name).isin(*values) if values else sf.lit(False)
                if None in accepted:
                    inside = inside | column(name).isNull()
                outside = column(name).isNotNull() & ~sf.coalesce(inside, sf.lit(False))
                self.aggregates[f"check_{index}"] = sf.sum(sf.when(outside, 1).otherwise(0))
        elif kind == "unique":
            self._present(index, spec["columns"])
        elif kind == "required_columns":
            for name, wanted in spec["columns"].items():
                if name not in self.columns:
                    self._problem(index, f"column {name!r} is missing")
                    continue
                actual = arrow_type(self.types[name])
                if not TYPE_TESTS[wanted](actual):
                    self._problem(index, f"column {name!r} is {actual}, expected {wanted}")

    def report(self, rows: int, observed: Mapping[str, Any]) -> list[dict[str, Any]]:
        results = []
        for index, spec in enumerate(self.specs):
            # As on the pyarrow engine, which learns the columns from the rows it sees:
            # with no rows, a column check has nothing to find.
            problems = list(self.problems[index]) if rows else []
            kind, failing = spec["type"], 0
            if kind in ("not_null", "accepted_values"):
                failing = int(observed.get(f"check_{index}") or 0)
            elif kind == "unique":
                failing = self._duplicates(spec["columns"])
            elif kind == "min_rows" and rows < spec["value"]:
                problems.append(f"{rows} rows, fewer than {spec['value']}")
            elif kind == "required_columns" and rows == 0:
                problems = ["no rows were read, so no columns"]
            results.append(check_result(spec, failing, problems))
        return results

    def _duplicates(self, names: Sequence[str]) -> int:
        present = [name for name in names if name in self.columns]
        if not present or self.frame is None:
            return 0
        counts = self.frame.groupBy(*[column(n) for n in present]).count()
        extra = counts.where(sf.col("count") > 1).agg(sf.sum(sf.col("count") - 1)).first()
        return int(extra[0] or 0) if extra else 0
