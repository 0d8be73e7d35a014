"""Pure validation rules (no database)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jobs import validators


@pytest.mark.parametrize("name", ["abc", "my-bucket.data", "a1b", "x" * 63])
def test_valid_bucket_names(name: str) -> None:
    validators.validate_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "Upper",
        "under_score",
        "-start",
        "end-",
        "a..b",
        "a.-b",
        "192.168.1.1",
        "xn--abc",
        "sthree-abc",
        "data-s3alias",
        "data--ol-s3",
        "spa ce",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(ValidationError):
        validators.validate_bucket_name(name)


def test_split_s3_uri() -> None:
    assert validators.split_s3_uri("s3://raw-data/a/b/") == ("raw-data", "a/b/")
    assert validators.split_s3_uri("s3://raw-data") == ("raw-data", "")
    for bad in [
        "http://raw-data/a",
        "s3:/raw-data",
        "s3://raw-data/../x",
        "s3://raw-data/a/./b",
        "s3://raw-data/\x07bell",
        "s3://raw-data/" + "k" * 1100,
        # URL parsing would write to s3://raw-data/a/ while s3://raw-data/a/?b is shown.
        "s3://raw-data/a/?b",
        "s3://raw-data/a/#b",
        "s3://raw-data/a#/b/",
    ]:
        with pytest.raises(ValidationError):
            validators.split_s3_uri(bad)


def test_clean_parameters_normalises_and_collects_errors() -> None:
    assert validators.clean_parameters({"--region": "eu", "size": "1"}) == {
        "region": "eu",
        "size": "1",
    }
    with pytest.raises(ValidationError) as excinfo:
        validators.clean_parameters(
            {
                "--JOB_NAME": "x",
                "diep_x": "y",
                "--Diep_run": "z",
                "1bad": "v",
                "ok": 3,
                "conf": "c",
                "extra-py-files": "s3://evil/x.zip",
                "api_token": "t",
                "db_password_secret_arn": "arn:aws:secretsmanager:...",
                "ctl": "a\x00b",
            }
        )
    errors = excinfo.value.message_dict
    assert set(errors) == {
        "--JOB_NAME",
        "diep_x",
        "--Diep_run",
        "1bad",
        "ok",
        "conf",
        "extra-py-files",
        "api_token",
        "ctl",
    }
    assert "reserved" in errors["--JOB_NAME"][0]
    assert "secret" in errors["api_token"][0]
    with pytest.raises(ValidationError, match="twice"):
        validators.clean_parameters({"a": "1", "--a": "2"})
    with pytest.raises(ValidationError, match="At most"):
        validators.clean_parameters({f"p{i}": "v" for i in range(101)})


def test_parameters_schema_rules() -> None:
    validators.validate_parameters_schema({})
    validators.validate_parameters_schema(
        {
            "type": "object",
            "properties": {"d": {"$ref": "#/$defs/day"}},
            "$defs": {"day": {"type": "string", "format": "date"}},
        }
    )
    with pytest.raises(ValidationError, match="local references"):
        validators.validate_parameters_schema({"$ref": "file:///etc/passwd"})
    with pytest.raises(ValidationError, match="type: object"):
        validators.validate_parameters_schema({"type": "array"})
    with pytest.raises(ValidationError, match="Not a valid JSON Schema"):
        validators.validate_parameters_schema({"type": "object", "minProperties": -1})
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["not"] = {}
        node = node["not"]
    with pytest.raises(ValidationError, match="nested deeper"):
        validators.validate_parameters_schema(deep)
    with pytest.raises(ValidationError, match="larger than"):
        validators.validate_parameters_schema({"description": "x" * 70_000})


def test_schema_errors_per_parameter() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "string", "pattern": "^[0-9]+$"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    assert validators.schema_errors(schema, {"n": "12"}) == {}
    errors = validators.schema_errors(schema, {"n": "x", "other": "1"})
    assert "n" in errors
    assert "parameters" in errors
    assert validators.schema_errors({}, {"anything": "goes"}) == {}


# Every special parameter AWS documents for Glue jobs ("Using job parameters in AWS Glue
# jobs" and the Spark UI, shuffle, interactive-session and Ray pages), written as AWS
# writes them: each refused as a run parameter and as a declared schema property.
AWS_DOCUMENTED = [
    "--additional-python-modules", "--auto-scale-within-microbatch", "--class",
    "--continuous-log-conversionPattern", "--continuous-log-logGroup",
    "--continuous-log-logStreamPrefix", "--continuous-log-stream-prefix",
    "--customer-driver-env-vars", "--customer-executor-env-vars", "--datalake-formats",
    "--disable-proxy-v2", "--enable-auto-scaling", "--enable-continuous-cloudwatch-log",
    "--enable-continuous-log-filter", "--enable-glue-datacatalog", "--enable-job-insights",
    "--enable-lakeformation-fine-grained-access", "--enable-metrics",
    "--enable-observability-metrics", "--enable-rename-algorithm-v2",
    "--enable-s3-parquet-optimized-committer", "--enable-spark-ui",
    "--enable-spark-ui-legacy-path", "--executor-cores", "--extra-files", "--extra-jars",
    "--extra-py-files", "--job-bookmark-option", "--job-language",
    "--python-modules-installer-option", "--scriptLocation", "--spark-event-logs-path",
    "--spark-ui-event-logs-path", "--TempDir", "--use-postgres-driver", "--user-jars-first",
    "--conf", "--encryption-type", "--debug", "--mode", "--JOB_NAME", "--endpoint",
    "--write-shuffle-files-to-s3", "--write-shuffle-spills-to-s3", "--SECURITY_CONFIGURATION",
    "--glue_kernel_version", "--s3-py-modules", "--pip-install", "--logging_configuration",
    # read by AWS's Glue library (awsglue), and the issue's own examples
    "--JOB_ID", "--JOB_RUN_ID", "--job-bookmark-from", "--job-bookmark-to",
    "--continuation-option", "--RedshiftTempDir", "--enable-data-lineage", "--WORKFLOW_NAME",
    "--WORKFLOW_RUN_ID", "--python-version", "--shuffle-storage-path",
]  # fmt: skip


@pytest.mark.parametrize("name", AWS_DOCUMENTED)
def test_every_glue_special_parameter_is_refused(name: str) -> None:
    bare = name.removeprefix("--")
    for written in (name, bare, bare.upper(), bare.replace("-", "_")):
        with pytest.raises(ValidationError, match="reserved"):
            validators.validate_parameter_name(validators.normalize_parameter_name(written))
    with pytest.raises(ValidationError, match="special"):
        validators.validate_parameters_schema(
            {"type": "object", "properties": {name.removeprefix("--"): {"type": "string"}}}
        )


@pytest.mark.parametrize("name", ["region", "run_date", "batch-size", "classic", "modes"])
def test_plain_names_stay_allowed(name: str) -> None:
    validators.validate_parameter_name(name)
