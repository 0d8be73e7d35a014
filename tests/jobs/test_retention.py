"""Retention: run history past DIEP_RETENTION_DAYS is purged (jobs.retention), and with
it the processed files' ledger rows (ingestion.retention); files still waiting stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ingestion.models import FileState, IngestedFile
from ingestion.retention import purge_files
from jobs import services
from jobs.models import JobRun, RunState
from jobs.retention import purge_history
from jobs.runs.state import transition_run

pytestmark = pytest.mark.django_db


def test_retention_purges_old_history_only(make_job: Any, no_enqueue: Any, settings: Any) -> None:
    settings.DIEP_RETENTION_DAYS = 30
    job = make_job()
    old, recent = (services.job_fire(job=job, parameters={}, trigger="api").run for _ in "ab")
    for run in (old, recent):
        transition_run(run=run, to=RunState.STOPPED, source="test")
    long_ago = timezone.now() - timedelta(days=31)
    JobRun.objects.filter(pk=old.pk).update(finished_at=long_ago)
    waiting = IngestedFile.objects.create(job=job, bucket="b", key="w", identity="1")
    done = IngestedFile.objects.create(
        job=job, bucket="b", key="d", identity="2", state=FileState.PROCESSED
    )
    IngestedFile.objects.filter(pk__in=[waiting.pk, done.pk]).update(received_at=long_ago)
    assert purge_history() == {"runs": 1, "alerts": 0}
    assert purge_files() == 1
    assert list(JobRun.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(IngestedFile.objects.values_list("key", flat=True)) == ["w"]  # still waiting
