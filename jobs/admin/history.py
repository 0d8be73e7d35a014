"""What happened, kept for audit: job versions and the alerts raised. Read-only all through.

Neither is edited here: versions are written by jobs.services, alerts by jobs.alerts.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from diep_portal.admin_kit import ReadOnlyAdminMixin, TeamScopedAdminMixin, pretty_json
from jobs.models import Alert, AlertDelivery, JobVersion


@admin.register(JobVersion)
class JobVersionAdmin(TeamScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: versions are immutable snapshots."""

    list_display = ["job", "version", "changed_by", "change_source", "changed_at"]
    list_filter = ["change_source"]
    search_fields = ["job__name"]
    readonly_fields = (
        "job",
        "version",
        "config_display",
        "changed_by",
        "change_source",
        "changed_at",
    )
    fields = readonly_fields

    @admin.display(description="Configuration")
    def config_display(self, version: JobVersion) -> SafeString:
        return pretty_json(version.config)


_DELIVERY_FIELDS = (
    "channel",
    "target",
    "state",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "last_error",
)


class AlertDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AlertDelivery
    fields = _DELIVERY_FIELDS
    readonly_fields = _DELIVERY_FIELDS
    extra = 0


@admin.register(Alert)
class AlertAdmin(TeamScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Alert history: what was raised, for which run or window, and where it went."""

    list_display = ["created_at", "kind", "subject", "job", "delivered"]
    list_filter = ["kind", "deliveries__state"]
    search_fields = ["subject", "dedupe_key", "job__name"]
    readonly_fields = ["kind", "dedupe_key", "job", "run", "subject", "text", "created_at"]
    inlines = [AlertDeliveryInline]
    list_select_related = ["job"]

    @admin.display(description="Delivered")
    def delivered(self, alert: Alert) -> str:
        states = [d.state for d in alert.deliveries.all()]
        return ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states))) or "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Alert]:
        return super().get_queryset(request).prefetch_related("deliveries")
