"""The SparkSession a run uses, and the Spark settings DIEP's semantics rely on.

On AWS Glue the session comes from Glue's own context; elsewhere (tests, a developer's
machine) it is plain pyspark on `DIEP_SPARK_MASTER` (default local[2]). Either way the
RESERVED settings are applied and cannot be changed by a job: they are what makes a
Spark run give the local engine's answer.
"""

from __future__ import annotations

import os
from typing import Any, Final

from pyspark.sql import SparkSession

from etl.publish import MAX_ROWS_PER_FILE

RESERVED_CONF: Final[dict[str, str]] = {
    # Times are UTC everywhere, as the local engine writes them.
    "spark.sql.session.timeZone": "UTC",
    # Column names are case-sensitive, as in pyarrow (and in the files themselves).
    "spark.sql.caseSensitive": "true",
    # Casts that cannot convert give null, which DIEP turns into a counted rejection.
    "spark.sql.ansi.enabled": "false",
    # Parquet timestamps as INT64 microseconds adjusted to UTC, what pyarrow writes and
    # Athena reads (Spark's default, INT96, is deprecated).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # The strptime translation targets the Java formatter, not Spark 2's SimpleDateFormat.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Big partitions are split into files of at most this many rows, as locally.
    "spark.sql.files.maxRecordsPerFile": str(MAX_ROWS_PER_FILE),
    # Shuffles (dedupe, partitioned output) are coalesced to sensible task sizes.
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # DIEP publishes from its temporary prefix itself; no marker files there.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}
# Only settable when the session starts (a Glue job sets them in its definition).
STARTUP_CONF: Final[dict[str, str]] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
}
APP_NAME: Final = "diep-etl"


def spark_session() -> SparkSession:
    """Glue's session inside Glue, a local one elsewhere; RESERVED_CONF applied."""
    try:
        from awsglue.context import GlueContext
        from pyspark.context import SparkContext
    except ImportError:
        builder: Any = SparkSession.builder.appName(APP_NAME).master(
            os.environ.get("DIEP_SPARK_MASTER", "local[2]")
        )
        for key, value in {**STARTUP_CONF, **RESERVED_CONF}.items():
            builder = builder.config(key, value)
        session: SparkSession = builder.getOrCreate()
    else:
        session = GlueContext(SparkContext.getOrCreate()).spark_session
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    for key, value in RESERVED_CONF.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)
        else:
            session.conf.set(key, value)
    session.sparkContext.setLogLevel("WARN")
    return session
