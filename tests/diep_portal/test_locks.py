"""Cross-process locks on PostgreSQL: advisory locks seen from another connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from diep_portal.locks import advisory_key, single_flight, try_transaction_lock

pytestmark = pytest.mark.django_db(transaction=True)


def in_other_connection(probe: object) -> object:
    """Run `probe` in a thread, which Django gives its own database connection."""
    result: list[object] = []

    def target() -> None:
        try:
            result.append(probe())  # type: ignore[operator]
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    return result[0]


def take_single_flight() -> bool:
    with single_flight("test.lock", timeout_seconds=5) as mine:
        return mine


def test_advisory_key_is_stable_and_signed_64_bit() -> None:
    assert advisory_key("a") == advisory_key("a") != advisory_key("b")
    assert -(2**63) <= advisory_key("ingestion.drain_events") < 2**63


def test_single_flight_excludes_another_process_until_released() -> None:
    with single_flight("test.lock", timeout_seconds=5) as mine:
        assert mine
        assert in_other_connection(take_single_flight) is False
        with transaction.atomic():
            pass  # the lock outlives the holder's transactions
        assert in_other_connection(take_single_flight) is False
    assert in_other_connection(take_single_flight) is True


def test_single_flight_is_dropped_with_a_dead_holders_connection() -> None:
    def hold_and_die() -> bool:
        with single_flight("test.lock", timeout_seconds=5) as mine:
            connection.close()  # what a SIGKILLed worker's server session amounts to
            return mine

    assert in_other_connection(hold_and_die) is True
    with single_flight("test.lock", timeout_seconds=5) as mine:
        assert mine


def test_transaction_lock_lasts_until_commit() -> None:
    with transaction.atomic():
        assert try_transaction_lock("test.xact")
        assert in_other_connection(lambda: try_transaction_lock("test.xact")) is False
    assert in_other_connection(lambda: try_transaction_lock("test.xact")) is True
