"""The file ledger: every object an event announced, for each job it triggers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class FileState(models.TextChoices):
    RECEIVED = "RECEIVED"  # waiting in its job's coalescing window
    BATCHED = "BATCHED"  # bound to exactly one run
    PROCESSED = "PROCESSED"  # that run succeeded
    FAILED = "FAILED"  # that run ended unsuccessfully
    MISSING = "MISSING"  # deleted before its run read it (the run went on without it)


class IngestedFile(models.Model):
    """One S3 object version for one job. A redelivered or duplicate event hits the
    unique constraint and changes nothing."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="files")
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    # The object's identity: its version id when the bucket is versioned, else its eTag.
    identity = models.CharField(max_length=1024)
    sequencer = models.CharField(max_length=64, blank=True, default="")
    etag = models.CharField(max_length=128, blank=True, default="")
    version_id = models.CharField(max_length=1024, blank=True, default="")
    size = models.PositiveBigIntegerField(null=True, blank=True)
    event_name = models.CharField(max_length=64, blank=True, default="")
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=FileState.choices, default=FileState.RECEIVED)
    run = models.ForeignKey(
        "jobs.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="files"
    )
    batched_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, default="event")  # event | backfill | reprocess

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "bucket", "key", "identity", "sequencer"],
                name="ingestedfile_unique_object",
            )
        ]
        indexes = [
            models.Index(
                fields=["job", "received_at"],
                name="ingestedfile_waiting_idx",
                condition=Q(state="RECEIVED"),
            ),
            models.Index(fields=["bucket", "key"], name="ingestedfile_key_idx"),
            models.Index(fields=["run"], name="ingestedfile_run_idx"),
        ]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ConsumedMessageStat(models.Model):
    """Counters of the event consumer, one row per (day, outcome), for the admin."""

    day = models.DateField()
    outcome = models.CharField(
        max_length=32
    )  # received, routed, duplicate, test_event, rejected:<reason>
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "outcome"], name="consumedstat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome}={self.count}"


class BackfillState(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


class Backfill(models.Model):
    """Objects already in S3 fed through the ledger and coalescing, with progress."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="backfills")
    prefix = models.CharField(max_length=1024)
    modified_after = models.DateTimeField(null=True, blank=True)
    modified_before = models.DateTimeField(null=True, blank=True)
    # Send objects already in the ledger again (as new ledger rows, history kept).
    force = models.BooleanField(default=False)
    state = models.CharField(
        max_length=16, choices=BackfillState.choices, default=BackfillState.PENDING
    )
    listed = models.PositiveIntegerField(default=0)
    recorded = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job_id} s3://…/{self.prefix} {self.state}"


class DlqAction(models.Model):
    """Audit trail of the DLQ console: who redrove or deleted which message, when."""

    action = models.CharField(max_length=16)  # redrive | delete | redrive_all
    message_id = models.CharField(max_length=128, blank=True, default="")
    actor = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.message_id}"
