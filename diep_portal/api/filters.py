"""Filter helpers every API list uses: datetimes compared in UTC, and a filterset's query
parameters documented in the OpenAPI schema of a plain APIView."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 datetime compared in UTC. ISO allows offsets PostgreSQL does not
    (-23:17 is valid ISO; PostgreSQL stops at ±15:59), so the value is converted first."""

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


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
