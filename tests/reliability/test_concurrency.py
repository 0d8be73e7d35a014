"""Concurrency, for real: 20 threads with their own database connections hitting
POST /fire_job/ at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from jobs.models import JobRun, RunState

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

CALLERS = 20


def at_once(call: Callable[[int], int]) -> Counter[int]:
    barrier = threading.Barrier(CALLERS)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def caller(index: int) -> None:
        try:
            barrier.wait(30)
            status = call(index)
            with lock:
                statuses[status] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_twenty_fires_with_one_idempotency_key_make_one_run(
    make_job: Any, no_enqueue: Any, client_for: Any, operator: Any
) -> None:
    job = make_job()
    clients = [client_for(operator) for _ in range(CALLERS)]
    statuses = at_once(
        lambda n: (
            clients[n]
            .post(f"/fire_job/{job.job_id}", {}, format="json", HTTP_IDEMPOTENCY_KEY="once")
            .status_code
        )
    )
    assert JobRun.objects.filter(job=job).count() == 1
    assert statuses[202] == 1
    assert statuses[202] + statuses[200] + statuses[409] == CALLERS  # replay or in flight


def test_twenty_keys_on_a_one_slot_job_make_one_pending_and_nineteen_queued(
    make_job: Any, no_enqueue: Any, client_for: Any, operator: Any
) -> None:
    job = make_job(max_concurrent_runs=1)
    clients = [client_for(operator) for _ in range(CALLERS)]
    statuses = at_once(
        lambda n: (
            clients[n]
            .post(f"/fire_job/{job.job_id}", {}, format="json", HTTP_IDEMPOTENCY_KEY=f"key-{n}")
            .status_code
        )
    )
    assert statuses == {202: CALLERS}
    states = Counter(JobRun.objects.filter(job=job).values_list("state", flat=True))
    assert states == {RunState.PENDING: 1, RunState.QUEUED: CALLERS - 1}
