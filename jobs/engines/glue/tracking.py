"""Following Glue runs to their end: state changes pushed by EventBridge (through the
ingest queue and its consumer) or polled, each applied through the run state machine,
so it is monotonic and writes a RunEvent. Safe to run twice at once (Beat may overlap).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import F

from diep_portal.aws.glue import GlueJobRun, glue_get_job_runs
from diep_portal.exceptions import AwsError
from jobs.engines.glue.metrics import collect_metrics
from jobs.engines.glue.timeouts import enforce_timeouts
from jobs.models import TERMINAL_STATES, Engine, JobRun, RunState
from jobs.runs.outcome import finish_run
from jobs.runs.state import may_transition

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
    report = _Report.of(run, observed)
    if report is None:
        return False
    if run.state == report.target:
        if missing := report.missing_details(run):
            JobRun.objects.filter(pk=run.pk, state=report.target).update(
                **missing, revision=F("revision") + 1
            )
        return False
    if not may_transition(run.state, report.target):
        # A report older than what DIEP knows (RUNNING and later never go back): the
        # state machine would refuse it under a row lock; refuse it without one.
        return False
    message = f"Glue {observed.state}"
    if observed.error_message:
        message += f": {observed.error_message[:500]}"
    details = dict(report.details)
    if report.target in (RunState.SUCCEEDED, RunState.FAILED) and (metrics := collect_metrics(run)):
        details["metrics"] = metrics
    return finish_run(run=run, to=report.target, source=source, message=message, **details)


@dataclass(frozen=True)
class _Report:
    """A Glue observation read against one run: the DIEP state it means, and the run
    fields it fills in (cost and errors only once the run has ended)."""

    target: str
    details: Mapping[str, Any]

    @classmethod
    def of(cls, run: JobRun, observed: GlueObservation) -> _Report | None:
        target = GLUE_STATES.get(observed.state)
        if target is None:
            logger.warning(
                "run.unknown_glue_state",
                extra={"run_id": str(run.run_id), "glue_state": observed.state},
            )
            return None
        if target == RunState.STOPPED and run.stop_reason == "timeout":
            target = RunState.TIMEOUT
        details: dict[str, Any] = {"glue_state": observed.state}
        if target in TERMINAL_STATES:
            if observed.error_message:
                details["error_message"] = observed.error_message[:10_000]
            if observed.execution_seconds is not None:
                details["execution_seconds"] = observed.execution_seconds
            if observed.dpu_seconds is not None:
                details["dpu_seconds"] = observed.dpu_seconds
        return cls(target, details)

    def missing_details(self, run: JobRun) -> dict[str, Any]:
        """Details a terser report left out (events carry no cost)."""
        return {k: v for k, v in self.details.items() if getattr(run, k) in (None, "")}


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
        raise ValueError(  # noqa: TRY004 - a malformed event, which the consumer rejects
            "Glue Job State Change event without jobRunId or state"
        )
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
    # Every few seconds: a tick that changed nothing is not news (DEBUG shows them all).
    changed = report.runs_changed or report.runs_timed_out or report.runs_not_found
    logger.log(
        logging.INFO if changed else logging.DEBUG,
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
    # Most runs of a tick are where DIEP already has them: their few missing details
    # (the Glue state word, mostly) are filled by one UPDATE per distinct value, not
    # one per run. Only real state changes go through the state machine, one by one.
    fills: dict[tuple[str, tuple[tuple[str, Any], ...]], list[int]] = defaultdict(list)
    for glue_run in glue_get_job_runs(
        job_name=glue_job_name, max_pages=max_pages, page_size=page_size
    ):
        seen += 1
        run = wanted.pop(glue_run.job_run_id, None)
        if run is not None:
            observed = GlueObservation.from_job_run(glue_run)
            known = _Report.of(run, observed)
            # `known` is None for a state DIEP does not know (logged, nothing to apply).
            if known is not None and known.target == run.state:
                if missing := known.missing_details(run):
                    fills[(known.target, tuple(sorted(missing.items())))].append(run.pk)
            elif known is not None and run_sync_state(
                run=run, observed=observed, source="glue-poll"
            ):
                report.runs_changed += 1
        if not wanted:
            break
    for (state, fill), pks in fills.items():
        JobRun.objects.filter(pk__in=pks, state=state).update(
            **dict(fill), revision=F("revision") + 1
        )
    return max(1, -(-seen // page_size))
