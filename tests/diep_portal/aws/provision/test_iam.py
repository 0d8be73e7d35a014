"""The portal role's IAM policy, built without AWS (the account given)."""

from __future__ import annotations

from typing import Any

from diep_portal.aws.provision import iam_policy
from diep_portal.aws.provision.arns import partition

ACCOUNT = "210987654321"


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_only_our_buckets_need_no_trigger_read_statement(settings: Any) -> None:
    settings.AWS_REGION = "eu-west-1"
    policy = iam_policy(account_id=ACCOUNT)

    assert policy["Version"] == "2012-10-17"
    assert list(statements(policy)) == [
        "DiepBucketObjects",
        "DiepBucketList",
        "DiepTriggerBucketNotifications",
        "DiepQueues",
        "DiepDeadLetterRedrive",
        "DiepGlueRuns",
        "DiepMirrorTables",
        "DiepPassGlueRole",
    ]
    queues = statements(policy)["DiepQueues"]["Resource"]
    assert queues == [
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{settings.DIEP_INGEST_QUEUE}",
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{settings.DIEP_INGEST_DLQ}",
    ]
    notifications = statements(policy)["DiepTriggerBucketNotifications"]["Resource"]
    assert notifications == [f"arn:aws:s3:::{settings.DIEP_RAW_BUCKET}"]


def test_foreign_trigger_buckets_are_readable_and_extra_glue_jobs_runnable(
    settings: Any,
) -> None:
    settings.AWS_REGION = "us-east-1"
    policy = iam_policy(
        trigger_buckets=["partner-drop", settings.DIEP_CURATED_BUCKET],
        glue_job_names=["custom-job", ""],
        account_id=ACCOUNT,
    )

    by_sid = statements(policy)
    assert policy["Statement"][3]["Sid"] == "DiepTriggerBucketRead"
    assert by_sid["DiepTriggerBucketRead"]["Resource"] == [
        "arn:aws:s3:::partner-drop",
        "arn:aws:s3:::partner-drop/*",
    ]
    assert by_sid["DiepTriggerBucketNotifications"]["Resource"] == sorted(
        f"arn:aws:s3:::{b}"
        for b in ("partner-drop", settings.DIEP_CURATED_BUCKET, settings.DIEP_RAW_BUCKET)
    )
    assert by_sid["DiepGlueRuns"]["Resource"] == sorted(
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{name}"
        for name in ("custom-job", settings.DIEP_DEFAULT_GLUE_JOB_NAME)
    )


def test_partitions() -> None:
    assert partition("eu-central-1") == "aws"
    assert partition("cn-north-1") == "aws-cn"
    assert partition("us-gov-west-1") == "aws-us-gov"
