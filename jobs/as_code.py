"""Jobs as code: a folder of job files (YAML or JSON, each the POST /create_job/ body)
compared with the database, then applied. `manage.py apply_jobs` and `export_jobs`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from diep_portal.exceptions import Conflict
from diep_portal.parsers import load_document
from jobs import services
from jobs.models import Job
from jobs.specs import JobSpecSerializer, error_lines, job_to_spec, spec_diff
from jobs.triggers import missing_bucket_warnings, trigger_overlap_warnings

JOB_FILE_SUFFIXES = (".yaml", ".yml", ".json")


class JobFilesInvalid(ValueError):
    """Some files are unreadable or invalid; `errors` maps each file to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


@dataclass
class JobChange:
    name: str
    action: str  # create | update | unchanged | delete | keep (not described, no --prune)
    source: str = ""  # the file describing it
    diff: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict, repr=False)


def read_job_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Every job file under `folder` (recursively), validated: {file: spec}. Raises
    JobFilesInvalid naming every bad file (nothing is half-read)."""
    if not folder.is_dir():
        raise JobFilesInvalid({str(folder): ["Not a folder."]})
    specs: dict[str, dict[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix in JOB_FILE_SUFFIXES):
        label = str(path.relative_to(folder))
        try:
            text = path.read_text(encoding="utf-8")
            body = load_document(text, as_yaml=path.suffix != ".json")
        except (OSError, ValueError) as exc:
            errors[label] = [f"Unreadable: {exc}"]
            continue
        serializer = JobSpecSerializer(data=body)
        if not serializer.is_valid():
            errors[label] = error_lines(serializer.errors)
            continue
        spec = json.loads(json.dumps(serializer.validated_data))  # plain, comparable data
        if spec["name"] in names:
            errors[label] = [f"Job {spec['name']!r} is also described in {names[spec['name']]}."]
            continue
        names[spec["name"]] = label
        specs[label] = spec
    if errors:
        raise JobFilesInvalid(errors)
    return specs


def plan_jobs(specs: dict[str, dict[str, Any]], *, prune: bool) -> list[JobChange]:
    """What applying the specs would do, job by job, with field-level diffs."""
    existing = {job.name: job for job in Job.objects.all()}
    plan = []
    for source, spec in specs.items():
        job = existing.pop(spec["name"], None)
        if job is None:
            plan.append(JobChange(spec["name"], "create", source, spec=spec))
            continue
        current = json.loads(json.dumps(job_to_spec(job)))
        diff = [
            f"{c.path}: {json.dumps(c.as_dict()['before'])} → {json.dumps(c.as_dict()['after'])}"
            for c in spec_diff(current, spec)
        ]
        plan.append(JobChange(spec["name"], "update" if diff else "unchanged", source, diff, spec))
    for name in sorted(existing):
        plan.append(JobChange(name, "delete" if prune else "keep"))
    return plan


def apply_jobs(plan: Iterable[JobChange], *, user: Any = None) -> list[str]:
    """Carry out a plan in one transaction. A job to prune that has runs (the ledger
    keeps them) is disabled instead; returns such notes, then the saved jobs' trigger
    warnings (S3 is asked after the commit, once per bucket, not with rows locked)."""
    with transaction.atomic():
        notes, saved = _apply(plan, user=user)
    missing = missing_bucket_warnings(job.trigger_bucket for job in saved)
    for job in saved:
        warnings = missing.get(job.trigger_bucket, []) + trigger_overlap_warnings(job, user=user)
        notes.extend(f"{job.name}: warning: {warning}" for warning in warnings)
    return notes


def _apply(plan: Iterable[JobChange], *, user: Any) -> tuple[list[str], list[Job]]:
    notes: list[str] = []
    saved: list[Job] = []
    for change in plan:
        if change.action == "create":
            saved.append(services.job_create(spec=change.spec, user=user, source="code"))
        elif change.action == "update":
            job = Job.objects.get(name=change.name)
            saved.append(services.job_update(job=job, spec=change.spec, user=user, source="code"))
        elif change.action == "delete":
            notes.extend(_prune(Job.objects.get(name=change.name), user=user))
    return notes, saved


def _prune(job: Job, *, user: Any) -> list[str]:
    """Delete a job no file describes; one with runs (the ledger keeps them) is disabled."""
    try:
        services.job_delete(job=job, user=user, source="code")
    except Conflict:
        if job.enabled:
            services.job_set_enabled(job=job, enabled=False, user=user, source="code")
        return [f"{job.name} has runs, which are kept: disabled instead."]
    return []


def export_jobs(folder: Path) -> list[Path]:
    """Write each job as `<name>.yaml` (the create_job body), the format apply_jobs reads."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for job in Job.objects.order_by("name"):
        path = folder / f"{job.name}.yaml"
        spec = json.loads(json.dumps(job_to_spec(job)))
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written
