"""One ETL run on Spark: the same request, inputs, publish and metrics document as the
pyarrow engine (etl.run), with the rows staying on the executors.

Passes over the data: one for the write (row counts and check aggregates ride along as
Observations), one more when a cast rejected rows (a top-k of read order for the
samples), and one per `unique` check (a group-by of its columns).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyarrow import fs
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import DoubleType, TimestampType
from pyspark.sql.utils import CapturedException

from etl import publish as publishing
from etl.errors import ChecksFailed, EtlError, EtlStopped
from etl.request import (
    EtlRequest,
    EtlResult,
    bytes_in,
    check_not_all_missing,
    request_inputs,
    run_metrics,
)
from etl.spark import transform as steps
from etl.spark.checks import SparkChecks
from etl.spark.read import FILE_INDEX, column, read_inputs
from etl.spark.text import double_text
from etl.storage import InputFile, Storage

logger = logging.getLogger("diep.spark")

_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "json"}
_STOP_POLL_SECONDS = 1.0


def run_spark_etl(
    request: EtlRequest,
    *,
    storage: Storage,
    spark: SparkSession,
    should_stop: Callable[[], bool] = lambda: False,
    now: datetime | None = None,
) -> EtlResult:
    """Run it; the metrics. Raises EtlError (bad input or spec), ChecksFailed (with the
    report) or EtlStopped, and in each case publishes nothing."""
    began = time.monotonic()
    inputs = request_inputs(storage, request)
    present, missing = _present(storage, request, inputs)
    check_not_all_missing(request, inputs, len(missing))
    filesystem, destination = storage.resolve(request.destination_uri)
    temp = publishing.temp_prefix(filesystem, destination, request.run_id)
    group = f"diep-{request.run_id}-{uuid.uuid4().hex[:8]}"
    spark.sparkContext.setJobGroup(group, f"DIEP run {request.run_id}", interruptOnCancel=True)
    stopper = _Stopper(spark, group, should_stop)
    try:
        with stopper:
            outcome = _execute(request, spark, present, temp, now or datetime.now(UTC))
        if any(not item["passed"] for item in outcome.report):
            raise ChecksFailed(outcome.report)
        # Spark writes an empty file for an empty result; the local engine writes none.
        wrote = outcome.wrote and outcome.rows_out > 0
        written = publishing.written_files(filesystem, temp) if wrote else None
        published = (
            publishing.publish(
                filesystem,
                temp=temp,
                destination=destination,
                run_id=request.run_id,
                written=written,
                overwrite=request.mode == "overwrite",
                extension=_EXTENSIONS[request.destination_format],
            )
            if written and written.files
            else None
        )
    except (CapturedException, PySparkException) as exc:
        publishing.discard(filesystem, temp)
        if stopper.stopped:
            raise EtlStopped("Stop requested.") from exc
        raise EtlError(_spark_message(exc)) from exc
    except BaseException:
        publishing.discard(filesystem, temp)
        raise
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    stages = _stages(spark, group)
    logger.info(
        "diep.spark_run %s app=%s (%s) jobs=%d stages=%d tasks=%d tasks_per_stage=%s",
        request.run_id,
        spark.sparkContext.appName,
        spark.sparkContext.applicationId,
        len({stage["job"] for stage in stages}),
        len(stages),
        sum(stage["tasks"] for stage in stages),
        [stage["tasks"] for stage in stages],
    )
    return EtlResult(
        metrics=run_metrics(
            inputs=inputs,
            missing=missing,
            rows_in=outcome.rows_in,
            rows_out=outcome.rows_out,
            rows_rejected=outcome.rejected,
            rejected_samples=outcome.samples,
            bytes_in=bytes_in(storage, present),
            published=published,
            checks=outcome.report,
            duration_seconds=time.monotonic() - began,
        ),
        stages=stages,
    )


@dataclass
class _Outcome:
    wrote: bool = False
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)


def _execute(
    request: EtlRequest,
    spark: SparkSession,
    inputs: list[InputFile],
    temp: str,
    ingested_at: datetime,
) -> _Outcome:
    spec = request.transform
    if not inputs:
        return _Outcome(report=SparkChecks(spec.get("checks") or [], None).report(0, {}))
    casts = dict(spec.get("cast") or {})
    source = read_inputs(spark, request.source_format, request.source_options, inputs)
    source = steps.select_and_rename(source, spec)
    marked = steps.mark_rejections(source, casts)
    read_counts = Observation("diep_read")
    observed = marked.observe(
        read_counts,
        sf.count(sf.lit(1)).alias("rows_in"),
        sf.count(sf.col(steps.REJECTED_AT)).alias("rejected"),
        sf.count(sf.when(sf.col(FILE_INDEX).isNull(), 1)).alias("unmatched"),
    )
    frame = steps.good_rows(observed, casts)
    frame = steps.add_columns(frame, spec, run_id=request.run_id, ingested_at=ingested_at)
    if spec.get("filter"):
        frame = steps.apply_filter(frame, spec["filter"])
    if dedupe := spec.get("dedupe"):
        frame = steps.dedupe(frame, dedupe["keys"], dedupe.get("keep_latest_by"))
    output = frame.select(*[column(name) for name in steps.data_columns(frame)])
    publishing.check_partition_columns(output.columns, request.partition_by)
    checks = SparkChecks(spec.get("checks") or [], output)
    out_counts = Observation("diep_out")
    output = output.observe(out_counts, sf.count(sf.lit(1)).alias("rows_out"), *_aliased(checks))
    _write(request, output, temp)
    read, out = read_counts.get, out_counts.get
    if read.get("unmatched"):
        raise EtlError(f"{read['unmatched']} rows could not be traced to their input file.")
    rejected = int(read["rejected"])
    return _Outcome(
        wrote=True,
        rows_in=int(read["rows_in"]),
        rows_out=int(out["rows_out"]),
        rejected=rejected,
        samples=steps.reject_samples(marked, casts) if rejected else [],
        report=checks.report(int(out["rows_out"]), out),
    )


def _aliased(checks: SparkChecks) -> list[Any]:
    return [value.alias(name) for name, value in checks.aggregates.items()]


def _write(request: EtlRequest, output: DataFrame, temp: str) -> None:
    options = request.destination_options
    fmt = request.destination_format
    partition_by = list(request.partition_by)
    if partition_by:
        output = _partition_values_as_text(output, partition_by)
        # One task per partition value, so a partition is a few files, not one per task.
        output = output.repartition(*[column(name) for name in partition_by])
    if fmt == "json":
        # As the pyarrow engine writes them: decimals as strings, nulls kept.
        output = output.select(
            *[
                column(f.name).cast("string").alias(f.name)
                if f.dataType.typeName() == "decimal"
                else column(f.name)
                for f in output.schema.fields
            ]
        )
    elif fmt == "csv":
        output = output.select(
            *[
                double_text(column(f.name)).alias(f.name)
                if isinstance(f.dataType, DoubleType) and f.name not in partition_by
                else column(f.name)
                for f in output.schema.fields
            ]
        )
    writer = output.write.mode("overwrite").format(fmt)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if fmt == "parquet":
        compression = options.get("compression", "snappy")
        writer = writer.option("compression", "none" if compression == "none" else compression)
    elif fmt == "csv":
        writer = writer.options(
            sep=options.get("delimiter", ","),
            header=str(bool(options.get("header", True))).lower(),
            escape='"',
            # Every value quoted, a null as "" (CSV has no null; DIEP reads "" as one).
            quoteAll="true",
            nullValue="",
            emptyValue='""',
            timestampFormat="yyyy-MM-dd HH:mm:ss.SSSSSS'Z'",
            dateFormat="yyyy-MM-dd",
        )
    else:
        writer = writer.options(
            timestampFormat="yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'",
            dateFormat="yyyy-MM-dd",
            ignoreNullFields="false",
        )
    writer.save(_spark_uri(request, temp))


def _partition_values_as_text(output: DataFrame, partition_by: list[str]) -> DataFrame:
    """Partition values spelled as the local engine spells them in directory names
    (Spark would write "2024-01-02 03:04:05.5" and "1.0E20")."""
    converted = {}
    for f in output.schema.fields:
        if f.name not in partition_by:
            continue
        if isinstance(f.dataType, TimestampType):
            converted[f.name] = sf.date_format(column(f.name), "yyyy-MM-dd HH:mm:ss.SSSSSS'Z'")
        elif isinstance(f.dataType, DoubleType):
            converted[f.name] = double_text(column(f.name))
    if not converted:
        return output
    return output.select(
        *[converted.get(name, column(name)).alias(name) for name in output.columns]
    )


def _spark_uri(request: EtlRequest, path: str) -> str:
    return f"s3://{path}" if request.destination_uri.startswith("s3://") else f"file://{path}"


def _present(
    storage: Storage, request: EtlRequest, inputs: list[InputFile]
) -> tuple[list[InputFile], list[str]]:
    """A manifest's files that still exist (deleted ones are skipped and listed); a
    listed source is read as listed."""
    if not request.manifest_uri:
        return inputs, []
    present, missing = [], []
    for file in inputs:
        filesystem, path = storage.resolve(file.uri)
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            present.append(file if file.size is not None else InputFile(file.uri, info.size))
        else:
            missing.append(file.uri)
    return present, missing


class _Stopper:
    """Polls should_stop while Spark works and cancels the run's jobs when it answers yes."""

    def __init__(self, spark: SparkSession, group: str, should_stop: Callable[[], bool]) -> None:
        self.spark, self.group, self.should_stop = spark, group, should_stop
        self.stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="diep-stop", daemon=True)

    def __enter__(self) -> _Stopper:
        if self.should_stop():
            raise EtlStopped("Stop requested.")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)
        if self.stopped and exc[0] is None:
            raise EtlStopped("Stop requested.")

    def _watch(self) -> None:
        while not self._done.wait(_STOP_POLL_SECONDS):
            if self.should_stop():
                self.stopped = True
                self.spark.sparkContext.cancelJobGroup(self.group)
                return


def _stages(spark: SparkSession, group: str) -> list[dict[str, Any]]:
    tracker = spark.sparkContext.statusTracker()
    stages = []
    for job_id in sorted(tracker.getJobIdsForGroup(group)):
        job = tracker.getJobInfo(job_id)
        for stage_id in sorted(job.stageIds) if job else []:
            stage = tracker.getStageInfo(stage_id)
            # A stage with no task run was skipped: its shuffle output was reused.
            if stage is not None and stage.numCompletedTasks + stage.numFailedTasks:
                stages.append({"job": job_id, "stage": stage_id, "tasks": stage.numTasks})
    return stages


def _spark_message(exc: Exception) -> str:
    """Spark's own message, first line, without the JVM stack."""
    text = str(getattr(exc, "desc", None) or exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:2000]
