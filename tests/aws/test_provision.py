"""Provisioning against the moto server: plan → apply → a second plan with nothing to do."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from django.conf import settings
from django.core.management import CommandError, call_command

from diep_portal.aws import provision
from diep_portal.aws.provision import (
    GLUE_ADDITIONAL_MODULES,
    Change,
    ProvisionError,
    Trigger,
    apply,
    desired_infrastructure,
    etl_package_zip,
    merge_notifications,
    notification_id,
    overlapping_triggers,
    plan,
)
from diep_portal.aws.session import get_client
from jobs import services
from jobs.selectors import job_triggers
from jobs.specs import job_to_spec

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"  # moto's account
GLUE_SCRIPT = b"# the Glue entry point (test stand-in)\nprint('diep')\n"


@pytest.fixture(autouse=True)
def glue_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in Glue script: the real one may not exist yet, and its bytes are not
    what these tests are about."""
    path = tmp_path / "glue_job.py"
    path.write_bytes(GLUE_SCRIPT)
    monkeypatch.setattr(provision, "GLUE_SCRIPT_PATH", path)
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


def current() -> provision.Desired:
    return desired_infrastructure(triggers=job_triggers())


def trigger(bucket: str, prefix: str = "", suffix: str = "") -> dict[str, Any]:
    return {"bucket": bucket, "prefix": prefix, "suffix": suffix, "window_seconds": 0}


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


def test_merge_keeps_foreign_entries_and_eventbridge() -> None:
    current_config = {
        "QueueConfigurations": [
            {"Id": "analytics-team", "QueueArn": "a", "Events": ["s3:ObjectCreated:*"]},
            {"Id": "diep-stale", "QueueArn": "q", "Events": ["s3:ObjectCreated:*"]},
        ],
        "LambdaFunctionConfigurations": [
            {"Id": "diep-lambda", "LambdaFunctionArn": "l", "Events": ["s3:ObjectCreated:*"]}
        ],
        "EventBridgeConfiguration": {},
    }
    ours = [{"Id": "diep-new", "QueueArn": "q", "Events": ["s3:ObjectCreated:*"]}]

    merged = merge_notifications(current_config, ours)

    assert [c["Id"] for c in merged["QueueConfigurations"]] == ["analytics-team", "diep-new"]
    # Only queue entries are ever ours, whatever their Id says.
    assert merged["LambdaFunctionConfigurations"] == current_config["LambdaFunctionConfigurations"]
    assert merged["EventBridgeConfiguration"] == {}


def test_notification_ids_are_bounded_and_distinct() -> None:
    assert notification_id("orders") == "diep-orders"
    long_a, long_b = "a" * 99 + "x", "a" * 99 + "y"
    assert len(notification_id(long_a)) == provision.NOTIFICATION_ID_MAX
    assert notification_id(long_a) != notification_id(long_b)
    assert notification_id(long_a).startswith("diep-")


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


def test_glue_job_and_artifacts(aws: str, tmp_path: Path) -> None:
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
    assert job["GlueVersion"] == settings.DIEP_GLUE_VERSION
    assert job["WorkerType"] == settings.DIEP_GLUE_WORKER_TYPE
    assert job["NumberOfWorkers"] == settings.DIEP_GLUE_NUMBER_OF_WORKERS
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == settings.DIEP_GLUE_MAX_CONCURRENT_RUNS
    assert job["Timeout"] == 2880

    s3 = get_client("s3")
    script = s3.get_object(Bucket="diep-artifacts", Key="glue/glue_job.py")["Body"].read()
    assert script == GLUE_SCRIPT
    archive = s3.get_object(Bucket="diep-artifacts", Key="glue/diep_etl.zip")["Body"].read()
    assert archive == etl_package_zip()  # deterministic: same sources, same bytes
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert names == sorted(names)
    assert {"ingestion/__init__.py", "ingestion/etl/__init__.py", "ingestion/etl/spec.py"} <= set(
        names
    )
    assert not [name for name in names if "__pycache__" in name or not name.endswith(".py")]

    # Importable from the zip alone (-I: no cwd, no PYTHONPATH; cwd is elsewhere).
    zip_path = tmp_path / "diep_etl.zip"
    zip_path.write_bytes(archive)
    # ingestion.etl.spec as asked, plus what the Glue script itself imports.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import ingestion.etl.spec as spec; "
        "import ingestion.etl.errors, ingestion.etl.run, ingestion.etl.storage; "
        "print(spec.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(zip_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(zip_path))


def test_the_repository_glue_script_is_the_default_source() -> None:
    real = provision.REPO_ROOT / "ingestion" / "glue_job.py"
    if not real.is_file():
        pytest.skip("ingestion/glue_job.py is not there yet")
    desired = desired_infrastructure(triggers=[], glue_script=real)
    (script,) = [a for a in desired.artifacts if a.key == "glue/glue_job.py"]
    assert script.data == real.read_bytes()


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
    assert info.value.extra["overlaps"] == [["orders-all", "orders-eu"]]
    assert get_client("s3").list_buckets()["Buckets"] == []
    assert "QueueUrls" not in get_client("sqs").list_queues()


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (("orders/", ".csv"), ("orders/eu/", ".csv"), True),
        (("orders/", ".csv"), ("orders/", "eu.csv"), True),
        (("orders/", ""), ("orders/", ".csv"), True),
        (("", ""), ("anything/", ".json"), True),
        (("orders/", ".csv"), ("returns/", ".csv"), False),
        (("orders/", ".csv"), ("orders/", ".json"), False),
    ],
)
def test_overlap_rule(a: tuple[str, str], b: tuple[str, str], overlap: bool) -> None:
    first = Trigger("a", "bucket", *a)
    second = Trigger("b", "bucket", *b)
    assert bool(overlapping_triggers([first, second])) is overlap
    # Other buckets never overlap.
    assert overlapping_triggers([first, Trigger("b", "other", *b)]) == []


def test_missing_foreign_bucket_is_refused(aws: str, make_job: Callable[..., Any]) -> None:
    make_job(name="ghost", trigger=trigger("nobody-made-this-bucket", "in/"))
    with pytest.raises(ProvisionError) as info:
        plan(current())
    assert "nobody-made-this-bucket (jobs ghost)" in info.value.message
    assert get_client("s3").list_buckets()["Buckets"] == []


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
