"""What DIEP needs in its AWS account, as values: `desired_infrastructure()` builds one
`Desired` from settings, the enabled jobs' notification filters (passed in: nothing
under diep_portal/aws imports `jobs`, DESIGN.md §1) and the Glue sources on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from django.conf import settings

from diep_portal.aws.dynamodb import KeySchema
from diep_portal.aws.provision.errors import ProvisionError
from diep_portal.aws.provision.package import REPO_ROOT, etl_package_zip
from etl.contract import ARTIFACTS_BUCKET_ARGUMENT

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

#: The script Glue runs; read when `desired_infrastructure` is called (tests may point
#: it elsewhere).
GLUE_SCRIPT_PATH = REPO_ROOT / "etl" / "glue_job.py"

GLUE_SCRIPT_KEY = "glue/glue_job.py"
ETL_ZIP_KEY = "glue/diep_etl.zip"
# The Spark path's own imports beyond pyspark: spec validation, and pyarrow for the
# storage seam (listing inputs, reading manifests, publishing), at the versions tested.
GLUE_ADDITIONAL_MODULES = "jsonschema==4.26.0,pyarrow==26.0.1"
#: Glue versions DIEP's ETL runs on: (Python, Spark). The conformance suite runs on
#: pyspark 3.5.6, Glue 5.1's Spark.
GLUE_VERSIONS: dict[str, tuple[str, str]] = {"5.1": ("3.11", "3.5.6"), "5.0": ("3.11", "3.5.4")}
# Older ones, and why not: their Python cannot import the code (datetime.UTC, 3.11).
GLUE_VERSIONS_REFUSED: dict[str, str] = {
    "4.0": "Python 3.10, Spark 3.3, Java 8",
    "3.0": "Python 3.7, Spark 3.1",
    "2.0": "Python 3.7, Spark 2.4",
    "1.0": "Python 3.6, Spark 2.4",
    "0.9": "Python 2.7, Spark 2.2",
}
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

#: The DynamoDB mirror's key schemas: the one definition, which jobs/mirror.py writes by.
JOBS_TABLE_KEY = KeySchema(partition_key="job_id")
RUNS_TABLE_KEY = KeySchema(partition_key="job_id", sort_key="run_key")


@dataclass(frozen=True)
class Change:
    """One resource's difference between AWS and the desired state."""

    kind: Kind
    name: str
    action: Action
    detail: str


@dataclass(frozen=True)
class NotificationFilter:
    """An enabled job's S3 notification filter: objects created under prefix/suffix in
    `bucket` are sent to the ingest queue."""

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
    triggers: tuple[NotificationFilter, ...]
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


def own_buckets() -> tuple[str, str, str]:
    """The buckets DIEP creates: raw, curated and artifacts, from settings."""
    return (settings.DIEP_RAW_BUCKET, settings.DIEP_CURATED_BUCKET, settings.DIEP_ARTIFACTS_BUCKET)


def mirror_tables() -> tuple[Table, ...]:
    """The DynamoDB mirror's tables: names from settings, keys as jobs/mirror.py uses."""
    return (
        Table(name=settings.DIEP_DYNAMODB_JOBS_TABLE, key=JOBS_TABLE_KEY),
        Table(name=settings.DIEP_DYNAMODB_RUNS_TABLE, key=RUNS_TABLE_KEY),
    )


def glue_version(version: str) -> str:
    """`version` if DIEP's ETL runs on it; a ProvisionError saying why not otherwise."""
    if version in GLUE_VERSIONS:
        return version
    supported = ", ".join(sorted(GLUE_VERSIONS, reverse=True))
    if version in GLUE_VERSIONS_REFUSED:
        raise ProvisionError(
            f"DIEP_GLUE_VERSION={version} is refused: Glue {version} runs "
            f"{GLUE_VERSIONS_REFUSED[version]}, and DIEP's ETL needs Python 3.11 and Spark "
            f"3.5 (Glue {supported})."
        )
    raise ProvisionError(
        f"DIEP_GLUE_VERSION={version} is not a Glue version DIEP knows; use {supported}."
    )


def desired_infrastructure(
    *,
    triggers: Sequence[NotificationFilter],
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
            ARTIFACTS_BUCKET_ARGUMENT: artifacts_bucket,
        },
        glue_version=glue_version(settings.DIEP_GLUE_VERSION),
        worker_type=settings.DIEP_GLUE_WORKER_TYPE,
        number_of_workers=int(settings.DIEP_GLUE_NUMBER_OF_WORKERS),
        max_concurrent_runs=int(settings.DIEP_GLUE_MAX_CONCURRENT_RUNS),
    )
    raw_bucket, curated_bucket, _ = own_buckets()
    return Desired(
        region=settings.AWS_REGION,
        raw_bucket=raw_bucket,
        curated_bucket=curated_bucket,
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
