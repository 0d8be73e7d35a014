"""The one error body of the API (diep_portal.exceptions renders it)."""

from __future__ import annotations

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every 4xx body: a human message, a stable code and, for 400, messages per field."""

    detail = serializers.CharField()
    code = serializers.CharField()
    # A declared field, not Serializer.fields: DRF's metaclass moves it aside.
    fields = serializers.DictField(required=False)  # type: ignore[assignment]
