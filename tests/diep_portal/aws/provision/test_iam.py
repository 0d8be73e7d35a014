"""The portal role's IAM policy, built without AWS (the account given)."""

from __future__ import annotations

from typing import Any

from diep_portal.aws.provision import DataLocation, iam_policy
from diep_portal.aws.provision.arns import partition

ACCOUNT = "210987654321"


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_without_grants_the_role_reaches_no_data(settings: Any) -> None:
    settings.AWS_REGION = "eu-west-1"
    policy = iam_policy(account_id=ACCOUNT)

    assert policy["Version"] == "2012-10-17"
    assert list(statements(policy)) == [
        "DiepArtifacts",
        "DiepArtifactsList",
        "DiepQueues",
        "DiepDeadLetterRedrive",
        "DiepGlueRuns",
        "DiepMirrorTables",
        "DiepPassGlueRole",
    ]
    assert statements(policy)["DiepArtifacts"]["Resource"] == [
        f"arn:aws:s3:::{settings.DIEP_ARTIFACTS_BUCKET}/*"
    ]
    queues = statements(policy)["DiepQueues"]["Resource"]
    assert queues == [
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{settings.DIEP_INGEST_QUEUE}",
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{settings.DIEP_INGEST_DLQ}",
    ]
    assert statements(policy)["DiepGlueRuns"]["Resource"] == [
        f"arn:aws:glue:eu-west-1:{ACCOUNT}:job/{settings.DIEP_DEFAULT_GLUE_JOB_NAME}"
    ]


def test_data_rights_follow_the_grants_prefix_by_prefix(settings: Any) -> None:
    settings.AWS_REGION = "us-east-1"
    policy = iam_policy(
        data_locations=[
            DataLocation("partner-drop", "team-a/", read=True, write=False),
            DataLocation("curated", "team-a/", read=False, write=True),
            DataLocation("curated", "shared/", read=True, write=True),
            DataLocation("open", "", read=True, write=False),
        ],
        glue_job_names=["custom-job", ""],
        staging_prefix="_diep_tmp/",
        account_id=ACCOUNT,
    )

    by_sid = statements(policy)
    assert by_sid["DiepDataRead"]["Action"] == ["s3:GetObject"]
    assert by_sid["DiepDataRead"]["Resource"] == [
        "arn:aws:s3:::curated/shared/*",
        "arn:aws:s3:::open/*",
        "arn:aws:s3:::partner-drop/team-a/*",
    ]
    assert by_sid["DiepDataWrite"]["Resource"] == [
        "arn:aws:s3:::curated/shared/*",
        "arn:aws:s3:::curated/team-a/*",
        "arn:aws:s3:::curated/_diep_tmp/*",  # staging, in writable buckets only
    ]
    lists = [s for sid, s in by_sid.items() if sid.startswith("DiepDataList")]
    assert [(s["Resource"], s.get("Condition")) for s in lists] == [
        (
            ["arn:aws:s3:::curated"],
            {"StringLike": {"s3:prefix": ["_diep_tmp/*", "shared/*", "team-a/*"]}},
        ),
        (["arn:aws:s3:::open"], None),  # the whole bucket is granted
        (["arn:aws:s3:::partner-drop"], {"StringLike": {"s3:prefix": ["team-a/*"]}}),
    ]
    # Triggers can lie only where some team may read.
    assert by_sid["DiepTriggerBucketNotifications"]["Resource"] == [
        "arn:aws:s3:::curated",
        "arn:aws:s3:::open",
        "arn:aws:s3:::partner-drop",
    ]
    assert by_sid["DiepGlueRuns"]["Resource"] == sorted(
        f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{name}"
        for name in ("custom-job", settings.DIEP_DEFAULT_GLUE_JOB_NAME)
    )
    assert len(by_sid) == len(policy["Statement"])  # Sids are unique


def test_partitions() -> None:
    assert partition("eu-central-1") == "aws"
    assert partition("cn-north-1") == "aws-cn"
    assert partition("us-gov-west-1") == "aws-us-gov"
