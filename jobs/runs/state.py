"""The run state machine: which transitions are allowed, the one function that makes
them, and the ordered listeners told when a run ends or is retried.

Listeners replace what would otherwise be imports upward or sideways: `jobs` admits
queued runs and raises alerts, `ingestion` moves the file ledger along with its runs.
Each registers in its AppConfig.ready; none is a Django signal, so the order is stated
here and every listener runs inside the transition's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from diep_portal.text import storable_text
from jobs.models import TERMINAL_STATES, JobRun, RunEvent, RunState

logger = logging.getLogger(__name__)

_TERMINAL = sorted(TERMINAL_STATES)
# Which states a run may move to from each state. Everything else is refused, so a late
# or duplicated signal can never move a run backwards (DESIGN.md §4).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    RunState.QUEUED: frozenset({RunState.PENDING, RunState.STOPPED}),
    RunState.PENDING: frozenset(
        {RunState.STARTING, RunState.QUEUED, RunState.STOPPED, RunState.FAILED, RunState.ERROR}
    ),
    # STARTING → PENDING/QUEUED: only our own worker, giving a run back after a
    # transient failure or a full Glue concurrency limit before Glue accepted it.
    RunState.STARTING: frozenset(
        {RunState.RUNNING, RunState.PENDING, RunState.QUEUED, RunState.STOPPING, *_TERMINAL}
    ),
    RunState.RUNNING: frozenset({RunState.STOPPING, *_TERMINAL}),
    RunState.STOPPING: frozenset(_TERMINAL),
}


def may_transition(from_state: str, to: str) -> bool:
    """Whether the state machine allows `from_state` → `to` (a cheap look before a
    locked `transition_run`, which decides)."""
    return to in ALLOWED_TRANSITIONS.get(from_state, frozenset())


class Stage(IntEnum):
    """When a listener runs, relative to the others. The file ledger first (its rows
    are the run's own), alerts next, admission last: it locks the job row and may start
    the next run, which must see this one's files settled."""

    LEDGER = 10
    ALERTS = 20
    ADMISSION = 30


@dataclass(frozen=True)
class RunEnded:
    """A run reached a terminal state; `from_state` is where it came from."""

    run: JobRun
    from_state: str


@dataclass(frozen=True)
class RunRetried:
    """`retry` was created as the next attempt of the finished `run`."""

    run: JobRun
    retry: JobRun


class RunEndedListener(Protocol):
    def __call__(self, event: RunEnded, /) -> object: ...


class RunRetriedListener(Protocol):
    def __call__(self, event: RunRetried, /) -> object: ...


class RunListeners:
    """The listeners, kept sorted by stage (registration order within one)."""

    def __init__(self) -> None:
        self._ended: list[tuple[Stage, RunEndedListener]] = []
        self._retried: list[tuple[Stage, RunRetriedListener]] = []

    def on_run_ended(self, listener: RunEndedListener, *, stage: Stage) -> None:
        # Idempotent: an app's ready() may run more than once (tests, reloads).
        if all(existing is not listener for _, existing in self._ended):
            self._ended.append((stage, listener))
            self._ended.sort(key=lambda entry: entry[0])

    def on_run_retried(self, listener: RunRetriedListener, *, stage: Stage) -> None:
        if all(existing is not listener for _, existing in self._retried):
            self._retried.append((stage, listener))
            self._retried.sort(key=lambda entry: entry[0])

    def run_ended(self, event: RunEnded) -> None:
        for _, listener in self._ended:
            listener(event)

    def run_retried(self, event: RunRetried) -> None:
        for _, listener in self._retried:
            listener(event)


#: The process's one listener list (filled by the apps' ready()).
run_listeners = RunListeners()


def transition_run(
    *,
    run: JobRun,
    to: str,
    source: str,
    message: str = "",
    actor: AuthUser | None = None,
    from_states: Iterable[str] | None = None,
    **fields: Any,
) -> bool:
    """Move `run` to `to` if its current state allows it; write the RunEvent.

    A conditional update under a row lock: 0 rows means somebody else moved the run
    first, and the caller must not act. A terminal state tells the run-ended listeners
    (the ledger, alerts, admission of queued runs) in the same transaction.
    """
    allowed_from = {state for state, targets in ALLOWED_TRANSITIONS.items() if to in targets}
    if from_states is not None:
        allowed_from &= set(from_states)
    now = timezone.now()
    with transaction.atomic():
        row = (
            JobRun.objects.select_for_update()
            .filter(pk=run.pk, state__in=allowed_from)
            .values_list("state", "revision")
            .first()
        )
        if row is None:
            return False
        current, revision = row
        # Texts from engines and exceptions quote what failed: stored as themselves, always.
        message = storable_text(message)
        fields = {
            name: storable_text(value) if isinstance(value, str) else value
            for name, value in fields.items()
        }
        updates: dict[str, Any] = {
            "state": to,
            "updated_at": now,
            "revision": revision + 1,
            **fields,
        }
        if to in TERMINAL_STATES:
            updates.setdefault("finished_at", now)
        JobRun.objects.filter(pk=run.pk).update(**updates)
        RunEvent.objects.create(
            run=run, from_state=current, to_state=to, source=source, actor=actor, message=message
        )
        for name, value in updates.items():
            setattr(run, name, value)
        if to in TERMINAL_STATES:
            run_listeners.run_ended(RunEnded(run=run, from_state=current))
    logger.info(
        "run.transition",
        extra={
            "run_id": str(run.run_id),
            "job_id": str(run.job.job_id),
            "from_state": current,
            "to_state": to,
            "source": source,
        },
    )
    return True
