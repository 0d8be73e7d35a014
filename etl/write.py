"""Partitioned output, published atomically: the run writes under a temporary prefix
(`_diep_tmp/<run id>/`, at the bucket's root on S3, which query engines skip), and
only a finished, checked run's files are moved into place. A failure before that
leaves nothing in the destination."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs

from etl.errors import EtlError

TEMP_DIR = "_diep_tmp"
MAX_ROWS_PER_GROUP = 512 * 1024  # the writer buffers up to this per open partition
MAX_ROWS_PER_FILE = 8 * MAX_ROWS_PER_GROUP


@dataclass
class Written:
    files: list[str] = field(default_factory=list)  # relative to the destination
    bytes: int = 0
    partitions: set[str] = field(default_factory=set)


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
        if isinstance(filesystem, fs.LocalFileSystem):
            self.temp = posixpath.join(destination, TEMP_DIR, run_id)
        else:
            # At the bucket's root, not under the dataset: pyarrow's S3 moves and deletes
            # leave empty "directory" marker objects behind, which must not appear
            # among the dataset's files.
            bucket = destination.split("/", 1)[0]
            self.temp = posixpath.join(bucket, TEMP_DIR, run_id)

    def write(self, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Written:
        """Write everything under the temporary prefix; nothing is visible yet."""
        for column in self.partition_by:
            if schema.get_field_index(column) < 0:
                raise EtlError(f"partition_by: column {column!r} is not in the output.")
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
        )

    def publish(self, written: Written, *, overwrite: bool) -> Written:
        """Move the run's files into place. New files first, then (overwrite) the old
        files of the partitions it touched: an interruption can leave both versions for
        a moment, never neither."""
        published = Written(partitions=written.partitions)
        previous = self._existing(written.partitions) if overwrite else []
        for relative in written.files:
            source = posixpath.join(self.temp, relative)
            target_relative = relative
            if self.fmt == "json":
                target_relative = relative.removesuffix(".parquet") + ".json"
                size = self._parquet_to_json_lines(
                    source, posixpath.join(self.destination, target_relative)
                )
                self.filesystem.delete_file(source)
            else:
                target = posixpath.join(self.destination, relative)
                self._make_parent(target)
                self.filesystem.move(source, target)
                size = self.filesystem.get_file_info(target).size or 0
            published.files.append(target_relative)
            published.bytes += size
        for path in previous:
            self.filesystem.delete_file(path)
        self.discard()
        return published

    def discard(self) -> None:
        """Remove the temporary prefix (a failed or stopped run leaves nothing)."""
        try:
            self.filesystem.delete_dir(self.temp)
            parent = posixpath.dirname(self.temp)
            local = isinstance(self.filesystem, fs.LocalFileSystem)
            if local and not self.filesystem.get_file_info(fs.FileSelector(parent)):
                self.filesystem.delete_dir(parent)
        except OSError:
            pass  # nothing was written, or another run is using the parent

    def _existing(self, partitions: set[str]) -> list[str]:
        paths = []
        for partition in partitions:
            directory = posixpath.normpath(posixpath.join(self.destination, partition))
            selector = fs.FileSelector(directory, recursive=False, allow_not_found=True)
            for info in self.filesystem.get_file_info(selector):
                name = posixpath.basename(info.path)
                if info.type == fs.FileType.File and not name.startswith(("_", ".")):
                    paths.append(info.path)
        return paths

    def _make_parent(self, path: str) -> None:
        if isinstance(self.filesystem, fs.LocalFileSystem):
            self.filesystem.create_dir(posixpath.dirname(path), recursive=True)

    def _parquet_to_json_lines(self, source: str, target: str) -> int:
        self._make_parent(target)
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


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
