"""Admin for the file ledger: find a file by key, see which run processed it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from diep_portal.exceptions import ApplicationError
from ingestion import services
from ingestion.models import ConsumedMessageStat, IngestedFile
from jobs.admin import state_badge


@admin.register(IngestedFile)
class IngestedFileAdmin(admin.ModelAdmin):
    list_display = ["key", "bucket", "job", "state", "size", "received_at", "run_link"]
    list_filter = ["state", "bucket", "job", "source"]
    search_fields = ["key", "etag", "run__run_id"]
    list_select_related = ["job", "run"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    readonly_fields = (
        "job",
        "bucket",
        "key",
        "identity",
        "etag",
        "version_id",
        "sequencer",
        "size",
        "event_name",
        "event_time",
        "received_at",
        "state",
        "run_link",
        "batched_at",
        "source",
    )
    fields = readonly_fields

    @admin.display(description="Run")
    def run_link(self, file: IngestedFile) -> SafeString | str:
        if file.run is None:
            return "—"
        url = reverse("admin:jobs_jobrun_change", args=[file.run.pk])
        return format_html(
            '<a href="{}">{}</a> {}', url, str(file.run.run_id)[:8], state_badge(file.run.state)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_fire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.fire_job")

    @admin.action(description="Reprocess selected files (new run)", permissions=["fire"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[IngestedFile]) -> None:
        try:
            runs = services.files_reprocess(files=list(queryset), user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, f"{queryset.count()} file(s) sent again in {len(runs)} run(s)."
            )


@admin.register(ConsumedMessageStat)
class ConsumedMessageStatAdmin(admin.ModelAdmin):
    list_display = ["day", "outcome", "count"]
    list_filter = ["outcome"]
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
