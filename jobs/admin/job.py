"""The job admin: what operators edit and fire. Every write goes through jobs.services.

Its custom views (fire, test a key, version diff) hang off the change page, so they live
with the ModelAdmin whose URLs and permissions they share.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from diep_portal.admin_kit import state_badge
from diep_portal.exceptions import ApplicationError, ValidationFailed
from jobs import cron, selectors, services
from jobs.admin.forms import FireForm, JobAdminForm, flatten_errors
from jobs.models import FireSource, Job
from jobs.specs import FIELD_PATHS, spec_diff
from jobs.triggers import jobs_for_key, trigger_matches, trigger_warnings

HISTORY_FIELDS = (
    "job_id",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "recent_runs",
    "version_history",
)
TRIGGER_FIELDS = [name for name, spec_path in FIELD_PATHS.items() if spec_path[0] == "trigger"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobAdminForm
    list_display = [
        "name",
        "team",
        "engine",
        "enabled",
        "schedule_display",
        "last_run",
        "success_rate",
        "version",
        "updated_at",
    ]
    list_filter = ["team", "engine", "enabled", "source_format", "destination_format"]
    search_fields = ["name", "description", "glue_job_name", "trigger_bucket", "trigger_prefix"]
    readonly_fields = (*HISTORY_FIELDS, "schedule_preview", "trigger_test", "fire_link")
    # ingestion adds its backfill action (ingestion/admin.py).
    actions = ["fire_now", "enable_jobs", "disable_jobs"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "description",
                    "team",
                    "enabled",
                    "engine",
                    "glue_job_name",
                    "fire_link",
                ]
            },
        ),
        ("Source", {"fields": ["source_uri", "source_format", "source_options"]}),
        (
            "Destination",
            {
                "fields": [
                    "destination_uri",
                    "destination_format",
                    "destination_partition_by",
                    "destination_mode",
                    "destination_options",
                ]
            },
        ),
        ("Transform and parameters", {"fields": ["transform", "parameters", "parameters_schema"]}),
        ("Schedule", {"fields": ["schedule", "timezone", "catch_up", "schedule_preview"]}),
        ("Alerts", {"classes": ["collapse"], "fields": ["alerts"]}),
        (
            "Event trigger",
            {"classes": ["collapse"], "fields": (*TRIGGER_FIELDS, "trigger_test")},
        ),
        (
            "Limits and capacity",
            {"fields": ["max_concurrent_runs", "timeout_minutes", "max_retries", "capacity"]},
        ),
        ("History", {"fields": HISTORY_FIELDS}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        stats = selectors.job_list_with_stats()
        return stats.filter(pk__in=selectors.visible_jobs(request.user))

    @admin.display(description="Schedule", ordering="schedule")
    def schedule_display(self, job: Job) -> str:
        return f"{job.schedule} ({job.timezone})" if job.schedule else "—"

    @admin.display(description="Run it")
    def fire_link(self, job: Job) -> SafeString | str:
        if not job.pk:
            return "—"
        url = reverse("admin:jobs_job_fire", args=[job.pk])
        return format_html(
            '<a class="button" id="fire-job" href="{}">Fire with parameters…</a>', url
        )

    @admin.display(description="Test a key")
    def trigger_test(self, job: Job) -> SafeString | str:
        if not job.pk or not job.trigger_bucket:
            return "—"
        url = reverse("admin:jobs_job_test_key", args=[job.pk])
        return format_html('<a href="{}">Would a given S3 key fire this job?</a>', url)

    @admin.display(description="Next fire times")
    def schedule_preview(self, job: Job) -> SafeString | str:
        preview = cron.schedule_preview(job.schedule, tz=job.timezone, now=timezone.now())
        if preview is None:
            return "—"
        ticks: list[str] = preview["next_fire_times"]  # type: ignore[assignment]
        times = format_html_join("", "<li>{}</li>", ((t.replace("T", " "),) for t in ticks))
        return format_html("{}<ul>{}</ul>", preview["description"], times)

    @admin.display(description="Last run", ordering="last_run_state")
    def last_run(self, job: Job) -> SafeString | str:
        return state_badge(getattr(job, "last_run_state", None))

    @admin.display(description="Success rate")
    def success_rate(self, job: Job) -> str:
        terminal = getattr(job, "terminal_runs", 0)
        if not terminal:
            return "—"
        return f"{100 * getattr(job, 'succeeded_runs', 0) / terminal:.0f}% of {terminal}"

    @admin.display(description="Recent runs")
    def recent_runs(self, job: Job) -> SafeString | str:
        runs = selectors.runs_recent_for_job(job)
        if not runs:
            return "No runs yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:jobs_jobrun_change", args=[run.pk]),
                    str(run.run_id)[:8],
                    state_badge(run.state),
                    run.trigger,
                    run.queued_at.strftime("%Y-%m-%d %H:%M:%S"),
                    run.error_message[:120],
                )
                for run in runs
            ),
        )
        return format_html(
            "<table><tr><th>Run</th><th>State</th><th>Trigger</th><th>Queued</th>"
            "<th>Error</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="Versions")
    def version_history(self, job: Job) -> SafeString | str:
        versions = list(job.versions.select_related("changed_by").order_by("-version")[:20])
        diff_url = reverse("admin:jobs_job_version_diff", args=[job.pk])
        return format_html(
            "<table><tr><th>Version</th><th>Changed</th><th>By</th><th></th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        v.version,
                        v.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
                        v.changed_by.get_username() if v.changed_by else v.change_source,
                        format_html(
                            '<a href="{}?from_version={}&to_version={}">diff with v{}</a>',
                            diff_url,
                            v.version - 1,
                            v.version,
                            v.version - 1,
                        )
                        if v.version > 1
                        else "",
                    )
                    for v in versions
                ),
            ),
        )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        # The team rule depends on who is editing: the form class carries the request.
        current = obj.team if obj is not None else None
        return type(form.__name__, (form,), {"request": request, "current_team": current})

    def save_model(self, request: HttpRequest, obj: Job, form: Any, change: bool) -> None:
        spec = form.validated_spec
        if change:
            saved = services.job_update(
                job=Job.objects.get(pk=obj.pk), spec=spec, user=request.user, source="admin"
            )
        else:
            saved = services.job_create(spec=spec, user=request.user, source="admin")
        # The admin reads pk and fields from `obj` for its messages and redirect.
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
        for warning in trigger_warnings(saved, user=request.user):
            self.message_user(request, warning, messages.WARNING)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass

    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        services.job_delete(job=obj, user=request.user, source="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            services.job_delete(job=job, user=request.user, source="admin")

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<path:object_id>/fire/",
                self.admin_site.admin_view(self.fire_view),
                name="jobs_job_fire",
            ),
            path(
                "<path:object_id>/test-key/",
                self.admin_site.admin_view(self.test_key_view),
                name="jobs_job_test_key",
            ),
            path(
                "<path:object_id>/versions/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="jobs_job_version_diff",
            ),
        ]
        return custom + super().get_urls()

    def _visible_job(self, request: HttpRequest, object_id: str) -> Job:
        if not (object_id.isascii() and object_id.isdigit()):  # ../job/abc/fire/: no job
            raise Http404("No such job.")
        job = selectors.visible_jobs(request.user).filter(pk=object_id).first()
        if job is None:
            raise Http404("No such job.")
        return job

    def has_fire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.fire_job")

    def fire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """ "Fire with parameters": a form built from the job's schema, validated by it."""
        if not self.has_fire_permission(request):
            raise PermissionDenied
        job = self._visible_job(request, object_id)
        form = FireForm(request.POST or None, job=job)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.job_fire(
                    job=job,
                    parameters=form.parameters(),
                    trigger=FireSource.ADMIN,
                    user=request.user,
                )
            except ValidationFailed as exc:
                fields = exc.extra.get("fields", {})
                for message in flatten_errors(fields).items():
                    form.add_error(None, f"{'.'.join(message[0][1:])}: {'; '.join(message[1])}")
            except (ApplicationError, forms.ValidationError) as exc:
                form.add_error(None, str(getattr(exc, "message", exc)))
            else:
                self.message_user(request, f"Run {result.run.run_id} is {result.run.state}.")
                return HttpResponseRedirect(
                    reverse("admin:jobs_jobrun_change", args=[result.run.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "job": job,
            "form": form,
            "opts": self.opts,
            "title": f"Fire {job.name}",
        }
        return TemplateResponse(request, "admin/jobs/job/fire.html", context)

    def test_key_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """ "Would this key fire the job?": the trigger against a typed S3 key, and every
        enabled job the key would fire."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self._visible_job(request, object_id)
        key = request.GET.get("key", "")
        bucket = request.GET.get("bucket", job.trigger_bucket)
        visible = selectors.visible_jobs(request.user).filter(enabled=True)
        context = {
            **self.admin_site.each_context(request),
            "job": job,
            "key": key,
            "bucket": bucket,
            "tested": bool(key),
            "fires_this_job": bool(key) and job.enabled and trigger_matches(job, bucket, key),
            "matching_jobs": jobs_for_key(bucket, key, jobs=visible) if key else [],
            "opts": self.opts,
            "title": f"{job.name}: test a key",
        }
        return TemplateResponse(request, "admin/jobs/job/test_key.html", context)

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self._visible_job(request, object_id)
        try:
            to_version = int(request.GET.get("to_version", job.version))
            from_version = int(request.GET.get("from_version", max(to_version - 1, 1)))
            before = selectors.job_version_get(job, from_version)
            after = selectors.job_version_get(job, to_version)
        except (ValueError, ApplicationError) as exc:
            self.message_user(request, f"Cannot compare: {exc}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))
        changes = [
            {
                **change.as_dict(),
                "before_json": json.dumps(change.as_dict()["before"]),
                "after_json": json.dumps(change.as_dict()["after"]),
            }
            for change in spec_diff(before.config, after.config)
        ]
        context = {
            **self.admin_site.each_context(request),
            "job": job,
            "before": before,
            "after": after,
            "changes": changes,
            "opts": self.opts,
            "versions": job.versions.order_by("version").values_list("version", flat=True),
            "title": f"{job.name}: v{before.version} → v{after.version}",
            "crumb": f"v{before.version} → v{after.version}",
        }
        return TemplateResponse(request, "admin/jobs/job/version_diff.html", context)

    @admin.action(description="Fire now", permissions=["fire"])
    def fire_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                result = services.job_fire(
                    job=job, parameters={}, trigger=FireSource.ADMIN, user=request.user
                )
            except ApplicationError as exc:
                self.message_user(request, f"{job.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{job.name}: run {result.run.run_id} {result.run.state}."
                )

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Job], enabled: bool) -> None:
        for job in queryset:
            services.job_set_enabled(job=job, enabled=enabled, user=request.user, source="admin")
        self.message_user(
            request, f"{queryset.count()} job(s) {'enabled' if enabled else 'disabled'}."
        )

    @admin.action(description="Enable", permissions=["change"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, False)
