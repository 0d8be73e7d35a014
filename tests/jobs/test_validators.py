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
