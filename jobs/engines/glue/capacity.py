"""Glue capacity per job ("adjust DPUs to the load") and fire-time overrides within limits.

Pure functions: the job stores a validated capacity spec; a fire may ask for a
different worker type or count inside the limits the job sets; the result is what
StartJobRun receives and what the run shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WORKER_TYPES = ("G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "Z.2X", "Standard")
EXECUTION_CLASSES = ("STANDARD", "FLEX")
MAX_WORKERS = 1000
MAX_DPUS = 100.0
JOB_KEYS = frozenset(
    {
        "worker_type",
        "number_of_workers",
        "max_capacity",
        "auto_scaling",
        "execution_class",
        "max_workers",
        "allowed_worker_types",
    }
)
OVERRIDE_KEYS = frozenset({"worker_type", "number_of_workers", "execution_class"})


class CapacityError(ValueError):
    """Invalid capacity; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def _int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_job_capacity(raw: Any) -> dict[str, Any]:
    """A job's capacity spec, normalised; `{}` means "the Glue job definition's own"."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CapacityError({"capacity": ["Expected an object."]})
    errors: dict[str, list[str]] = {}
    if unknown := sorted(set(raw) - JOB_KEYS):
        errors["capacity"] = [
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(JOB_KEYS))}."
        ]
    spec = {key: raw[key] for key in JOB_KEYS if raw.get(key) is not None}
    worker_type = spec.get("worker_type")
    if worker_type is not None and worker_type not in WORKER_TYPES:
        errors["worker_type"] = [f"One of {', '.join(WORKER_TYPES)}."]
    workers = spec.get("number_of_workers")
    if workers is not None and not _int(workers, 1, MAX_WORKERS):
        errors["number_of_workers"] = [f"An integer from 1 to {MAX_WORKERS}."]
    if (worker_type is None) != (workers is None):
        errors.setdefault("number_of_workers", []).append(
            "worker_type and number_of_workers go together."
        )
    max_capacity = spec.get("max_capacity")
    if max_capacity is not None:
        if (
            not isinstance(max_capacity, int | float)
            or isinstance(max_capacity, bool)
            or not (0.0625 <= max_capacity <= MAX_DPUS)
        ):
            errors["max_capacity"] = [f"A number of DPUs from 0.0625 to {MAX_DPUS:g}."]
        if worker_type is not None:
            errors.setdefault("max_capacity", []).append(
                "Use either max_capacity or worker_type/number_of_workers (Glue takes one)."
            )
    if "auto_scaling" in spec and not isinstance(spec["auto_scaling"], bool):
        errors["auto_scaling"] = ["true or false."]
    if spec.get("auto_scaling") and worker_type is None:
        errors.setdefault("auto_scaling", []).append(
            "Auto scaling needs worker_type/number_of_workers (the maximum)."
        )
    if spec.get("execution_class", "STANDARD") not in EXECUTION_CLASSES:
        errors["execution_class"] = [f"One of {', '.join(EXECUTION_CLASSES)}."]
    max_workers = spec.get("max_workers")
    if max_workers is not None:
        if not _int(max_workers, 1, MAX_WORKERS):
            errors["max_workers"] = [f"An integer from 1 to {MAX_WORKERS}."]
        elif _int(workers, 1, MAX_WORKERS) and max_workers < workers:
            errors["max_workers"] = ["Cannot be below number_of_workers."]
    allowed = spec.get("allowed_worker_types")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(t in WORKER_TYPES for t in allowed):
            errors["allowed_worker_types"] = [f"A list drawn from {', '.join(WORKER_TYPES)}."]
        elif worker_type is not None and worker_type not in allowed:
            errors["allowed_worker_types"] = ["Must include the job's own worker_type."]
    if errors:
        raise CapacityError(errors)
    return spec


def resolve_capacity(job_capacity: Mapping[str, Any], override: Any) -> dict[str, Any]:
    """The capacity a run gets: the job's, changed by `override` within the job's limits.

    Without limits set on the job, a fire may lower the worker count but not raise it,
    nor change the worker type: spending more is a decision made on the job.
    """
    effective = {
        key: job_capacity[key]
        for key in (
            "worker_type",
            "number_of_workers",
            "max_capacity",
            "auto_scaling",
            "execution_class",
        )
        if key in job_capacity
    }
    if not override:
        return effective
    if not isinstance(override, Mapping):
        raise CapacityError({"capacity": ["Expected an object."]})
    errors: dict[str, list[str]] = {}
    if unknown := sorted(set(override) - OVERRIDE_KEYS):
        errors["capacity"] = [
            f"Only {', '.join(sorted(OVERRIDE_KEYS))} can be overridden; not {', '.join(unknown)}."
        ]
    if "max_capacity" in job_capacity and (
        "worker_type" in override or "number_of_workers" in override
    ):
        errors["worker_type"] = ["This job runs on max_capacity DPUs, not on workers."]
    worker_type = override.get("worker_type")
    if worker_type is not None:
        allowed = job_capacity.get("allowed_worker_types") or [job_capacity.get("worker_type")]
        if worker_type not in allowed:
            errors["worker_type"] = [f"This job allows {', '.join(map(str, allowed))}."]
        else:
            effective["worker_type"] = worker_type
    workers = override.get("number_of_workers")
    if workers is not None:
        ceiling = job_capacity.get("max_workers") or job_capacity.get("number_of_workers")
        if ceiling is None:
            errors["number_of_workers"] = ["This job sets no worker count to override."]
        elif not _int(workers, 1, ceiling):
            errors["number_of_workers"] = [f"An integer from 1 to {ceiling} for this job."]
        else:
            effective["number_of_workers"] = workers
    execution_class = override.get("execution_class")
    if execution_class is not None:
        if execution_class not in EXECUTION_CLASSES:
            errors["execution_class"] = [f"One of {', '.join(EXECUTION_CLASSES)}."]
        else:
            effective["execution_class"] = execution_class
    if errors:
        raise CapacityError(errors)
    return effective
