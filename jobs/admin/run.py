"""Runs, read-only: operators act on a run only by stop and retry (jobs.runs.outcome).

The run page is what operators open when something failed, so it gathers the timeline,
logs, metrics and cost in one place.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from diep_portal.admin_kit import ReadOnlyAdminMixin, TeamScopedAdminMixin, pretty_json, state_badge
from diep_portal.exceptions import ApplicationError
from jobs.models import JobRun, RunEvent
from jobs.runs.outcome import run_retry, run_stop


class RunEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RunEvent
    fields = ("at", "from_state", "to_state", "source", "actor", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(JobRun)
class JobRunAdmin(TeamScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_run_id",
        "job",
        "state_display",
        "trigger",
        "attempt",
        "queued_at",
        "duration",
        "external_run_id",
    ]
    # Only jobs whose runs the user sees (the queryset is team-scoped).
    list_filter = ["state", "trigger", "engine", ("job", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["run_id", "external_run_id", "job__name", "idempotency_key"]
    list_select_related = ["job"]
    date_hierarchy = "queued_at"
    inlines = [RunEventInline]
    actions = ["stop_runs", "retry_runs"]
    readonly_fields = (
        "run_id",
        "job",
        "job_version",
        "state_display",
        "trigger",
        "requested_by",
        "idempotency_key",
        "engine",
        "external_run_id",
        "attempt",
        "retry_of",
        "queued_at",
        "started_at",
        "finished_at",
        "duration",
        "error_message",
        "glue_state",
        "stop_reason",
        "next_attempt_at",
        "capacity_display",
        "execution_seconds",
        "dpu_seconds",
        "logs_link",
        "parameters_display",
        "arguments_display",
        "timeline",
        # ingestion adds the run's files after the timeline (ingestion/admin.py).
        "metrics_display",
        "cost",
    )
    fields = readonly_fields

    def has_stop_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.stop_run")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.retry_run")

    @admin.display(description="Run", ordering="run_id")
    def short_run_id(self, run: JobRun) -> str:
        return str(run.run_id)[:8]

    @admin.display(description="State", ordering="state")
    def state_display(self, run: JobRun) -> SafeString | str:
        return state_badge(run.state)

    @admin.display(description="Duration")
    def duration(self, run: JobRun) -> str:
        seconds = run.duration_seconds
        if seconds is None:
            return "—"
        minutes, secs = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"

    @admin.display(description="Parameters")
    def parameters_display(self, run: JobRun) -> SafeString:
        return pretty_json(run.parameters)

    @admin.display(description="Capacity")
    def capacity_display(self, run: JobRun) -> SafeString | str:
        return pretty_json(run.capacity) if run.capacity else "Glue job defaults"

    @admin.display(description="Logs")
    def logs_link(self, run: JobRun) -> SafeString | str:
        if not run.logs_url:
            return "—"
        return format_html(
            '<a href="{}" rel="noopener" target="_blank">CloudWatch logs</a>', run.logs_url
        )

    @admin.display(description="Timeline")
    def timeline(self, run: JobRun) -> SafeString | str:
        events = list(run.events.order_by("at", "id"))
        if not events:
            return "—"
        start = events[0].at
        return format_html(
            '<ol class="diep-timeline" style="margin:0;padding-left:18px">{}</ol>',
            format_html_join(
                "",
                "<li>+{} s {} <small>{} {}</small></li>",
                (
                    (
                        round((event.at - start).total_seconds(), 1),
                        state_badge(event.to_state),
                        event.source,
                        event.message,
                    )
                    for event in events
                ),
            ),
        )

    @admin.display(description="Metrics")
    def metrics_display(self, run: JobRun) -> SafeString | str:
        return pretty_json(run.metrics) if run.metrics else "—"

    @admin.display(description="Cost")
    def cost(self, run: JobRun) -> str:
        if run.dpu_seconds is None:
            return "—"
        hours = run.dpu_seconds / 3600
        return f"{hours:.3f} DPU-hours ≈ ${hours * settings.DIEP_GLUE_DPU_HOUR_USD:.4f}"

    @admin.display(description="Arguments sent to the engine")
    def arguments_display(self, run: JobRun) -> SafeString:
        return pretty_json(run.arguments)

    @admin.action(description="Stop", permissions=["stop"])
    def stop_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        for run in queryset.select_related("job"):
            try:
                run_stop(run=run, user=request.user, source="admin")
            except ApplicationError as exc:
                self.message_user(request, f"{run.run_id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{run.run_id}: {run.state}.")

    @admin.action(description="Retry", permissions=["retry"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        for run in queryset.select_related("job", "job_version"):
            try:
                new_run = run_retry(run=run, user=request.user, source="admin")
            except ApplicationError as exc:
                self.message_user(request, f"{run.run_id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(
                    request, f"{run.run_id}: retried as {new_run.run_id} ({new_run.state})."
                )
