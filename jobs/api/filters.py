"""Query filters of the job and run lists (django-filter)."""

from __future__ import annotations

import uuid

import django_filters
from django.db.models import Q, QuerySet

from diep_portal.api.filters import UtcDateTimeFilter
from jobs.models import Engine, FireSource, Job, JobRun, RunState


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


class RunFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=RunState.choices)
    trigger = django_filters.ChoiceFilter(choices=FireSource.choices)
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
