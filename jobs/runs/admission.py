"""Admission: a new run takes a free concurrency slot (PENDING, start enqueued) or waits
in QUEUED, first in first out; a run that ends frees its slot for the next one."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model

from diep_portal.celery import enqueue_on_commit
from diep_portal.exceptions import Conflict
from jobs import selectors
from jobs.models import SLOT_STATES, Job, JobRun, RunEvent, RunState
from jobs.runs.state import RunEnded, transition_run

logger = logging.getLogger(__name__)


def admit_run(
    *,
    job: Job,
    actor: AuthUser | None,
    source: str,
    not_before: datetime | None = None,
    **fields: Any,
) -> JobRun:
    """Create a run as PENDING if the job has a free slot (and nobody due is queued before
    it), else QUEUED; with `not_before`, QUEUED until then. The caller holds the job lock."""
    if not_before is not None:
        fields["next_attempt_at"] = not_before
    run = JobRun(job=job, engine=job.engine, **fields)
    event = RunEvent(run=run, from_state="", source=source, actor=actor)
    waiting = (
        f"waiting until {not_before:%Y-%m-%d %H:%M:%S} UTC"
        if not_before is not None
        else f"waiting for one of {job.max_concurrent_runs} slot(s)"
    )
    insert = _insert_fused if connection.vendor == "postgresql" else _insert_each
    if not fields.get("idempotency_key"):
        insert(run, event, queued=not_before is not None, waiting=waiting)
    else:
        try:
            with transaction.atomic():
                insert(run, event, queued=not_before is not None, waiting=waiting)
        except IntegrityError:
            # The same key committed between our check and this insert (SQLite path).
            raise Conflict(
                "A request with this Idempotency-Key was just processed; retry."
            ) from None
    if run.state == RunState.PENDING:
        enqueue_start(run)
    logger.info(
        "run.requested",
        extra={"job_id": str(job.job_id), "run_id": str(run.run_id), "state": run.state},
    )
    return run


def _insert_each(run: JobRun, event: RunEvent, *, queued: bool, waiting: str) -> None:
    has_slot = not queued and selectors.job_has_free_slot(run.job)
    run.state = RunState.PENDING if has_slot else RunState.QUEUED
    run.save(force_insert=True)
    event.run, event.to_state, event.message = run, run.state, "" if has_slot else waiting
    event.save(force_insert=True)


def _insert_fused(run: JobRun, event: RunEvent, *, queued: bool, waiting: str) -> None:
    """`_insert_each` in one statement (PostgreSQL's data-modifying CTEs): the slot
    decision, the run and its first event. Firing is the portal's hottest write, and the
    round trips were most of its cost. Runs after the job lock was taken, so its snapshot
    sees every run committed before (a decision inside the locking statement would not)."""
    slot_sql, slot_params = ("FALSE", []) if queued else selectors.free_slot_sql(run.job)
    run_columns, run_values, run_params = _insert_columns(run, exclude=frozenset({"id", "state"}))
    event_columns, event_values, event_params = _insert_columns(
        event, exclude=frozenset({"id", "run", "to_state", "message"})
    )
    pending, waits = RunState.PENDING.value, RunState.QUEUED.value
    sql = (
        f"WITH slot AS (SELECT {slot_sql} AS free), "  # noqa: S608 - names from the models
        f"run AS (INSERT INTO {JobRun._meta.db_table} ({run_columns}, state) "
        f"SELECT {run_values}, CASE WHEN slot.free THEN %s ELSE %s END FROM slot "
        f"RETURNING id, state), "
        f"event AS (INSERT INTO {RunEvent._meta.db_table} "
        f"({event_columns}, run_id, to_state, message) "
        f"SELECT {event_values}, run.id, run.state, "
        f"CASE WHEN run.state = %s THEN '' ELSE %s END FROM run) "
        f"SELECT id, state FROM run"
    )
    params = [*slot_params, *run_params, pending, waits, *event_params, pending, waiting]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        run.pk, run.state = cursor.fetchone()
    run._state.adding = False
    run._state.db = connection.alias
    event.run, event.to_state = run, run.state
    event.message = "" if run.state == RunState.PENDING else waiting


def _insert_columns(obj: Model, *, exclude: frozenset[str]) -> tuple[str, str, list[Any]]:
    """(column list, placeholders, parameters) of an unsaved model instance, converted
    as Model.save would (defaults, auto_now_add, JSON, UUIDs)."""
    fields, columns, placeholders = _insert_shape(type(obj), exclude)
    params = [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields]
    return columns, placeholders, params


@functools.cache
def _insert_shape(model: Any, exclude: frozenset[str]) -> tuple[list[Field], str, str]:
    fields = [field for field in model._meta.concrete_fields if field.name not in exclude]
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    placeholders = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields)
    return fields, columns, placeholders


def enqueue_start(run: JobRun) -> None:
    """Wake a run worker for this PENDING run once the transaction commits."""
    enqueue_on_commit("jobs.run_start", str(run.run_id), recovered_by="jobs.recover_stale_starts")


def enqueue_stop(run: JobRun) -> None:
    """Wake a run worker to ask the engine to stop this STOPPING run, after commit."""
    enqueue_on_commit("jobs.run_stop", str(run.run_id), recovered_by="jobs.recover_stale_starts")


def start_again(run: JobRun, *, message: str) -> bool:
    """Give a claimed run whose start was lost (STARTING) back to PENDING and send its
    start again; False if it had moved on meanwhile."""
    if transition_run(
        run=run,
        to=RunState.PENDING,
        source="recovery",
        from_states={RunState.STARTING},
        message=message,
    ):
        enqueue_start(run)
        return True
    return False


def admit_queued_runs(*, job: Job) -> list[JobRun]:
    """Promote the oldest QUEUED runs into free slots. The caller holds the job row lock."""
    free = job.max_concurrent_runs - selectors.job_slot_count(job)
    promoted = []
    for run in selectors.job_due_queued_runs(job)[: max(free, 0)]:
        if transition_run(run=run, to=RunState.PENDING, source="scheduler", message="slot freed"):
            enqueue_start(run)
            promoted.append(run)
    return promoted


def admit_after_run_ended(event: RunEnded) -> None:
    """Run-ended listener: a run that held (or waited for) a slot lets the next one in."""
    if event.from_state in SLOT_STATES | {RunState.QUEUED}:
        job = Job.objects.select_for_update().get(pk=event.run.job_id)
        admit_queued_runs(job=job)


def admit_due_queued_runs() -> int:
    """Start QUEUED runs whose backoff is over, where their job has a free slot."""
    admitted = 0
    for job in list(selectors.jobs_with_due_queued_runs()):
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            admitted += len(admit_queued_runs(job=locked))
    return admitted
