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
    if fmt == "csv":
        frame = _csv(spark, options, paths)
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
    return _with_file_identity(spark, frame, inputs)


def _csv(spark: SparkSession, options: Mapping[str, Any], paths: list[str]) -> DataFrame:
    if options.get("skip_rows"):
        raise EtlError(
            "The source option skip_rows is not supported on the Spark engine yet (a line "
            "count from each file's start cannot be split); use the local engine."
        )
    header = options.get("header", True)
    escape = options.get("escape_char")
    quote = options.get("quote_char", '"')
    reader = spark.read.options(
        header=str(bool(header)).lower(),
        sep=options.get("delimiter", ","),
        quote=quote,
        # Without an escape character a quote inside a quoted field is doubled (RFC 4180).
        escape=escape or quote,
        encoding=_SPARK_ENCODINGS[options.get("encoding", "utf-8")],
        multiLine=str(bool(options.get("newlines_in_values"))).lower(),
        mode="FAILFAST",
        enforceSchema="false",
        nullValue="",
        inferSchema="false",
    )
    frame = reader.csv(paths)
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
    extra_nulls = [value for value in options.get("null_values") or [] if value != ""]
    if extra_nulls:
        frame = frame.select(
            *[
                sf.when(column(name).isin(extra_nulls), sf.lit(None))
                .otherwise(column(name))
                .alias(name)
                for name in frame.columns
            ]
        )
    return frame


def _with_file_identity(
    spark: SparkSession, frame: DataFrame, inputs: Sequence[InputFile]
) -> DataFrame:
    """Each row's file index and DIEP URI, by a broadcast join on the name Spark gives
    the file (qualified and URI-encoded, which the JVM computes the same way)."""
    jvm: Any = spark.sparkContext._jvm
    configuration = spark.sparkContext._jsc.hadoopConfiguration()
    rows = []
    for index, file in enumerate(inputs):
        path = jvm.org.apache.hadoop.fs.Path(
            file.uri if "://" in file.uri else f"file://{file.uri}"
        )
        qualified = path.getFileSystem(configuration).makeQualified(path)
        rows.append((qualified.toUri().toString(), index, file.uri))
    files = spark.createDataFrame(
        rows,
        StructType(
            [
                StructField("__diep_spark_path", StringType(), False),
                StructField(FILE_INDEX, IntegerType(), False),
                StructField(FILE_URI, StringType(), False),
            ]
        ),
    )
    named = frame.withColumn("__diep_spark_path", sf.input_file_name()).withColumn(
        ROW_ORDER, sf.monotonically_increasing_id()
    )
    return named.join(sf.broadcast(files), on="__diep_spark_path", how="left").drop(
        "__diep_spark_path"
    )


def column(name: str) -> Column:
    """A column by its literal name (dots and backticks included)."""
    return sf.col("`" + name.replace("`", "``") + "`")
