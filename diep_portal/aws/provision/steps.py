"""The step type every service's planning returns, and what those plans share."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diep_portal.aws.provision.arns import Arns
from diep_portal.aws.provision.resources import Change, Desired
from diep_portal.aws.sqs import sqs_get_queue_attributes


@dataclass
class Step:
    """A planned change and how to make it (a no-op when unchanged)."""

    change: Change
    perform: Callable[[], None] = field(repr=False)


def noop() -> None:
    """Nothing to do: the resource already matches."""
    return None


@dataclass
class PlanContext:
    """One plan's desired state and account, and the AWS reads its steps share."""

    desired: Desired
    arns: Arns
    _policy_loaded: bool = field(default=False, init=False)
    _current_policy: dict[str, Any] | None = field(default=None, init=False)

    @property
    def queue_arn(self) -> str:
        """The ingest queue's ARN."""
        return self.arns.queue(self.desired.queue)

    @property
    def dlq_arn(self) -> str:
        """The dead-letter queue's ARN."""
        return self.arns.queue(self.desired.dlq)

    def current_queue_policy(self) -> dict[str, Any] | None:
        """The ingest queue's policy as AWS has it now (read once per plan: the policy
        step and the notification steps both ask)."""
        if not self._policy_loaded:
            raw = (sqs_get_queue_attributes(queue_name=self.desired.queue) or {}).get("Policy")
            self._current_policy = json.loads(raw) if raw else None
            self._policy_loaded = True
        return self._current_policy


def canonical(value: Any) -> Any:
    """A policy document or event pattern in a comparable form."""
    # Policies come back from AWS with lists possibly reordered and one-element lists
    # possibly collapsed to a scalar: compare on a form where neither matters.
    if isinstance(value, Mapping):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [canonical(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value
