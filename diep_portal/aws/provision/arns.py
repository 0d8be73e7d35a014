"""ARNs of DIEP's resources, and the account they live in."""

from __future__ import annotations

from dataclasses import dataclass

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client


def partition(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def caller_account_id() -> str:
    """The account the configured credentials belong to (STS GetCallerIdentity)."""
    with translate_aws_errors("sts", "GetCallerIdentity"):
        return str(get_client("sts").get_caller_identity()["Account"])


@dataclass(frozen=True)
class Arns:
    """ARNs of DIEP's resources in one account and region."""

    region: str
    account: str

    @property
    def partition(self) -> str:
        """The ARN partition of the region."""
        return partition(self.region)

    def bucket(self, name: str) -> str:
        """An S3 bucket's ARN (global: no region or account)."""
        return f"arn:{self.partition}:s3:::{name}"

    def queue(self, name: str) -> str:
        """An SQS queue's ARN."""
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{name}"

    def table(self, name: str) -> str:
        """A DynamoDB table's ARN."""
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{name}"

    def glue_job(self, name: str) -> str:
        """A Glue job's ARN."""
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:job/{name}"

    def rule(self, name: str) -> str:
        """An EventBridge rule's ARN (default event bus)."""
        return f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{name}"
