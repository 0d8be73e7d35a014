"""EventBridge hooks on moto in-process: a rule and its targets."""

from __future__ import annotations

from botocore.stub import Stubber

from diep_portal.aws.events import (
    EventRule,
    EventTarget,
    events_describe_rule,
    events_list_targets,
    events_put_rule,
    events_put_targets,
    events_remove_targets,
)
from diep_portal.aws.session import get_client

PATTERN = {"source": ["aws.glue"], "detail-type": ["Glue Job State Change"]}
QUEUE = "arn:aws:sqs:us-east-1:123456789012:diep-ingest"


def test_missing_rule_is_none(moto_aws: None) -> None:
    assert events_describe_rule(name="no-such-rule") is None


def test_put_and_describe_rule(moto_aws: None) -> None:
    events_put_rule(name="diep-glue-job-state", event_pattern=PATTERN, description="DIEP")

    rule = events_describe_rule(name="diep-glue-job-state")

    assert rule == EventRule(
        name="diep-glue-job-state",
        arn="arn:aws:events:us-east-1:123456789012:rule/diep-glue-job-state",
        event_pattern=PATTERN,
        state="ENABLED",
    )


def test_targets_put_listed_and_removed(moto_aws: None) -> None:
    events_put_rule(name="rule", event_pattern=PATTERN, description="DIEP")
    ours, stale = EventTarget("diep-ingest-queue", QUEUE), EventTarget("old", QUEUE + "-old")

    events_put_targets(rule="rule", targets=[ours, stale])
    assert sorted(events_list_targets(rule="rule"), key=lambda t: t.target_id) == [ours, stale]

    events_remove_targets(rule="rule", target_ids=["old"])
    assert events_list_targets(rule="rule") == [ours]


def test_removing_no_targets_makes_no_call(aws_settings: None) -> None:
    # A Stubber with nothing queued fails on any call.
    with Stubber(get_client("events")):
        events_remove_targets(rule="rule", target_ids=[])
