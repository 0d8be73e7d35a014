"""Fixtures and helpers for the provisioning tests: a stand-in Glue script, and reading
plans and the moto server's queues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diep_portal.aws.provision import Change, Desired, desired_infrastructure
from diep_portal.aws.provision import resources as provision_resources
from diep_portal.aws.session import get_client
from diep_portal.infrastructure import infrastructure_notification_filters

ACCOUNT = "123456789012"  # moto's account
GLUE_SCRIPT = b"# the Glue entry point (test stand-in)\nprint('diep')\n"


@pytest.fixture(autouse=True)
def glue_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in Glue script: its bytes are not what these tests are about."""
    path = tmp_path / "glue_job.py"
    path.write_bytes(GLUE_SCRIPT)
    monkeypatch.setattr(provision_resources, "GLUE_SCRIPT_PATH", path)
    return path


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def queue_attributes(name: str) -> dict[str, str]:
    sqs = get_client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def by_kind(changes: list[Change], kind: str) -> list[Change]:
    return [change for change in changes if change.kind == kind]


def only(changes: list[Change], kind: str, name: str) -> Change:
    (change,) = [c for c in changes if c.kind == kind and c.name == name]
    return change


def assert_all_unchanged(changes: list[Change]) -> None:
    assert changes
    assert [c for c in changes if c.action != "unchanged"] == []


def current() -> Desired:
    """The desired state for the jobs in the database, as the infrastructure service
    builds it."""
    return desired_infrastructure(triggers=infrastructure_notification_filters())


def trigger(bucket: str, prefix: str = "", suffix: str = "") -> dict[str, Any]:
    return {"bucket": bucket, "prefix": prefix, "suffix": suffix, "window_seconds": 0}
