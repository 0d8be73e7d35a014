"""Glue steps: the default Glue job, with the whole definition from settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diep_portal.aws.glue import (
    glue_create_job_from_definition,
    glue_get_job_definition,
    glue_update_job,
)
from diep_portal.aws.provision.resources import Change, GlueJob
from diep_portal.aws.provision.steps import Step, noop


def glue_job_step(job: GlueJob) -> Step:
    """The job with its definition: created, updated (UpdateJob overwrites it all) or
    left alone."""
    definition = job.definition()
    # The raw definition, not glue_get_job: its GlueJobInfo lacks Timeout, MaxRetries
    # and the Command name/Python version, which an UpdateJob must get right.
    current = glue_get_job_definition(job_name=job.name)
    if current is None:
        return Step(
            Change(
                "glue-job",
                job.name,
                "create",
                f"{job.worker_type} x{job.number_of_workers}, Glue {job.glue_version}, "
                f"script {job.script_location}",
            ),
            lambda: glue_create_job_from_definition(job_name=job.name, definition=definition),
        )
    differences = _glue_differences(current, definition)
    if not differences:
        return Step(Change("glue-job", job.name, "unchanged", "definition matches"), noop)
    return Step(
        Change("glue-job", job.name, "update", "differs in " + ", ".join(differences)),
        lambda: glue_update_job(job_name=job.name, definition=definition),
    )


def _compared_fields(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a job definition DIEP sets, flattened, for comparing."""
    command = definition.get("Command", {})
    return {
        "Role": definition.get("Role"),
        "Command.Name": command.get("Name"),
        "Command.ScriptLocation": command.get("ScriptLocation"),
        "Command.PythonVersion": command.get("PythonVersion"),
        "DefaultArguments": dict(definition.get("DefaultArguments") or {}),
        "GlueVersion": definition.get("GlueVersion"),
        "WorkerType": definition.get("WorkerType"),
        "NumberOfWorkers": definition.get("NumberOfWorkers"),
        "ExecutionProperty.MaxConcurrentRuns": definition.get("ExecutionProperty", {}).get(
            "MaxConcurrentRuns"
        ),
        "Timeout": definition.get("Timeout"),
        "MaxRetries": definition.get("MaxRetries"),
    }


def _glue_differences(current: Mapping[str, Any], definition: Mapping[str, Any]) -> list[str]:
    """The fields where the job in Glue differs from `definition`, for humans."""
    have, want = _compared_fields(current), _compared_fields(definition)
    differences = []
    for name, value in want.items():
        if have[name] == value:
            continue
        if name == "DefaultArguments":
            keys = sorted(
                k for k in set(have[name]) | set(value) if have[name].get(k) != value.get(k)
            )
            differences.append(f"DefaultArguments ({', '.join(keys)})")
        else:
            differences.append(f"{name} ({have[name]!r} → {value!r})")
    return differences
