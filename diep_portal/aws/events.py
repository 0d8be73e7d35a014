"""EventBridge hooks: rules on the default event bus and their targets (provisioning the
rule that sends Glue job state changes to the ingest queue)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client
from diep_portal.exceptions import PermanentAwsError


@dataclass(frozen=True)
class EventRule:
    """A rule as DescribeRule reports it; `event_pattern` parsed ({} for a schedule rule)."""

    name: str
    arn: str
    event_pattern: dict[str, Any]
    state: str


@dataclass(frozen=True)
class EventTarget:
    """One target of a rule: our Id for it and the resource it sends to."""

    target_id: str
    arn: str


def events_describe_rule(*, name: str) -> EventRule | None:
    """The rule of that name on the default bus; None when there is none."""
    try:
        with translate_aws_errors("events", "DescribeRule"):
            rule = get_client("events").describe_rule(Name=name)
    except PermanentAwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise
    return EventRule(
        name=str(rule.get("Name", name)),
        arn=str(rule.get("Arn", "")),
        event_pattern=json.loads(rule.get("EventPattern") or "{}"),
        state=str(rule.get("State", "")),
    )


def events_put_rule(*, name: str, event_pattern: Mapping[str, Any], description: str) -> None:
    """PutRule: create or overwrite an enabled rule matching `event_pattern`."""
    with translate_aws_errors("events", "PutRule"):
        get_client("events").put_rule(
            Name=name,
            EventPattern=json.dumps(event_pattern),
            State="ENABLED",
            Description=description,
        )


def events_list_targets(*, rule: str) -> list[EventTarget]:
    """The rule's targets (ListTargetsByRule; one page holds the maximum of five)."""
    with translate_aws_errors("events", "ListTargetsByRule"):
        targets = get_client("events").list_targets_by_rule(Rule=rule).get("Targets", [])
    return [EventTarget(target_id=str(t.get("Id")), arn=str(t.get("Arn"))) for t in targets]


def events_put_targets(*, rule: str, targets: Sequence[EventTarget]) -> None:
    """PutTargets: add the targets, or overwrite those whose Id the rule already has."""
    with translate_aws_errors("events", "PutTargets"):
        get_client("events").put_targets(
            Rule=rule, Targets=[{"Id": t.target_id, "Arn": t.arn} for t in targets]
        )


def events_remove_targets(*, rule: str, target_ids: Sequence[str]) -> None:
    """RemoveTargets by Id; an empty `target_ids` makes no call (AWS refuses it)."""
    if not target_ids:
        return
    with translate_aws_errors("events", "RemoveTargets"):
        get_client("events").remove_targets(Rule=rule, Ids=list(target_ids))
