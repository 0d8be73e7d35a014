"""The pure S3 rules of provisioning: which notification entries are ours, how they
merge with everyone else's, and which triggers S3 would refuse together."""

from __future__ import annotations

import pytest

from diep_portal.aws.provision import NotificationFilter
from diep_portal.aws.provision.resources import NOTIFICATION_ID_MAX
from diep_portal.aws.provision.s3 import merge_notifications, notification_id, overlapping_triggers


def test_merge_keeps_foreign_entries_and_eventbridge() -> None:
    current_config = {
        "QueueConfigurations": [
            {"Id": "analytics-team", "QueueArn": "a", "Events": ["s3:ObjectCreated:*"]},
            {"Id": "diep-stale", "QueueArn": "q", "Events": ["s3:ObjectCreated:*"]},
        ],
        "LambdaFunctionConfigurations": [
            {"Id": "diep-lambda", "LambdaFunctionArn": "l", "Events": ["s3:ObjectCreated:*"]}
        ],
        "EventBridgeConfiguration": {},
    }
    ours = [{"Id": "diep-new", "QueueArn": "q", "Events": ["s3:ObjectCreated:*"]}]

    merged = merge_notifications(current_config, ours)

    assert [c["Id"] for c in merged["QueueConfigurations"]] == ["analytics-team", "diep-new"]
    # Only queue entries are ever ours, whatever their Id says.
    assert merged["LambdaFunctionConfigurations"] == current_config["LambdaFunctionConfigurations"]
    assert merged["EventBridgeConfiguration"] == {}


def test_notification_ids_are_bounded_and_distinct() -> None:
    assert notification_id("orders") == "diep-orders"
    long_a, long_b = "a" * 99 + "x", "a" * 99 + "y"
    assert len(notification_id(long_a)) == NOTIFICATION_ID_MAX
    assert notification_id(long_a) != notification_id(long_b)
    assert notification_id(long_a).startswith("diep-")


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (("orders/", ".csv"), ("orders/eu/", ".csv"), True),
        (("orders/", ".csv"), ("orders/", "eu.csv"), True),
        (("orders/", ""), ("orders/", ".csv"), True),
        (("", ""), ("anything/", ".json"), True),
        (("orders/", ".csv"), ("returns/", ".csv"), False),
        (("orders/", ".csv"), ("orders/", ".json"), False),
    ],
)
def test_overlap_rule(a: tuple[str, str], b: tuple[str, str], overlap: bool) -> None:
    first = NotificationFilter("a", "bucket", *a)
    second = NotificationFilter("b", "bucket", *b)
    assert bool(overlapping_triggers([first, second])) is overlap
    # Other buckets never overlap.
    assert overlapping_triggers([first, NotificationFilter("b", "other", *b)]) == []
