"""Streaming readers: each input file becomes a sequence of record batches, so memory
stays bounded by the block size, not the file size.

CSV columns are text (the transform's cast types them, with bad values rejected row by
row); an empty field and the job's null_values are null. JSON Lines values keep their
JSON types, strings stay strings, and columns come in name order (JSON objects have no
order of their own). The Spark engine (etl.spark.read) reads the same way."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from etl.errors import EtlError, InputMissing
from etl.semantics import CSV_NULLS
from etl.storage import InputFile, Storage

# Large enough that per-batch overhead vanishes, small enough to keep memory flat.
CSV_BLOCK_BYTES = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 128 * 1024


class BatchReader:
    """Reads files of one format with one set of options."""

    def __init__(self, fmt: str, options: Mapping[str, Any]) -> None:
        self.fmt, self.options = fmt, options

    def batches(self, storage: Storage, file: InputFile) -> Iterator[pa.RecordBatch]:
        filesystem, path = storage.resolve(file.uri)
        try:
            if self.fmt == "parquet":
                yield from self._parquet(filesystem.open_input_file(path))
                return
            with filesystem.open_input_stream(path) as stream:
                if self.fmt == "csv":
                    yield from self._csv(stream, self._csv_names(filesystem, path))
                else:
                    yield from self._json(stream, self._json_schema(filesystem, path))
        except pa.ArrowInvalid as exc:
            raise EtlError(f"{file.uri}: {_hint(str(exc))}") from exc
        except FileNotFoundError as exc:
            raise InputMissing(file.uri) from exc
        except OSError as exc:
            raise EtlError(f"Cannot read {file.uri}: {exc}") from exc

    def _csv_names(self, filesystem: Any, path: str) -> list[str]:
        """The file's column names (from one block), so every column can be read as text."""
        if names := self.options.get("column_names"):
            return list(names)
        with filesystem.open_input_stream(path) as stream:
            return list(self._open_csv(stream, {}).schema.names)

    def _csv(self, stream: Any, names: list[str]) -> Iterator[pa.RecordBatch]:
        yield from self._open_csv(stream, dict.fromkeys(names, pa.string()))

    def _open_csv(self, stream: Any, types: dict[str, pa.DataType]) -> Any:
        options = self.options
        names = options.get("column_names")
        read = pa_csv.ReadOptions(
            block_size=options.get("block_size_bytes", CSV_BLOCK_BYTES),
            skip_rows=options.get("skip_rows", 0)
            + (1 if names and options.get("header", True) else 0),
            column_names=names or None,
            autogenerate_column_names=not options.get("header", True) and not names,
            encoding=options.get("encoding", "utf-8"),
        )
        escape = options.get("escape_char")
        parse = pa_csv.ParseOptions(
            delimiter=options.get("delimiter", ","),
            quote_char=options.get("quote_char", '"'),
            escape_char=escape or False,
            double_quote=escape is None,
            newlines_in_values=bool(options.get("newlines_in_values")),
        )
        return pa_csv.open_csv(
            stream,
            read_options=read,
            parse_options=parse,
            convert_options=pa_csv.ConvertOptions(
                null_values=[*CSV_NULLS, *(options.get("null_values") or [])],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                column_types=types,
            ),
        )

    def _json_schema(self, filesystem: Any, path: str) -> pa.Schema | None:
        """The first block's schema with inferred times turned back into strings (pyarrow
        reads "2024-01-02" as a timestamp; DIEP and Spark keep the text)."""
        with filesystem.open_input_stream(path) as stream:
            try:
                schema = pa_json.open_json(stream, read_options=self._json_options()).schema
            except StopIteration:
                return None
        fields = [
            pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema
        ]
        return pa.schema(fields)

    def _json_options(self) -> pa_json.ReadOptions:
        return pa_json.ReadOptions(block_size=self.options.get("block_size_bytes", 1024 * 1024))

    def _json(self, stream: Any, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        parse = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        reader = pa_json.open_json(stream, read_options=self._json_options(), parse_options=parse)
        names = sorted(reader.schema.names)
        for batch in reader:
            yield batch.select(names)

    def _parquet(self, source: Any) -> Iterator[pa.RecordBatch]:
        with pq.ParquetFile(source) as parquet:
            yield from parquet.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, columns=self.options.get("columns")
            )


def _hint(message: str) -> str:
    if "increase block size" in message:
        return f"{message} (a row is longer than a block: raise the source option block_size_bytes)"
    return message
