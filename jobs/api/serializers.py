"""Input and output shapes of the jobs API. Validation of job bodies lives in jobs.specs."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from diep_portal.api.serializers import RefuseUnknownFieldsMixin
from jobs import cron
from jobs.models import Job, JobRun, JobVersion, RunEvent, RunState
from jobs.specs import DestinationSpec, JobSpecSerializer, SourceSpec, TriggerSpec, job_to_spec


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class JobOutputSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    engine = serializers.CharField()
    glue_job_name = serializers.CharField()
    source = SourceSpec()  # type: ignore[assignment]
    destination = DestinationSpec()
    transform = serializers.JSONField()
    parameters = serializers.DictField(child=serializers.CharField())
    parameters_schema = serializers.JSONField()
    schedule = serializers.CharField()
    timezone = serializers.CharField()
    trigger = TriggerSpec(allow_null=True)
    max_concurrent_runs = serializers.IntegerField()
    timeout_minutes = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    schedule_preview = serializers.JSONField(
        allow_null=True,
        help_text="The schedule in words and its next 5 fire times (UTC), or null.",
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="On create and change: problems worth knowing that do not block the save "
        "(a trigger bucket that does not exist, a trigger overlapping another job's).",
    )

    def to_representation(self, instance: Job) -> dict[str, Any]:
        date = serializers.DateTimeField()
        return {
            "job_id": str(instance.job_id),
            "version": instance.version,
            **job_to_spec(instance),
            "schedule_preview": cron.schedule_preview(
                instance.schedule, tz=instance.timezone, now=timezone.now()
            ),
            "created_at": date.to_representation(instance.created_at),
            "updated_at": date.to_representation(instance.updated_at),
            "created_by": _username(instance.created_by),
            "updated_by": _username(instance.updated_by),
        }


class JobPatchSerializer(JobSpecSerializer):
    """Documentation shape of PATCH: any subset of the job spec; nested objects merge."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class JobVersionOutputSerializer(serializers.ModelSerializer):
    changed_by = serializers.SerializerMethodField()

    class Meta:
        model = JobVersion
        fields = ["version", "config", "changed_by", "changed_at", "change_source"]

    def get_changed_by(self, obj: JobVersion) -> str | None:
        return _username(obj.changed_by)


class SpecChangeSerializer(serializers.Serializer):
    path = serializers.CharField()
    kind = serializers.ChoiceField(choices=["added", "removed", "changed"])
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class VersionDiffOutputSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    changes = SpecChangeSerializer(many=True)


class VersionDiffQuerySerializer(serializers.Serializer):
    from_version = serializers.IntegerField(min_value=1)
    to_version = serializers.IntegerField(min_value=1)


class RunEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = RunEvent
        fields = ["from_state", "to_state", "at", "source", "actor", "message"]

    def get_actor(self, obj: RunEvent) -> str | None:
        return _username(obj.actor)


class RunOutputSerializer(serializers.ModelSerializer):
    job_id = serializers.UUIDField(source="job.job_id")
    job_name = serializers.CharField(source="job.name")
    job_version = serializers.IntegerField(source="job_version.version")
    requested_by = serializers.SerializerMethodField()
    retry_of = serializers.UUIDField(source="retry_of.run_id", allow_null=True, default=None)
    duration_seconds = serializers.FloatField(allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "run_id",
            "job_id",
            "job_name",
            "job_version",
            "state",
            "trigger",
            "requested_by",
            "idempotency_key",
            "parameters",
            "arguments",
            "engine",
            "external_run_id",
            "attempt",
            "retry_of",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error_message",
            "metrics",
            "capacity",
            "glue_state",
            "stop_reason",
            "execution_seconds",
            "dpu_seconds",
            "logs_url",
            "next_attempt_at",
        ]

    def get_requested_by(self, obj: JobRun) -> str | None:
        return _username(obj.requested_by)


class RunDetailOutputSerializer(RunOutputSerializer):
    events = RunEventOutputSerializer(many=True, read_only=True)

    class Meta(RunOutputSerializer.Meta):
        fields = [*RunOutputSerializer.Meta.fields, "events"]


class FireCapacitySerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    worker_type = serializers.CharField(required=False)
    number_of_workers = serializers.IntegerField(required=False)
    execution_class = serializers.CharField(required=False)


class FireInputSerializer(serializers.Serializer):
    parameters = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=dict,
        help_text="Overrides of the job's default parameters, validated by its parameters_schema.",
    )
    capacity = FireCapacitySerializer(
        required=False,
        help_text="Glue capacity for this run, within the limits the job sets.",
    )


class FireOutputSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=RunState.choices)
    url = serializers.URLField()
