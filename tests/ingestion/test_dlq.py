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


def test_the_depth_check_reads_the_dlq_and_says_when_there_is_none(
    aws: str, settings: Any, caplog: Any
) -> None:
    import logging

    from diep_portal.aws.session import get_client
    from ingestion.dlq import dlq_check_depth

    with caplog.at_level(logging.WARNING, logger="ingestion.dlq"):
        assert dlq_check_depth() is None  # not provisioned yet: a warning, no traceback
    assert [record.message for record in caplog.records] == ["dlq.missing"]

    sqs = get_client("sqs")
    url = sqs.create_queue(QueueName=settings.DIEP_INGEST_DLQ)["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert dlq_check_depth() == 2
