"""One ETL run: read the inputs, transform, check, write partitioned output, publish.

Called by the local engine (a Celery worker) and by the AWS Glue job script alike;
it knows nothing of Django. Everything streams batch by batch except `dedupe`, which
needs every row at once (memory then grows with the run's output).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl import spec as etl_spec
from etl.checks import Checks
from etl.errors import ChecksFailed, EtlError, EtlStopped, InputMissing
from etl.read import BatchReader
from etl.storage import InputFile, Storage, list_inputs, manifest_inputs
from etl.transform import RunContext, Transform
from etl.write import PartitionedWriter


@dataclass(frozen=True)
class EtlRequest:
    run_id: str
    source_uri: str
    source_format: str
    source_options: Mapping[str, Any]
    destination_uri: str
    destination_format: str
    destination_options: Mapping[str, Any]
    partition_by: tuple[str, ...]
    mode: str  # append | overwrite (the partitions this run touches)
    transform: Mapping[str, Any]
    manifest_uri: str | None = None  # the files of a coalesced event run
    bookmark: datetime | None = None  # without a manifest: only files modified after this

    @classmethod
    def from_spec(
        cls,
        job_spec: Mapping[str, Any],
        *,
        run_id: str,
        manifest_uri: str | None = None,
        bookmark: datetime | None = None,
    ) -> EtlRequest:
        """From a job spec (the /create_job/ body), validated again here because the Glue
        job reads it from S3 and trusts nothing it did not check itself."""
        try:
            source, destination = job_spec["source"], job_spec["destination"]
            return cls(
                run_id=run_id,
                source_uri=source["uri"],
                source_format=source["format"],
                source_options=etl_spec.validate_source_options(
                    source["format"], source.get("options")
                ),
                destination_uri=destination["uri"],
                destination_format=destination.get("format", "parquet"),
                destination_options=etl_spec.validate_destination_options(
                    destination.get("format", "parquet"), destination.get("options")
                ),
                partition_by=tuple(destination.get("partition_by") or ()),
                mode=destination.get("mode", "append"),
                transform=etl_spec.validate_transform(job_spec.get("transform")),
                manifest_uri=manifest_uri,
                bookmark=bookmark,
            )
        except (KeyError, TypeError) as exc:
            raise EtlError(f"Not a job spec: missing {exc}") from exc
        except etl_spec.SpecError as exc:
            raise EtlError(f"Invalid job spec: {exc}") from exc


@dataclass(frozen=True)
class EtlResult:
    metrics: dict[str, Any]


def run_etl(
    request: EtlRequest,
    *,
    storage: Storage,
    should_stop: Callable[[], bool] = lambda: False,
    now: datetime | None = None,
) -> EtlResult:
    """Run it; the metrics. Raises EtlError (bad input or spec), ChecksFailed (with the
    report) or EtlStopped, and in each case publishes nothing."""
    began = time.monotonic()
    allow_empty = bool(request.source_options.get("allow_empty"))
    if request.manifest_uri:
        inputs = manifest_inputs(storage, request.manifest_uri)
    else:
        inputs = list_inputs(storage, request.source_uri, newer_than=request.bookmark)
        # Nothing new since the bookmark is normal; nothing there at all is not.
        if not inputs and not allow_empty and not _has_data(storage, request):
            raise EtlError(
                f"No input: {request.source_uri} holds no data files (a mistyped prefix, "
                "a deleted file or bucket?). Set the source option allow_empty if this "
                "job may find nothing."
            )
    missing: list[str] = []  # deleted between their event and this run: skipped
    transform = Transform(
        request.transform, RunContext(run_id=request.run_id, ingested_at=now or datetime.now(UTC))
    )
    reader = BatchReader(
        request.source_format, request.source_options, transform.input_text_columns()
    )
    checks = Checks(request.transform.get("checks") or [])
    counts = {"rows_in": 0, "rows_out": 0}

    def transformed() -> Iterator[pa.RecordBatch]:
        for file in inputs:
            try:
                for batch in reader.batches(storage, file):
                    if should_stop():
                        raise EtlStopped("Stop requested.")
                    counts["rows_in"] += len(batch)
                    result = transform.apply(batch, file.uri)
                    if len(result):
                        yield result
            except InputMissing:
                if not request.manifest_uri:
                    raise  # listed a moment ago: not a file deleted before its run
                missing.append(file.uri)
        if inputs and len(missing) == len(inputs) and not allow_empty:
            raise EtlError(f"Every input file of this run is gone ({len(missing)}).")

    stream: Iterator[pa.RecordBatch] = _prefetched(transformed())
    if dedupe := request.transform.get("dedupe"):
        stream = _dedupe(list(stream), dedupe["keys"], dedupe.get("keep_latest_by"))
    first = next(stream, None)
    filesystem, destination = storage.resolve(request.destination_uri)
    writer = PartitionedWriter(
        filesystem=filesystem,
        destination=destination,
        fmt=request.destination_format,
        options=request.destination_options,
        partition_by=request.partition_by,
        run_id=request.run_id,
    )

    def observed(schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        for batch in itertools.chain([first], stream) if first is not None else ():
            batch = _conform(batch, schema)
            checks.observe(batch)
            counts["rows_out"] += len(batch)
            yield batch

    try:
        written = None
        if first is not None:
            written = writer.write(observed(first.schema), first.schema)
        report = checks.report()
        if any(not item["passed"] for item in report):
            raise ChecksFailed(report)
        published = (
            writer.publish(written, overwrite=request.mode == "overwrite") if written else None
        )
    except pa.ArrowException as exc:
        writer.discard()
        raise EtlError(str(exc)) from exc
    except BaseException:
        writer.discard()
        raise
    modified = [f.modified for f in inputs if f.modified is not None]
    return EtlResult(
        metrics={
            "files": len(inputs) - len(missing),
            "files_missing": len(missing),
            "missing_files": missing[:_MISSING_LISTED],
            "rows_in": counts["rows_in"],
            "rows_out": counts["rows_out"],
            "rows_rejected": transform.rejections.rows,
            "rows_dropped": counts["rows_in"] - transform.rejections.rows - counts["rows_out"],
            "bytes_in": _bytes_in(storage, inputs),
            "bytes_out": published.bytes if published else 0,
            "output_files": len(published.files) if published else 0,
            "partitions": len(published.partitions) if published else 0,
            "duration_seconds": round(time.monotonic() - began, 3),
            "rejected_samples": transform.rejections.samples,
            "checks": report,
            "bookmark": max(modified).isoformat() if modified else None,
        }
    )


_PREFETCH_BATCHES = 2
_MISSING_LISTED = 1000  # a manifest's files, at most; the count is exact anyway


def _has_data(storage: Storage, request: EtlRequest) -> bool:
    return bool(request.bookmark) and bool(
        list_inputs(storage, request.source_uri, newer_than=None)
    )


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Read and transform on a thread of their own, a bounded number of batches ahead:
    CSV parsing then overlaps with the writer's encoding instead of alternating with
    it (a third faster on two cores), and memory stays bounded."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_PREFETCH_BATCHES)
    abandoned = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not abandoned.is_set():
            try:
                slots.put(item, timeout=0.5)
            except queue.Full:
                continue
            else:
                return True
        return False  # the consumer stopped reading (it failed, or a check did)

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(("batch", batch)):
                    return
            offer(("end", None))
        except Exception as exc:  # noqa: BLE001 - raised again in the consumer's thread
            offer(("error", exc))

    producer = threading.Thread(target=produce, name="etl-read", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        abandoned.set()
        producer.join(30)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Files of one run can infer different types (an all-null column in one of them):
    each batch takes the first one's schema, or the run fails saying which column."""
    if batch.schema.equals(schema):
        return batch
    if batch.schema.names != schema.names:
        raise EtlError(
            f"Input files disagree on columns: {batch.schema.names} vs {schema.names}; "
            "use select to keep the common ones."
        )
    try:
        return batch.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EtlError(f"Input files disagree on column types: {exc}") from exc


def _dedupe(
    batches: list[pa.RecordBatch], keys: list[str], latest_by: str | None
) -> Iterator[pa.RecordBatch]:
    if not batches:
        return iter(())
    table = pa.Table.from_batches(batches)
    for column in [*keys, *([latest_by] if latest_by else [])]:
        if column not in table.column_names:
            raise EtlError(f"dedupe: column {column!r} is not in the data.")
    table = table.append_column("__diep_row", pa.array(range(len(table)), pa.int64()))
    if latest_by:
        table = table.sort_by([(latest_by, "descending"), ("__diep_row", "ascending")])
    # Ordered grouping keeps each key's first row: the latest, or the first seen.
    firsts = table.group_by(keys, use_threads=False).aggregate([("__diep_row", "first")])
    keep = pc.is_in(table.column("__diep_row"), value_set=firsts.column("__diep_row_first"))
    result = table.filter(keep).sort_by("__diep_row").drop_columns(["__diep_row"])
    return iter(result.to_batches(max_chunksize=64 * 1024))


def _bytes_in(storage: Storage, inputs: list[InputFile]) -> int:
    total = 0
    for file in inputs:
        if file.size is None:
            filesystem, path = storage.resolve(file.uri)
            total += filesystem.get_file_info(path).size or 0
        else:
            total += file.size
    return total
