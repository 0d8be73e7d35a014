"""The Redis transport shares one client per channel, and messages still arrive."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

from diep_portal import broker


@pytest.fixture
def redis_url() -> str:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs the Redis broker")
    return settings.CELERY_BROKER_URL


def test_the_portal_publishes_through_its_transport(redis_url: str) -> None:
    from diep_portal.celery import app

    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, broker.Channel)


def test_many_messages_one_client_every_message_delivered(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[Any] = []
    original = broker.Channel._create_client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        created.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(broker.Channel, "_create_client", counting)
    with Connection(redis_url, transport=broker.Transport) as connection:
        queue = connection.SimpleQueue(f"diep-test-broker-{uuid.uuid4().hex}")
        for number in range(20):
            queue.put({"n": number})
        received = []
        for _ in range(20):
            message = queue.get(timeout=5)
            received.append(message.payload["n"])
            message.ack()
        with pytest.raises(queue.Empty):  # each exactly once
            queue.get(timeout=0.2)
        queue.close()
    assert sorted(received) == list(range(20))
    assert len(created) <= 2  # one to publish, one kombu keeps to poll; not one per message
