"""The job definition: one validated shape for every interface.

The body of `POST /create_job/` is the canonical job spec. The API, `manage.py
create_job`, `apply_jobs` and the admin form all validate through
`JobSpecSerializer`, so a job is judged by the same rules wherever it comes from.
JobVersion snapshots store this same nested shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from etl import spec as etl_spec
from etl.spec.guards import validate_identifier
from jobs import cron, validators
from jobs.engines.glue import capacity
from jobs.models import CatchUp, DestinationFormat, Engine, Job, SourceFormat, WriteMode
from jobs.roles import ROLES

MAX_DESCRIPTION_CHARS = 10_000
MAX_PARTITION_COLUMNS = 10
MAX_WINDOW_SECONDS = 24 * 3600
MAX_TRIGGER_FILES = 100_000
MAX_TRIGGER_BYTES = 5 * 1024**4


def _django_errors(exc: DjangoValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def _spec_errors(exc: etl_spec.SpecError) -> Any:
    return {path or "non_field_errors": messages for path, messages in exc.errors.items()}


class SourceSpec(serializers.Serializer):
    uri = serializers.CharField(max_length=1100, validators=[validators.validate_s3_uri])
    format = serializers.ChoiceField(choices=SourceFormat.choices)
    options = serializers.JSONField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["options"] = etl_spec.validate_source_options(attrs["format"], attrs["options"])
        except etl_spec.SpecError as exc:
            raise serializers.ValidationError({"options": _spec_errors(exc)}) from exc
        return attrs


class DestinationSpec(serializers.Serializer):
    uri = serializers.CharField(max_length=1100, validators=[validators.validate_s3_uri])
    format = serializers.ChoiceField(
        choices=DestinationFormat.choices, default=DestinationFormat.PARQUET
    )
    partition_by = serializers.ListField(
        child=serializers.CharField(max_length=128),
        required=False,
        default=list,
        max_length=MAX_PARTITION_COLUMNS,
    )
    mode = serializers.ChoiceField(choices=WriteMode.choices, default=WriteMode.APPEND)
    options = serializers.JSONField(required=False, default=dict)

    def validate_partition_by(self, value: list[str]) -> list[str]:
        errors: dict[str, Any] = {}
        for index, column in enumerate(value):
            try:
                validate_identifier(column)
            except etl_spec.SpecError as exc:
                errors[str(index)] = [
                    message for messages in exc.errors.values() for message in messages
                ]
        if errors:
            raise serializers.ValidationError(errors)
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Partition columns must be unique.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["options"] = etl_spec.validate_destination_options(
                attrs["format"], attrs["options"]
            )
        except etl_spec.SpecError as exc:
            raise serializers.ValidationError({"options": _spec_errors(exc)}) from exc
        return attrs


class TriggerSpec(serializers.Serializer):
    bucket = serializers.CharField(max_length=63, validators=[validators.validate_bucket_name])
    prefix = serializers.CharField(
        max_length=1024, required=False, default="", allow_blank=True, trim_whitespace=False
    )
    suffix = serializers.CharField(
        max_length=1024, required=False, default="", allow_blank=True, trim_whitespace=False
    )
    window_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_WINDOW_SECONDS, required=False, default=0
    )
    max_files = serializers.IntegerField(
        min_value=1, max_value=MAX_TRIGGER_FILES, required=False, default=1000
    )
    max_bytes = serializers.IntegerField(
        min_value=1, max_value=MAX_TRIGGER_BYTES, required=False, default=10 * 1024**3
    )

    def validate_prefix(self, value: str) -> str:
        return self._key_part(value, "prefix")

    def validate_suffix(self, value: str) -> str:
        return self._key_part(value, "suffix")

    @staticmethod
    def _key_part(value: str, label: str) -> str:
        try:
            validators.validate_key_prefix(value, label=label)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


ALERT_EVENTS = ("failure", "timeout", "success")
MAX_ALERT_TARGETS = 20


class AlertsSpec(serializers.Serializer):
    """Who hears of the job's runs. Webhooks are named, not given as URLs: their URLs
    are secrets (a Slack URL posts as its owner), kept in DIEP_ALERT_WEBHOOKS, out of
    job specs that viewers read and DynamoDB mirrors."""

    on = serializers.ListField(
        child=serializers.ChoiceField(choices=ALERT_EVENTS),
        required=False,
        default=list,
        max_length=len(ALERT_EVENTS),
    )
    emails = serializers.ListField(
        child=serializers.EmailField(), required=False, default=list, max_length=MAX_ALERT_TARGETS
    )
    webhooks = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=MAX_ALERT_TARGETS,
    )
    freshness_hours = serializers.IntegerField(
        min_value=1, max_value=24 * 31, required=False, allow_null=True, default=None
    )
    freshness_by = serializers.RegexField(
        r"^([01]\d|2[0-3]):[0-5]\d$",
        required=False,
        allow_null=True,
        default=None,
        error_messages={"invalid": "A time of day as HH:MM (24-hour), in the job's timezone."},
    )

    def validate_emails(self, value: list[str]) -> list[str]:
        domains = settings.DIEP_ALERT_EMAIL_DOMAINS
        outside = [e for e in value if domains and e.rpartition("@")[2].lower() not in domains]
        if outside:
            raise serializers.ValidationError(
                f"Alert e-mail may go to {', '.join(domains)} only; not {', '.join(outside)}."
            )
        return value

    def validate_webhooks(self, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(settings.DIEP_ALERT_WEBHOOKS))
        if unknown:
            known = ", ".join(sorted(settings.DIEP_ALERT_WEBHOOKS)) or "none configured"
            raise serializers.ValidationError(
                f"Unknown webhook(s) {', '.join(unknown)}; DIEP_ALERT_WEBHOOKS has: {known}."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        wants_alerts = attrs["on"] or attrs["freshness_hours"] or attrs["freshness_by"]
        if wants_alerts and not (attrs["emails"] or attrs["webhooks"]):
            raise serializers.ValidationError("Name at least one email or webhook to alert.")
        if attrs["freshness_hours"] and attrs["freshness_by"]:
            raise serializers.ValidationError("Use freshness_hours or freshness_by, not both.")
        # Stored without empty entries, so a job without alerts reads back as {}.
        return {key: value for key, value in attrs.items() if value}


class JobSpecSerializer(serializers.Serializer):
    """The job definition (the `POST /create_job/` body), fully validated."""

    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION_CHARS, required=False, default="", allow_blank=True
    )
    team = serializers.CharField(
        max_length=150,
        required=False,
        default="",
        allow_blank=True,
        help_text="The team (group) whose members see and run the job; empty: shared.",
    )
    engine = serializers.ChoiceField(choices=Engine.choices, default=Engine.GLUE)
    glue_job_name = serializers.RegexField(
        r"^[\w.\-:/ ]{1,255}$",
        required=False,
        default="",
        allow_blank=True,
        error_messages={"invalid": "Glue job names use letters, digits, spaces and _ . - : /."},
    )
    # DRF's metaclass turns these class attributes into fields; mypy sees Field.source.
    source = SourceSpec()  # type: ignore[assignment]
    destination = DestinationSpec()
    transform = serializers.JSONField(required=False, default=dict)
    parameters = serializers.JSONField(required=False, default=dict)
    parameters_schema = serializers.JSONField(required=False, default=dict)
    schedule = serializers.CharField(
        max_length=256, required=False, default="", allow_blank=True, allow_null=True
    )
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")
    catch_up = serializers.ChoiceField(
        choices=CatchUp.choices,
        required=False,
        default=CatchUp.LATEST,
        help_text="After downtime: none (skip missed ticks), latest (fire the last one) "
        f"or all (every missed tick, at most {cron.MAX_CATCH_UP_TICKS}).",
    )
    trigger = TriggerSpec(required=False, allow_null=True, default=None)
    alerts = AlertsSpec(required=False, default=dict)
    max_concurrent_runs = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, default=1
    )
    timeout_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, required=False, default=60
    )
    max_retries = serializers.IntegerField(min_value=0, max_value=10, required=False, default=0)
    capacity = serializers.JSONField(
        required=False,
        default=dict,
        help_text="Glue capacity: worker_type + number_of_workers (or max_capacity), "
        "auto_scaling, execution_class, and the fire-time limits max_workers and "
        "allowed_worker_types.",
    )
    enabled = serializers.BooleanField(required=False, default=True)

    def validate_team(self, value: str) -> str:
        if value and (value in ROLES or not Group.objects.filter(name=value).exists()):
            raise serializers.ValidationError(f"No team named {value!r}.")
        return value

    def validate_capacity(self, value: Any) -> dict[str, Any]:
        try:
            return capacity.validate_job_capacity(value)
        except capacity.CapacityError as exc:
            raise serializers.ValidationError(exc.errors) from exc

    def validate_transform(self, value: Any) -> dict[str, Any]:
        try:
            return etl_spec.validate_transform(value)
        except etl_spec.SpecError as exc:
            raise serializers.ValidationError(_spec_errors(exc)) from exc

    def validate_parameters(self, value: Any) -> dict[str, str]:
        try:
            return validators.clean_parameters(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_django_errors(exc)) from exc

    def validate_parameters_schema(self, value: Any) -> dict[str, Any]:
        try:
            validators.validate_parameters_schema(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return dict(value)

    def validate_schedule(self, value: str | None) -> str:
        if not value or not value.strip():
            return ""
        try:
            return cron.parse_schedule(value).expression
        except cron.ScheduleError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_timezone(self, value: str) -> str:
        try:
            return cron.validate_timezone(value)
        except cron.ScheduleError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["engine"] == Engine.GLUE and not attrs["glue_job_name"]:
            # Jobs that need no custom script share the provisioned generic ingestion job.
            attrs["glue_job_name"] = settings.DIEP_DEFAULT_GLUE_JOB_NAME
        if attrs["engine"] == Engine.LOCAL:
            attrs["glue_job_name"] = ""
        elif attrs["glue_job_name"] not in settings.DIEP_GLUE_JOB_NAMES:
            raise serializers.ValidationError(
                {
                    "glue_job_name": [
                        "DIEP runs only the Glue jobs its admins set up "
                        f"(DIEP_GLUE_JOB_NAMES): {', '.join(settings.DIEP_GLUE_JOB_NAMES)}."
                    ]
                }
            )
        if errors := validators.schema_errors(attrs["parameters_schema"], attrs["parameters"]):
            raise serializers.ValidationError(
                {"parameters": [f"{key}: {'; '.join(msgs)}" for key, msgs in errors.items()]}
            )
        return attrs


# Each Job model field and its place in the nested spec (the /create_job/ body), in the
# order the spec reads. One table for the API, the admin form and JobVersion snapshots.
FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "description": ("description",),
    "team": ("team",),
    "engine": ("engine",),
    "glue_job_name": ("glue_job_name",),
    "source_uri": ("source", "uri"),
    "source_format": ("source", "format"),
    "source_options": ("source", "options"),
    "destination_uri": ("destination", "uri"),
    "destination_format": ("destination", "format"),
    "destination_partition_by": ("destination", "partition_by"),
    "destination_mode": ("destination", "mode"),
    "destination_options": ("destination", "options"),
    "transform": ("transform",),
    "parameters": ("parameters",),
    "parameters_schema": ("parameters_schema",),
    "schedule": ("schedule",),
    "timezone": ("timezone",),
    "catch_up": ("catch_up",),
    "trigger_bucket": ("trigger", "bucket"),
    "trigger_prefix": ("trigger", "prefix"),
    "trigger_suffix": ("trigger", "suffix"),
    "trigger_window_seconds": ("trigger", "window_seconds"),
    "trigger_max_files": ("trigger", "max_files"),
    "trigger_max_bytes": ("trigger", "max_bytes"),
    "max_concurrent_runs": ("max_concurrent_runs",),
    "timeout_minutes": ("timeout_minutes",),
    "max_retries": ("max_retries",),
    "capacity": ("capacity",),
    "alerts": ("alerts",),
    "enabled": ("enabled",),
}
# What the trigger columns hold for a job without a trigger.
NO_TRIGGER: dict[str, Any] = {
    "trigger_bucket": "",
    "trigger_prefix": "",
    "trigger_suffix": "",
    "trigger_window_seconds": 0,
    "trigger_max_files": 1000,
    "trigger_max_bytes": 10 * 1024**3,
}


def spec_to_model_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a validated spec into Job model fields."""
    fields: dict[str, Any] = {}
    for field, path in FIELD_PATHS.items():
        node: Any = spec
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        fields[field] = NO_TRIGGER[field] if node is None and field in NO_TRIGGER else node
    return fields


def spec_from_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Nest flat field values (model field names) into the spec shape; fields absent from
    `values` are left out, and the trigger is null without a bucket."""
    spec: dict[str, Any] = {}
    for field, path in FIELD_PATHS.items():
        if path[0] == "trigger":
            if "trigger" not in spec:
                spec["trigger"] = {} if values.get("trigger_bucket") else None
            if spec["trigger"] is None or field not in values:
                continue
        elif field not in values:
            continue
        target = spec
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = values[field]
    return spec


def job_to_spec(job: Job) -> dict[str, Any]:
    """The job's configuration in the canonical nested shape (what a JobVersion stores)."""
    return spec_from_fields({field: getattr(job, field) for field in FIELD_PATHS})


def merge_spec_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a PATCH body to a spec: top-level keys replace, nested source/destination/trigger
    objects merge key by key (an explicit `"trigger": null` removes the trigger)."""
    merged = dict(current)
    for key, value in patch.items():
        if key in {"source", "destination", "trigger"} and isinstance(value, Mapping):
            base = merged.get(key) or {}
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class SpecChange:
    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "before": None if self.before is _MISSING else self.before,
            "after": None if self.after is _MISSING else self.after,
        }


_MISSING: Any = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    # Lists stay whole: "partition_by changed from [a] to [a, b]" reads better than indexes.
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def spec_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[SpecChange]:
    """Field-level differences between two specs, as dotted paths, in a stable order."""
    flat_before, flat_after = _flatten(before), _flatten(after)
    changes = []
    for path in sorted(flat_before.keys() | flat_after.keys()):
        old, new = flat_before.get(path, _MISSING), flat_after.get(path, _MISSING)
        if old != new:
            changes.append(SpecChange(path, old, new))
    return changes


def error_lines(errors: Any, prefix: str = "") -> list[str]:
    """Nested serializer errors as `field.path: message` lines (for commands and files)."""
    if isinstance(errors, dict):
        return [
            line
            for key, value in errors.items()
            for line in error_lines(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(errors, list):
        return [line for value in errors for line in error_lines(value, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]
