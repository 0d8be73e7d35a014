"""The base of every API view: permission by HTTP method, the documented error bodies,
and pagination with one schema component per item type."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diep_portal.api.serializers import ErrorSerializer

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    429: ErrorSerializer,  # throttled (DIEP_API_THROTTLE_RATE)
}


class HasMethodPermission(BasePermission):
    """Authenticated, and holding the model permission the view names for this method."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        required = view.required_permissions.get(request.method, view.required_permissions["*"])
        return bool(user.has_perm(required))


class ApiView(APIView):
    permission_classes = [HasMethodPermission]
    required_permissions: dict[str, str] = {"*": "jobs.view_job"}


@functools.cache  # one component per item type, however many operations list it
def page_of(serializer: type) -> Any:
    """The documented shape of a `paginated` response of `serializer` items."""
    return inline_serializer(
        name=f"Paginated{serializer.__name__.removesuffix('Serializer')}List",
        fields={
            "count": drf_serializers.IntegerField(),
            "next": drf_serializers.URLField(allow_null=True),
            "previous": drf_serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )


def paginated(
    view: APIView, request: Request, queryset: QuerySet[Any], serializer: type
) -> Response:
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)
