"""Recovery of what a dead worker or a lost message left behind: runs claimed but never
started, PENDING runs whose start task was lost, STOPPING runs whose stop was. Each
engine's own losses (a silent local worker, a Glue run past its timeout) are its
tracking's (jobs/engines)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from diep_portal.exceptions import AwsError
from jobs.engines.registry import EngineUnavailable, get_engine
from jobs.models import JobRun, RunState
from jobs.runs.admission import enqueue_start, enqueue_stop, start_again

logger = logging.getLogger(__name__)


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
        (RunState.PENDING, enqueue_start, "run.start_resent"),
        (RunState.STOPPING, enqueue_stop, "run.stop_resent"),
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
        elif start_again(run, message="start interrupted; starting again"):
            recovered += 1
    return recovered
