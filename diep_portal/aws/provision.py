"""Idempotent AWS infrastructure for DIEP: describe what should exist, plan, apply.

`desired_infrastructure()` builds a `Desired` from settings and the enabled jobs'
triggers (passed in: nothing here imports `jobs`, DESIGN.md §1). `plan()` reads AWS and
returns one `Change` per resource ("create", "update" or "unchanged" with a detail of
what differs); `apply()` makes the same reads, refuses before writing anything when the
desired state cannot be provisioned (overlapping triggers, a missing foreign bucket),
then performs only the creates and updates, in dependency order. A second `apply()`
finds nothing to do.

Bucket notifications are read-modify-written (DESIGN.md rule 6): only queue
configurations whose Id starts with `diep-` are ours; every other entry on the bucket
is kept exactly as AWS returned it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from diep_portal.aws.dynamodb import KeySchema, dynamodb_ensure_table
from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.s3 import s3_put_bytes
from diep_portal.aws.session import get_client
from diep_portal.exceptions import ApplicationError, PermanentAwsError

logger = logging.getLogger(__name__)

Action = Literal["create", "update", "unchanged"]
Kind = Literal[
    "bucket",
    "queue",
    "queue-policy",
    "notification",
    "table",
    "glue-job",
    "artifact",
    "event-rule",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The script Glue runs and the package it imports; read when `desired_infrastructure`
#: is called (tests may point these elsewhere).
GLUE_SCRIPT_PATH = REPO_ROOT / "ingestion" / "glue_job.py"
ETL_PACKAGE_DIR = REPO_ROOT / "ingestion" / "etl"

GLUE_SCRIPT_KEY = "glue/glue_job.py"
ETL_ZIP_KEY = "glue/diep_etl.zip"
# Glue 4.0 ships an older pyarrow than ingestion.etl is written and tested against.
GLUE_ADDITIONAL_MODULES = "jsonschema==4.26.0,pyarrow==26.0.1"
GLUE_TIMEOUT_MINUTES = 2880
# DIEP retries runs itself (JobRun.attempt, run_retry); a Glue-side retry would run the
# same files twice behind the ledger's back.
GLUE_MAX_RETRIES = 0

NOTIFICATION_ID_PREFIX = "diep-"
# S3 does not document a limit on configuration Ids; staying short keeps us clear of
# whatever it is, and a hash keeps truncated Ids unique.
NOTIFICATION_ID_MAX = 64
NOTIFICATION_EVENTS = ("s3:ObjectCreated:*",)

DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, the SQS maximum: time for operators to look
QUEUE_WAIT_SECONDS = 20  # long polling: fewer empty receives

GLUE_EVENTS_RULE = "diep-glue-job-state"
GLUE_EVENTS_PATTERN: dict[str, Any] = {
    "source": ["aws.glue"],
    "detail-type": ["Glue Job State Change"],
}
GLUE_EVENTS_TARGET_ID = "diep-ingest-queue"

S3_STATEMENT_SID = "DiepS3Notifications"
EVENTS_STATEMENT_SID = "DiepGlueStateEvents"

#: The DynamoDB mirror's key schemas (the shapes jobs/metadata.py writes).
JOBS_TABLE_KEY = KeySchema(partition_key="job_id")
RUNS_TABLE_KEY = KeySchema(partition_key="job_id", sort_key="run_key")

_ENCRYPTION_ALGORITHM = "AES256"
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_NOTIFICATION_KEYS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchBucket", "NotFound", "NoSuchKey"})


class ProvisionError(ApplicationError):
    """The desired infrastructure cannot be provisioned as asked; nothing was changed."""

    status_code = 409
    default_code = "provision_refused"


@dataclass(frozen=True)
class Change:
    """One resource's difference between AWS and the desired state."""

    kind: Kind
    name: str
    action: Action
    detail: str


@dataclass(frozen=True)
class Trigger:
    """An enabled job's S3 trigger: objects created under prefix/suffix in `bucket`."""

    job_name: str
    bucket: str
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class Table:
    """A DynamoDB table with string keys, billed on demand."""

    name: str
    key: KeySchema


@dataclass(frozen=True)
class Artifact:
    """An object Glue reads (the job script, the ETL package), uploaded as these bytes."""

    bucket: str
    key: str
    data: bytes
    content_type: str

    @property
    def md5(self) -> str:
        """Hex MD5 of the bytes: S3's ETag of a single-part SSE-S3 object."""
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class GlueJob:
    """A Glue Spark job definition, as CreateJob/UpdateJob take it (minus the name)."""

    name: str
    role: str
    script_location: str
    default_arguments: Mapping[str, str]
    glue_version: str
    worker_type: str
    number_of_workers: int
    max_concurrent_runs: int
    timeout_minutes: int = GLUE_TIMEOUT_MINUTES
    max_retries: int = GLUE_MAX_RETRIES

    def definition(self) -> dict[str, Any]:
        """The JobUpdate structure (CreateJob takes the same fields plus Name)."""
        return {
            "Role": self.role,
            "Command": {
                "Name": "glueetl",
                "ScriptLocation": self.script_location,
                "PythonVersion": "3",
            },
            "DefaultArguments": dict(self.default_arguments),
            "GlueVersion": self.glue_version,
            "WorkerType": self.worker_type,
            "NumberOfWorkers": self.number_of_workers,
            "ExecutionProperty": {"MaxConcurrentRuns": self.max_concurrent_runs},
            "Timeout": self.timeout_minutes,
            "MaxRetries": self.max_retries,
        }


@dataclass(frozen=True)
class Desired:
    """Everything DIEP needs in its AWS account, in one value."""

    region: str
    raw_bucket: str
    curated_bucket: str
    artifacts_bucket: str
    queue: str
    dlq: str
    visibility_seconds: int
    max_receive_count: int
    triggers: tuple[Trigger, ...]
    tables: tuple[Table, ...]
    artifacts: tuple[Artifact, ...]
    glue_job: GlueJob
    glue_events: bool
    glue_events_rule: str = GLUE_EVENTS_RULE

    @property
    def buckets(self) -> tuple[str, ...]:
        """The buckets DIEP owns and creates (trigger buckets may be someone else's)."""
        return (self.raw_bucket, self.curated_bucket, self.artifacts_bucket)

    @property
    def trigger_buckets(self) -> tuple[str, ...]:
        """Buckets with at least one trigger, sorted."""
        return tuple(sorted({trigger.bucket for trigger in self.triggers}))

    @property
    def foreign_trigger_buckets(self) -> tuple[str, ...]:
        """Trigger buckets DIEP does not create: they must already exist."""
        return tuple(bucket for bucket in self.trigger_buckets if bucket not in self.buckets)


# ------------------------------------------------------------------ desired state


def etl_package_zip(package_dir: Path | None = None) -> bytes:
    """A zip of `ingestion/etl/*.py` importable as `ingestion.etl` (Glue --extra-py-files).

    Deterministic: sorted entries, fixed timestamps and modes, and no compression (so
    the bytes depend on the sources alone, not on the zlib build), hence the same
    sources give the same MD5 and a second provisioning uploads nothing.
    """
    root = package_dir if package_dir is not None else ETL_PACKAGE_DIR
    if not root.is_dir():
        raise ProvisionError(f"The ETL package directory {root} does not exist.")
    entries: dict[str, bytes] = {"ingestion/__init__.py": b""}
    for path in root.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        entries["ingestion/etl/" + path.relative_to(root).as_posix()] = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def mirror_tables() -> tuple[Table, ...]:
    """The DynamoDB mirror's tables: names from settings, keys as jobs/metadata.py uses."""
    return (
        Table(name=settings.DIEP_DYNAMODB_JOBS_TABLE, key=JOBS_TABLE_KEY),
        Table(name=settings.DIEP_DYNAMODB_RUNS_TABLE, key=RUNS_TABLE_KEY),
    )


def desired_infrastructure(
    *,
    triggers: Sequence[Trigger],
    glue_script: Path | None = None,
    etl_package: Path | None = None,
) -> Desired:
    """The desired state from settings, the given triggers and the Glue sources on disk.

    `glue_script` and `etl_package` default to GLUE_SCRIPT_PATH and ETL_PACKAGE_DIR,
    read at call time. A missing source is a ProvisionError.
    """
    script_path = glue_script if glue_script is not None else GLUE_SCRIPT_PATH
    if not script_path.is_file():
        raise ProvisionError(f"The Glue job script {script_path} does not exist.")
    artifacts_bucket = settings.DIEP_ARTIFACTS_BUCKET
    script_uri = f"s3://{artifacts_bucket}/{GLUE_SCRIPT_KEY}"
    zip_uri = f"s3://{artifacts_bucket}/{ETL_ZIP_KEY}"
    artifacts = (
        Artifact(
            bucket=artifacts_bucket,
            key=GLUE_SCRIPT_KEY,
            data=script_path.read_bytes(),
            content_type="text/x-python",
        ),
        Artifact(
            bucket=artifacts_bucket,
            key=ETL_ZIP_KEY,
            data=etl_package_zip(etl_package),
            content_type="application/zip",
        ),
    )
    glue_job = GlueJob(
        name=settings.DIEP_DEFAULT_GLUE_JOB_NAME,
        role=settings.DIEP_GLUE_ROLE_ARN,
        script_location=script_uri,
        default_arguments={
            "--extra-py-files": zip_uri,
            "--additional-python-modules": GLUE_ADDITIONAL_MODULES,
            "--job-language": "python",
            "--enable-continuous-cloudwatch-log": "true",
            "--diep_artifacts_bucket": artifacts_bucket,
        },
        glue_version=settings.DIEP_GLUE_VERSION,
        worker_type=settings.DIEP_GLUE_WORKER_TYPE,
        number_of_workers=int(settings.DIEP_GLUE_NUMBER_OF_WORKERS),
        max_concurrent_runs=int(settings.DIEP_GLUE_MAX_CONCURRENT_RUNS),
    )
    return Desired(
        region=settings.AWS_REGION,
        raw_bucket=settings.DIEP_RAW_BUCKET,
        curated_bucket=settings.DIEP_CURATED_BUCKET,
        artifacts_bucket=artifacts_bucket,
        queue=settings.DIEP_INGEST_QUEUE,
        dlq=settings.DIEP_INGEST_DLQ,
        visibility_seconds=int(settings.DIEP_CONSUMER_VISIBILITY_SECONDS),
        max_receive_count=int(settings.DIEP_DLQ_MAX_RECEIVE_COUNT),
        triggers=tuple(sorted(triggers, key=lambda t: (t.bucket, t.job_name))),
        tables=mirror_tables(),
        artifacts=artifacts,
        glue_job=glue_job,
        glue_events=bool(settings.DIEP_PROVISION_GLUE_EVENTS),
    )


# ------------------------------------------------------------------ ARNs and account


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


@dataclass
class _Arns:
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


# ------------------------------------------------------------------ pure rules


def overlapping_triggers(triggers: Iterable[Trigger]) -> list[tuple[Trigger, Trigger]]:
    """Pairs of triggers S3 would refuse together on one bucket.

    Two filters for the same event type overlap when one prefix is a prefix of the
    other and one suffix ends with the other (an empty suffix matches every key):
    some key would match both, and PutBucketNotificationConfiguration is rejected.
    """
    ordered = sorted(triggers, key=lambda t: (t.bucket, t.job_name))
    pairs = []
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if first.bucket != second.bucket:
                continue
            prefixes = first.prefix.startswith(second.prefix) or second.prefix.startswith(
                first.prefix
            )
            suffixes = first.suffix.endswith(second.suffix) or second.suffix.endswith(first.suffix)
            if prefixes and suffixes:
                pairs.append((first, second))
    return pairs


def notification_id(job_name: str) -> str:
    """Our configuration Id for a job's trigger: `diep-<job_name>`, hashed when long."""
    full = f"{NOTIFICATION_ID_PREFIX}{job_name}"
    if len(full) <= NOTIFICATION_ID_MAX:
        return full
    digest = hashlib.sha256(job_name.encode()).hexdigest()[:8]
    return f"{full[: NOTIFICATION_ID_MAX - 9]}-{digest}"


def _is_ours(configuration: Mapping[str, Any]) -> bool:
    """Whether a notification configuration is one DIEP manages (by its Id)."""
    return str(configuration.get("Id", "")).startswith(NOTIFICATION_ID_PREFIX)


def _queue_configuration(trigger: Trigger, queue_arn: str) -> dict[str, Any]:
    """The QueueConfiguration a trigger needs; filter rules only for non-empty values."""
    configuration: dict[str, Any] = {
        "Id": notification_id(trigger.job_name),
        "QueueArn": queue_arn,
        "Events": list(NOTIFICATION_EVENTS),
    }
    rules = [
        {"Name": name, "Value": value}
        for name, value in (("prefix", trigger.prefix), ("suffix", trigger.suffix))
        if value
    ]
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def _normalised_configuration(configuration: Mapping[str, Any]) -> tuple[Any, ...]:
    """A queue configuration in a comparable form."""
    # AWS answers "Prefix"/"Suffix", moto and our own requests say "prefix"/"suffix";
    # rule and event order carry no meaning.
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return (
        configuration.get("Id", ""),
        configuration.get("QueueArn", ""),
        tuple(sorted(configuration.get("Events", []))),
        tuple(sorted((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules)),
    )


def merge_notifications(
    current: Mapping[str, Any], ours: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The bucket's notification configuration with our queue entries replaced by `ours`.

    Everything else (foreign queue entries, topics, lambdas, EventBridge) is kept as
    `current` has it.
    """
    # EventBridgeConfiguration is an empty dict when on: kept by key, not by truth.
    merged: dict[str, Any] = {key: current[key] for key in _NOTIFICATION_KEYS if key in current}
    queues = [c for c in current.get("QueueConfigurations", []) if not _is_ours(c)]
    queues.extend(dict(c) for c in ours)
    if queues:
        merged["QueueConfigurations"] = queues
    else:
        merged.pop("QueueConfigurations", None)
    return merged


def _canonical(value: Any) -> Any:
    """A policy document in a comparable form."""
    # Policies come back from AWS with lists possibly reordered and one-element lists
    # possibly collapsed to a scalar: compare on a form where neither matters.
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def _describe_trigger(trigger: Trigger) -> str:
    """A trigger for humans."""
    return (
        f"job {trigger.job_name!r} (bucket {trigger.bucket!r}, prefix {trigger.prefix!r}, "
        f"suffix {trigger.suffix!r})"
    )


# ------------------------------------------------------------------ AWS reads


def _bucket_status(bucket: str) -> Literal["exists", "missing", "forbidden"]:
    """HeadBucket as one word: ours to use, absent, or someone else's."""
    try:
        with translate_aws_errors("s3", "HeadBucket"):
            get_client("s3").head_bucket(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return "missing"
        if exc.code in {"403", "AccessDenied", "Forbidden"}:
            return "forbidden"
        raise
    return "exists"


def _public_access_block(bucket: str) -> dict[str, bool] | None:
    """The bucket's public access block settings; None when it has none."""
    try:
        with translate_aws_errors("s3", "GetPublicAccessBlock"):
            response = get_client("s3").get_public_access_block(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    return {k: bool(v) for k, v in response["PublicAccessBlockConfiguration"].items()}


def _encryption_algorithms(bucket: str) -> list[str]:
    """The default encryption algorithms of the bucket's rules; [] when it has none."""
    try:
        with translate_aws_errors("s3", "GetBucketEncryption"):
            response = get_client("s3").get_bucket_encryption(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code == "ServerSideEncryptionConfigurationNotFoundError":
            return []
        raise
    rules = response["ServerSideEncryptionConfiguration"].get("Rules", [])
    return [
        str(rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", ""))
        for rule in rules
    ]


def _notifications(bucket: str) -> dict[str, Any] | None:
    """The bucket's notification configuration; None when the bucket does not exist."""
    try:
        with translate_aws_errors("s3", "GetBucketNotificationConfiguration"):
            response = get_client("s3").get_bucket_notification_configuration(Bucket=bucket)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return None
        raise
    return {key: response[key] for key in _NOTIFICATION_KEYS if key in response}


def _queue_attributes(name: str) -> dict[str, str] | None:
    """All attributes of a queue by name; None when it does not exist."""
    client = get_client("sqs")
    try:
        with translate_aws_errors("sqs", "GetQueueUrl"):
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
    except PermanentAwsError as exc:
        if exc.code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            return None
        raise
    with translate_aws_errors("sqs", "GetQueueAttributes"):
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return {str(k): str(v) for k, v in attributes.get("Attributes", {}).items()}


def _queue_url(name: str) -> str:
    """The URL of an existing queue."""
    with translate_aws_errors("sqs", "GetQueueUrl"):
        return str(get_client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def _table_key(name: str) -> KeySchema | None:
    """A table's key schema; None when the table does not exist."""
    try:
        with translate_aws_errors("dynamodb", "DescribeTable"):
            table = get_client("dynamodb").describe_table(TableName=name)["Table"]
    except PermanentAwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise
    keys = {item["KeyType"]: item["AttributeName"] for item in table.get("KeySchema", [])}
    return KeySchema(partition_key=keys.get("HASH", ""), sort_key=keys.get("RANGE"))


def _object_etag(bucket: str, key: str) -> str | None:
    """An object's ETag without quotes; None when it (or its bucket) does not exist."""
    try:
        with translate_aws_errors("s3", "HeadObject"):
            response = get_client("s3").head_object(Bucket=bucket, Key=key)
    except PermanentAwsError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return None
        raise
    return str(response.get("ETag", "")).strip('"')


def _glue_job_definition(name: str) -> dict[str, Any] | None:
    """The raw GetJob `Job` structure; None when Glue has no job of that name."""
    # Not glue_get_job: its GlueJobInfo lacks Timeout, MaxRetries and the Command
    # name/Python version, which an UpdateJob (a full overwrite) must get right.
    try:
        with translate_aws_errors("glue", "GetJob"):
            return dict(get_client("glue").get_job(JobName=name)["Job"])
    except PermanentAwsError as exc:
        if exc.code == "EntityNotFoundException":
            return None
        raise


# ------------------------------------------------------------------ plan steps


@dataclass
class _Step:
    """A planned change and how to make it (a no-op when unchanged)."""

    change: Change
    perform: Callable[[], None] = field(repr=False)


def _noop() -> None:
    """Nothing to do: the resource already matches."""
    return None


@dataclass
class _Planner:
    """Reads AWS once per resource and turns differences into steps."""

    desired: Desired
    arns: _Arns
    _policy_loaded: bool = False
    _current_policy: dict[str, Any] | None = None

    def current_policy(self) -> dict[str, Any] | None:
        """The queue's policy as AWS has it now (read once per plan)."""
        if not self._policy_loaded:
            raw = (_queue_attributes(self.desired.queue) or {}).get("Policy")
            self._current_policy = json.loads(raw) if raw else None
            self._policy_loaded = True
        return self._current_policy

    @property
    def queue_arn(self) -> str:
        """The ingest queue's ARN."""
        return self.arns.queue(self.desired.queue)

    @property
    def dlq_arn(self) -> str:
        """The dead-letter queue's ARN."""
        return self.arns.queue(self.desired.dlq)

    # ---- buckets

    def bucket_step(self, bucket: str) -> _Step:
        """One of our buckets: exists, blocks public access, encrypts by default."""
        status = _bucket_status(bucket)
        if status == "forbidden":
            raise ProvisionError(
                f"Bucket {bucket!r} exists but is not ours (access denied): choose another name."
            )
        if status == "missing":
            return _Step(
                Change("bucket", bucket, "create", "block all public access, SSE-S3 (AES256)"),
                lambda: self._create_bucket(bucket),
            )
        differences = []
        block = _public_access_block(bucket)
        if block != _PUBLIC_ACCESS_BLOCK:
            off = sorted(k for k, v in _PUBLIC_ACCESS_BLOCK.items() if (block or {}).get(k) != v)
            differences.append("public access block: " + ", ".join(f"{k} → true" for k in off))
        algorithms = _encryption_algorithms(bucket)
        if algorithms != [_ENCRYPTION_ALGORITHM]:
            differences.append(
                f"default encryption: {', '.join(algorithms) or 'none'} → {_ENCRYPTION_ALGORITHM}"
            )
        if not differences:
            return _Step(Change("bucket", bucket, "unchanged", "private, SSE-S3"), _noop)
        return _Step(
            Change("bucket", bucket, "update", "; ".join(differences)),
            lambda: self._configure_bucket(bucket),
        )

    def _create_bucket(self, bucket: str) -> None:
        """CreateBucket in the configured region, then its settings."""
        request: dict[str, Any] = {"Bucket": bucket}
        # us-east-1 is the one region that refuses an explicit LocationConstraint.
        if self.desired.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.desired.region}
        with translate_aws_errors("s3", "CreateBucket"):
            get_client("s3").create_bucket(**request)
        self._configure_bucket(bucket)

    def _configure_bucket(self, bucket: str) -> None:
        """Block all public access and default to SSE-S3."""
        client = get_client("s3")
        with translate_aws_errors("s3", "PutPublicAccessBlock"):
            client.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=dict(_PUBLIC_ACCESS_BLOCK)
            )
        with translate_aws_errors("s3", "PutBucketEncryption"):
            client.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {
                                "SSEAlgorithm": _ENCRYPTION_ALGORITHM
                            }
                        }
                    ]
                },
            )

    # ---- queues

    def dlq_attributes(self) -> dict[str, str]:
        """The DLQ's attributes as SQS reports them (strings)."""
        return {
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
        }

    def queue_attributes(self) -> dict[str, str]:
        """The ingest queue's attributes as SQS reports them (strings)."""
        redrive = {
            "deadLetterTargetArn": self.dlq_arn,
            "maxReceiveCount": self.desired.max_receive_count,
        }
        return {
            "VisibilityTimeout": str(self.desired.visibility_seconds),
            "ReceiveMessageWaitTimeSeconds": str(QUEUE_WAIT_SECONDS),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps(redrive, sort_keys=True),
        }

    def queue_step(self, name: str, desired: dict[str, str]) -> _Step:
        """A queue with the given attributes (others are left as they are)."""
        current = _queue_attributes(name)
        if current is None:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(desired.items()))
            return _Step(
                Change("queue", name, "create", detail), lambda: self._create_queue(name, desired)
            )
        differences = [
            f"{key} {current.get(key, '(unset)')} → {value}"
            for key, value in sorted(desired.items())
            if not _same_queue_attribute(key, current.get(key), value)
        ]
        if not differences:
            return _Step(Change("queue", name, "unchanged", "attributes match"), _noop)
        return _Step(
            Change("queue", name, "update", "; ".join(differences)),
            lambda: self._set_queue_attributes(name, desired),
        )

    def _create_queue(self, name: str, attributes: dict[str, str]) -> None:
        """CreateQueue with its attributes."""
        with translate_aws_errors("sqs", "CreateQueue"):
            get_client("sqs").create_queue(QueueName=name, Attributes=attributes)

    def _set_queue_attributes(self, name: str, attributes: dict[str, str]) -> None:
        """SetQueueAttributes on an existing queue."""
        url = _queue_url(name)
        if name == self.desired.queue:
            # moto drops a queue's Policy on any SetQueueAttributes that leaves it out;
            # sending the desired one along changes nothing on AWS.
            attributes = {**attributes, "Policy": json.dumps(self.queue_policy())}
        with translate_aws_errors("sqs", "SetQueueAttributes"):
            get_client("sqs").set_queue_attributes(QueueUrl=url, Attributes=attributes)

    # ---- queue policy

    def policy_source_buckets(self) -> list[str]:
        """Buckets S3 may send from: every trigger bucket, and always the raw bucket."""
        return sorted({self.desired.raw_bucket, *self.desired.trigger_buckets})

    def queue_policy(self) -> dict[str, Any]:
        """The ingest queue's resource policy (S3, and EventBridge when enabled)."""
        statements: list[dict[str, Any]] = [
            {
                "Sid": S3_STATEMENT_SID,
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": self.queue_arn,
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": [self.arns.bucket(b) for b in self.policy_source_buckets()]
                    },
                    "StringEquals": {"aws:SourceAccount": self.arns.account},
                },
            }
        ]
        if self.desired.glue_events:
            statements.append(
                {
                    "Sid": EVENTS_STATEMENT_SID,
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue_arn,
                    "Condition": {
                        "ArnEquals": {
                            "aws:SourceArn": self.arns.rule(self.desired.glue_events_rule)
                        }
                    },
                }
            )
        return {
            "Version": "2012-10-17",
            "Id": f"{self.desired.queue}-policy",
            "Statement": statements,
        }

    def queue_policy_step(self) -> _Step:
        """The ingest queue's policy, compared as parsed JSON."""
        name = self.desired.queue
        desired = self.queue_policy()
        current = self.current_policy()
        if current is None:
            detail = "allow S3 from " + ", ".join(self.policy_source_buckets())
            if self.desired.glue_events:
                detail += f" and EventBridge rule {self.desired.glue_events_rule}"
            return _Step(
                Change("queue-policy", name, "create", detail), lambda: self._put_policy(desired)
            )
        if _canonical(current) == _canonical(desired):
            return _Step(Change("queue-policy", name, "unchanged", "policy matches"), _noop)
        before = set(self.previous_policy_buckets())
        after = set(self.policy_source_buckets())
        parts = []
        if after - before:
            parts.append("allow " + ", ".join(sorted(after - before)))
        if before - after:
            parts.append("stop allowing " + ", ".join(sorted(before - after)))
        return _Step(
            Change("queue-policy", name, "update", "; ".join(parts) or "policy differs"),
            lambda: self._put_policy(desired),
        )

    def previous_policy_buckets(self) -> list[str]:
        """Buckets the queue policy currently lets S3 send from (what we set last time)."""
        buckets = []
        for statement in (self.current_policy() or {}).get("Statement", []):
            if statement.get("Sid") != S3_STATEMENT_SID:
                continue
            arns = statement.get("Condition", {}).get("ArnLike", {}).get("aws:SourceArn", [])
            for arn in [arns] if isinstance(arns, str) else arns:
                buckets.append(str(arn).rsplit(":", 1)[-1])
        return buckets

    def _put_policy(self, policy: dict[str, Any]) -> None:
        """Set the ingest queue's policy."""
        url = _queue_url(self.desired.queue)
        with translate_aws_errors("sqs", "SetQueueAttributes"):
            get_client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(policy)}
            )

    # ---- notifications

    def notification_steps(self) -> list[_Step]:
        """One step per bucket that has triggers now or had our entries before."""
        by_bucket: dict[str, list[Trigger]] = {b: [] for b in self.desired.trigger_buckets}
        for trigger in self.desired.triggers:
            by_bucket[trigger.bucket].append(trigger)
        # Buckets we sent from last time but no job triggers on any more: our entries
        # there are stale and must go, though no trigger names the bucket now.
        for bucket in self.previous_policy_buckets():
            by_bucket.setdefault(bucket, [])
        steps = []
        for bucket in sorted(by_bucket):
            step = self.notification_step(bucket, by_bucket[bucket])
            if step is not None:
                steps.append(step)
        return steps

    def notification_step(self, bucket: str, triggers: list[Trigger]) -> _Step | None:
        """Our entries on one bucket; None when it has none and needs none."""
        if not triggers and _bucket_status(bucket) != "exists":
            return None
        current = _notifications(bucket) or {}
        wanted = [_queue_configuration(t, self.queue_arn) for t in triggers]
        present = [c for c in current.get("QueueConfigurations", []) if _is_ours(c)]
        foreign = (
            len(current.get("TopicConfigurations", []))
            + len(current.get("LambdaFunctionConfigurations", []))
            + len(current.get("QueueConfigurations", []))
            - len(present)
            + ("EventBridgeConfiguration" in current)
        )
        if not wanted and not present:
            return None
        have = {_normalised_configuration(c) for c in present}
        want = {_normalised_configuration(c) for c in wanted}
        kept = f"keep {foreign} foreign configuration(s)"
        if have == want and len(present) == len(wanted):
            return _Step(Change("notification", bucket, "unchanged", kept), _noop)
        present_ids = {str(c.get("Id")) for c in present}
        wanted_ids = {str(c["Id"]) for c in wanted}
        parts = []
        for configuration, trigger in zip(wanted, triggers, strict=True):
            if configuration["Id"] not in present_ids:
                parts.append(f"add {configuration['Id']} ({_filter_text(trigger)})")
            elif _normalised_configuration(configuration) not in have:
                parts.append(f"change {configuration['Id']} ({_filter_text(trigger)})")
        parts.extend(f"remove {i}" for i in sorted(present_ids - wanted_ids))
        parts.append(kept)
        action: Action = "create" if not present else "update"
        return _Step(
            Change("notification", bucket, action, "; ".join(parts)),
            lambda: self._put_notifications(bucket, wanted),
        )

    def _put_notifications(self, bucket: str, wanted: list[dict[str, Any]]) -> None:
        """Read-modify-write the bucket's notifications with our entries replaced."""
        # Read again right before writing: the window in which another team's change
        # could be lost is one round trip, not the whole provisioning run.
        current = _notifications(bucket) or {}
        with translate_aws_errors("s3", "PutBucketNotificationConfiguration"):
            get_client("s3").put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=merge_notifications(current, wanted)
            )

    # ---- tables

    def table_step(self, table: Table) -> _Step:
        """A table with the expected key; a different key is refused, not replaced."""
        current = _table_key(table.name)
        wanted = _key_text(table.key)
        if current is None:
            return _Step(
                Change("table", table.name, "create", f"on demand, key {wanted}"),
                lambda: self._create_table(table),
            )
        if current != table.key:
            raise ProvisionError(
                f"DynamoDB table {table.name!r} has key {_key_text(current)}, DIEP needs "
                f"{wanted}; a key cannot change: drop the table or configure another name."
            )
        return _Step(Change("table", table.name, "unchanged", f"key {wanted}"), _noop)

    def _create_table(self, table: Table) -> None:
        """Create the table (on demand) and wait until it exists."""
        dynamodb_ensure_table(table=table.name, key=table.key)

    # ---- artifacts

    def artifact_step(self, artifact: Artifact) -> _Step:
        """An object whose ETag must be the MD5 of the local bytes."""
        name = f"s3://{artifact.bucket}/{artifact.key}"
        etag = _object_etag(artifact.bucket, artifact.key)
        size = f"{len(artifact.data)} bytes, md5 {artifact.md5}"
        if etag == artifact.md5:
            return _Step(Change("artifact", name, "unchanged", size), _noop)
        action: Action = "create" if etag is None else "update"
        detail = size if etag is None else f"content changed (etag {etag} → {artifact.md5})"
        return _Step(Change("artifact", name, action, detail), lambda: self._upload(artifact))

    def _upload(self, artifact: Artifact) -> None:
        """PutObject, SSE-S3."""
        s3_put_bytes(
            bucket=artifact.bucket,
            key=artifact.key,
            data=artifact.data,
            content_type=artifact.content_type,
        )

    # ---- Glue job

    def glue_job_step(self) -> _Step:
        """The default Glue job with the definition from settings."""
        job = self.desired.glue_job
        definition = job.definition()
        current = _glue_job_definition(job.name)
        if current is None:
            return _Step(
                Change(
                    "glue-job",
                    job.name,
                    "create",
                    f"{job.worker_type} x{job.number_of_workers}, Glue {job.glue_version}, "
                    f"script {job.script_location}",
                ),
                lambda: self._create_glue_job(job.name, definition),
            )
        differences = _glue_differences(current, definition)
        if not differences:
            return _Step(Change("glue-job", job.name, "unchanged", "definition matches"), _noop)
        return _Step(
            Change("glue-job", job.name, "update", "differs in " + ", ".join(differences)),
            lambda: self._update_glue_job(job.name, definition),
        )

    def _create_glue_job(self, name: str, definition: dict[str, Any]) -> None:
        """CreateJob with the full definition."""
        # Not glue_create_job: it cannot set Timeout or MaxRetries.
        with translate_aws_errors("glue", "CreateJob"):
            get_client("glue").create_job(Name=name, **definition)

    def _update_glue_job(self, name: str, definition: dict[str, Any]) -> None:
        """UpdateJob: Glue replaces the whole definition with this one."""
        with translate_aws_errors("glue", "UpdateJob"):
            get_client("glue").update_job(JobName=name, JobUpdate=definition)

    # ---- EventBridge

    def event_rule_step(self) -> _Step:
        """The rule sending Glue job state changes to the ingest queue."""
        name = self.desired.glue_events_rule
        client = get_client("events")
        try:
            with translate_aws_errors("events", "DescribeRule"):
                rule = client.describe_rule(Name=name)
        except PermanentAwsError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            return _Step(
                Change(
                    "event-rule", name, "create", f"Glue job state changes → {self.desired.queue}"
                ),
                self._put_rule,
            )
        with translate_aws_errors("events", "ListTargetsByRule"):
            targets = client.list_targets_by_rule(Rule=name).get("Targets", [])
        differences = []
        pattern = json.loads(rule.get("EventPattern") or "{}")
        if _canonical(pattern) != _canonical(GLUE_EVENTS_PATTERN):
            differences.append("event pattern")
        if rule.get("State") != "ENABLED":
            differences.append(f"state {rule.get('State')} → ENABLED")
        have = {(t.get("Id"), t.get("Arn")) for t in targets}
        if have != {(GLUE_EVENTS_TARGET_ID, self.queue_arn)}:
            differences.append("targets")
        if not differences:
            return _Step(Change("event-rule", name, "unchanged", f"→ {self.desired.queue}"), _noop)
        return _Step(Change("event-rule", name, "update", ", ".join(differences)), self._put_rule)

    def _put_rule(self) -> None:
        """PutRule and PutTargets (ours only: other targets on our rule are removed)."""
        name = self.desired.glue_events_rule
        client = get_client("events")
        with translate_aws_errors("events", "PutRule"):
            client.put_rule(
                Name=name,
                EventPattern=json.dumps(GLUE_EVENTS_PATTERN),
                State="ENABLED",
                Description="DIEP: Glue job state changes to the ingest queue",
            )
        with translate_aws_errors("events", "ListTargetsByRule"):
            targets = client.list_targets_by_rule(Rule=name).get("Targets", [])
        stale = [t["Id"] for t in targets if t.get("Id") != GLUE_EVENTS_TARGET_ID]
        if stale:
            with translate_aws_errors("events", "RemoveTargets"):
                client.remove_targets(Rule=name, Ids=stale)
        with translate_aws_errors("events", "PutTargets"):
            client.put_targets(
                Rule=name, Targets=[{"Id": GLUE_EVENTS_TARGET_ID, "Arn": self.queue_arn}]
            )


def _same_queue_attribute(key: str, current: str | None, desired: str) -> bool:
    """Whether SQS's value of an attribute means the desired one."""
    if current is None:
        return False
    if key == "RedrivePolicy":
        try:
            have = json.loads(current)
        except ValueError:
            return False
        want = json.loads(desired)
        return bool(
            have.get("deadLetterTargetArn") == want["deadLetterTargetArn"]
            and int(have.get("maxReceiveCount", 0)) == int(want["maxReceiveCount"])
        )
    return current.strip().lower() == desired.strip().lower()


def _glue_differences(current: Mapping[str, Any], definition: Mapping[str, Any]) -> list[str]:
    """The fields where the job in Glue differs from `definition`, for humans."""
    command = current.get("Command", {})
    have = {
        "Role": current.get("Role"),
        "Command.Name": command.get("Name"),
        "Command.ScriptLocation": command.get("ScriptLocation"),
        "Command.PythonVersion": command.get("PythonVersion"),
        "DefaultArguments": dict(current.get("DefaultArguments") or {}),
        "GlueVersion": current.get("GlueVersion"),
        "WorkerType": current.get("WorkerType"),
        "NumberOfWorkers": current.get("NumberOfWorkers"),
        "ExecutionProperty.MaxConcurrentRuns": current.get("ExecutionProperty", {}).get(
            "MaxConcurrentRuns"
        ),
        "Timeout": current.get("Timeout"),
        "MaxRetries": current.get("MaxRetries"),
    }
    want_command = definition["Command"]
    want = {
        "Role": definition["Role"],
        "Command.Name": want_command["Name"],
        "Command.ScriptLocation": want_command["ScriptLocation"],
        "Command.PythonVersion": want_command["PythonVersion"],
        "DefaultArguments": definition["DefaultArguments"],
        "GlueVersion": definition["GlueVersion"],
        "WorkerType": definition["WorkerType"],
        "NumberOfWorkers": definition["NumberOfWorkers"],
        "ExecutionProperty.MaxConcurrentRuns": definition["ExecutionProperty"]["MaxConcurrentRuns"],
        "Timeout": definition["Timeout"],
        "MaxRetries": definition["MaxRetries"],
    }
    differences = []
    for name, value in want.items():
        if have[name] == value:
            continue
        if name == "DefaultArguments":
            keys = sorted(
                k for k in set(have[name]) | set(value) if have[name].get(k) != value.get(k)
            )
            differences.append(f"DefaultArguments ({', '.join(keys)})")
        else:
            differences.append(f"{name} ({have[name]!r} → {value!r})")
    return differences


def _filter_text(trigger: Trigger) -> str:
    """A trigger's filter for humans."""
    return f"prefix {trigger.prefix!r}, suffix {trigger.suffix!r}"


def _key_text(key: KeySchema) -> str:
    """A key schema for humans."""
    return key.partition_key + (f" + {key.sort_key}" if key.sort_key else "")


# ------------------------------------------------------------------ plan and apply


def check_refusals(desired: Desired) -> None:
    """Raise ProvisionError for a desired state AWS would refuse (overlapping triggers)
    or that DIEP must not create (a missing foreign trigger bucket). Overlaps are
    checked without any AWS call."""
    overlaps = overlapping_triggers(desired.triggers)
    if overlaps:
        lines = [f"{_describe_trigger(a)} and {_describe_trigger(b)}" for a, b in overlaps]
        raise ProvisionError(
            "Overlapping S3 triggers (S3 refuses overlapping notification filters): "
            + "; ".join(lines),
            extra={"overlaps": [[a.job_name, b.job_name] for a, b in overlaps]},
        )
    missing = [b for b in desired.foreign_trigger_buckets if _bucket_status(b) == "missing"]
    if missing:
        jobs = {
            bucket: sorted(t.job_name for t in desired.triggers if t.bucket == bucket)
            for bucket in missing
        }
        raise ProvisionError(
            "Trigger buckets that do not exist (DIEP creates only its own buckets): "
            + "; ".join(f"{bucket} (jobs {', '.join(jobs[bucket])})" for bucket in missing),
            extra={"missing_buckets": missing},
        )


def _steps(desired: Desired, *, account_id: str | None = None) -> list[_Step]:
    """Every resource's step, in dependency order; refusals are raised first."""
    check_refusals(desired)
    planner = _Planner(
        desired=desired,
        arns=_Arns(region=desired.region, account=account_id or caller_account_id()),
    )
    # Order is dependency order for apply: the DLQ before the queue that redrives to
    # it, the queue policy before notifications (S3 checks it may send), the artifacts
    # bucket before the artifacts, the queue before the rule targeting it.
    steps = [planner.bucket_step(bucket) for bucket in desired.buckets]
    steps.append(planner.queue_step(desired.dlq, planner.dlq_attributes()))
    steps.append(planner.queue_step(desired.queue, planner.queue_attributes()))
    steps.append(planner.queue_policy_step())
    steps.extend(planner.notification_steps())
    steps.extend(planner.table_step(table) for table in desired.tables)
    steps.extend(planner.artifact_step(artifact) for artifact in desired.artifacts)
    steps.append(planner.glue_job_step())
    if desired.glue_events:
        steps.append(planner.event_rule_step())
    return steps


def plan(desired: Desired, *, account_id: str | None = None) -> list[Change]:
    """What apply would do, resource by resource, without changing anything.

    `account_id` defaults to the caller's account (STS). Raises ProvisionError for a
    desired state that cannot be provisioned.
    """
    return [step.change for step in _steps(desired, account_id=account_id)]


def apply(desired: Desired, *, account_id: str | None = None) -> list[Change]:
    """Plan, then perform every create and update in dependency order.

    Returns the whole plan as performed: "unchanged" entries were left alone. Every
    refusal is raised before the first write; an AWS failure midway leaves the earlier
    changes in place, and running apply again continues from there.
    """
    steps = _steps(desired, account_id=account_id)
    for step in steps:
        if step.change.action == "unchanged":
            continue
        logger.info(
            "provision.apply",
            extra={
                "kind": step.change.kind,
                "resource": step.change.name,
                "action": step.change.action,
                "detail": step.change.detail,
            },
        )
        step.perform()
    return [step.change for step in steps]


# ------------------------------------------------------------------ IAM


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
    arns = _Arns(region=region, account=account_id or caller_account_id())
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


def summarize(changes: Iterable[Change]) -> dict[str, int]:
    """Counts by action: {"create": N, "update": M, "unchanged": K}."""
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for change in changes:
        counts[change.action] += 1
    return counts
