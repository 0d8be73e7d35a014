"""Admin for the file ledger: find a file by key, see which run processed it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from diep_portal.admin_kit import ReadOnlyAdminMixin, TeamScopedAdminMixin, state_badge
from diep_portal.exceptions import ApplicationError, AwsError
from ingestion import dlq, services
from ingestion.backfill import backfill_request
from ingestion.models import ConsumedMessageStat, DlqAction, IngestedFile
from jobs.models import Job, JobRun
from jobs.roles import is_platform_admin


@admin.register(IngestedFile)
class IngestedFileAdmin(TeamScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "bucket", "job", "state", "size", "received_at", "run_link"]
    list_filter = ["state", "bucket", ("job", admin.RelatedOnlyFieldListFilter), "source"]
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
class ConsumedMessageStatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "outcome", "count"]
    list_filter = ["outcome"]
    date_hierarchy = "day"


@admin.register(DlqAction)
class DlqActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The DLQ console (a page of its own) and its audit trail (this list, read-only)."""

    list_display = ["at", "action", "message_id", "actor", "detail"]
    list_filter = ["action"]
    search_fields = ["message_id", "detail"]

    def get_urls(self) -> list[URLPattern]:
        console = path(
            "console/", self.admin_site.admin_view(self.console_view), name="ingestion_dlq_console"
        )
        return [console, *super().get_urls()]

    def console_view(self, request: HttpRequest) -> HttpResponse:
        """List dead-lettered events; redrive or delete selected ones, or redrive all."""
        if not request.user.has_perm("jobs.fire_job"):
            raise PermissionDenied
        if request.method == "POST":
            selected = request.POST.getlist("message_id")
            try:
                if request.POST.get("action") == "redrive":
                    done = dlq.dlq_redrive(message_ids=selected, user=request.user)
                    self.message_user(request, f"{done} message(s) sent back to the queue.")
                elif request.POST.get("action") == "delete":
                    done = dlq.dlq_delete(message_ids=selected, user=request.user)
                    self.message_user(request, f"{done} message(s) deleted.")
                elif request.POST.get("action") == "redrive_all":
                    if not is_platform_admin(request.user):
                        raise PermissionDenied
                    self.message_user(request, dlq.dlq_redrive_all(user=request.user))
            except AwsError as exc:
                self.message_user(request, f"AWS refused: {exc}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:ingestion_dlq_console"))
        try:
            dead = dlq.dlq_peek(user=request.user)
            error = ""
        except AwsError as exc:
            dead, error = [], str(exc)
        rows = [
            {"id": m.message_id, "receives": m.receive_count, "preview": m.body[:300]} for m in dead
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "rows": rows,
            "error": error,
            "title": "Dead-letter queue",
            "may_redrive_all": is_platform_admin(request.user),
        }
        return TemplateResponse(request, "admin/ingestion/dlq_console.html", context)


@admin.action(description="Backfill: ingest what is under the trigger prefix", permissions=["fire"])
def backfill_jobs(
    modeladmin: admin.ModelAdmin[Job], request: HttpRequest, queryset: QuerySet[Job]
) -> None:
    for job in queryset:
        try:
            backfill_request(
                job=job,
                prefix=job.trigger_prefix,
                modified_after=None,
                modified_before=None,
                force=False,
                user=request.user,
            )
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{job.name}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                f"{job.name}: backfill started; progress is under "
                f"/api/v1/jobs/{job.name}/backfill/.",
            )


@admin.display(description="Files (manifest)")
def run_files(run: JobRun) -> SafeString | str:
    """The files a run read, on the run page, with a link to them in the ledger."""
    files = IngestedFile.objects.filter(run=run).order_by("key")
    total = files.count()
    if not total:
        return "—"
    items = format_html_join(
        "",
        "<li>s3://{}/{} <small>{} bytes</small></li>",
        files.values_list("bucket", "key", "size")[:20],
    )
    ledger = reverse("admin:ingestion_ingestedfile_changelist") + f"?run__id__exact={run.pk}"
    return format_html(
        '<ul style="margin:0">{}</ul><a href="{}">All {} file(s) in the ledger</a>',
        items,
        ledger,
        total,
    )


def _after(fields: Sequence[Any], anchor: str, extra: Any) -> tuple[Any, ...]:
    at = list(fields).index(anchor) + 1 if anchor in fields else len(fields)
    return (*fields[:at], extra, *fields[at:])


# Backfill and the file ledger are ingestion's, and jobs never imports ingestion: they
# join the job and run admins from here (jobs' admin module is loaded first, in
# INSTALLED_APPS order).
_job_admin = admin.site.get_model_admin(Job)
_job_admin.actions = [*(_job_admin.actions or ()), backfill_jobs]
_run_admin = type(admin.site.get_model_admin(JobRun))
_run_admin.readonly_fields = _after(_run_admin.readonly_fields, "timeline", run_files)
_run_admin.fields = _run_admin.readonly_fields
