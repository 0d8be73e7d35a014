"""Cross-process locks on the database we already have (no extra service to run)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a Postgres advisory lock named `name`."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


def try_transaction_lock(name: str) -> bool:
    """Take the lock `name` until the current transaction ends; False if it is held.

    On SQLite, write transactions already run one at a time, which gives the same
    guarantee, so this is always True there.
    """
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [advisory_key(name)])
        return bool(cursor.fetchone()[0])


@contextmanager
def single_flight(name: str, *, timeout_seconds: int) -> Iterator[bool]:
    """Hold the lock `name` for the block, across transactions; yields False (and holds
    nothing) when another process has it.

    Postgres: a session advisory lock, which the server drops if its holder dies, so
    a killed worker never leaves it stuck. Elsewhere (the embedded SQLite stack) the
    cache, with `timeout_seconds` as the stale-holder limit.
    """
    if connection.vendor == "postgresql":
        key = advisory_key(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    acquired = cache.add(f"lock:{name}", "1", timeout=timeout_seconds)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(f"lock:{name}")
