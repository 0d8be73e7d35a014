"""kombu's Redis transport, reusing one client per channel to publish.

kombu builds a new redis.Redis object for every message it sends (and for every queue
length or binding lookup): hundreds of response callbacks set up each time, a third of
what enqueueing a task costs the request that fires a run. A redis.Redis object is safe
to share (each command takes a connection from the pool), so one per channel does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client is not None:
            yield client
            return
        if self._shared_client is None:
            self._shared_client = self._create_client()
        yield self._shared_client


class Transport(redis.Transport):
    Channel = Channel
