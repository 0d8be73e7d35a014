"""One ETL run on pyarrow: read the inputs, transform, check, write partitioned output,
publish.

The local engine (a Celery worker) runs this; AWS Glue runs the same request on Spark
(etl.spark.run). It knows nothing of Django. Everything streams batch by batch except
`dedupe`, which needs every row at once (memory then grows with the run's output).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.checks import Checks
from etl.errors import ChecksFailed, EtlError, EtlStopped, InputMissing
from etl.read import BatchReader
from etl.request import (
    EtlRequest,
    EtlResult,
    bytes_in,
    check_not_all_missing,
    request_inputs,
    run_metrics,
)
from etl.storage import Storage
from etl.transform import RunContext, Transform
from etl.write import PartitionedWriter


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
    inputs = request_inputs(storage, request)
    missing: list[str] = []  # deleted between their event and this run: skipped
    transform = Transform(
        request.transform, RunContext(run_id=request.run_id, ingested_at=now or datetime.now(UTC))
    )
    reader = BatchReader(request.source_format, request.source_options)
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
        check_not_all_missing(request, inputs, len(missing))

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
    return EtlResult(
        metrics=run_metrics(
            inputs=inputs,
            missing=missing,
            rows_in=counts["rows_in"],
            rows_out=counts["rows_out"],
            rows_rejected=transform.rejections.rows,
            rejected_samples=transform.rejections.samples,
            bytes_in=bytes_in(storage, inputs),
            published=published,
            checks=report,
            duration_seconds=time.monotonic() - began,
        )
    )


_PREFETCH_BATCHES = 2


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
        differing = ", ".join(
            f"{name} ({batch.schema.field(name).type} here, {schema.field(name).type} in the "
            "first file read)"
            for name in schema.names
            if batch.schema.field(name).type != schema.field(name).type
        )
        raise EtlError(f"Input files disagree on column types: {differing}: {exc}") from exc


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
