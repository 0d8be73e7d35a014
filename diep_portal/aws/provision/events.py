"""EventBridge steps: the rule sending Glue job state changes to the ingest queue."""

from __future__ import annotations

from diep_portal.aws.events import (
    EventTarget,
    events_describe_rule,
    events_list_targets,
    events_put_rule,
    events_put_targets,
    events_remove_targets,
)
from diep_portal.aws.provision.resources import GLUE_EVENTS_PATTERN, GLUE_EVENTS_TARGET_ID, Change
from diep_portal.aws.provision.steps import PlanContext, Step, canonical, noop


def event_rule_step(context: PlanContext) -> Step:
    """The rule, enabled, with our pattern and the ingest queue as its one target."""
    name = context.desired.glue_events_rule
    queue = context.desired.queue
    rule = events_describe_rule(name=name)
    if rule is None:
        return Step(
            Change("event-rule", name, "create", f"Glue job state changes → {queue}"),
            lambda: _put_rule(context),
        )
    targets = events_list_targets(rule=name)
    differences = []
    if canonical(rule.event_pattern) != canonical(GLUE_EVENTS_PATTERN):
        differences.append("event pattern")
    if rule.state != "ENABLED":
        differences.append(f"state {rule.state} → ENABLED")
    if {(t.target_id, t.arn) for t in targets} != {(GLUE_EVENTS_TARGET_ID, context.queue_arn)}:
        differences.append("targets")
    if not differences:
        return Step(Change("event-rule", name, "unchanged", f"→ {queue}"), noop)
    return Step(
        Change("event-rule", name, "update", ", ".join(differences)), lambda: _put_rule(context)
    )


def _put_rule(context: PlanContext) -> None:
    """PutRule and PutTargets (ours only: other targets on our rule are removed)."""
    name = context.desired.glue_events_rule
    events_put_rule(
        name=name,
        event_pattern=GLUE_EVENTS_PATTERN,
        description="DIEP: Glue job state changes to the ingest queue",
    )
    targets = events_list_targets(rule=name)
    stale = [t.target_id for t in targets if t.target_id != GLUE_EVENTS_TARGET_ID]
    events_remove_targets(rule=name, target_ids=stale)
    events_put_targets(
        rule=name, targets=[EventTarget(target_id=GLUE_EVENTS_TARGET_ID, arn=context.queue_arn)]
    )
