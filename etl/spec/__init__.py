"""The transform and reader/writer option language of DIEP jobs.

Pure (no Django): the same package validates a job in the portal and inside the
AWS Glue job. Specs are JSON data, interpreted by the ETL library, never eval'd.

A transform spec is a JSON object whose keys are all optional and are applied in
this order: select, rename, cast, constants, metadata, filter, dedupe; the checks
then run on the result. `{}` is the identity.

Structure is described by a Draft 2020-12 JSON Schema (`TRANSFORM_JSON_SCHEMA`,
also shown by the API docs). What a schema cannot say, or cannot say safely, is
checked in Python: expression depth and size (iteratively, so a hostile
10,000-deep tree cannot exhaust the stack), operator arity, column-name rules
and a few cross-field rules. Every error is reported under a dotted path within
the validated object ("filter.args.0", "cast.amount.scale"; "" for the root).

This module is the package's public face; the work is split by concern:
base (limits, SpecError, error collection), guards (bounded-JSON and column-name
rules), schema (the JSON Schema and its messages), transform (validate_transform)
and options (validate_source_options, validate_destination_options).
"""

from __future__ import annotations

from etl.spec.base import (
    CHECK_TYPES,
    CSV_ENCODINGS,
    DESTINATION_FORMATS,
    FILTER_OPS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    MAX_SPEC_BYTES,
    METADATA_COLUMNS,
    PARQUET_COMPRESSIONS,
    REQUIRED_COLUMN_TYPES,
    SIMPLE_TYPES,
    SOURCE_FORMATS,
    WRITE_MODES,
    SpecError,
)
from etl.spec.options import validate_destination_options, validate_source_options
from etl.spec.schema import TRANSFORM_JSON_SCHEMA
from etl.spec.transform import validate_transform

__all__ = [
    "CHECK_TYPES",
    "CSV_ENCODINGS",
    "DESTINATION_FORMATS",
    "FILTER_OPS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "MAX_SPEC_BYTES",
    "METADATA_COLUMNS",
    "PARQUET_COMPRESSIONS",
    "REQUIRED_COLUMN_TYPES",
    "SIMPLE_TYPES",
    "SOURCE_FORMATS",
    "TRANSFORM_JSON_SCHEMA",
    "WRITE_MODES",
    "SpecError",
    "validate_destination_options",
    "validate_source_options",
    "validate_transform",
]
