"""Spec shape helpers: patch merge, diff, model round trip."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.specs import JobSpecSerializer, job_to_spec, merge_spec_patch, spec_diff
from tests.conftest import job_body


def test_merge_patch_merges_nested_and_removes_trigger() -> None:
    spec = job_body()
    merged = merge_spec_patch(
        spec, {"source": {"format": "json"}, "trigger": None, "enabled": False}
    )
    assert merged["source"] == {
        "uri": "s3://diep-raw/orders/",
        "format": "json",
        "options": {"delimiter": ","},
    }
    assert merged["trigger"] is None
    assert merged["enabled"] is False
    assert spec["source"]["format"] == "csv"  # the input is not modified


def test_spec_diff_paths_and_kinds() -> None:
    before = {"a": 1, "n": {"x": 1, "y": [1]}, "gone": "g", "t": None}
    after = {"a": 1, "n": {"x": 2, "y": [1, 2]}, "new": "n", "t": {"bucket": "b"}}
    changes = {c.path: c.as_dict() for c in spec_diff(before, after)}
    assert set(changes) == {"n.x", "n.y", "gone", "new", "t", "t.bucket"}
    assert changes["gone"]["kind"] == "removed"
    assert changes["new"]["kind"] == "added"
    assert changes["n.y"] == {"path": "n.y", "kind": "changed", "before": [1], "after": [1, 2]}
    assert spec_diff(before, before) == []


@pytest.mark.django_db
def test_job_to_spec_round_trips_the_validated_body(make_job: Any) -> None:
    job = make_job()
    spec = JobSpecSerializer(data=job_to_spec(job))
    assert spec.is_valid(), spec.errors
    assert dict(spec.validated_data) == job_to_spec(job)
