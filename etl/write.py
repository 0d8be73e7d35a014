"""Partitioned output on pyarrow, written under the run's temporary prefix and published
by the step both engines share (etl.publish)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs

from etl import publish as publishing
from etl.publish import MAX_ROWS_PER_FILE, Written

MAX_ROWS_PER_GROUP = 512 * 1024  # the writer buffers up to this per open partition


class PartitionedWriter:
    """Writes batches as Hive-style partitions (`col=value/`) in parquet, csv or json."""

    def __init__(
        self,
        *,
        filesystem: fs.FileSystem,
        destination: str,
        fmt: str,
        options: Mapping[str, Any],
        partition_by: Sequence[str],
        run_id: str,
    ) -> None:
        self.filesystem, self.destination, self.fmt = filesystem, destination, fmt
        self.options, self.partition_by, self.run_id = options, list(partition_by), run_id
        self.temp = publishing.temp_prefix(filesystem, destination, run_id)

    def write(self, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Written:
        """Write everything under the temporary prefix; nothing is visible yet."""
        publishing.check_partition_columns(schema.names, self.partition_by)
        written = Written()

        def visit(file: Any) -> None:
            written.files.append(posixpath.relpath(file.path, self.temp))
            written.bytes += file.size or 0

        # JSON has no dataset writer: write Parquet first, convert at publish.
        stored = "parquet" if self.fmt == "json" else self.fmt
        extension = {"parquet": "parquet", "csv": "csv"}[stored]
        partitioning = (
            ds.partitioning(pa.schema([schema.field(c) for c in self.partition_by]), flavor="hive")
            if self.partition_by
            else None
        )
        if stored == "csv":
            batches, schema = _as_csv_text(batches, schema, self.partition_by)
        ds.write_dataset(
            batches,
            self.temp,
            schema=schema,
            format=stored,
            file_options=self._file_options(stored),
            partitioning=partitioning,
            filesystem=self.filesystem,
            basename_template=f"part-{self.run_id}-{{i}}.{extension}",
            existing_data_behavior="overwrite_or_ignore",
            max_rows_per_group=MAX_ROWS_PER_GROUP,
            max_rows_per_file=MAX_ROWS_PER_FILE,
            create_dir=isinstance(self.filesystem, fs.LocalFileSystem),
            file_visitor=visit,
        )
        written.partitions = {posixpath.dirname(path) for path in written.files}
        return written

    def _file_options(self, stored: str) -> Any:
        if stored == "parquet":
            compression = self.options.get("compression", "snappy")
            return ds.ParquetFileFormat().make_write_options(
                compression=None if compression == "none" else compression
            )
        return ds.CsvFileFormat().make_write_options(
            delimiter=self.options.get("delimiter", ","),
            include_header=self.options.get("header", True),
            quoting_style="all_valid",
        )

    def publish(self, written: Written, *, overwrite: bool) -> Written:
        """Move the run's files into place (JSON: converted from the Parquet written)."""
        place = None
        if self.fmt == "json":

            def place(source: str, target: str) -> int:
                size = self._parquet_to_json_lines(source, target)
                self.filesystem.delete_file(source)
                return size

        return publishing.publish(
            self.filesystem,
            temp=self.temp,
            destination=self.destination,
            run_id=self.run_id,
            written=written,
            overwrite=overwrite,
            extension=self.fmt,
            place=place,
        )

    def discard(self) -> None:
        publishing.discard(self.filesystem, self.temp)

    def _parquet_to_json_lines(self, source: str, target: str) -> int:
        size = 0
        with (
            self.filesystem.open_input_file(source) as raw,
            pq.ParquetFile(raw) as parquet,
            self.filesystem.open_output_stream(target) as out,
        ):
            for batch in parquet.iter_batches(batch_size=64 * 1024):
                lines = "".join(
                    json.dumps(row, default=_json_value, ensure_ascii=False) + "\n"
                    for row in batch.to_pylist()
                ).encode()
                out.write(lines)
                size += len(lines)
        return size


def _as_csv_text(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, partition_by: Sequence[str]
) -> tuple[Iterable[pa.RecordBatch], pa.Schema]:
    """Every value as text and a null as an empty quoted field, as the Spark engine
    writes CSV (quoting every value; DIEP reads `""` back as null)."""
    text = pa.schema(
        [f if f.name in partition_by else pa.field(f.name, pa.string()) for f in schema]
    )

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [
            batch.column(i)
            if field.name in partition_by
            else pc.fill_null(pc.cast(batch.column(i), pa.string()), "")
            for i, field in enumerate(schema)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=text)

    return (convert(batch) for batch in batches), text


def _json_value(value: object) -> object:
    # Times as the Spark engine writes them: always microseconds, always UTC.
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
