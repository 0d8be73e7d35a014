"""Jobs, their immutable versions, and the run ledger.

Writes happen only in jobs.services; these classes hold no business logic.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Engine(models.TextChoices):
    GLUE = "glue", "AWS Glue"
    LOCAL = "local", "Local (worker)"


class SourceFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON lines"
    PARQUET = "parquet", "Parquet"


class DestinationFormat(models.TextChoices):
    PARQUET = "parquet", "Parquet"
    CSV = "csv", "CSV"
    JSON = "json", "JSON lines"


class WriteMode(models.TextChoices):
    APPEND = "append", "Append"
    OVERWRITE = "overwrite", "Overwrite touched partitions"


class CatchUp(models.TextChoices):
    NONE = "none", "Skip ticks missed while DIEP was down"
    LATEST = "latest", "Fire the latest missed tick once"
    ALL = "all", "Fire every missed tick (bounded)"


class Job(models.Model):
    """An ingestion job, defined as data. Every change bumps `version` and writes a JobVersion."""

    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    # The team (a Django group that is not a role) whose members see and act on the job;
    # "" = shared with every role. Platform admins see every job.
    team = models.CharField(max_length=150, blank=True, default="", db_index=True)
    engine = models.CharField(max_length=16, choices=Engine.choices, default=Engine.GLUE)
    glue_job_name = models.CharField(max_length=255, blank=True, default="")

    source_uri = models.CharField(max_length=1100)
    source_format = models.CharField(max_length=16, choices=SourceFormat.choices)
    source_options = models.JSONField(default=dict, blank=True)

    destination_uri = models.CharField(max_length=1100)
    destination_format = models.CharField(
        max_length=16, choices=DestinationFormat.choices, default=DestinationFormat.PARQUET
    )
    destination_partition_by = models.JSONField(default=list, blank=True)
    destination_mode = models.CharField(
        max_length=16, choices=WriteMode.choices, default=WriteMode.APPEND
    )
    destination_options = models.JSONField(default=dict, blank=True)

    transform = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    parameters_schema = models.JSONField(default=dict, blank=True)

    schedule = models.CharField(max_length=256, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.LATEST)
    # The next tick of the schedule not yet fired; the dispatcher claims due rows by it.
    next_fire_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Who hears of this job's runs and when (jobs.alerts): {"on": [...], "emails": [...],
    # "webhooks": [names of DIEP_ALERT_WEBHOOKS], "freshness_hours": n, "freshness_by": "HH:MM"}.
    alerts = models.JSONField(default=dict, blank=True)

    trigger_bucket = models.CharField(max_length=63, blank=True, default="")
    trigger_prefix = models.CharField(max_length=1024, blank=True, default="")
    trigger_suffix = models.CharField(max_length=1024, blank=True, default="")
    trigger_window_seconds = models.PositiveIntegerField(default=0)
    trigger_max_files = models.PositiveIntegerField(default=1000)
    trigger_max_bytes = models.PositiveBigIntegerField(default=10 * 1024**3)

    max_concurrent_runs = models.PositiveIntegerField(default=1)
    timeout_minutes = models.PositiveIntegerField(default=60)
    max_retries = models.PositiveIntegerField(default=0)
    # Glue capacity (worker type and count or max capacity, auto scaling, execution
    # class) and the limits a fire-time override must stay within; see jobs.engines.glue.capacity.
    capacity = models.JSONField(default=dict, blank=True)

    version = models.PositiveIntegerField(default=1)
    # The version last written to the DynamoDB mirror; behind `version` = still to send.
    mirrored_version = models.PositiveIntegerField(default=0)
    # The snapshot of `version`, kept at hand so firing needs no lookup.
    current_version = models.ForeignKey(
        "JobVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        permissions = [("fire_job", "Can fire a job")]
        indexes = [
            models.Index(fields=["trigger_bucket"], name="job_trigger_bucket_idx"),
            # The latest change, read on every fire (jobs.locations.revision_annotation).
            models.Index(fields=["updated_at"], name="job_updated_at_idx"),
            models.Index(
                fields=["id"],
                name="job_mirror_pending_idx",
                condition=Q(version__gt=F("mirrored_version")),
            ),
            models.Index(
                fields=["next_fire_at"],
                name="job_schedule_due_idx",
                condition=Q(enabled=True, next_fire_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_trigger(self) -> bool:
        return bool(self.trigger_bucket)


class DataGrant(models.Model):
    """An S3 location (bucket and key prefix) a team's jobs may read and/or write; team
    "" grants it to every team and to shared jobs. Granted by platform admins only
    (admin, `manage.py apply_grants`); jobs.locations applies them."""

    team = models.CharField(
        max_length=150, blank=True, default="", help_text="Empty: every team and shared jobs."
    )
    bucket = models.CharField(max_length=63)
    prefix = models.CharField(
        max_length=1024, blank=True, default="", help_text="Empty: the whole bucket."
    )
    can_read = models.BooleanField(default=True, help_text="Sources and triggers.")
    can_write = models.BooleanField(default=False, help_text="Destinations.")
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "bucket", "prefix"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "bucket", "prefix"], name="datagrant_unique_location"
            )
        ]

    def __str__(self) -> str:
        access = "+".join(a for a, on in (("read", self.can_read), ("write", self.can_write)) if on)
        return f"{self.team or 'everyone'}: s3://{self.bucket}/{self.prefix} ({access or 'none'})"


class JobVersion(models.Model):
    """An immutable snapshot of a job's whole configuration, one per change."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    config = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    change_source = models.CharField(max_length=16, default="api")

    class Meta:
        ordering = ["job", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["job", "version"], name="jobversion_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} v{self.version}"


class RunState(models.TextChoices):
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


TERMINAL_STATES: frozenset[str] = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.TIMEOUT, RunState.STOPPED, RunState.ERROR}
)
# States that hold one of the job's concurrency slots.
SLOT_STATES: frozenset[str] = frozenset(
    {RunState.PENDING, RunState.STARTING, RunState.RUNNING, RunState.STOPPING}
)
RETRYABLE_STATES: frozenset[str] = frozenset(
    {RunState.FAILED, RunState.TIMEOUT, RunState.ERROR, RunState.STOPPED}
)


class FireSource(models.TextChoices):
    """What fired a run (JobRun.trigger). Not to be confused with a job's S3 trigger
    (jobs.triggers.S3Trigger), which is one of the things that can."""

    API = "api"
    ADMIN = "admin"
    CLI = "cli"
    SCHEDULE = "schedule"
    EVENT = "event"
    RETRY = "retry"


class JobRun(models.Model):
    """One execution of a job version: the ledger row from request to terminal state."""

    run_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="runs")
    job_version = models.ForeignKey(JobVersion, on_delete=models.PROTECT, related_name="runs")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    trigger = models.CharField(max_length=16, choices=FireSource.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # NULL (not "") when absent, so the partial unique constraint ignores keyless runs.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # sha256 of the canonical request, to tell a replay from a different request reusing a key.
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    parameters = models.JSONField(default=dict, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    engine = models.CharField(max_length=16, choices=Engine.choices)
    external_run_id = models.CharField(max_length=255, blank=True, default="")
    attempt = models.PositiveIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    # A QUEUED run waits at least until then (retry backoff, Glue concurrency backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    start_attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped on every change that is mirrored out, so a stale copy never overwrites a newer.
    revision = models.PositiveIntegerField(default=1)
    mirrored_revision = models.PositiveIntegerField(default=0)
    capacity = models.JSONField(default=dict, blank=True)
    glue_state = models.CharField(max_length=16, blank=True, default="")
    # Why DIEP asked the engine to stop the run: "user" or "timeout" (ends as TIMEOUT).
    stop_reason = models.CharField(max_length=16, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    execution_seconds = models.PositiveIntegerField(null=True, blank=True)
    dpu_seconds = models.FloatField(null=True, blank=True)
    logs_url = models.URLField(max_length=1000, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    # Local engine: the worker running the ETL touches this while it works; silence
    # means the worker died (jobs.engines.local.tracking).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        permissions = [("stop_run", "Can stop a run"), ("retry_run", "Can retry a run")]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="jobrun_unique_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["job", "state", "queued_at"], name="jobrun_job_state_idx"),
            models.Index(fields=["state", "queued_at"], name="jobrun_state_idx"),
            models.Index(fields=["queued_at"], name="jobrun_queued_at_idx"),
            models.Index(
                fields=["id"],
                name="jobrun_mirror_pending_idx",
                condition=Q(revision__gt=F("mirrored_revision")),
            ),
            models.Index(
                fields=["external_run_id"],
                name="jobrun_external_run_idx",
                condition=~Q(external_run_id=""),
            ),
        ]

    def __str__(self) -> str:
        return str(self.run_id)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class RunEvent(models.Model):
    """One state transition of a run: who or what moved it, when, from where to where."""

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16)
    at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["run", "at"], name="runevent_run_at_idx")]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class MirrorTombstone(models.Model):
    """A deleted job still to be removed from the DynamoDB mirror (written in the
    deleting transaction, removed once DynamoDB confirmed)."""

    job_id = models.UUIDField()
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.job_id} v{self.version}"


class AlertKind(models.TextChoices):
    FAILURE = "failure"
    TIMEOUT = "timeout"
    SUCCESS = "success"
    FRESHNESS = "freshness"
    DLQ_DEPTH = "dlq_depth"


class Alert(models.Model):
    """Something operators must hear of, once: `dedupe_key` is unique per run or per SLA
    window, so a retried task or a second checker never sends it twice."""

    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    dedupe_key = models.CharField(max_length=255, unique=True)
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts_sent"
    )
    run = models.ForeignKey(
        JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    subject = models.CharField(max_length=255)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject


class DeliveryState(models.TextChoices):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # gave up after the retries


class AlertDelivery(models.Model):
    """One alert to one channel target, retried with backoff until sent or given up."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16)  # email | webhook
    target = models.CharField(max_length=255)  # an address, or a webhook's configured name
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="alertdelivery_due_idx",
                condition=Q(state="PENDING"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.target} {self.state}"
