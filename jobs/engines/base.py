"""The small interface every execution backend implements."""

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
    """Starts and stops runs. Engines never wait for a run to finish (DESIGN.md §3.3)."""

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


def get_engine(name: str) -> ExecutionEngine:
    """The engine registered under `name` (a Job.engine value)."""
    from jobs.engines.glue import GlueEngine
    from jobs.engines.local import LocalEngine

    engines: dict[str, ExecutionEngine] = {
        GlueEngine.name: GlueEngine(),
        LocalEngine.name: LocalEngine(),
    }
    try:
        return engines[name]
    except KeyError:
        raise EngineUnavailable(
            f"The {name!r} engine is not available in this deployment."
        ) from None
