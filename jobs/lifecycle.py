"""Tracking runs to their end: Glue states pushed (EventBridge) or polled, timeouts,
automatic retries, admission of queued runs, and recovery of interrupted starts.

Every change goes through services.transition_run, so it is monotonic and writes a
RunEvent. Each function here is safe to run twice at once (Beat may overlap).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from diep_portal.aws.glue import GlueJobRun, glue_batch_stop_job_run, glue_get_job_runs
from diep_portal.exceptions import AwsError
from jobs import selectors, services
from jobs.engines.base import EngineUnavailable, get_engine
from jobs.engines.glue import GlueEngine
from jobs.models import TERMINAL_STATES, Alert, Engine, Job, JobRun, RunState

logger = logging.getLogger(__name__)

# Every Glue JobRunState, mapped explicitly. Unknown states are logged and ignored.
GLUE_STATES: dict[str, str] = {
    "STARTING": RunState.STARTING,
    # Accepted, waiting for capacity (Flex, or account limits): not running yet.
    "WAITING": RunState.STARTING,
    "RUNNING": RunState.RUNNING,
    "STOPPING": RunState.STOPPING,
    "STOPPED": RunState.STOPPED,
    "SUCCEEDED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "ERROR": RunState.ERROR,
    "TIMEOUT": RunState.TIMEOUT,
    # Glue gave up waiting to schedule the run (Flex): it ran out of time.
    "EXPIRED": RunState.TIMEOUT,
}
TRACKED_STATES = (RunState.STARTING, RunState.RUNNING, RunState.STOPPING)
AUTO_RETRY_STATES = frozenset({RunState.FAILED, RunState.TIMEOUT, RunState.ERROR})


@dataclass(frozen=True)
class GlueObservation:
    """What Glue says about one run, from a poll or an EventBridge event."""

    job_run_id: str
    state: str
    error_message: str | None = None
    execution_seconds: int | None = None
    dpu_seconds: float | None = None

    @classmethod
    def from_job_run(cls, glue_run: GlueJobRun) -> GlueObservation:
        return cls(
            job_run_id=glue_run.job_run_id,
            state=glue_run.state,
            error_message=glue_run.error_message,
            execution_seconds=glue_run.execution_time_seconds,
            dpu_seconds=glue_run.dpu_seconds,
        )


def run_sync_state(*, run: JobRun, observed: GlueObservation, source: str) -> bool:
    """Apply what Glue reports to the run; True if the run changed state.

    Late or duplicate reports never move a run backwards (transition rules). A run
    DIEP stopped for running past its timeout ends TIMEOUT, not STOPPED. Failed,
    timed-out and errored runs with attempts left get a retry after backoff.
    """
    target = GLUE_STATES.get(observed.state)
    if target is None:
        logger.warning(
            "run.unknown_glue_state",
            extra={"run_id": str(run.run_id), "glue_state": observed.state},
        )
        return False
    if target == RunState.STOPPED and run.stop_reason == "timeout":
        target = RunState.TIMEOUT
    details: dict[str, Any] = {"glue_state": observed.state}
    if target in {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.ERROR,
        RunState.TIMEOUT,
        RunState.STOPPED,
    }:
        if observed.error_message:
            details["error_message"] = observed.error_message[:10_000]
        if observed.execution_seconds is not None:
            details["execution_seconds"] = observed.execution_seconds
        if observed.dpu_seconds is not None:
            details["dpu_seconds"] = observed.dpu_seconds
    if run.state == target:
        # Same state: only fill in details a terser report left out (events carry no cost).
        missing = {k: v for k, v in details.items() if getattr(run, k) in (None, "")}
        if missing:
            JobRun.objects.filter(pk=run.pk, state=target).update(
                **missing, revision=F("revision") + 1
            )
        return False
    message = f"Glue {observed.state}"
    if observed.error_message:
        message += f": {observed.error_message[:500]}"
    finished = target in (RunState.SUCCEEDED, RunState.FAILED)
    if finished and run.engine == Engine.GLUE and (metrics := GlueEngine().collect_metrics(run)):
        details["metrics"] = metrics
    return finish_run(run=run, to=target, source=source, message=message, **details)


def finish_run(
    *, run: JobRun, to: str, message: str, source: str = "local", **details: Any
) -> bool:
    """Move a run to its final state as an engine reported it, and schedule the
    automatic retry its job allows (FAILED, TIMEOUT, ERROR). False if the run had
    already moved on (a late or duplicate report)."""
    with transaction.atomic():
        moved = services.transition_run(run=run, to=to, source=source, message=message, **details)
        if moved and to in AUTO_RETRY_STATES:
            _schedule_retry(run)
    return moved


def _schedule_retry(run: JobRun) -> None:
    job = Job.objects.select_for_update().get(pk=run.job_id)
    if run.attempt > job.max_retries:
        return
    base = settings.DIEP_RETRY_BACKOFF_SECONDS
    delay = min(settings.DIEP_RETRY_BACKOFF_MAX_SECONDS, base * 2 ** (run.attempt - 1))
    retry = services.run_retry(
        run=run,
        user=None,
        source="auto-retry",
        not_before=timezone.now() + timedelta(seconds=delay),
    )
    logger.info(
        "run.retry_scheduled",
        extra={
            "run_id": str(run.run_id),
            "retry_run_id": str(retry.run_id),
            "delay_seconds": delay,
        },
    )


def run_apply_glue_event(event: Mapping[str, Any]) -> JobRun | None:
    """Apply an EventBridge "Glue Job State Change" event; the run it moved, or None.

    Events for runs DIEP does not know (other jobs in the account) are ignored.
    Events carry no execution time or cost, so the next poll fills those in.
    """
    detail = event.get("detail") if isinstance(event, Mapping) else None
    if event.get("detail-type") != "Glue Job State Change" or not isinstance(detail, Mapping):
        raise ValueError("not a Glue Job State Change event")
    job_run_id, state = detail.get("jobRunId"), detail.get("state")
    if not isinstance(job_run_id, str) or not isinstance(state, str):
        raise ValueError("Glue Job State Change event without jobRunId or state")
    run = (
        JobRun.objects.select_related("job")
        .filter(external_run_id=job_run_id, engine=Engine.GLUE)
        .first()
    )
    if run is None or run.job.glue_job_name != detail.get("jobName", run.job.glue_job_name):
        logger.info("glue_event.unknown_run", extra={"glue_run_id": job_run_id})
        return None
    message = detail.get("message") if state in {"FAILED", "ERROR", "TIMEOUT"} else None
    observed = GlueObservation(
        job_run_id=job_run_id,
        state=state,
        error_message=message if isinstance(message, str) else None,
    )
    run_sync_state(run=run, observed=observed, source="glue-event")
    return run


@dataclass
class PollReport:
    """What one poll tick did; `api_calls` is what Glue was asked."""

    glue_jobs: int = 0
    api_calls: int = 0
    runs_tracked: int = 0
    runs_changed: int = 0
    runs_not_found: list[str] = field(default_factory=list)
    runs_timed_out: int = 0


def poll_glue_runs(*, max_pages: int | None = None) -> PollReport:
    """One poll tick: ONE paginated GetJobRuns walk per Glue job name with active runs,
    matching by JobRunId and stopping as soon as every active id is found. Never one
    GetJobRun per run. Then runs past their timeout are stopped."""
    pages = max_pages or settings.DIEP_GLUE_POLL_MAX_PAGES
    report = PollReport()
    by_glue_job: dict[str, dict[str, JobRun]] = defaultdict(dict)
    for run in (
        JobRun.objects.select_related("job")
        .filter(engine=Engine.GLUE, state__in=TRACKED_STATES)
        .exclude(external_run_id="")
    ):
        by_glue_job[run.job.glue_job_name][run.external_run_id] = run
    report.glue_jobs = len(by_glue_job)
    for glue_job_name, wanted in by_glue_job.items():
        report.runs_tracked += len(wanted)
        try:
            report.api_calls += _poll_one_glue_job(glue_job_name, wanted, pages, report)
        except AwsError as exc:
            logger.warning("glue_poll.failed", extra={"glue_job": glue_job_name, "error": str(exc)})
        report.runs_not_found.extend(run.external_run_id for run in wanted.values())
    report.runs_timed_out = enforce_timeouts()
    logger.info(
        "glue_poll.done",
        extra={
            "glue_jobs": report.glue_jobs,
            "api_calls": report.api_calls,
            "runs_tracked": report.runs_tracked,
            "runs_changed": report.runs_changed,
        },
    )
    return report


def _poll_one_glue_job(
    glue_job_name: str, wanted: dict[str, JobRun], max_pages: int, report: PollReport
) -> int:
    page_size = 200
    seen = 0
    for glue_run in glue_get_job_runs(
        job_name=glue_job_name, max_pages=max_pages, page_size=page_size
    ):
        seen += 1
        run = wanted.pop(glue_run.job_run_id, None)
        if run is not None and run_sync_state(
            run=run, observed=GlueObservation.from_job_run(glue_run), source="glue-poll"
        ):
            report.runs_changed += 1
        if not wanted:
            break
    return max(1, -(-seen // page_size))


def enforce_timeouts() -> int:
    """Stop runs still going past their job's timeout (plus grace); they end TIMEOUT.

    Glue enforces the Timeout we pass on StartJobRun; this is the backstop for runs
    it did not end. One BatchStopJobRun per Glue job name.
    """
    now = timezone.now()
    grace = timedelta(seconds=settings.DIEP_TIMEOUT_GRACE_SECONDS)
    overdue: dict[str, list[JobRun]] = defaultdict(list)
    for run in (
        JobRun.objects.select_related("job")
        .filter(
            engine=Engine.GLUE,
            state__in=(RunState.STARTING, RunState.RUNNING),
            started_at__isnull=False,
        )
        .exclude(external_run_id="")
    ):
        if run.started_at is None:
            continue
        if run.started_at + timedelta(minutes=run.job.timeout_minutes) + grace >= now:
            continue
        if services.transition_run(
            run=run,
            to=RunState.STOPPING,
            source="timeout",
            message="past the job's timeout; stopping",
            stop_reason="timeout",
        ):
            overdue[run.job.glue_job_name].append(run)
    for glue_job_name, runs in overdue.items():
        try:
            result = glue_batch_stop_job_run(
                job_name=glue_job_name, job_run_ids=[r.external_run_id for r in runs]
            )
        except AwsError as exc:  # the next tick tries again: the runs stay STOPPING
            logger.warning("run.timeout_stop_failed", extra={"error": str(exc)})
            continue
        for run in runs:
            if run.external_run_id in result.errors:
                logger.warning(
                    "run.timeout_stop_refused",
                    extra={"run_id": str(run.run_id), "error": result.errors[run.external_run_id]},
                )
    return sum(len(runs) for runs in overdue.values())


def recover_lost_local_runs() -> int:
    """Local-engine runs whose worker died: RUNNING or STOPPING with no heartbeat for
    DIEP_LOCAL_STALE_SECONDS end FAILED (or STOPPED), and retries apply; STARTING ones
    whose task never began are started again. Also ends local runs past their timeout
    (no engine enforces it for them). Returns how many runs it moved."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.DIEP_LOCAL_STALE_SECONDS)
    moved = 0
    local = JobRun.objects.select_related("job").filter(engine=Engine.LOCAL)
    for run in local.filter(
        state__in=(RunState.RUNNING, RunState.STOPPING), heartbeat_at__lt=stale
    ):
        stopping = run.state == RunState.STOPPING
        target = RunState.FAILED
        if stopping:
            target = RunState.TIMEOUT if run.stop_reason == "timeout" else RunState.STOPPED
        silence = int((now - run.heartbeat_at).total_seconds()) if run.heartbeat_at else 0
        message = f"worker lost: no heartbeat for {silence} s"
        moved += finish_run(
            run=run, to=target, source="recovery", message=message, error_message=message
        )
    for run in local.filter(
        state=RunState.STARTING, heartbeat_at__isnull=True, started_at__lt=stale
    ):
        if services.transition_run(
            run=run,
            to=RunState.PENDING,
            source="recovery",
            from_states={RunState.STARTING},
            message="the worker never picked the run up; starting again",
        ):
            services.enqueue_start(run)
            moved += 1
    for run in local.filter(state=RunState.RUNNING, started_at__isnull=False):
        if run.started_at and run.started_at + timedelta(minutes=run.job.timeout_minutes) < now:
            moved += services.transition_run(
                run=run,
                to=RunState.STOPPING,
                source="timeout",
                message="past the job's timeout; stopping",
                stop_reason="timeout",
            )
    return moved


def admit_due_queued_runs() -> int:
    """Start QUEUED runs whose backoff is over, where their job has a free slot."""
    admitted = 0
    for job in list(selectors.jobs_with_due_queued_runs()):
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            admitted += len(services.admit_queued_runs(job=locked))
    return admitted


def recover_stale_starts() -> int:
    """Runs STARTING with no engine id for too long lost their worker between claim and
    save. Adopt the engine's run if it has one carrying our run id; otherwise give the
    run back to PENDING and start it again. Runs PENDING for as long lost their start
    task: it is sent again. Returns how many were recovered."""
    cutoff = timezone.now() - timedelta(seconds=settings.DIEP_STALE_START_SECONDS)
    recovered = 0
    # PENDING this long: its start task was lost (a broker restarted without
    # persistence, say). STOPPING this long with the engine still running it: its stop
    # request was. Sending either again is safe: start claims the run first, and stop
    # acts only on a STOPPING run.
    lost_messages = (
        (RunState.PENDING, services.enqueue_start, "run.start_resent"),
        (RunState.STOPPING, services.enqueue_stop, "run.stop_resent"),
    )
    for state, resend, event in lost_messages:
        stale = JobRun.objects.filter(state=state, updated_at__lt=cutoff)
        if state == RunState.STOPPING:
            stale = stale.exclude(external_run_id="")
        for run in stale:
            logger.info(event, extra={"run_id": str(run.run_id)})
            resend(run)
            JobRun.objects.filter(pk=run.pk, state=state).update(updated_at=timezone.now())
            recovered += 1
    for run in JobRun.objects.select_related("job").filter(
        state=RunState.STARTING, external_run_id="", started_at__lt=cutoff
    ):
        try:
            found = get_engine(run.engine).find(run)
        except (AwsError, EngineUnavailable) as exc:
            logger.warning(
                "run.recover_failed", extra={"run_id": str(run.run_id), "error": str(exc)}
            )
            continue
        if found is not None:
            updated = JobRun.objects.filter(pk=run.pk, external_run_id="").update(
                external_run_id=found.external_run_id,
                logs_url=found.logs_url,
                revision=F("revision") + 1,
                updated_at=timezone.now(),
            )
            recovered += updated
            logger.info(
                "run.adopted",
                extra={"run_id": str(run.run_id), "glue_run_id": found.external_run_id},
            )
        elif services.transition_run(
            run=run,
            to=RunState.PENDING,
            source="recovery",
            from_states={RunState.STARTING},
            message="start interrupted; starting again",
        ):
            services.enqueue_start(run)
            recovered += 1
    return recovered


def purge_history(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Delete what is older than DIEP_RETENTION_DAYS: finished runs (with their events),
    file-ledger rows no longer waiting, and alerts. In batches, so a first purge of a
    large ledger never holds long locks. Returns how many rows of each went."""
    from ingestion.models import FileState, IngestedFile

    days = settings.DIEP_RETENTION_DAYS
    if days <= 0:
        return {}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    queries: dict[str, QuerySet[Any]] = {
        "files": IngestedFile.objects.filter(received_at__lt=cutoff).exclude(
            state__in=(FileState.RECEIVED, FileState.BATCHED)
        ),
        "runs": JobRun.objects.filter(finished_at__lt=cutoff, state__in=TERMINAL_STATES),
        "alerts": Alert.objects.filter(created_at__lt=cutoff),
    }
    purged: dict[str, int] = {}
    for name, query in queries.items():
        purged[name] = 0
        while ids := list(query.values_list("pk", flat=True)[:batch]):
            query.model._default_manager.filter(pk__in=ids).delete()
            purged[name] += len(ids)
    logger.info("history.purged", extra=purged)
    return purged
