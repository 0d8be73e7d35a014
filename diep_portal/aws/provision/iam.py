"""The portal role's least-privilege IAM policy, from settings and the admins' data grants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from diep_portal.aws.provision.arns import Arns, caller_account_id
from diep_portal.aws.provision.resources import mirror_tables


@dataclass(frozen=True)
class DataLocation:
    """An S3 location some team's jobs may read and/or write (a key prefix; "" = all)."""

    bucket: str
    prefix: str
    read: bool
    write: bool


def iam_policy(
    *,
    data_locations: Iterable[DataLocation] = (),
    glue_job_names: Iterable[str] = (),
    staging_prefix: str = "_diep_tmp/",
    account_id: str | None = None,
) -> dict[str, Any]:
    """A least-privilege IAM policy document for the portal's own role.

    Every resource is a concrete ARN (`account_id` defaults to the caller's account).
    Data rights follow the grants exactly: objects under each readable prefix may be read
    and listed, under each writable one written and deleted (overwrite and publish), and
    each writable bucket's `staging_prefix` used to stage output; buckets with readable
    locations (where triggers may lie) get notification rights. `glue_job_names` are the
    Glue jobs DIEP may start (settings, never what operators typed). iam:PassRole on the
    Glue role serves provisioning's CreateJob/UpdateJob only, and only towards Glue.
    """
    region = settings.AWS_REGION
    arns = Arns(region=region, account=account_id or caller_account_id())
    artifacts = arns.bucket(settings.DIEP_ARTIFACTS_BUCKET)
    locations = sorted(set(data_locations), key=lambda loc: (loc.bucket, loc.prefix))
    readable = [loc for loc in locations if loc.read]
    writable = [loc for loc in locations if loc.write]
    staged = sorted({loc.bucket for loc in writable})
    queue, dlq = arns.queue(settings.DIEP_INGEST_QUEUE), arns.queue(settings.DIEP_INGEST_DLQ)
    glue_jobs = sorted({settings.DIEP_DEFAULT_GLUE_JOB_NAME, *(n for n in glue_job_names if n)})

    def objects(loc: DataLocation) -> str:
        return f"{arns.bucket(loc.bucket)}/{loc.prefix}*"

    statements: list[dict[str, Any]] = [
        {
            "Sid": "DiepArtifacts",
            "Effect": "Allow",
            # Scripts, specs, manifests and run metrics: the portal's own bucket.
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"{artifacts}/*"],
        },
        {
            "Sid": "DiepArtifactsList",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": [artifacts],
        },
    ]
    if readable:
        statements.append(
            {
                "Sid": "DiepDataRead",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [objects(loc) for loc in readable],
            }
        )
    if writable:
        statements.append(
            {
                "Sid": "DiepDataWrite",
                "Effect": "Allow",
                # Delete: overwrite replaces what lies under the destination, and the
                # publish step moves staged output (copy, then delete) into place.
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": [objects(loc) for loc in writable]
                + [f"{arns.bucket(bucket)}/{staging_prefix}*" for bucket in staged],
            }
        )
    listed: dict[str, set[str]] = {}
    for loc in locations:
        listed.setdefault(loc.bucket, set()).add(loc.prefix)
    for bucket in staged:
        listed[bucket].add(staging_prefix)
    for index, (bucket, prefixes) in enumerate(sorted(listed.items()), start=1):
        statement: dict[str, Any] = {
            "Sid": f"DiepDataList{index}",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": [arns.bucket(bucket)],
        }
        if "" not in prefixes:  # listing only under the granted prefixes
            statement["Condition"] = {
                "StringLike": {"s3:prefix": sorted(f"{prefix}*" for prefix in prefixes)}
            }
        statements.append(statement)
    if readable:
        statements.append(
            {
                "Sid": "DiepTriggerBucketNotifications",
                "Effect": "Allow",
                "Action": ["s3:GetBucketNotification", "s3:PutBucketNotification"],
                "Resource": sorted({arns.bucket(loc.bucket) for loc in readable}),
            }
        )
    statements += [
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
    return {"Version": "2012-10-17", "Statement": statements}
