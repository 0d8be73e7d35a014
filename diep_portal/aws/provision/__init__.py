"""Idempotent AWS infrastructure for DIEP: describe what should exist, plan, apply.

resources (the desired state as values), plan (plan/apply over every service's steps:
s3, sqs, dynamodb, glue, events, each through the hooks in diep_portal/aws), iam (the
portal role's policy), package (the ETL zip Glue imports).
"""

from diep_portal.aws.provision.errors import ProvisionError
from diep_portal.aws.provision.iam import DataLocation, iam_policy
from diep_portal.aws.provision.package import etl_package_zip
from diep_portal.aws.provision.plan import apply, check_refusals, plan, summarize, trigger_refusals
from diep_portal.aws.provision.resources import (
    JOBS_TABLE_KEY,
    RUNS_TABLE_KEY,
    Change,
    Desired,
    NotificationFilter,
    desired_infrastructure,
)

__all__ = [
    "JOBS_TABLE_KEY",
    "RUNS_TABLE_KEY",
    "Change",
    "DataLocation",
    "Desired",
    "NotificationFilter",
    "ProvisionError",
    "apply",
    "check_refusals",
    "desired_infrastructure",
    "etl_package_zip",
    "iam_policy",
    "plan",
    "summarize",
    "trigger_refusals",
]
