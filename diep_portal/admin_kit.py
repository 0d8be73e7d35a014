"""The shared admin kit: read-only ledgers, team scoping, state badges and JSON display,
used by every app's admin and by the dashboard."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from jobs import selectors
from jobs.models import RunState
from jobs.roles import is_platform_admin

STATE_COLOURS: dict[str, str] = {
    RunState.QUEUED: "#6c757d",
    RunState.PENDING: "#6c757d",
    RunState.STARTING: "#0d6efd",
    RunState.RUNNING: "#0d6efd",
    RunState.STOPPING: "#fd7e14",
    RunState.SUCCEEDED: "#198754",
    RunState.FAILED: "#dc3545",
    RunState.TIMEOUT: "#dc3545",
    RunState.ERROR: "#dc3545",
    RunState.STOPPED: "#adb5bd",
}


def pretty_json(value: Any) -> SafeString:
    """A JSON value, indented, as a <pre> block."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def state_badge(state: str | None) -> SafeString | str:
    """A run state as a coloured badge ("—" for none)."""
    if not state:
        return "—"
    return format_html(
        '<span class="diep-badge" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;font-size:11px;font-weight:600">{}</span>',
        STATE_COLOURS.get(state, "#6c757d"),
        state,
    )


class ReadOnlyAdminMixin:
    """Ledgers and audit trails: visible, never added, edited or deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TeamScopedAdminMixin:
    """Rows of jobs the user's teams own (or shared ones); platform admins see all."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if is_platform_admin(request.user):
            return queryset
        return queryset.filter(job__in=selectors.visible_jobs(request.user))
