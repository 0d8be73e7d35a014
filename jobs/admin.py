"""Operators' admin for jobs and runs. Every write goes through jobs.services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from diep_portal.exceptions import ApplicationError, ValidationFailed
from jobs import schedules, selectors, services
from jobs.models import Alert, AlertDelivery, Job, JobRun, JobVersion, RunEvent, RunState, Trigger
from jobs.roles import is_platform_admin, team_for_job
from jobs.specs import FIELD_PATHS, JobSpecSerializer, spec_diff, spec_from_fields
from jobs.triggers import jobs_for_key, trigger_matches, trigger_overlap_warnings

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
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def state_badge(state: str | None) -> SafeString | str:
    if not state:
        return "—"
    return format_html(
        '<span class="diep-badge" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;font-size:11px;font-weight:600">{}</span>',
        STATE_COLOURS.get(state, "#6c757d"),
        state,
    )


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


def _flatten_errors(errors: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], list[str]]:
    if isinstance(errors, dict):
        flat: dict[tuple[str, ...], list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten_errors(value, (*prefix, str(key))))
        return flat
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        return {prefix: [str(e) for e in errors]}
    if isinstance(errors, list):
        flat = {}
        for index, value in enumerate(errors):
            flat.update(_flatten_errors(value, (*prefix, str(index))))
        return flat
    return {prefix: [str(errors)]}


class PrettyJSONField(forms.JSONField):
    """JSON shown indented, so a transform or a schema reads like a document."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the user typed, to correct it
        return json.dumps(value, indent=2, ensure_ascii=False)


JSON_FIELDS = (
    "source_options",
    "destination_options",
    "transform",
    "parameters",
    "parameters_schema",
    "destination_partition_by",
    "capacity",
    "alerts",
)


class JobAdminForm(forms.ModelForm):
    """Validates through the same JobSpecSerializer as the API and manage.py."""

    # Set per request by JobAdmin.get_form: the team rule depends on who edits.
    request: HttpRequest | None = None
    current_team: str | None = None

    class Meta:
        model = Job
        fields = list(FIELD_PATHS)
        field_classes = dict.fromkeys(JSON_FIELDS, PrettyJSONField)
        widgets = {
            name: forms.Textarea(
                attrs={
                    "rows": 6,
                    "cols": 80,
                    "class": "vLargeTextField",
                    "style": "font-family:monospace",
                }
            )
            for name in JSON_FIELDS
        }

    def spec_from_cleaned_data(self) -> dict[str, Any]:
        # An empty optional field is left out, so the spec's default applies.
        return spec_from_fields(
            {k: v for k, v in self.cleaned_data.items() if k in FIELD_PATHS and v is not None}
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        serializer = JobSpecSerializer(data=self.spec_from_cleaned_data())
        if serializer.is_valid():
            self.validated_spec = dict(serializer.validated_data)
            request = self.request
            if request is not None:
                try:
                    self.validated_spec["team"] = team_for_job(
                        request.user, self.validated_spec["team"], current=self.current_team
                    )
                except ValueError as exc:
                    self.add_error("team", str(exc))
            return cleaned
        by_path = {spec_path: field for field, spec_path in FIELD_PATHS.items()}
        for error_path, error_messages in _flatten_errors(serializer.errors).items():
            field = next(
                (
                    by_path[error_path[:n]]
                    for n in range(len(error_path), 0, -1)
                    if error_path[:n] in by_path
                ),
                None,
            )
            detail = ".".join(error_path[len(FIELD_PATHS.get(field or "", ())) :])
            for message in error_messages:
                self.add_error(field, f"{detail}: {message}" if detail else message)
        return cleaned

    def _post_clean(self) -> None:
        # The model instance is written by the services, never by ModelForm.save().
        pass


class FireForm(forms.Form):
    """One field per parameter the job declares (schema properties and defaults)."""

    extra_parameters = forms.JSONField(
        required=False,
        initial=dict,
        help_text="Other parameters as a JSON object of strings.",
        widget=forms.Textarea(attrs={"rows": 3, "style": "font-family:monospace"}),
    )

    def __init__(self, *args: Any, job: Job, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = job.parameters_schema or {}
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
        names = sorted(set(properties) | set(job.parameters))
        self.parameter_names = names
        for name in names:
            prop = properties.get(name, {}) if isinstance(properties.get(name), dict) else {}
            self.fields[f"param__{name}"] = forms.CharField(
                label=name,
                required=name in required and name not in job.parameters,
                initial=job.parameters.get(name, prop.get("default", "")),
                help_text=prop.get("description", ""),
                strip=False,
            )
        self.fields["extra_parameters"] = self.fields.pop("extra_parameters")

    def parameters(self) -> dict[str, Any]:
        values = {
            name: self.cleaned_data[f"param__{name}"]
            for name in self.parameter_names
            if self.cleaned_data.get(f"param__{name}") not in (None, "")
        }
        extra = self.cleaned_data.get("extra_parameters") or {}
        if not isinstance(extra, dict):
            raise forms.ValidationError({"extra_parameters": "Expected a JSON object."})
        return {**extra, **values}


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
    actions = ["fire_now", "enable_jobs", "disable_jobs", "backfill"]
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
        preview = schedules.schedule_preview(job.schedule, tz=job.timezone, now=timezone.now())
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
        for warning in trigger_overlap_warnings(saved):
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
                    job=job, parameters=form.parameters(), trigger=Trigger.ADMIN, user=request.user
                )
            except ValidationFailed as exc:
                fields = exc.extra.get("fields", {})
                for message in _flatten_errors(fields).items():
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
        context = {
            **self.admin_site.each_context(request),
            "job": job,
            "key": key,
            "bucket": bucket,
            "tested": bool(key),
            "fires_this_job": bool(key) and job.enabled and trigger_matches(job, bucket, key),
            "matching_jobs": jobs_for_key(bucket, key) if key else [],
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
                    job=job, parameters={}, trigger=Trigger.ADMIN, user=request.user
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

    @admin.action(
        description="Backfill: ingest what is under the trigger prefix", permissions=["fire"]
    )
    def backfill(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from ingestion.services import backfill_request

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
                self.message_user(request, f"{job.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{job.name}: backfill started; progress is under "
                    f"/api/v1/jobs/{job.name}/backfill/.",
                )

    @admin.action(description="Enable", permissions=["change"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, False)


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
    list_filter = ["state", "trigger", "engine", "job"]
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
        "files_display",
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

    @admin.display(description="Files (manifest)")
    def files_display(self, run: JobRun) -> SafeString | str:
        files = run.files.order_by("key")
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
                services.run_stop(run=run, user=request.user, source="admin")
            except ApplicationError as exc:
                self.message_user(request, f"{run.run_id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{run.run_id}: {run.state}.")

    @admin.action(description="Retry", permissions=["retry"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        for run in queryset.select_related("job", "job_version"):
            try:
                new_run = services.run_retry(run=run, user=request.user, source="admin")
            except ApplicationError as exc:
                self.message_user(request, f"{run.run_id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(
                    request, f"{run.run_id}: retried as {new_run.run_id} ({new_run.state})."
                )


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
