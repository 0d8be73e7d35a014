"""The portal role's least-privilege IAM policy, from settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from diep_portal.aws.provision.arns import Arns, caller_account_id
from diep_portal.aws.provision.resources import mirror_tables


def iam_policy(
    *,
    trigger_buckets: Iterable[str] = (),
    glue_job_names: Iterable[str] = (),
    account_id: str | None = None,
) -> dict[str, Any]:
    """A least-privilege IAM policy document for the portal's own role, from settings.

    Every resource is a concrete ARN (`account_id` defaults to the caller's account).
    `trigger_buckets` get notification read/write (and object reads when they are not
    ours); `glue_job_names` adds Glue jobs beyond the default one (jobs may name their
    own). iam:PassRole on the Glue role serves provisioning's CreateJob/UpdateJob only,
    and only towards Glue.
    """
    region = settings.AWS_REGION
    arns = Arns(region=region, account=account_id or caller_account_id())
    ours = sorted(
        {settings.DIEP_RAW_BUCKET, settings.DIEP_CURATED_BUCKET, settings.DIEP_ARTIFACTS_BUCKET}
    )
    triggered = sorted({*trigger_buckets, settings.DIEP_RAW_BUCKET})
    foreign = [bucket for bucket in triggered if bucket not in ours]
    queue, dlq = arns.queue(settings.DIEP_INGEST_QUEUE), arns.queue(settings.DIEP_INGEST_DLQ)
    glue_jobs = sorted({settings.DIEP_DEFAULT_GLUE_JOB_NAME, *(n for n in glue_job_names if n)})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DiepBucketObjects",
            "Effect": "Allow",
            # DeleteObject: the local engine publishes output by moving it from a
            # temporary prefix (copy + delete) and cleans that prefix up.
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"{arns.bucket(b)}/*" for b in ours],
        },
        {
            "Sid": "DiepBucketList",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": [arns.bucket(b) for b in ours],
        },
        {
            "Sid": "DiepTriggerBucketNotifications",
            "Effect": "Allow",
            "Action": ["s3:GetBucketNotification", "s3:PutBucketNotification"],
            "Resource": [arns.bucket(b) for b in triggered],
        },
        {
            "Sid": "DiepQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
            "Resource": [queue, dlq],
        },
        {
            "Sid": "DiepDeadLetterRedrive",
            "Effect": "Allow",
            "Action": ["sqs:StartMessageMoveTask"],
            "Resource": [dlq],
        },
        {
            "Sid": "DiepGlueRuns",
            "Effect": "Allow",
            "Action": [
                "glue:BatchStopJobRun",
                "glue:GetJob",
                "glue:GetJobRun",
                "glue:GetJobRuns",
                "glue:StartJobRun",
            ],
            "Resource": [arns.glue_job(name) for name in glue_jobs],
        },
        {
            "Sid": "DiepMirrorTables",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
            ],
            "Resource": [arns.table(table.name) for table in mirror_tables()],
        },
        {
            "Sid": "DiepPassGlueRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [settings.DIEP_GLUE_ROLE_ARN],
            "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
        },
    ]
    if foreign:
        # The local engine and the consumer read source files where they land.
        statements.insert(
            3,
            {
                "Sid": "DiepTriggerBucketRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [arns.bucket(b) for b in foreign]
                + [f"{arns.bucket(b)}/*" for b in foreign],
            },
        )
    return {"Version": "2012-10-17", "Statement": statements}
