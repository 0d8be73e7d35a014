"""DynamoDB hooks for the job mirror: version-conditioned writes, scans, tables."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client
from diep_portal.exceptions import PermanentAwsError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    # DynamoDB numbers are Decimals; a JSON round trip turns floats into them.
    plain = json.loads(json.dumps(item, default=str), parse_float=Decimal)
    return {key: _serializer.serialize(value) for key, value in plain.items()}


def _from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


@dataclass(frozen=True)
class KeySchema:
    """A table's string keys: the partition (HASH) key and an optional sort (RANGE) key."""

    partition_key: str
    sort_key: str | None = None


def dynamodb_put_versioned(
    *, table: str, item: Mapping[str, Any], key: KeySchema, version_attribute: str
) -> bool:
    """PutItem unless the table already holds the same or a newer version of the item.

    Returns False when a newer (or equal) version is there: replays and out-of-order
    deliveries are no-ops, never overwrites.
    """
    condition = "attribute_not_exists(#pk) OR #v < :v"
    with translate_aws_errors("dynamodb", "PutItem"):
        try:
            get_client("dynamodb").put_item(
                TableName=table,
                Item=_to_attributes(item),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#pk": key.partition_key, "#v": version_attribute},
                ExpressionAttributeValues={":v": {"N": str(item[version_attribute])}},
            )
        except get_client("dynamodb").exceptions.ConditionalCheckFailedException:
            return False
    return True


def dynamodb_delete_versioned(
    *, table: str, key: Mapping[str, str], partition_key: str, version_attribute: str, version: int
) -> bool:
    """DeleteItem unless the table holds a newer version than `version`."""
    with translate_aws_errors("dynamodb", "DeleteItem"):
        try:
            get_client("dynamodb").delete_item(
                TableName=table,
                Key={name: {"S": value} for name, value in key.items()},
                ConditionExpression="attribute_not_exists(#pk) OR #v <= :v",
                ExpressionAttributeNames={"#pk": partition_key, "#v": version_attribute},
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
        except get_client("dynamodb").exceptions.ConditionalCheckFailedException:
            return False
    return True


def dynamodb_scan(*, table: str, attributes: list[str]) -> Iterator[dict[str, Any]]:
    """Every item of `table` (the named attributes only), page by page."""
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
        "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(attributes)},
    }
    client = get_client("dynamodb")
    while True:
        with translate_aws_errors("dynamodb", "Scan"):
            page = client.scan(**request)
        for item in page.get("Items", []):
            yield _from_attributes(item)
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dynamodb_get_item(*, table: str, key: Mapping[str, str]) -> dict[str, Any] | None:
    """One item by its (string) key, strongly consistent; None when absent."""
    with translate_aws_errors("dynamodb", "GetItem"):
        response = get_client("dynamodb").get_item(
            TableName=table,
            Key={name: {"S": value} for name, value in key.items()},
            ConsistentRead=True,
        )
    item = response.get("Item")
    return _from_attributes(item) if item else None


def dynamodb_table_key(*, table: str) -> KeySchema | None:
    """A table's key schema (DescribeTable); None when the table does not exist."""
    try:
        with translate_aws_errors("dynamodb", "DescribeTable"):
            description = get_client("dynamodb").describe_table(TableName=table)["Table"]
    except PermanentAwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise
    keys = {item["KeyType"]: item["AttributeName"] for item in description.get("KeySchema", [])}
    return KeySchema(partition_key=keys.get("HASH", ""), sort_key=keys.get("RANGE"))


def dynamodb_ensure_table(*, table: str, key: KeySchema) -> bool:
    """Create an on-demand table with string keys unless it exists; True if created."""
    if dynamodb_table_key(table=table) is not None:
        return False
    client = get_client("dynamodb")
    names = [key.partition_key] + ([key.sort_key] if key.sort_key else [])
    schema = [{"AttributeName": key.partition_key, "KeyType": "HASH"}]
    if key.sort_key:
        schema.append({"AttributeName": key.sort_key, "KeyType": "RANGE"})
    with translate_aws_errors("dynamodb", "CreateTable"):
        client.create_table(
            TableName=table,
            KeySchema=schema,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table)
    return True
