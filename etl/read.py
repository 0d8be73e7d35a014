"""Streaming readers: each input file becomes a sequence of record batches, so memory
stays bounded by the block size, not the file size."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from etl.errors import EtlError, InputMissing
from etl.storage import InputFile, Storage

# Large enough that per-batch overhead vanishes, small enough to keep memory flat.
CSV_BLOCK_BYTES = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 128 * 1024


class BatchReader:
    """Reads files of one format with one set of options. CSV column types are inferred
    from the first file and then imposed on the others, so the files of a run agree;
    columns named in `as_text` are read as text and typed by the transform's cast."""

    def __init__(self, fmt: str, options: Mapping[str, Any], as_text: set[str]) -> None:
        self.fmt, self.options, self.as_text = fmt, options, as_text
        self._csv_types: dict[str, pa.DataType] = {}

    def batches(self, storage: Storage, file: InputFile) -> Iterator[pa.RecordBatch]:
        filesystem, path = storage.resolve(file.uri)
        try:
            if self.fmt == "parquet":
                yield from self._parquet(filesystem.open_input_file(path))
                return
            with filesystem.open_input_stream(path) as stream:
                if self.fmt == "csv":
                    yield from self._csv(stream)
                else:
                    yield from self._json(stream)
        except pa.ArrowInvalid as exc:
            raise EtlError(f"{file.uri}: {_hint(str(exc))}") from exc
        except FileNotFoundError as exc:
            raise InputMissing(file.uri) from exc
        except OSError as exc:
            raise EtlError(f"Cannot read {file.uri}: {exc}") from exc

    def _csv(self, stream: Any) -> Iterator[pa.RecordBatch]:
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
            newlines_in_values=True,
        )
        types = {**self._csv_types, **dict.fromkeys(self.as_text, pa.string())}
        convert_args: dict[str, Any] = {"column_types": types, "strings_can_be_null": True}
        if options.get("null_values") is not None:
            convert_args["null_values"] = options["null_values"]
        reader = pa_csv.open_csv(
            stream,
            read_options=read,
            parse_options=parse,
            convert_options=pa_csv.ConvertOptions(**convert_args),
        )
        if not self._csv_types:
            self._csv_types = {field.name: field.type for field in reader.schema}
        yield from reader

    def _json(self, stream: Any) -> Iterator[pa.RecordBatch]:
        block = self.options.get("block_size_bytes", 1024 * 1024)
        yield from pa_json.open_json(stream, read_options=pa_json.ReadOptions(block_size=block))

    def _parquet(self, source: Any) -> Iterator[pa.RecordBatch]:
        with pq.ParquetFile(source) as parquet:
            yield from parquet.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, columns=self.options.get("columns")
            )


def _hint(message: str) -> str:
    if "increase block size" in message:
        return f"{message} (a row is longer than a block: raise the source option block_size_bytes)"
    if "CSV conversion error" in message:
        return (
            f"{message} (the column's type was inferred from the first rows; name it in the "
            "transform's cast to type it explicitly, with bad values rejected row by row)"
        )
    return message
