"""Provisioning against the moto server: plan → apply → a second plan with nothing to do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from django.conf import settings

from diep_portal.aws.provision import (
    ProvisionError,
    apply,
    desired_infrastructure,
    etl_package_zip,
    plan,
)
from diep_portal.aws.provision.resources import GLUE_ADDITIONAL_MODULES
from diep_portal.aws.session import get_client
from jobs import services
from jobs.models import DataGrant
from jobs.specs import job_to_spec
from tests.diep_portal.aws.provision.conftest import (
    ACCOUNT,
    GLUE_SCRIPT,
    assert_all_unchanged,
    by_kind,
    current,
    only,
    queue_arn,
    queue_attributes,
    trigger,
)

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ plan → apply → plan


def test_fresh_account_plans_creates_then_nothing(aws: str, make_job: Callable[..., Any]) -> None:
    make_job()  # orders-daily: s3://diep-raw/orders/*.csv
    desired = current()

    first = plan(desired)
    assert {c.action for c in first} == {"create"}
    assert {c.kind for c in first} == {
        "bucket",
        "queue",
        "queue-policy",
        "notification",
        "table",
        "artifact",
        "glue-job",
    }
    assert {c.name for c in by_kind(first, "bucket")} == {
        "diep-raw",
        "diep-curated",
        "diep-artifacts",
    }
    assert {c.name for c in by_kind(first, "table")} == {"diep-jobs", "diep-job-runs"}

    applied = apply(desired)
    assert [(c.kind, c.name, c.action) for c in applied] == [
        (c.kind, c.name, c.action) for c in first
    ]

    assert_all_unchanged(plan(desired))
    assert_all_unchanged(apply(desired))
    key = get_client("dynamodb").describe_table(TableName="diep-job-runs")["Table"]["KeySchema"]
    assert key == [
        {"AttributeName": "job_id", "KeyType": "HASH"},
        {"AttributeName": "run_key", "KeyType": "RANGE"},
    ]


# ------------------------------------------------------------------ notifications


def test_foreign_notifications_survive_and_only_ours_is_removed(
    aws: str, make_job: Callable[..., Any]
) -> None:
    s3, sqs = get_client("s3"), get_client("sqs")
    s3.create_bucket(Bucket="partner-drop")
    sqs.create_queue(QueueName="analytics")
    topic = get_client("sns").create_topic(Name="partner-topic")["TopicArn"]
    foreign_queue = {
        "Id": "analytics-team",
        "QueueArn": queue_arn("analytics"),
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "analytics/"}]}},
    }
    foreign_topic = {"Id": "partner-topic", "TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}
    s3.put_bucket_notification_configuration(
        Bucket="partner-drop",
        NotificationConfiguration={
            "QueueConfigurations": [foreign_queue],
            "TopicConfigurations": [foreign_topic],
        },
    )
    job = make_job(name="partner-orders", trigger=trigger("partner-drop", "in/", ".csv"))

    changes = apply(current())

    change = only(changes, "notification", "partner-drop")
    assert change.action == "create"
    assert "add diep-partner-orders" in change.detail
    assert "keep 2 foreign" in change.detail
    config = s3.get_bucket_notification_configuration(Bucket="partner-drop")
    queues = {c["Id"]: c for c in config["QueueConfigurations"]}
    assert set(queues) == {"analytics-team", "diep-partner-orders"}
    assert queues["analytics-team"]["QueueArn"] == queue_arn("analytics")
    ours = queues["diep-partner-orders"]
    assert ours["QueueArn"] == queue_arn(settings.DIEP_INGEST_QUEUE)
    assert ours["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in ours["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "in/", "suffix": ".csv"}
    assert config["TopicConfigurations"] == [foreign_topic]
    assert_all_unchanged(plan(current()))

    services.job_set_enabled(job=job, enabled=False, user=None, source="test")
    desired = current()
    assert desired.triggers == ()
    planned = plan(desired)
    change = only(planned, "notification", "partner-drop")
    assert change.action == "update"
    assert "remove diep-partner-orders" in change.detail
    assert only(planned, "queue-policy", settings.DIEP_INGEST_QUEUE).action == "update"

    apply(desired)

    config = s3.get_bucket_notification_configuration(Bucket="partner-drop")
    assert [c["Id"] for c in config["QueueConfigurations"]] == ["analytics-team"]
    assert config["TopicConfigurations"] == [foreign_topic]
    assert_all_unchanged(plan(desired))


def test_trigger_changes_update_our_entry(aws: str, make_job: Callable[..., Any]) -> None:
    job = make_job(name="orders", trigger=trigger("diep-raw", "orders/", ".csv"))
    apply(current())
    spec = job_to_spec(job)
    spec["trigger"] = {**spec["trigger"], "prefix": "orders/v2/"}
    services.job_update(job=job, spec=spec, user=None, source="test")

    change = only(plan(current()), "notification", "diep-raw")
    assert change.action == "update"
    assert "change diep-orders" in change.detail
    apply(current())
    config = get_client("s3").get_bucket_notification_configuration(Bucket="diep-raw")
    (ours,) = config["QueueConfigurations"]
    rules = {r["Name"].lower(): r["Value"] for r in ours["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "orders/v2/", "suffix": ".csv"}
    assert_all_unchanged(plan(current()))


# ------------------------------------------------------------------ queues


def test_queue_redrive_retention_visibility_and_drift(aws: str) -> None:
    desired = desired_infrastructure(triggers=[])
    apply(desired)

    main = queue_attributes(settings.DIEP_INGEST_QUEUE)
    dlq = queue_attributes(settings.DIEP_INGEST_DLQ)
    redrive = json.loads(main["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) >= 5
    assert int(redrive["maxReceiveCount"]) == settings.DIEP_DLQ_MAX_RECEIVE_COUNT
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert main["VisibilityTimeout"] == str(settings.DIEP_CONSUMER_VISIBILITY_SECONDS)
    assert main["ReceiveMessageWaitTimeSeconds"] == "20"
    assert main["SqsManagedSseEnabled"] == "true"

    sqs = get_client("sqs")
    url = sqs.get_queue_url(QueueName=settings.DIEP_INGEST_QUEUE)["QueueUrl"]
    # moto forgets the Policy unless it is sent along: keep this drift about visibility.
    policy = queue_attributes(settings.DIEP_INGEST_QUEUE)["Policy"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30", "Policy": policy})

    planned = plan(desired)
    change = only(planned, "queue", settings.DIEP_INGEST_QUEUE)
    assert change.action == "update"
    assert f"VisibilityTimeout 30 → {settings.DIEP_CONSUMER_VISIBILITY_SECONDS}" in change.detail
    assert [c for c in planned if c.action != "unchanged"] == [change]

    apply(desired)
    visibility = queue_attributes(settings.DIEP_INGEST_QUEUE)["VisibilityTimeout"]
    assert visibility == str(settings.DIEP_CONSUMER_VISIBILITY_SECONDS)
    assert_all_unchanged(plan(desired))


def test_queue_policy_allows_only_our_trigger_buckets(
    aws: str, make_job: Callable[..., Any]
) -> None:
    get_client("s3").create_bucket(Bucket="partner-drop")
    make_job(name="partner-orders", trigger=trigger("partner-drop", "in/"))
    make_job(name="raw-orders", trigger=trigger("diep-raw", "orders/"))

    apply(current())

    policy = json.loads(queue_attributes(settings.DIEP_INGEST_QUEUE)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == queue_arn(settings.DIEP_INGEST_QUEUE)
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == [
        "arn:aws:s3:::diep-raw",
        "arn:aws:s3:::partner-drop",
    ]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


# ------------------------------------------------------------------ buckets


def test_buckets_are_private_and_encrypted_and_drift_is_fixed(aws: str) -> None:
    desired = desired_infrastructure(triggers=[])
    apply(desired)
    s3 = get_client("s3")
    for bucket in ("diep-raw", "diep-curated", "diep-artifacts"):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    s3.delete_public_access_block(Bucket="diep-curated")
    s3.delete_bucket_encryption(Bucket="diep-curated")
    change = only(plan(desired), "bucket", "diep-curated")
    assert change.action == "update"
    assert "public access block" in change.detail
    assert "default encryption: none → AES256" in change.detail
    apply(desired)
    assert_all_unchanged(plan(desired))


# ------------------------------------------------------------------ artifacts and Glue


def test_glue_job_and_artifacts(aws: str) -> None:
    desired = desired_infrastructure(triggers=[])
    apply(desired)

    job = get_client("glue").get_job(JobName=settings.DIEP_DEFAULT_GLUE_JOB_NAME)["Job"]
    assert job["DefaultArguments"] == {
        "--extra-py-files": "s3://diep-artifacts/glue/diep_etl.zip",
        "--additional-python-modules": GLUE_ADDITIONAL_MODULES,
        "--job-language": "python",
        "--enable-continuous-cloudwatch-log": "true",
        "--diep_artifacts_bucket": "diep-artifacts",
    }
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": "s3://diep-artifacts/glue/glue_job.py",
        "PythonVersion": "3",
    }
    assert job["Role"] == settings.DIEP_GLUE_ROLE_ARN
    assert job["GlueVersion"] == settings.DIEP_GLUE_VERSION == "5.1"
    assert job["WorkerType"] == settings.DIEP_GLUE_WORKER_TYPE
    assert job["NumberOfWorkers"] == settings.DIEP_GLUE_NUMBER_OF_WORKERS
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == settings.DIEP_GLUE_MAX_CONCURRENT_RUNS
    assert job["Timeout"] == 2880

    s3 = get_client("s3")
    script = s3.get_object(Bucket="diep-artifacts", Key="glue/glue_job.py")["Body"].read()
    assert script == GLUE_SCRIPT
    archive = s3.get_object(Bucket="diep-artifacts", Key="glue/diep_etl.zip")["Body"].read()
    assert archive == etl_package_zip()  # deterministic: same sources, same bytes


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("4.0", "Glue 4.0 runs Python 3.10, Spark 3.3, Java 8, and DIEP's ETL needs Python 3.11"),
        ("3.0", "Glue 3.0 runs Python 3.7"),
        ("6.7", "not a Glue version DIEP knows; use 5.1, 5.0"),
    ],
)
def test_glue_versions_that_cannot_run_the_code_are_refused(
    aws: str, settings: Any, version: str, reason: str
) -> None:
    settings.DIEP_GLUE_VERSION = version
    with pytest.raises(ProvisionError, match=re.escape(reason)):
        desired_infrastructure(triggers=[])
    settings.DIEP_GLUE_VERSION = "5.0"
    assert desired_infrastructure(triggers=[]).glue_job.glue_version == "5.0"


def test_changed_script_is_uploaded_again(aws: str, glue_script: Path) -> None:
    apply(desired_infrastructure(triggers=[]))
    glue_script.write_bytes(GLUE_SCRIPT + b"# v2\n")

    desired = desired_infrastructure(triggers=[])
    change = only(plan(desired), "artifact", "s3://diep-artifacts/glue/glue_job.py")
    assert change.action == "update"
    apply(desired)
    body = get_client("s3").get_object(Bucket="diep-artifacts", Key="glue/glue_job.py")["Body"]
    assert body.read() == GLUE_SCRIPT + b"# v2\n"
    assert_all_unchanged(plan(desired))


def test_glue_job_update_path_with_stubber(aws: str) -> None:
    desired = desired_infrastructure(triggers=[])
    apply(desired)
    name = settings.DIEP_DEFAULT_GLUE_JOB_NAME
    definition = desired.glue_job.definition()
    drifted = {**definition, "Name": name, "NumberOfWorkers": 7}
    expected_update = {
        "Role": settings.DIEP_GLUE_ROLE_ARN,
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": "s3://diep-artifacts/glue/glue_job.py",
            "PythonVersion": "3",
        },
        "DefaultArguments": {
            "--extra-py-files": "s3://diep-artifacts/glue/diep_etl.zip",
            "--additional-python-modules": GLUE_ADDITIONAL_MODULES,
            "--job-language": "python",
            "--enable-continuous-cloudwatch-log": "true",
            "--diep_artifacts_bucket": "diep-artifacts",
        },
        "GlueVersion": settings.DIEP_GLUE_VERSION,
        "WorkerType": settings.DIEP_GLUE_WORKER_TYPE,
        "NumberOfWorkers": settings.DIEP_GLUE_NUMBER_OF_WORKERS,
        "ExecutionProperty": {"MaxConcurrentRuns": settings.DIEP_GLUE_MAX_CONCURRENT_RUNS},
        "Timeout": 2880,
        "MaxRetries": 0,
    }

    # moto has no UpdateJob: the Glue client alone is stubbed, the rest stays on moto.
    with Stubber(get_client("glue")) as stub:
        stub.add_response("get_job", {"Job": drifted}, {"JobName": name})
        stub.add_response(
            "update_job", {"JobName": name}, {"JobName": name, "JobUpdate": expected_update}
        )
        changes = apply(desired)
        stub.assert_no_pending_responses()

    change = only(changes, "glue-job", name)
    assert change.action == "update"
    assert f"NumberOfWorkers (7 → {settings.DIEP_GLUE_NUMBER_OF_WORKERS})" in change.detail
    assert [c for c in changes if c.action != "unchanged"] == [change]


# ------------------------------------------------------------------ refusals


def test_overlapping_triggers_are_refused_before_any_aws_change(
    aws: str, make_job: Callable[..., Any]
) -> None:
    make_job(name="orders-all", trigger=trigger("diep-raw", "orders/", ".csv"))
    make_job(name="orders-eu", trigger=trigger("diep-raw", "orders/eu/", ""))
    make_job(name="returns", trigger=trigger("diep-raw", "returns/", ".csv"))

    with pytest.raises(ProvisionError) as info:
        apply(current())

    assert "orders-all" in info.value.message
    assert "orders-eu" in info.value.message
    assert "returns" not in info.value.message
    assert list(info.value.extra["refused"]) == ["orders-eu"]  # the newer one of the pair
    assert get_client("s3").list_buckets()["Buckets"] == []
    assert "QueueUrls" not in get_client("sqs").list_queues()


def test_missing_foreign_bucket_is_refused(aws: str, make_job: Callable[..., Any]) -> None:
    DataGrant.objects.create(bucket="nobody-made-this-bucket")
    make_job(name="ghost", trigger=trigger("nobody-made-this-bucket", "in/"))
    with pytest.raises(ProvisionError) as info:
        plan(current())
    assert info.value.extra["refused"] == {
        "ghost": [
            "its trigger bucket 'nobody-made-this-bucket' does not exist (DIEP creates only "
            "its own buckets)"
        ]
    }
    assert get_client("s3").list_buckets()["Buckets"] == []


# ------------------------------------------------------------------ Glue state events


def test_glue_state_events_rule(aws: str, settings: Any) -> None:
    settings.DIEP_PROVISION_GLUE_EVENTS = True
    desired = desired_infrastructure(triggers=[])
    assert only(plan(desired), "event-rule", "diep-glue-job-state").action == "create"

    apply(desired)

    events = get_client("events")
    rule = events.describe_rule(Name="diep-glue-job-state")
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
    }
    assert rule["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule="diep-glue-job-state")["Targets"]
    assert [t["Arn"] for t in targets] == [queue_arn(settings.DIEP_INGEST_QUEUE)]
    policy = json.loads(queue_attributes(settings.DIEP_INGEST_QUEUE)["Policy"])
    events_statement = policy["Statement"][1]
    assert events_statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert events_statement["Condition"]["ArnEquals"]["aws:SourceArn"] == rule["Arn"]

    assert_all_unchanged(plan(desired))
    assert_all_unchanged(plan(desired))
