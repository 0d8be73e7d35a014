"""The infrastructure service on the moto server: the jobs in the database → the AWS
resources they need, planned or applied; and `manage.py provision`, its command."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command

from diep_portal.aws.provision import NotificationFilter
from diep_portal.aws.session import get_client
from diep_portal.infrastructure import (
    infrastructure_apply,
    infrastructure_iam_policy,
    infrastructure_notification_filters,
)
from jobs import services
from jobs.models import DataGrant, Job
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


def test_iam_policy_comes_from_grants_and_settings_never_from_job_rows(
    aws: str, make_job: Callable[..., Any], settings: Any
) -> None:
    Group.objects.create(name="partners")
    DataGrant.objects.all().delete()
    DataGrant.objects.create(team="partners", bucket="partner-drop", prefix="in/")
    DataGrant.objects.create(bucket="diep-curated", prefix="partners/", can_write=True)
    settings.DIEP_GLUE_JOB_NAMES = ["diep-ingest", "partner-glue"]
    make_job(
        name="partner",
        team="partners",
        glue_job_name="partner-glue",
        source={"uri": "s3://partner-drop/in/", "format": "csv"},
        destination={"uri": "s3://diep-curated/partners/orders/"},
        trigger=trigger("partner-drop", "in/"),
    )
    # A job broken before the rules existed names whatever it likes: no right follows.
    Job.objects.filter(name="partner").update(
        glue_job_name="someone-elses-glue-job", trigger_bucket="victim-bucket"
    )

    by_sid = {s["Sid"]: s for s in infrastructure_iam_policy()["Statement"]}

    assert by_sid["DiepGlueRuns"]["Resource"] == [
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/diep-ingest",
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/partner-glue",
    ]
    assert by_sid["DiepDataRead"]["Resource"] == [
        "arn:aws:s3:::diep-curated/partners/*",
        "arn:aws:s3:::partner-drop/in/*",
    ]
    assert by_sid["DiepDataWrite"]["Resource"] == [
        "arn:aws:s3:::diep-curated/partners/*",
        "arn:aws:s3:::diep-curated/_diep_tmp/*",
    ]
    assert "victim-bucket" not in json.dumps(by_sid)


def test_jobs_breaking_location_rules_are_skipped_and_reported(
    aws: str, make_job: Callable[..., Any]
) -> None:
    make_job(name="orders", trigger=trigger("diep-raw", "orders/"))
    make_job(
        name="stale",
        source={"uri": "s3://diep-raw/stale/", "format": "csv"},
        trigger=trigger("diep-raw", "stale/"),
    )
    DataGrant.objects.filter(bucket="diep-raw").delete()
    DataGrant.objects.create(bucket="diep-raw", prefix="orders/")  # stale/ withdrawn

    planned = infrastructure_apply(plan_only=True)

    assert [name for name, _ in planned.skipped] == ["stale"]
    assert "s3://diep-raw/stale/ is not in a location" in " ".join(planned.skipped[0][1])
    assert [f.job_name for f in infrastructure_notification_filters()] == ["orders"]


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


def test_one_jobs_bad_trigger_never_blocks_the_others(
    aws: str, make_job: Callable[..., Any]
) -> None:
    DataGrant.objects.create(bucket="acme-raw")  # granted, but nobody made the bucket
    make_job(name="orders-all", trigger=trigger("diep-raw", "orders/"))
    make_job(name="orders-eu", trigger=trigger("diep-raw", "orders/eu/"))  # overlaps
    make_job(name="acme", trigger=trigger("acme-raw", "in/"))  # the README's example
    out, err = io.StringIO(), io.StringIO()
    call_command("provision", stdout=out, stderr=err)
    assert out.getvalue().splitlines()[-1].endswith("0 updated, 0 unchanged")
    text = err.getvalue()
    assert "job acme (no trigger notification): its trigger bucket 'acme-raw' does not" in text
    assert "job orders-eu (no trigger notification): its trigger overlaps job 'orders-all'" in (
        text
    )
    ours = get_client("s3").get_bucket_notification_configuration(Bucket="diep-raw")
    assert [c["Id"] for c in ours["QueueConfigurations"]] == ["diep-orders-all"]
    # Once fixed, the next provisioning adds it.
    Job.objects.filter(name="orders-eu").update(trigger_prefix="orders-eu/")
    call_command("provision", stdout=io.StringIO())
    ours = get_client("s3").get_bucket_notification_configuration(Bucket="diep-raw")
    assert sorted(c["Id"] for c in ours["QueueConfigurations"]) == [
        "diep-orders-all",
        "diep-orders-eu",
    ]


def test_command_iam_policy(aws: str, make_job: Callable[..., Any]) -> None:
    DataGrant.objects.exclude(bucket__in=["diep-raw", "partner-drop"]).delete()
    DataGrant.objects.filter(bucket="partner-drop").update(can_write=False)
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
    assert notifications == ["arn:aws:s3:::diep-raw", "arn:aws:s3:::partner-drop"]  # read grants
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
