"""The infrastructure service on the moto server: the jobs in the database → the AWS
resources they need, planned or applied; and `manage.py provision`, its command."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from diep_portal.aws.provision import NotificationFilter
from diep_portal.aws.session import get_client
from diep_portal.infrastructure import (
    infrastructure_apply,
    infrastructure_iam_policy,
    infrastructure_notification_filters,
)
from jobs import services
from tests.diep_portal.aws.provision.conftest import ACCOUNT, queue_arn, trigger

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ service


def test_plan_changes_nothing_apply_creates_and_a_second_apply_finds_nothing(
    aws: str, make_job: Callable[..., Any]
) -> None:
    make_job()  # orders-daily: s3://diep-raw/orders/*.csv

    planned = infrastructure_apply(plan_only=True)

    assert planned.applied is False
    assert {c.action for c in planned.changes} == {"create"}
    assert planned.summary == {"create": len(planned.changes), "update": 0, "unchanged": 0}
    assert get_client("s3").list_buckets()["Buckets"] == []

    applied = infrastructure_apply()

    assert applied.applied is True
    assert [(c.kind, c.name, c.action) for c in applied.changes] == [
        (c.kind, c.name, c.action) for c in planned.changes
    ]
    config = get_client("s3").get_bucket_notification_configuration(Bucket="diep-raw")
    assert [q["Id"] for q in config["QueueConfigurations"]] == ["diep-orders-daily"]
    # The repository's own Glue script and ETL package were uploaded.
    script = get_client("s3").get_object(Bucket="diep-artifacts", Key="glue/glue_job.py")
    assert script["Body"].read() == (settings.BASE_DIR / "etl" / "glue_job.py").read_bytes()

    again = infrastructure_apply()
    assert again.summary == {"create": 0, "update": 0, "unchanged": len(again.changes)}


def test_existing_buckets_are_updated_not_created(
    buckets: Any, artifacts: str, make_job: Callable[..., Any]
) -> None:
    planned = infrastructure_apply(plan_only=True)

    actions = {c.name: c.action for c in planned.changes if c.kind == "bucket"}
    # moto encrypts new buckets by default but blocks no public access.
    assert actions == {"diep-raw": "update", "diep-curated": "update", artifacts: "update"}


def test_enabled_jobs_triggers_become_notification_filters(make_job: Callable[..., Any]) -> None:
    make_job(name="orders", trigger=trigger("diep-raw", "orders/", ".csv"))
    disabled = make_job(name="returns", trigger=trigger("diep-raw", "returns/"))
    services.job_set_enabled(job=disabled, enabled=False, user=None, source="test")
    make_job(name="scheduled-only", trigger=None)

    assert infrastructure_notification_filters() == [
        NotificationFilter(job_name="orders", bucket="diep-raw", prefix="orders/", suffix=".csv")
    ]


def test_iam_policy_covers_the_jobs_glue_jobs_and_trigger_buckets(
    aws: str, make_job: Callable[..., Any]
) -> None:
    get_client("s3").create_bucket(Bucket="partner-drop")
    make_job(name="partner", glue_job_name="partner-glue", trigger=trigger("partner-drop", "in/"))

    by_sid = {s["Sid"]: s for s in infrastructure_iam_policy()["Statement"]}

    assert (
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/partner-glue" in by_sid["DiepGlueRuns"]["Resource"]
    )
    assert "arn:aws:s3:::partner-drop" in by_sid["DiepTriggerBucketRead"]["Resource"]


# ------------------------------------------------------------------ command


def test_command_plan_apply_and_json(aws: str, make_job: Callable[..., Any]) -> None:
    make_job()
    out = io.StringIO()
    call_command("provision", "--plan", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == f"{len(lines) - 1} to create, 0 to update, 0 unchanged"
    assert "create    bucket diep-raw: block all public access, SSE-S3 (AES256)" in lines
    assert get_client("s3").list_buckets()["Buckets"] == []  # --plan changes nothing

    out = io.StringIO()
    call_command("provision", stdout=out)
    assert out.getvalue().splitlines()[-1].endswith("created, 0 updated, 0 unchanged")

    out = io.StringIO()
    call_command("provision", "--plan", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["applied"] is False
    assert body["summary"]["create"] == 0
    assert body["summary"]["update"] == 0
    assert {c["action"] for c in body["changes"]} == {"unchanged"}


def test_command_refusal_is_a_command_error(aws: str, make_job: Callable[..., Any]) -> None:
    make_job(name="orders-all", trigger=trigger("diep-raw", "orders/"))
    make_job(name="orders-eu", trigger=trigger("diep-raw", "orders/eu/"))
    with pytest.raises(CommandError, match=r"orders-all.*orders-eu"):
        call_command("provision", "--plan", stdout=io.StringIO())


def test_command_iam_policy(aws: str, make_job: Callable[..., Any]) -> None:
    get_client("s3").create_bucket(Bucket="partner-drop")
    make_job(name="partner-orders", trigger=trigger("partner-drop", "in/"))
    out = io.StringIO()
    call_command("provision", "--iam-policy", stdout=out)
    policy = json.loads(out.getvalue())

    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert len(statements) == len(policy["Statement"])  # Sids are unique
    pass_role = statements["DiepPassGlueRole"]
    assert pass_role["Action"] == ["iam:PassRole"]
    assert pass_role["Resource"] == [settings.DIEP_GLUE_ROLE_ARN]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        assert resources != "*"
        assert "*" not in resources
    notifications = statements["DiepTriggerBucketNotifications"]["Resource"]
    assert notifications == ["arn:aws:s3:::diep-raw", "arn:aws:s3:::partner-drop"]
    assert statements["DiepQueues"]["Resource"] == [
        queue_arn(settings.DIEP_INGEST_QUEUE),
        queue_arn(settings.DIEP_INGEST_DLQ),
    ]
    assert statements["DiepDeadLetterRedrive"]["Resource"] == [queue_arn(settings.DIEP_INGEST_DLQ)]
    assert statements["DiepGlueRuns"]["Resource"] == [
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{settings.DIEP_DEFAULT_GLUE_JOB_NAME}"
    ]
    assert statements["DiepMirrorTables"]["Resource"] == [
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/diep-jobs",
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/diep-job-runs",
    ]
