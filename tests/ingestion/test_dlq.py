"""The dead-letter queue's depth alerts the ops webhook (a local HTTP receiver), at most
hourly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ingestion.dlq import check_dlq_depth
from tests.conftest import Receiver

pytestmark = pytest.mark.django_db


def test_dlq_depth_alerts_at_most_hourly(receiver: Receiver, settings: Any) -> None:
    settings.DIEP_OPS_ALERT_WEBHOOKS = ["ops"]
    settings.DIEP_DLQ_ALERT_DEPTH = 5
    now = timezone.now().replace(minute=1)
    assert check_dlq_depth(depth=4, now=now) is None
    assert check_dlq_depth(depth=7, now=now) is not None
    assert check_dlq_depth(depth=9, now=now + timedelta(minutes=30)) is None
    assert check_dlq_depth(depth=9, now=now + timedelta(hours=1)) is not None
