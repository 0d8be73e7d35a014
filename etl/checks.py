"""Data-quality checks from the transform spec, evaluated batch by batch as the rows
stream past (only `unique` keeps state: the key columns of the rows seen)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.semantics import TYPE_TESTS, check_result


class Checks:
    def __init__(self, specs: Sequence[Mapping[str, Any]]) -> None:
        self.specs = list(specs)
        self.rows = 0
        self.failures: list[int] = [0] * len(self.specs)
        self.problems: list[list[str]] = [[] for _ in self.specs]
        self._keys: list[list[pa.Table]] = [[] for _ in self.specs]
        self._schema_checked = False

    def observe(self, batch: pa.RecordBatch) -> None:
        self.rows += len(batch)
        if not self._schema_checked:
            self._check_schema(batch.schema)
        for index, spec in enumerate(self.specs):
            kind = spec["type"]
            if kind == "not_null":
                for column in self._present(index, batch, spec["columns"]):
                    self.failures[index] += batch.column(column).null_count
            elif kind == "accepted_values":
                for column in self._present(index, batch, [spec["column"]]):
                    values = batch.column(column)
                    accepted = pa.array(spec["values"])
                    if accepted.type != values.type:
                        try:
                            accepted = accepted.cast(values.type)
                        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                            self._problem(index, f"values do not fit column type {values.type}")
                            continue
                    outside = pc.invert(pc.is_in(values, value_set=accepted))
                    self.failures[index] += (
                        pc.sum(pc.and_(outside, pc.is_valid(values))).as_py() or 0
                    )
            elif kind == "unique" and (columns := self._present(index, batch, spec["columns"])):
                self._keys[index].append(pa.Table.from_batches([batch.select(columns)]))

    def _present(self, index: int, batch: pa.RecordBatch, columns: list[str]) -> list[str]:
        missing = [c for c in columns if batch.schema.get_field_index(c) < 0]
        for column in missing:
            self._problem(index, f"column {column!r} is missing")
        return [c for c in columns if c not in missing]

    def _problem(self, index: int, message: str) -> None:
        if message not in self.problems[index]:
            self.problems[index].append(message)

    def _check_schema(self, schema: pa.Schema) -> None:
        self._schema_checked = True
        for index, spec in enumerate(self.specs):
            if spec["type"] != "required_columns":
                continue
            for column, wanted in spec["columns"].items():
                position = schema.get_field_index(column)
                if position < 0:
                    self._problem(index, f"column {column!r} is missing")
                elif not TYPE_TESTS[wanted](schema.field(position).type):
                    actual = schema.field(position).type
                    self._problem(index, f"column {column!r} is {actual}, expected {wanted}")

    def report(self) -> list[dict[str, Any]]:
        """Each check with `passed` and what it found."""
        results = []
        for index, spec in enumerate(self.specs):
            kind, problems, failing = spec["type"], list(self.problems[index]), 0
            if kind in ("not_null", "accepted_values"):
                failing = self.failures[index]
            elif kind == "unique":
                failing = self._duplicates(index)
            elif kind == "min_rows" and self.rows < spec["value"]:
                problems.append(f"{self.rows} rows, fewer than {spec['value']}")
            elif kind == "required_columns" and not self._schema_checked:
                problems.append("no rows were read, so no columns")
            results.append(check_result(spec, failing, problems))
        return results

    def _duplicates(self, index: int) -> int:
        if not self._keys[index]:
            return 0
        keys = pa.concat_tables(self._keys[index])
        columns = keys.column_names
        counts = keys.group_by(columns).aggregate([([], "count_all")])
        repeated = pc.greater(counts.column("count_all"), 1)
        return int(
            pc.sum(pc.subtract(pc.filter(counts.column("count_all"), repeated), 1)).as_py() or 0
        )
