"""Every input file of a run as one DataFrame, split across tasks by Spark, each row
knowing which of the run's files it came from and its place in the read order.

The reader options mean what they mean to the pyarrow engine (etl.read): CSV columns are
text until the transform casts them, an empty field is null, JSON objects' keys are
columns in name order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from etl.errors import EtlError
from etl.storage import InputFile

# Hidden columns the engine carries beside the data, dropped before anything is written.
FILE_INDEX: Final = "__diep_file"  # position of the row's file in the run's input list
FILE_URI: Final = "__diep_uri"  # that file as DIEP names it (the source_file column)
ROW_ORDER: Final = "__diep_row"  # increases in read order within a file
HIDDEN: Final = (FILE_INDEX, FILE_URI, ROW_ORDER)
_SPARK_PATH: Final = "__diep_spark_path"  # the file's name as Spark gives it, until joined

_SPARK_ENCODINGS: Final = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "latin-1": "ISO-8859-1",
    "cp1252": "windows-1252",
    "utf-16": "UTF-16",
}
_GLOB: Final = re.compile(r"([\\*?\[\]{}])")


def spark_path(uri: str) -> str:
    """A DIEP input URI as Spark reads it: a URI with a scheme, glob characters escaped
    (Spark treats every input path as a pattern)."""
    path = uri if "://" in uri else f"file://{uri}"
    return _GLOB.sub(r"\\\1", path)


def read_inputs(
    spark: SparkSession, fmt: str, options: Mapping[str, Any], inputs: Sequence[InputFile]
) -> DataFrame:
    paths = [spark_path(file.uri) for file in inputs]
    # Each file as Spark names its rows' files: the key to the file's place in the run.
    spark_files = [_qualified(spark, file.uri) for file in inputs]
    if fmt == "csv" and options.get("skip_rows"):
        # Carries its own file names and line numbers (see _csv_after_skipped_lines).
        frame = _csv_after_skipped_lines(spark, options, inputs, paths, spark_files)
    else:
        if fmt == "csv":
            frame = _csv_columns(_csv_reader(spark, options).csv(paths), options)
        elif fmt == "json":
            frame = spark.read.options(mode="FAILFAST").json(paths)
            frame = frame.select(*sorted(frame.columns))
        else:
            frame = spark.read.parquet(*paths)
            if columns := options.get("columns"):
                missing = [name for name in columns if name not in frame.columns]
                if missing:
                    raise EtlError(f"No such column(s) in the Parquet input: {', '.join(missing)}.")
                frame = frame.select(*columns)
        frame = frame.withColumn(_SPARK_PATH, sf.input_file_name()).withColumn(
            ROW_ORDER, sf.monotonically_increasing_id()
        )
    return _with_file_identity(spark, frame, inputs, spark_files)


def _csv_options(options: Mapping[str, Any]) -> dict[str, str]:
    quote = options.get("quote_char", '"')
    return {
        "sep": options.get("delimiter", ","),
        "quote": quote,
        # Without an escape character a quote inside a quoted field is doubled (RFC 4180).
        "escape": options.get("escape_char") or quote,
        "mode": "FAILFAST",
        "nullValue": "",
    }


def _csv_reader(spark: SparkSession, options: Mapping[str, Any]) -> Any:
    return spark.read.options(
        **_csv_options(options),
        header=str(bool(options.get("header", True))).lower(),
        encoding=_SPARK_ENCODINGS[options.get("encoding", "utf-8")],
        multiLine=str(bool(options.get("newlines_in_values"))).lower(),
        enforceSchema="false",
        inferSchema="false",
    )


def _csv_columns(frame: DataFrame, options: Mapping[str, Any]) -> DataFrame:
    """The columns named as the local engine names them, declared null values null."""
    header = options.get("header", True)
    names = options.get("column_names")
    if names:
        if len(names) != len(frame.columns):
            raise EtlError(
                f"column_names names {len(names)} columns; the files have {len(frame.columns)}."
            )
        frame = frame.toDF(*names)
    elif not header:
        frame = frame.toDF(*[f"f{index}" for index in range(len(frame.columns))])
    elif options.get("encoding") == "utf-8-sig" and frame.columns:
        frame = frame.withColumnRenamed(frame.columns[0], frame.columns[0].lstrip("\ufeff"))
    return _declared_nulls(frame, options, frame.columns)


def _declared_nulls(frame: DataFrame, options: Mapping[str, Any], names: list[str]) -> DataFrame:
    extra_nulls = [value for value in options.get("null_values") or [] if value != ""]
    if not extra_nulls:
        return frame
    return frame.select(
        *[
            (
                sf.when(column(name).isin(extra_nulls), sf.lit(None))
                .otherwise(column(name))
                .alias(name)
                if name in names
                else column(name)
            )
            for name in frame.columns
        ]
    )


def _csv_after_skipped_lines(
    spark: SparkSession,
    options: Mapping[str, Any],
    inputs: Sequence[InputFile],
    paths: list[str],
    spark_files: list[str],
) -> DataFrame:
    """CSV whose first skip_rows physical lines of every file are not data (as pyarrow
    counts them: empty lines included, quotes not), still split across tasks.

    Spark's CSV reader cannot skip lines, so the files are read as lines; each line's
    number in its file comes from its place in its split plus the lines of the file's
    earlier splits (counted per split, a few numbers per file), and the lines after the
    skipped ones are parsed by Spark's own CSV parser. A record is one line here, so
    quoted newlines cannot be combined with skip_rows; nor can UTF-16, whose lines are
    not byte lines.
    """
    if options.get("newlines_in_values"):
        raise EtlError(
            "skip_rows together with newlines_in_values is not supported on the Spark "
            "engine (a record spanning lines cannot be told apart in a file split); drop "
            "one of them or use the local engine."
        )
    encoding = options.get("encoding", "utf-8")
    if encoding == "utf-16":
        raise EtlError(
            "skip_rows is not supported on the Spark engine for UTF-16 files; use the local engine."
        )
    value = sf.col("value")
    if encoding not in ("utf-8", "utf-8-sig"):
        # The text source keeps each line's bytes as they are; decode them.
        value = sf.decode(value.cast("binary"), _SPARK_ENCODINGS[encoding])
    lines = spark.read.text(paths).select(
        value.alias("line"),
        sf.input_file_name().alias(_SPARK_PATH),
        sf.input_file_block_start().alias("__diep_split"),
        sf.monotonically_increasing_id().alias("__diep_position"),
    )
    splits = (
        lines.groupBy(_SPARK_PATH, "__diep_split")
        .agg(sf.min("__diep_position").alias("first"), sf.count(sf.lit(1)).alias("lines"))
        .collect()
    )
    skip = int(options["skip_rows"])
    before: dict[str, int] = {}
    offsets = []
    for split in sorted(splits, key=lambda row: (row[_SPARK_PATH], row["__diep_split"])):
        path = split[_SPARK_PATH]
        offsets.append((path, split["__diep_split"], before.get(path, 0) - split["first"]))
        before[path] = before.get(path, 0) + split["lines"]
    for file, spark_file in zip(inputs, spark_files, strict=True):
        if before.get(spark_file, 0) <= skip:
            raise EtlError(f"{file.uri}: nothing is left after skipping {skip} lines.")
    numbered = lines.join(
        sf.broadcast(
            spark.createDataFrame(
                offsets, f"{_SPARK_PATH} STRING, __diep_split LONG, __diep_offset LONG"
            )
        ),
        [_SPARK_PATH, "__diep_split"],
    ).select(
        "line",
        _SPARK_PATH,
        (sf.col("__diep_position") + sf.col("__diep_offset")).alias(ROW_ORDER),
    )
    header = bool(options.get("header", True))
    columns = _csv_names(spark, options, numbered, skip, spark_files[0])
    schema = ", ".join(f"`{index}` STRING" for index in range(len(columns)))
    records = numbered.filter(
        (sf.col(ROW_ORDER) >= skip + (1 if header else 0)) & (sf.col("line") != "")
    ).select(
        sf.from_csv(sf.col("line"), schema, _csv_options(options)).alias("record"),
        _SPARK_PATH,
        ROW_ORDER,
    )
    frame = records.select(
        *[sf.col("record").getField(str(i)).alias(name) for i, name in enumerate(columns)],
        _SPARK_PATH,
        ROW_ORDER,
    )
    return _declared_nulls(frame, options, columns)


def _csv_names(
    spark: SparkSession,
    options: Mapping[str, Any],
    numbered: DataFrame,
    skip: int,
    first_file: str,
) -> list[str]:
    """The column names: declared, or from the header line after the skipped ones (the
    same in every file, as Spark's CSV reader and the local engine require), or f0, f1,
    ... as many as the first record has fields."""
    header = bool(options.get("header", True))
    heads = {
        row[_SPARK_PATH]: row["line"]
        for row in numbered.filter(sf.col(ROW_ORDER) == skip).select(_SPARK_PATH, "line").collect()
    }
    first = heads[first_file]
    if header:
        for path, line in heads.items():
            if line != first:
                raise EtlError(
                    f"Input files disagree on columns: {path} has the header {line!r}, "
                    f"the first file {first!r}."
                )
    if names := options.get("column_names"):
        return list(names)
    # The first line parsed by Spark's CSV parser itself (the reader takes an RDD of
    # lines, which its type hints do not say).
    first_line: Any = spark.sparkContext.parallelize([first])
    parsed = spark.read.options(**_csv_options(options), header=str(header).lower()).csv(first_line)
    if header:
        return list(parsed.columns)
    return [f"f{index}" for index in range(len(parsed.columns))]


def _qualified(spark: SparkSession, uri: str) -> str:
    """The name Spark gives a file (qualified and URI-encoded, as input_file_name says)."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri if "://" in uri else f"file://{uri}")
    configuration = spark.sparkContext._jsc.hadoopConfiguration()
    return str(path.getFileSystem(configuration).makeQualified(path).toUri().toString())


def _with_file_identity(
    spark: SparkSession, frame: DataFrame, inputs: Sequence[InputFile], spark_files: list[str]
) -> DataFrame:
    """Each row's file index and DIEP URI, by a broadcast join on the name Spark gives
    the file (the frame's _SPARK_PATH column, taken in the scan)."""
    files = spark.createDataFrame(
        [
            (name, index, file.uri)
            for index, (file, name) in enumerate(zip(inputs, spark_files, strict=True))
        ],
        StructType(
            [
                StructField(_SPARK_PATH, StringType(), False),
                StructField(FILE_INDEX, IntegerType(), False),
                StructField(FILE_URI, StringType(), False),
            ]
        ),
    )
    return frame.join(sf.broadcast(files), on=_SPARK_PATH, how="left").drop(_SPARK_PATH)


def column(name: str) -> Column:
    """A column by its literal name (dots and backticks included)."""
    return sf.col("`" + name.replace("`", "``") + "`")
