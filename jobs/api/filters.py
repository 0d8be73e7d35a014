"""Query filters of the job and run lists (django-filter)."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from jobs.models import Engine, Job, JobRun, RunState, Trigger


class JobFilter(django_filters.FilterSet):
    engine = django_filters.ChoiceFilter(choices=Engine.choices)
    enabled = django_filters.BooleanFilter()
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Matches name, description or Glue job name.",
    )
    has_schedule = django_filters.BooleanFilter(method="filter_has_schedule")
    trigger_bucket = django_filters.CharFilter(max_length=63)

    class Meta:
        model = Job
        fields = ["engine", "enabled", "trigger_bucket"]

    def filter_search(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        return queryset.filter(
            Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(glue_job_name__icontains=value)
        )

    def filter_has_schedule(self, queryset: QuerySet[Job], name: str, value: bool) -> QuerySet[Job]:
        return queryset.exclude(schedule="") if value else queryset.filter(schedule="")


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime compared in UTC. ISO allows offsets PostgreSQL does not
    (-23:17 is valid ISO; PostgreSQL stops at ±15:59), so the value is converted first."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class RunFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=RunState.choices)
    trigger = django_filters.ChoiceFilter(choices=Trigger.choices)
    job = django_filters.CharFilter(
        method="filter_job", max_length=100, help_text="Job UUID or name."
    )
    queued_after = UtcDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    queued_before = UtcDateTimeFilter(field_name="queued_at", lookup_expr="lt")
    external_run_id = django_filters.CharFilter(max_length=255)

    class Meta:
        model = JobRun
        fields = ["state", "trigger", "external_run_id"]

    def filter_job(self, queryset: QuerySet[JobRun], name: str, value: str) -> QuerySet[JobRun]:
        try:
            return queryset.filter(job__job_id=uuid.UUID(value))
        except ValueError:
            return queryset.filter(job__name=value)


_FILTER_TYPES = {
    django_filters.BooleanFilter: OpenApiTypes.BOOL,
    django_filters.IsoDateTimeFilter: OpenApiTypes.DATETIME,
    UtcDateTimeFilter: OpenApiTypes.DATETIME,
    django_filters.UUIDFilter: OpenApiTypes.UUID,
    django_filters.NumberFilter: OpenApiTypes.NUMBER,
}


def filter_parameters(filterset: type[django_filters.FilterSet]) -> list[OpenApiParameter]:
    """The filterset's query parameters for the OpenAPI schema of a plain APIView."""
    parameters = []
    for name, field in filterset.base_filters.items():
        choices = field.extra.get("choices")
        parameters.append(
            OpenApiParameter(
                name,
                _FILTER_TYPES.get(type(field), OpenApiTypes.STR),
                OpenApiParameter.QUERY,
                description=str(field.extra.get("help_text", "") or ""),
                enum=[value for value, _ in choices] if choices else None,
                many=isinstance(field, django_filters.MultipleChoiceFilter) or None,
                explode=True if isinstance(field, django_filters.MultipleChoiceFilter) else None,
            )
        )
    return parameters
