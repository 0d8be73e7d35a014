"""Glue runs past their job's timeout are stopped (BatchStopJobRun, stubbed: moto has no
such path) and end TIMEOUT."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from django.utils import timezone

from diep_portal.aws.session import get_client
from jobs.engines.glue.timeouts import enforce_timeouts
from jobs.engines.glue.tracking import GlueObservation, run_sync_state
from jobs.models import JobRun, RunState
from tests.jobs.conftest import in_state

pytestmark = pytest.mark.django_db


def test_run_past_timeout_is_stopped_and_ends_timeout(make_job: Any, no_enqueue: Any) -> None:
    run = in_state(make_job, RunState.RUNNING, timeout_minutes=5)
    JobRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    with Stubber(get_client("glue")) as stub:
        stub.add_response(
            "batch_stop_job_run",
            {
                "SuccessfulSubmissions": [{"JobName": "diep-ingest", "JobRunId": "jr_test"}],
                "Errors": [],
            },
            {"JobName": "diep-ingest", "JobRunIds": ["jr_test"]},
        )
        assert enforce_timeouts() == 1
        stub.assert_no_pending_responses()
    run.refresh_from_db()
    assert (run.state, run.stop_reason) == (RunState.STOPPING, "timeout")
    run_sync_state(run=run, observed=GlueObservation("jr_test", "STOPPED"), source="glue-poll")
    run.refresh_from_db()
    assert run.state == RunState.TIMEOUT
    assert enforce_timeouts() == 0
