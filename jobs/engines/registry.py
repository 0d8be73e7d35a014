"""The engines of this deployment, by Job.engine value. Each engine package registers
itself (JobsConfig.ready), so the run code asks for an engine by name and never
imports one: a new engine is a new package and one registration."""

from __future__ import annotations

import logging

from jobs.engines.base import EngineUnavailable, ExecutionEngine

__all__ = ["EngineUnavailable", "engines", "get_engine", "register_engine", "track_engines"]

logger = logging.getLogger(__name__)

_engines: dict[str, ExecutionEngine] = {}


def register_engine(engine: ExecutionEngine) -> None:
    """Make `engine` the one for runs whose engine is `engine.name`."""
    _engines[engine.name] = engine


def get_engine(name: str) -> ExecutionEngine:
    """The engine registered under `name` (a Job.engine value)."""
    try:
        return _engines[name]
    except KeyError:
        raise EngineUnavailable(
            f"The {name!r} engine is not available in this deployment."
        ) from None


def engines() -> list[ExecutionEngine]:
    return list(_engines.values())


def track_engines() -> dict[str, int]:
    """One tracking tick of every engine (the `jobs.track_runs` task body); one engine
    failing does not keep the others from theirs. Runs moved, by engine."""
    moved: dict[str, int] = {}
    for engine in engines():
        try:
            moved[engine.name] = engine.track()
        except Exception:
            logger.exception("engine.track_failed", extra={"engine": engine.name})
    return moved
