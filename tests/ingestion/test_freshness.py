"""Freshness alerts (SLA windows): a trigger with no new file for too long, or by a time
of day, alerts once per silence, by locmem mail and a local HTTP receiver as the webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from ingestion.freshness import check_freshness
from ingestion.models import IngestedFile
from jobs.models import Job
from tests.conftest import Receiver

pytestmark = pytest.mark.django_db


def test_freshness_alerts_once_per_silence(
    receiver: Receiver, make_job: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(
        trigger={"bucket": "diep-raw", "prefix": "orders/"},
        alerts={"freshness_hours": 2, "emails": ["data@example.com"]},
    )
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=3))
    with django_capture_on_commit_callbacks(execute=True):
        assert check_freshness() == 1
        assert check_freshness() == 0  # the same silence
    assert "No new file under s3://diep-raw/orders/ for 2 h" in mail.outbox[0].body
    IngestedFile.objects.create(job=job, bucket="diep-raw", key="orders/a.csv", identity="e")
    assert check_freshness() == 0  # fresh again
    later = timezone.now() + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert check_freshness(now=later) == 1  # a new silence
    assert len(mail.outbox) == 2


def test_freshness_by_a_time_of_day(receiver: Receiver, make_job: Any) -> None:
    job = make_job(
        trigger={"bucket": "diep-raw", "prefix": "orders/"},
        timezone="UTC",
        alerts={"freshness_by": "06:00", "webhooks": ["ops"]},
    )
    morning = timezone.now().replace(hour=5, minute=0, second=0, microsecond=0)
    assert check_freshness(now=morning) == 0  # not due yet
    assert check_freshness(now=morning + timedelta(hours=2)) == 1
    assert check_freshness(now=morning + timedelta(hours=3)) == 0  # once a day
    IngestedFile.objects.create(job=job, bucket="diep-raw", key="orders/b.csv", identity="e")
    tomorrow = morning + timedelta(days=1, hours=2)
    assert check_freshness(now=tomorrow) == 1  # nothing arrived that day
