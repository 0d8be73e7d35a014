"""DynamoDB table hooks on moto in-process: key schemas read, tables created once."""

from __future__ import annotations

from diep_portal.aws.dynamodb import KeySchema, dynamodb_ensure_table, dynamodb_table_key


def test_table_key_of_a_missing_table_is_none(moto_aws: None) -> None:
    assert dynamodb_table_key(table="no-such-table") is None


def test_ensure_table_creates_once_with_its_key(moto_aws: None) -> None:
    key = KeySchema(partition_key="job_id", sort_key="run_key")
    assert dynamodb_ensure_table(table="diep-job-runs", key=key) is True
    assert dynamodb_ensure_table(table="diep-job-runs", key=key) is False
    assert dynamodb_table_key(table="diep-job-runs") == key


def test_partition_key_only(moto_aws: None) -> None:
    dynamodb_ensure_table(table="diep-jobs", key=KeySchema(partition_key="job_id"))
    assert dynamodb_table_key(table="diep-jobs") == KeySchema(partition_key="job_id")
