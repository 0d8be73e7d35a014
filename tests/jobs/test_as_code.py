"""Jobs as code: plan, apply, a second plan all unchanged, prune, export round trip."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from jobs import services
from jobs.models import Job
from tests.conftest import job_body

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "team-a").mkdir()
    (tmp_path / "team-a" / "orders.yaml").write_text(yaml.safe_dump(job_body(name="orders")))
    (tmp_path / "team-a" / "refunds.yml").write_text(
        yaml.safe_dump(job_body(name="refunds", schedule="rate(1 hour)"))
    )
    (tmp_path / "clicks.json").write_text(json.dumps(job_body(name="clicks", schedule="")))
    (tmp_path / "README.md").write_text("not a job")
    return tmp_path


def test_plan_apply_then_nothing_left_to_do(folder: Path) -> None:
    plan = run("apply_jobs", str(folder))
    assert "3 to create, 0 to update, 0 to delete, 0 unchanged" in plan
    assert not Job.objects.exists()  # a plan changes nothing
    assert "applied" in run("apply_jobs", str(folder), "--apply")
    assert sorted(Job.objects.values_list("name", flat=True)) == ["clicks", "orders", "refunds"]
    again = run("apply_jobs", str(folder))
    assert "0 to create, 0 to update, 0 to delete, 3 unchanged" in again


def test_a_changed_file_is_an_update_with_its_field_diff(folder: Path) -> None:
    run("apply_jobs", str(folder), "--apply")
    body = job_body(name="orders", max_retries=2)
    body["destination"]["partition_by"] = ["order_date", "region"]
    (folder / "team-a" / "orders.yaml").write_text(yaml.safe_dump(body))
    plan = run("apply_jobs", str(folder))
    assert "update     orders (team-a/orders.yaml)" in plan
    assert "    max_retries: 1 → 2" in plan
    assert '    destination.partition_by: ["order_date"] → ["order_date", "region"]' in plan
    run("apply_jobs", str(folder), "--apply")
    orders = Job.objects.get(name="orders")
    assert (orders.max_retries, orders.version) == (2, 2)
    assert orders.current_version is not None
    assert orders.current_version.change_source == "code"


def test_prune_deletes_undescribed_jobs_and_disables_those_with_runs(
    folder: Path, make_job: Any, no_enqueue: Any
) -> None:
    make_job(name="forgotten")
    busy = make_job(name="busy")
    services.job_fire(job=busy, parameters={}, trigger="api")
    plan = run("apply_jobs", str(folder))
    assert "not described (kept; --prune deletes) busy" in plan
    out = run("apply_jobs", str(folder), "--apply", "--prune")
    assert "busy has runs, which are kept: disabled instead." in out
    assert not Job.objects.filter(name="forgotten").exists()
    assert Job.objects.get(name="busy").enabled is False


def test_invalid_files_are_named_and_nothing_is_applied(folder: Path) -> None:
    (folder / "broken.yaml").write_text("name: [unclosed")
    bad = job_body(name="bad", max_retries=99)
    bad["source"]["uri"] = "s3://x/../etc"
    (folder / "bad.json").write_text(json.dumps(bad))
    (folder / "twin.yaml").write_text(yaml.safe_dump(job_body(name="orders")))
    # JSON's and YAML's escapes both spell lone surrogates, which no database column holds.
    (folder / "surrogate.json").write_text(json.dumps(job_body(name="lone\ud800")))
    (folder / "surrogate.yaml").write_text('name: "lone\\udc00"')
    with pytest.raises(CommandError) as error:
        run("apply_jobs", str(folder), "--apply")
    message = str(error.value)
    assert "broken.yaml: Unreadable" in message
    assert "bad.json: max_retries:" in message
    assert "bad.json: source.uri:" in message
    assert "twin.yaml: Job 'orders' is also described in team-a/orders.yaml." in message
    assert "surrogate.json: Unreadable: a lone surrogate (\\uD800-\\uDFFF) in name" in message
    assert "surrogate.yaml: Unreadable: a lone surrogate (\\uD800-\\uDFFF) in name" in message
    assert not Job.objects.exists()


def test_export_then_apply_is_all_unchanged(make_job: Any, tmp_path: Path) -> None:
    make_job(name="one", trigger={"bucket": "diep-raw", "prefix": "one/"})
    make_job(name="two", alerts={"on": ["failure"], "emails": ["a@example.com"]})
    assert "2 job file(s) written" in run("export_jobs", str(tmp_path / "out"))
    exported = yaml.safe_load((tmp_path / "out" / "one.yaml").read_text())
    assert exported["trigger"]["prefix"] == "one/"
    plan = run("apply_jobs", str(tmp_path / "out"))
    assert "0 to create, 0 to update, 0 to delete, 2 unchanged" in plan
