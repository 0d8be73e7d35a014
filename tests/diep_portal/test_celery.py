"""Every DIEP task is declared with diep_task: a stable name, its queue (routed by the
one router), and a bounded retry policy; every name services enqueue exists."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from diep_portal.celery import TASK_PACKAGES, Queue, app

ROOT = Path(__file__).resolve().parents[2]


def _diep_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_routes_to_its_declared_queue() -> None:
    tasks = _diep_tasks()
    expected = {
        "jobs.run_start": Queue.RUNS,
        "jobs.run_stop": Queue.RUNS,
        "jobs.run_local": Queue.ETL,
        "jobs.track_runs": Queue.MAINTENANCE,
        "ingestion.flush_windows": Queue.MAINTENANCE,
        "diep.provision_infrastructure": Queue.MAINTENANCE,
    }
    assert set(expected) <= set(tasks)
    for name in tasks:
        route = app.amqp.router.route({}, name)
        assert route["queue"].name in {queue.value for queue in Queue}, name
    for name, queue in expected.items():
        assert app.amqp.router.route({}, name)["queue"].name == queue.value


def test_tasks_live_in_the_declared_packages_and_retry_boundedly() -> None:
    for name, task in _diep_tasks().items():
        module = task.run.__module__
        assert module.rsplit(".", 1)[0] in TASK_PACKAGES, (name, module)
        assert task.max_retries is not None, name
        assert task.max_retries <= 8, name
        assert task.ignore_result, name


def test_every_enqueued_task_name_is_a_task() -> None:
    tasks = _diep_tasks()
    enqueued = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None))
                == "enqueue_on_commit"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                enqueued.add(node.args[0].value)
    assert enqueued, "no enqueue_on_commit call found"
    assert enqueued <= set(tasks), enqueued - set(tasks)
