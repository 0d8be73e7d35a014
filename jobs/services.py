"""Writes to jobs, and firing a run (DESIGN.md §3.1).

Interfaces (API, admin, manage.py, tasks) validate input and call one of these
keyword-only services; what happens to a run after it is requested is jobs/runs'.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from diep_portal.celery import enqueue_on_commit
from diep_portal.exceptions import Conflict, PreconditionFailed, Unprocessable, ValidationFailed
from diep_portal.locks import try_transaction_lock
from jobs import cron, selectors, validators
from jobs.engines.glue.capacity import CapacityError, resolve_capacity
from jobs.locations import (
    LOCATION_FIELDS,
    JobLocations,
    job_location_problems,
    location_problems,
    revision_annotation,
)
from jobs.models import Engine, Job, JobRun, JobVersion, MirrorTombstone
from jobs.roles import author_of, may_see_team
from jobs.runs.admission import admit_queued_runs, admit_run
from jobs.runs.arguments import render_arguments
from jobs.specs import job_to_spec, merge_spec_patch, spec_to_model_fields

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser | None

# ------------------------------------------------------------------ jobs


def _name_taken(name: str, *, user: User) -> Conflict:
    """Job names are unique across teams; whether another team uses one is not the
    caller's to learn, so that case gets no confirmation."""
    team = Job.objects.filter(name=name).values_list("team", flat=True).first()
    if team is not None and not may_see_team(_caller(user), team):
        return Conflict(f"The name {name!r} is not available; choose another.")
    return Conflict(f"A job named {name!r} already exists.")


def _check_name_free(name: str, *, user: User) -> None:
    if Job.objects.filter(name=name).exists():
        raise _name_taken(name, user=user)


def _caller(user: User) -> Any:
    """The user whose view applies; None (everything) for internal callers."""
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def job_location_errors(
    *, spec: Mapping[str, Any], user: User, job: Job | None = None
) -> dict[str, list[str]]:
    """Where the spec reads or writes outside its team's grants (jobs.locations), by spec
    path ("source.uri"), in words `user` may read; {} when all is well.

    An existing job is judged again only when where it reads or writes changes (or its
    team): a job that broke a rule before it existed can still be edited or disabled,
    and stays refused on fire until its locations are fixed.
    """
    mine = JobLocations.of_spec(spec)
    if job is not None and dataclasses.replace(JobLocations.of_job(job), name=mine.name) == mine:
        return {}
    return location_problems(
        mine,
        exclude_pk=job.pk if job is not None else None,
        may_name=lambda team: may_see_team(_caller(user), team),
    )


def _check_locations(*, spec: Mapping[str, Any], user: User, job: Job | None = None) -> None:
    if problems := job_location_errors(spec=spec, user=user, job=job):
        nested: dict[str, Any] = {}
        for path, messages in problems.items():
            head, _, tail = path.partition(".")
            nested.setdefault(head, {})[tail] = messages
        raise ValidationFailed.from_fields(nested, "The job reads or writes outside its grants.")


def _snapshot(*, job: Job, user: User, source: str) -> JobVersion:
    version = JobVersion.objects.create(
        job=job,
        version=job.version,
        config=job_to_spec(job),
        changed_by=author_of(user),
        change_source=source,
    )
    job.current_version = version
    Job.objects.filter(pk=job.pk).update(current_version=version)
    return version


@transaction.atomic
def job_create(*, spec: Mapping[str, Any], user: User, source: str) -> Job:
    """Create a job from a validated spec (jobs.specs.JobSpecSerializer) with its version 1.

    Raises Conflict when the name is taken.
    """
    fields = spec_to_model_fields(spec)
    _check_name_free(fields["name"], user=user)
    _check_locations(spec=spec, user=user)
    author = author_of(user)
    try:
        with transaction.atomic():
            job = Job.objects.create(**fields, version=1, created_by=author, updated_by=author)
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise _name_taken(fields["name"], user=user) from exc
    _snapshot(job=job, user=user, source=source)
    _schedule_from_now(job)
    if job.trigger_bucket:
        _notifications_changed()
    logger.info("job.created", extra={"job_id": str(job.job_id), "job_name": job.name})
    return job


@transaction.atomic
def job_update(*, job: Job, spec: Mapping[str, Any], user: User, source: str) -> Job:
    """Replace the job's configuration with a validated full spec.

    A change bumps the version and snapshots it; an identical spec changes nothing.
    Raises Conflict when renaming onto a taken name.
    """
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if job_to_spec(locked) == dict(spec):
        return locked
    fields = spec_to_model_fields(spec)
    if fields["name"] != locked.name:
        _check_name_free(fields["name"], user=user)
    _check_locations(spec=spec, user=user, job=locked)
    previous_slots = locked.max_concurrent_runs
    previous_trigger = _trigger_of(locked)
    previous_schedule = (locked.schedule, locked.timezone, locked.enabled)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_by = author_of(user)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError as exc:
        raise _name_taken(fields["name"], user=user) from exc
    _snapshot(job=locked, user=user, source=source)
    if locked.max_concurrent_runs > previous_slots:
        admit_queued_runs(job=locked)
    if (locked.schedule, locked.timezone, locked.enabled) != previous_schedule:
        _schedule_from_now(locked)
    if _trigger_of(locked) != previous_trigger:
        _notifications_changed()
    logger.info(
        "job.updated",
        extra={"job_id": str(locked.job_id), "job_name": locked.name, "version": locked.version},
    )
    return locked


@transaction.atomic
def job_delete(*, job: Job, user: User, source: str) -> None:
    """Delete a job that never ran (runs are the ledger: disable such jobs instead).

    The DynamoDB mirror learns of it through a tombstone written in this transaction.
    """
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if JobRun.objects.filter(job=locked).exists():
        raise Conflict(f"Job {locked.name!r} has runs, which are kept; disable it instead.")
    MirrorTombstone.objects.create(job_id=locked.job_id, version=locked.version)
    Job.objects.filter(pk=locked.pk).update(current_version=None)
    locked.delete()
    if locked.trigger_bucket:
        _notifications_changed()
    logger.info(
        "job.deleted",
        extra={"job_id": str(locked.job_id), "job_name": locked.name, "source": source},
    )


def _schedule_from_now(job: Job) -> None:
    """A new or changed schedule (or a job enabled again) starts from now: the ticks
    of a disabled job or of its former schedule are not caught up."""
    job.next_fire_at = (
        cron.first_fire_after(job.schedule, tz=job.timezone, after=timezone.now())
        if job.enabled
        else None
    )
    Job.objects.filter(pk=job.pk).update(next_fire_at=job.next_fire_at)


def _trigger_of(job: Job) -> tuple[object, ...]:
    """What a bucket notification carries of a job (disabled jobs have none)."""
    return (job.enabled, job.name, job.trigger_bucket, job.trigger_prefix, job.trigger_suffix)


def _notifications_changed() -> None:
    """With DIEP_AUTO_PROVISION, apply the bucket notifications the triggers now need,
    after commit (provisioning reads the committed jobs)."""
    if settings.DIEP_AUTO_PROVISION:
        enqueue_on_commit("diep.provision_infrastructure", recovered_by="manage.py provision")


@transaction.atomic
def job_patch(
    *,
    job: Job,
    patch: Mapping[str, Any],
    validate: Callable[[dict[str, Any], str], Mapping[str, Any]],
    user: User,
    source: str,
    expected_version: int | None = None,
) -> Job:
    """Apply a partial change (jobs.specs.merge_spec_patch) to the job as it is now.

    The current spec is read under the job's row lock, so two concurrent patches both
    land, the second merged into the first's result. `validate(merged_spec, team)`
    checks the result (the interface's rules: the spec serializer, team moves).
    With `expected_version` (If-Match), a job changed meanwhile raises
    PreconditionFailed and nothing is written.
    """
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            f"Job {locked.name!r} is at version {locked.version}, not {expected_version}: "
            "read it again and reapply the change."
        )
    spec = validate(merge_spec_patch(job_to_spec(locked), patch), locked.team)
    return job_update(job=locked, spec=spec, user=user, source=source)


def job_set_enabled(*, job: Job, enabled: bool, user: User, source: str) -> Job:
    """Enable or disable a job (a new version when it changes)."""
    spec = job_to_spec(job)
    spec["enabled"] = enabled
    return job_update(job=job, spec=spec, user=user, source=source)


# ------------------------------------------------------------------ firing


FIRE_FIELDS = (
    "job_id",
    "name",
    "enabled",
    "engine",
    "parameters",
    "parameters_schema",
    "max_concurrent_runs",
    "current_version",
    "capacity",
    "source_options",  # a bookmarked source gets a bookmark argument
    "glue_job_name",
    *LOCATION_FIELDS,
)


def job_run_refusals(job: Job) -> list[str]:
    """Why the job may not run as it is (rules it broke before they existed, or grants
    withdrawn since): data locations, a Glue job DIEP does not own."""
    refusals = job_location_problems(job)
    if job.engine == Engine.GLUE and job.glue_job_name not in settings.DIEP_GLUE_JOB_NAMES:
        refusals.append(f"Glue job {job.glue_job_name!r} is not one DIEP_GLUE_JOB_NAMES lists.")
    return refusals


@dataclass(frozen=True)
class FireResult:
    run: JobRun
    created: bool


def request_fingerprint(parameters: Mapping[str, Any], capacity: Mapping[str, Any]) -> str:
    """Identity of a fire request's body, to tell a replay from a different request."""
    body = {"parameters": parameters, "capacity": capacity}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _bookmark(job: Job, manifest_uri: str | None) -> datetime | None:
    """Where a bookmarked source's run starts reading (an event run reads its manifest)."""
    if not job.source_options.get("bookmark") or manifest_uri:
        return None
    bookmark = selectors.job_bookmark(job)
    return datetime.fromisoformat(bookmark) if bookmark else None


def _try_idempotency_lock(job: Job, key: str) -> bool:
    """Serialise requests sharing an Idempotency-Key; False if another one is in flight.

    Transaction-scoped: released at commit, so a retry after the first request
    finished gets its run instead of a 409.
    """
    return try_transaction_lock(f"idempotency:{job.pk}:{key}")


def _check_parameters(job: Job, overrides: Mapping[str, Any]) -> dict[str, str]:
    try:
        cleaned = validators.clean_parameters(dict(overrides))
    except DjangoValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"parameters": exc.messages}
        raise ValidationFailed.from_fields({"parameters": fields}) from exc
    if errors := validators.schema_errors(job.parameters_schema, cleaned):
        raise ValidationFailed.from_fields({"parameters": errors})
    return cleaned


@transaction.atomic
def job_fire(
    *,
    job: Job,
    parameters: Mapping[str, Any] | None,
    trigger: str,
    user: User = None,
    idempotency_key: str | None = None,
    capacity_override: Mapping[str, Any] | None = None,
    manifest_uri: str | None = None,
) -> FireResult:
    """Request a run of `job` with fire-time parameter (and capacity) overrides.

    The run is created in one transaction and `jobs.run_start` is enqueued after the
    commit. With an idempotency key, a replay returns the first run (created=False);
    the same key with different parameters raises Unprocessable, and while the first
    request is still in flight, Conflict. A disabled job raises Conflict. Past
    max_concurrent_runs the run waits in QUEUED and starts in FIFO order.
    `manifest_uri` names the files of an event run (etl.contract.Manifest).
    """
    return _fire(
        job=job,
        parameters=parameters,
        trigger=trigger,
        user=user,
        idempotency_key=idempotency_key,
        capacity_override=capacity_override,
        manifest_uri=manifest_uri,
    )


@transaction.atomic
def job_fire_by_ref(
    ref: str, *, user: User, idempotency_key: str | None = None, **request: Any
) -> FireResult:
    """`job_fire` for a caller holding only a reference (the API), as `user` sees it:
    NotFound for a job they may not see; `request` as job_fire takes it. Without a key
    the job is read once, with its row lock, on the hot path of every service calling
    DIEP; with one, the key's lock comes first, so a replay in flight gets its Conflict
    at once rather than waiting for the job row."""
    locked = idempotency_key is None
    job = selectors.job_get(
        ref,
        user=user,
        fields=FIRE_FIELDS,
        for_update=locked,
        annotate=revision_annotation() if locked else None,
    )
    return _fire(job=job, user=user, idempotency_key=idempotency_key, locked=locked, **request)


def _fire(
    *,
    job: Job,
    parameters: Mapping[str, Any] | None,
    trigger: str,
    user: User,
    idempotency_key: str | None,
    capacity_override: Mapping[str, Any] | None = None,
    manifest_uri: str | None = None,
    locked: bool = False,
) -> FireResult:
    """job_fire's body, in the caller's transaction; `locked`: `job` was read with
    FIRE_FIELDS and its row lock in this transaction."""
    overrides = _check_parameters(job, parameters or {})
    fingerprint = request_fingerprint(overrides, capacity_override or {})
    if idempotency_key:
        if not _try_idempotency_lock(job, idempotency_key):
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        existing = JobRun.objects.filter(job=job, idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise Unprocessable(
                    "This Idempotency-Key was already used with a different request body."
                )
            return FireResult(run=existing, created=False)

    # The row lock serialises admission per job; only what firing reads is fetched.
    locked_job = (
        job
        if locked
        else Job.objects.select_for_update()
        .only(*FIRE_FIELDS)
        .annotate(**revision_annotation())
        .get(pk=job.pk)
    )
    if not locked_job.enabled:
        raise Conflict(f"Job {locked_job.name!r} is disabled.")
    if problems := job_run_refusals(locked_job):
        raise Conflict(f"Job {locked_job.name!r} cannot run: {' '.join(problems)}")
    merged = {**locked_job.parameters, **overrides}
    if errors := validators.schema_errors(locked_job.parameters_schema, merged):
        raise ValidationFailed.from_fields({"parameters": errors})
    try:
        run_capacity = resolve_capacity(locked_job.capacity, capacity_override)
    except CapacityError as exc:
        raise ValidationFailed.from_fields({"capacity": exc.errors}) from exc
    run_id = uuid.uuid4()
    run = admit_run(
        job=locked_job,
        run_id=run_id,
        job_version_id=locked_job.current_version_id,
        trigger=trigger,
        requested_by=author_of(user),
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        parameters=merged,
        capacity=run_capacity,
        arguments=render_arguments(
            job=locked_job,
            run_id=run_id,
            parameters=merged,
            manifest_uri=manifest_uri,
            bookmark=_bookmark(locked_job, manifest_uri),
        ),
        actor=author_of(user),
        source=trigger,
    )
    return FireResult(run=run, created=True)
