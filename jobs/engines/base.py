"""The interface every execution backend implements, and what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jobs.models import JobRun


class EngineUnavailable(Exception):
    """The job's engine cannot run here (not installed or not configured)."""


@dataclass(frozen=True)
class EngineStart:
    """What an engine reports once it accepted (or was found running) a run."""

    external_run_id: str
    logs_url: str = ""
    adopted: bool = False


class ExecutionEngine(Protocol):
    """Starts, stops and tracks runs. Engines never wait for a run to finish
    (DESIGN.md §3.3): `track` learns how runs went, a tick at a time."""

    name: str

    def start(self, run: JobRun) -> EngineStart:
        """Submit the run with its rendered arguments; raise TransientAwsError to be retried."""
        ...

    def find(self, run: JobRun) -> EngineStart | None:
        """The engine's run carrying this run's id, if an earlier start reached it."""
        ...

    def stop(self, run: JobRun) -> None:
        """Ask the backend to stop the run; the terminal state arrives by the usual tracking."""
        ...

    def track(self) -> int:
        """One tracking tick over this engine's active runs: learn their states, end the
        ones lost or past their timeout (with their metrics). Safe to run twice at once.
        Returns how many runs it moved."""
        ...
