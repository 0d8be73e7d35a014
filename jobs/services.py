"""Every write to jobs and runs goes through here (DESIGN.md §3.1).

Interfaces (API, admin, manage.py, tasks) validate input and call one of these
keyword-only services; nothing else touches the ledger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from diep_portal.celery import enqueue_on_commit
from diep_portal.exceptions import (
    ConcurrencyLimitExceeded,
    Conflict,
    PermanentAwsError,
    TransientAwsError,
    Unprocessable,
    ValidationFailed,
)
from diep_portal.locks import try_transaction_lock
from jobs import schedules, selectors, validators
from jobs.alerts import alert_for_run
from jobs.capacity import CapacityError, resolve_capacity
from jobs.engines.base import EngineUnavailable, get_engine
from jobs.models import (
    RETRYABLE_STATES,
    SLOT_STATES,
    TERMINAL_STATES,
    Job,
    JobRun,
    JobVersion,
    MirrorTombstone,
    RunEvent,
    RunState,
    Trigger,
)
from jobs.specs import job_to_spec, spec_to_model_fields

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser | None

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


def _user_or_none(user: User) -> AuthUser | None:
    """The user to record as author, or None for anonymous and system actions."""
    return user if isinstance(user, AuthUser) and user.is_authenticated else None


# ------------------------------------------------------------------ jobs


def _snapshot(*, job: Job, user: User, source: str) -> JobVersion:
    version = JobVersion.objects.create(
        job=job,
        version=job.version,
        config=job_to_spec(job),
        changed_by=_user_or_none(user),
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
    if Job.objects.filter(name=fields["name"]).exists():
        raise Conflict(f"A job named {fields['name']!r} already exists.")
    author = _user_or_none(user)
    try:
        with transaction.atomic():
            job = Job.objects.create(**fields, version=1, created_by=author, updated_by=author)
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise Conflict(f"A job named {fields['name']!r} already exists.") from exc
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
    if fields["name"] != locked.name and Job.objects.filter(name=fields["name"]).exists():
        raise Conflict(f"A job named {fields['name']!r} already exists.")
    previous_slots = locked.max_concurrent_runs
    previous_trigger = _trigger_of(locked)
    previous_schedule = (locked.schedule, locked.timezone, locked.enabled)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.updated_by = _user_or_none(user)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError as exc:
        raise Conflict(f"A job named {fields['name']!r} already exists.") from exc
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
        schedules.first_fire_after(job.schedule, tz=job.timezone, after=timezone.now())
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
        from jobs.tasks import provision_infrastructure

        enqueue_on_commit(provision_infrastructure, recovered_by="manage.py provision")


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
    "source_options",  # a bookmarked source gets --diep_bookmark
)


@dataclass(frozen=True)
class FireResult:
    run: JobRun
    created: bool


def request_fingerprint(parameters: Mapping[str, Any], capacity: Mapping[str, Any]) -> str:
    """Identity of a fire request's body, to tell a replay from a different request."""
    body = {"parameters": parameters, "capacity": capacity}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_arguments(
    *, job: Job, run_id: uuid.UUID, parameters: Mapping[str, str]
) -> dict[str, str]:
    """The exact arguments the engine receives: `--name` for every parameter, plus ours."""
    arguments = {f"--{name}": value for name, value in sorted(parameters.items())}
    arguments["--diep_run_id"] = str(run_id)
    arguments["--diep_job_id"] = str(job.job_id)
    return arguments


def _bookmark_argument(job: Job, internal: Mapping[str, str] | None) -> dict[str, str]:
    if not job.source_options.get("bookmark") or (internal and "--diep_manifest" in internal):
        return {}
    bookmark = selectors.job_bookmark(job)
    return {"--diep_bookmark": bookmark} if bookmark else {}


_PER_RUN_ARGUMENTS = frozenset({"--diep_run_id", "--diep_job_id"})


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
    internal_arguments: Mapping[str, str] | None = None,
) -> FireResult:
    """Request a run of `job` with fire-time parameter (and capacity) overrides.

    The run is created in one transaction and `jobs.run_start` is enqueued after the
    commit. With an idempotency key, a replay returns the first run (created=False);
    the same key with different parameters raises Unprocessable, and while the first
    request is still in flight, Conflict. A disabled job raises Conflict. Past
    max_concurrent_runs the run waits in QUEUED and starts in FIFO order.
    `internal_arguments` are DIEP's own `--diep_*` arguments (e.g. the manifest).
    """
    if internal_arguments and not all(k.startswith("--diep_") for k in internal_arguments):
        raise ValueError("internal arguments must be --diep_* names")
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
    locked = Job.objects.select_for_update().only(*FIRE_FIELDS).get(pk=job.pk)
    if not locked.enabled:
        raise Conflict(f"Job {locked.name!r} is disabled.")
    merged = {**locked.parameters, **overrides}
    if errors := validators.schema_errors(locked.parameters_schema, merged):
        raise ValidationFailed.from_fields({"parameters": errors})
    try:
        run_capacity = resolve_capacity(locked.capacity, capacity_override)
    except CapacityError as exc:
        raise ValidationFailed.from_fields({"capacity": exc.errors}) from exc
    run_id = uuid.uuid4()
    run = _admit_run(
        job=locked,
        run_id=run_id,
        job_version_id=locked.current_version_id,
        trigger=trigger,
        requested_by=_user_or_none(user),
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
        parameters=merged,
        capacity=run_capacity,
        arguments={
            **render_arguments(job=locked, run_id=run_id, parameters=merged),
            **_bookmark_argument(locked, internal_arguments),
            **(internal_arguments or {}),
        },
        actor=_user_or_none(user),
        source=trigger,
    )
    return FireResult(run=run, created=True)


def _admit_run(
    *,
    job: Job,
    actor: AuthUser | None,
    source: str,
    not_before: datetime | None = None,
    **fields: Any,
) -> JobRun:
    """Create a run as PENDING if the job has a free slot (and nobody due is queued before
    it), else QUEUED; with `not_before`, QUEUED until then. The caller holds the job lock."""
    has_slot = not_before is None and selectors.job_has_free_slot(job)
    state = RunState.PENDING if has_slot else RunState.QUEUED
    if not_before is not None:
        fields["next_attempt_at"] = not_before
    if not fields.get("idempotency_key"):
        run = JobRun.objects.create(job=job, engine=job.engine, state=state, **fields)
    else:
        try:
            with transaction.atomic():
                run = JobRun.objects.create(job=job, engine=job.engine, state=state, **fields)
        except IntegrityError:
            # The same key committed between our check and this insert (SQLite path).
            raise Conflict(
                "A request with this Idempotency-Key was just processed; retry."
            ) from None
    if has_slot:
        message = ""
    elif not_before is not None:
        message = f"waiting until {not_before:%Y-%m-%d %H:%M:%S} UTC"
    else:
        message = f"waiting for one of {job.max_concurrent_runs} slot(s)"
    RunEvent.objects.create(
        run=run, from_state="", to_state=state, source=source, actor=actor, message=message
    )
    if state == RunState.PENDING:
        enqueue_start(run)
    logger.info(
        "run.requested",
        extra={"job_id": str(job.job_id), "run_id": str(run.run_id), "state": state},
    )
    return run


def enqueue_start(run: JobRun) -> None:
    from jobs.tasks import run_start as run_start_task

    enqueue_on_commit(run_start_task, str(run.run_id), recovered_by="jobs.recover_stale_starts")


def enqueue_stop(run: JobRun) -> None:
    from jobs.tasks import run_stop as run_stop_task

    enqueue_on_commit(run_stop_task, str(run.run_id), recovered_by="jobs.recover_stale_starts")


def admit_queued_runs(*, job: Job) -> list[JobRun]:
    """Promote the oldest QUEUED runs into free slots. The caller holds the job row lock."""
    free = job.max_concurrent_runs - selectors.job_slot_count(job)
    promoted = []
    for run in selectors.job_due_queued_runs(job)[: max(free, 0)]:
        if transition_run(run=run, to=RunState.PENDING, source="scheduler", message="slot freed"):
            enqueue_start(run)
            promoted.append(run)
    return promoted


# ------------------------------------------------------------------ transitions


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
    first, and the caller must not act. Terminal states free a slot for queued runs.
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
            from ingestion.services import files_follow_run

            files_follow_run(run=run)
            alert_for_run(run)
        if to in TERMINAL_STATES and current in SLOT_STATES | {RunState.QUEUED}:
            job = Job.objects.select_for_update().get(pk=run.job_id)
            admit_queued_runs(job=job)
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


def _start_backoff(attempt: int) -> timedelta:
    base, cap = settings.DIEP_ADMISSION_BACKOFF_SECONDS, settings.DIEP_ADMISSION_BACKOFF_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** max(attempt - 1, 0)))


def run_start(*, run_id: str | uuid.UUID, last_attempt: bool) -> None:
    """Claim a PENDING run and hand it to its engine (the `jobs.run_start` task body).

    The claim (PENDING → STARTING) happens before any AWS call, so a duplicate task
    finds nothing to do. A run claimed before (its earlier start may have reached the
    engine, e.g. a timeout while waiting for StartJobRun's answer) is first looked up
    in the engine by its run id and adopted rather than started twice. A full Glue
    concurrency limit puts the run back in QUEUED with backoff, never FAILED. Other
    transient AWS errors give the run back to PENDING and re-raise for the task's
    bounded retry; on the last attempt, or on a permanent error, the run fails with
    the AWS message.
    """
    run = JobRun.objects.select_related("job").filter(run_id=run_id).first()
    if run is None:
        logger.warning("run.start_unknown", extra={"run_id": str(run_id)})
        return
    claimed_before = run.start_attempts > 0
    if not transition_run(
        run=run,
        to=RunState.STARTING,
        from_states={RunState.PENDING},
        source="worker",
        started_at=timezone.now(),
        start_attempts=run.start_attempts + 1,
    ):
        logger.info("run.start_skipped", extra={"run_id": str(run_id), "state": run.state})
        return
    try:
        engine = get_engine(run.engine)
        started = (engine.find(run) if claimed_before else None) or engine.start(run)
    except EngineUnavailable as exc:
        transition_run(
            run=run, to=RunState.ERROR, source="worker", message=str(exc), error_message=str(exc)
        )
        return
    except ConcurrencyLimitExceeded as exc:
        retry_at = timezone.now() + _start_backoff(run.start_attempts)
        transition_run(
            run=run,
            to=RunState.QUEUED,
            source="worker",
            next_attempt_at=retry_at,
            message=f"engine concurrency limit reached, retrying after "
            f"{retry_at:%H:%M:%S} UTC: {exc.message}",
        )
        return
    except TransientAwsError as exc:
        if last_attempt:
            transition_run(
                run=run,
                to=RunState.FAILED,
                source="worker",
                message=f"gave up after retries: {exc}",
                error_message=str(exc),
            )
            return
        transition_run(run=run, to=RunState.PENDING, source="worker", message=f"will retry: {exc}")
        raise
    except PermanentAwsError as exc:
        transition_run(
            run=run, to=RunState.FAILED, source="worker", message=str(exc), error_message=str(exc)
        )
        return
    # Saved before anything else can fail, so the external run is never orphaned.
    JobRun.objects.filter(pk=run.pk).update(
        external_run_id=started.external_run_id,
        logs_url=started.logs_url,
        revision=F("revision") + 1,
        updated_at=timezone.now(),
    )
    logger.info(
        "run.started",
        extra={
            "run_id": str(run.run_id),
            "job_id": str(run.job.job_id),
            "glue_run_id": started.external_run_id,
            "adopted": started.adopted,
        },
    )


# ------------------------------------------------------------------ stop and retry


def run_stop(*, run: JobRun, user: User, source: str) -> JobRun:
    """Stop a run. Not yet started → STOPPED at once; started → STOPPING, and the
    engine is asked to stop it after commit. A finished run raises Conflict."""
    actor = _user_or_none(user)
    with transaction.atomic():
        if transition_run(
            run=run,
            to=RunState.STOPPED,
            source=source,
            actor=actor,
            from_states={RunState.QUEUED, RunState.PENDING},
            message="stopped before it started",
        ):
            return run
        if transition_run(
            run=run,
            to=RunState.STOPPING,
            source=source,
            actor=actor,
            from_states={RunState.STARTING, RunState.RUNNING},
            message="stop requested",
        ):
            enqueue_stop(run)
            return run
    run.refresh_from_db()
    if run.state == RunState.STOPPING:
        return run
    raise Conflict(f"Run {run.run_id} is already {run.state}.")


class StopNotReady(Exception):
    """The run has no external id yet: its start is still in progress."""


def run_stop_engine(*, run_id: str | uuid.UUID) -> None:
    """Ask the engine to stop a STOPPING run (the `jobs.run_stop` task body)."""
    run = JobRun.objects.select_related("job").filter(run_id=run_id).first()
    if run is None or run.state != RunState.STOPPING:
        return
    if not run.external_run_id:
        raise StopNotReady(str(run_id))
    get_engine(run.engine).stop(run)


def run_retry(
    *, run: JobRun, user: User, source: str, not_before: datetime | None = None
) -> JobRun:
    """Start a new attempt of a finished, unsuccessful run with the same version and
    parameters (`retry_of` links them), at once or QUEUED until `not_before`.
    Raises Conflict for other states."""
    if run.state not in RETRYABLE_STATES:
        raise Conflict(
            f"Only failed, timed-out, errored or stopped runs can be retried; "
            f"run {run.run_id} is {run.state}."
        )
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=run.job_id)
        run_id = uuid.uuid4()
        retry = _admit_run(
            job=job,
            run_id=run_id,
            job_version=run.job_version,
            trigger=Trigger.RETRY,
            requested_by=_user_or_none(user),
            request_fingerprint=run.request_fingerprint,
            parameters=run.parameters,
            capacity=run.capacity,
            arguments={
                **render_arguments(job=job, run_id=run_id, parameters=run.parameters),
                # The same input: an event run's manifest, a bookmark.
                **{
                    name: value
                    for name, value in run.arguments.items()
                    if name.startswith("--diep_") and name not in _PER_RUN_ARGUMENTS
                },
            },
            attempt=run.attempt + 1,
            retry_of=run,
            not_before=not_before,
            actor=_user_or_none(user),
            source=source,
        )
        from ingestion.services import files_follow_retry

        files_follow_retry(run=run, retry=retry)
        return retry
