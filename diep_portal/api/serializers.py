"""The one error body of the API (diep_portal.exceptions renders it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every 4xx body: a human message, a stable code and, for 400, messages per field."""

    detail = serializers.CharField()
    code = serializers.CharField()
    # A declared field, not Serializer.fields: DRF's metaclass moves it aside.
    fields = serializers.DictField(required=False)  # type: ignore[assignment]


class RefuseUnknownFieldsMixin:
    """For input serializers: a field the serializer does not know is a 400 naming it,
    not silently dropped (a typo'd option would otherwise be ignored without a word)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = set(self.fields)  # type: ignore[attr-defined]
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise serializers.ValidationError(
                    {_printable(name): ["Unknown field."] for name in unknown}
                )
        return super().to_internal_value(data)  # type: ignore[misc]


def _printable(name: str) -> str:
    # Echoed in the error body: a name sent to fill it is cut short.
    return name[:100]
