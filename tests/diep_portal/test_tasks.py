"""DIEP_AUTO_PROVISION: creating, changing or removing a job's trigger applies the bucket
notification it needs, through a task after commit, keeping foreign entries."""

from __future__ import annotations

from typing import Any

import pytest

from diep_portal.aws.session import get_client
from jobs import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def auto(aws: str, settings: Any, monkeypatch: Any) -> list[int]:
    settings.DIEP_AUTO_PROVISION = True
    calls: list[int] = []

    def apply_now() -> None:
        from diep_portal.tasks import provision_infrastructure

        calls.append(1)
        provision_infrastructure.apply(throw=True)

    monkeypatch.setattr("diep_portal.tasks.provision_infrastructure.delay", apply_now)
    return calls


def our_notifications(bucket: str) -> dict[str, Any]:
    config = get_client("s3").get_bucket_notification_configuration(Bucket=bucket)
    return {q["Id"]: q for q in config.get("QueueConfigurations", [])}


def test_trigger_changes_apply_their_notification_after_commit(
    auto: list[int], make_job: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = make_job(trigger={"bucket": settings.DIEP_RAW_BUCKET, "prefix": "orders/"})
    assert auto == [1]
    entry = our_notifications(settings.DIEP_RAW_BUCKET)[f"diep-{job.name}"]
    rules = entry["Filter"]["Key"]["FilterRules"]
    assert {(r["Name"].lower(), r["Value"]) for r in rules} == {("prefix", "orders/")}

    with django_capture_on_commit_callbacks(execute=True):
        services.job_set_enabled(job=job, enabled=False, user=None, source="test")
    assert our_notifications(settings.DIEP_RAW_BUCKET) == {}

    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.job_update(
            job=job,
            spec={**services.job_to_spec(job), "description": "no trigger change"},
            user=None,
            source="test",
        )
    assert len(auto) == 2  # a change elsewhere provisions nothing


def test_off_by_default(
    aws: str, make_job: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("diep_portal.tasks.provision_infrastructure.delay", lambda: sent.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        make_job(trigger={"bucket": "diep-raw", "prefix": "orders/"})
    assert sent == []
