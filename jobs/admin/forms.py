"""The job edit form and the fire form, apart from the ModelAdmin that shows them.

The edit form validates through the same serializer as the API and manage.py, so a job
typed in the admin is held to the rules of a job sent any other way.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import HttpRequest

from diep_portal.parsers import lone_surrogate_at
from jobs import services
from jobs.models import Job
from jobs.roles import team_for_job
from jobs.specs import FIELD_PATHS, JobSpecSerializer, spec_from_fields


def flatten_errors(errors: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], list[str]]:
    if isinstance(errors, dict):
        flat: dict[tuple[str, ...], list[str]] = {}
        for key, value in errors.items():
            flat.update(flatten_errors(value, (*prefix, str(key))))
        return flat
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        return {prefix: [str(e) for e in errors]}
    if isinstance(errors, list):
        flat = {}
        for index, value in enumerate(errors):
            flat.update(flatten_errors(value, (*prefix, str(index))))
        return flat
    return {prefix: [str(errors)]}


class PrettyJSONField(forms.JSONField):
    """JSON shown indented, so a transform or a schema reads like a document; a lone
    surrogate (JSON can escape one) is refused like in API bodies."""

    def to_python(self, value: Any) -> Any:
        data = super().to_python(value)
        where = lone_surrogate_at(data)
        if where is not None:
            raise forms.ValidationError(f"A lone surrogate (\\uD800-\\uDFFF) in {where}.")
        return data

    def bound_data(self, data: Any, initial: Any) -> Any:
        value = super().bound_data(data, initial)
        if lone_surrogate_at(value) is not None:  # redisplay the text typed, not the surrogate
            return forms.fields.InvalidJSONInput(data)
        return value

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the user typed, to correct it
        return json.dumps(value, indent=2, ensure_ascii=False)


JSON_FIELDS = (
    "source_options",
    "destination_options",
    "transform",
    "parameters",
    "parameters_schema",
    "destination_partition_by",
    "capacity",
    "alerts",
)


class JobAdminForm(forms.ModelForm):
    """Validates through the same JobSpecSerializer as the API and manage.py."""

    # Set per request by JobAdmin.get_form: the team rule depends on who edits.
    request: HttpRequest | None = None
    current_team: str | None = None

    class Meta:
        model = Job
        fields = list(FIELD_PATHS)
        field_classes = dict.fromkeys(JSON_FIELDS, PrettyJSONField)
        widgets = {
            name: forms.Textarea(
                attrs={
                    "rows": 6,
                    "cols": 80,
                    "class": "vLargeTextField",
                    "style": "font-family:monospace",
                }
            )
            for name in JSON_FIELDS
        }

    def spec_from_cleaned_data(self) -> dict[str, Any]:
        # An empty optional field is left out, so the spec's default applies.
        return spec_from_fields(
            {k: v for k, v in self.cleaned_data.items() if k in FIELD_PATHS and v is not None}
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        serializer = JobSpecSerializer(data=self.spec_from_cleaned_data())
        if serializer.is_valid():
            self.validated_spec = dict(serializer.validated_data)
            request = self.request
            if request is not None:
                try:
                    self.validated_spec["team"] = team_for_job(
                        request.user, self.validated_spec["team"], current=self.current_team
                    )
                except ValueError as exc:
                    self.add_error("team", str(exc))
                    return cleaned
                problems = services.job_location_errors(
                    spec=self.validated_spec, user=request.user, job=self.instance_job()
                )
                self._add_spec_errors(
                    {tuple(path.split(".")): messages for path, messages in problems.items()}
                )
            return cleaned
        self._add_spec_errors(flatten_errors(serializer.errors))
        return cleaned

    def instance_job(self) -> Job | None:
        return Job.objects.get(pk=self.instance.pk) if self.instance.pk else None

    def _add_spec_errors(self, errors: dict[tuple[str, ...], list[str]]) -> None:
        """Messages by spec path, each on the form field that edits it."""
        by_path = {spec_path: field for field, spec_path in FIELD_PATHS.items()}
        for error_path, error_messages in errors.items():
            field = next(
                (
                    by_path[error_path[:n]]
                    for n in range(len(error_path), 0, -1)
                    if error_path[:n] in by_path
                ),
                None,
            )
            detail = ".".join(error_path[len(FIELD_PATHS.get(field or "", ())) :])
            for message in error_messages:
                self.add_error(field, f"{detail}: {message}" if detail else message)

    def _post_clean(self) -> None:
        # The model instance is written by the services, never by ModelForm.save().
        pass


class FireForm(forms.Form):
    """One field per parameter the job declares (schema properties and defaults)."""

    extra_parameters = PrettyJSONField(
        required=False,
        initial=dict,
        help_text="Other parameters as a JSON object of strings.",
        widget=forms.Textarea(attrs={"rows": 3, "style": "font-family:monospace"}),
    )

    def __init__(self, *args: Any, job: Job, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = job.parameters_schema or {}
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
        names = sorted(set(properties) | set(job.parameters))
        self.parameter_names = names
        for name in names:
            prop = properties.get(name, {}) if isinstance(properties.get(name), dict) else {}
            self.fields[f"param__{name}"] = forms.CharField(
                label=name,
                required=name in required and name not in job.parameters,
                initial=job.parameters.get(name, prop.get("default", "")),
                help_text=prop.get("description", ""),
                strip=False,
            )
        self.fields["extra_parameters"] = self.fields.pop("extra_parameters")

    def parameters(self) -> dict[str, Any]:
        values = {
            name: self.cleaned_data[f"param__{name}"]
            for name in self.parameter_names
            if self.cleaned_data.get(f"param__{name}") not in (None, "")
        }
        extra = self.cleaned_data.get("extra_parameters") or {}
        if not isinstance(extra, dict):
            raise forms.ValidationError({"extra_parameters": "Expected a JSON object."})
        return {**extra, **values}
