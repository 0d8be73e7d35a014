"""REST views: one per operation. Each validates its input and calls a service or selector."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from diep_portal.api.filters import filter_parameters
from diep_portal.api.serializers import ErrorSerializer
from diep_portal.api.views import ERRORS, ApiView, page_of, paginated
from diep_portal.exceptions import ValidationFailed
from jobs import selectors, services
from jobs.api import serializers as io
from jobs.api.filters import JobFilter, RunFilter
from jobs.models import FireSource, Job, JobRun
from jobs.roles import team_for_job
from jobs.runs.outcome import run_retry, run_stop
from jobs.specs import JobSpecSerializer, spec_diff
from jobs.triggers import trigger_warnings

IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def _validated_spec(data: Any, user: Any, *, current_team: str | None = None) -> dict[str, Any]:
    spec = JobSpecSerializer(data=data)
    spec.is_valid(raise_exception=True)
    validated = dict(spec.validated_data)
    try:
        validated["team"] = team_for_job(user, validated["team"], current=current_team)
    except ValueError as exc:
        raise ValidationFailed.from_fields({"team": [str(exc)]}) from exc
    return validated


def _job_response(job: Job, code: int = status.HTTP_200_OK, *, warn: Any = None) -> Response:
    """`warn`: the user to give trigger warnings to (scoped to what they see)."""
    data = io.JobOutputSerializer(job).data
    if warn is not None:
        data["warnings"] = trigger_warnings(job, user=warn)
    # The version is the job's entity tag: a client sends it back as If-Match on PATCH.
    return Response(data, status=code, headers={"ETag": f'"{job.version}"'})


def _if_match_version(request: Request) -> int | None:
    """The job version an If-Match header requires (None without one, or with `*`).
    A tag that is no version of ours can never match: -1, so the PATCH gets a 412."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() and len(tag) < 10 else -1


def _job_param(name: str = "job") -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.PATH, description="Job UUID or name."
    )


# ------------------------------------------------------------------ jobs


class JobCreateApi(ApiView):
    """`POST /create_job/`: the contract clients depend on."""

    required_permissions = {"*": "jobs.add_job"}

    @extend_schema(
        operation_id="create_job",
        request=JobSpecSerializer,
        responses={201: io.JobOutputSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        job = services.job_create(
            spec=_validated_spec(request.data, request.user), user=request.user, source="api"
        )
        return _job_response(job, status.HTTP_201_CREATED, warn=request.user)


class JobListCreateApi(ApiView):
    required_permissions = {"*": "jobs.view_job", "POST": "jobs.add_job"}

    @extend_schema(
        operation_id="jobs_list",
        parameters=filter_parameters(JobFilter),
        responses={200: page_of(io.JobOutputSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        visible = selectors.visible_jobs(request.user).select_related("created_by", "updated_by")
        jobs = JobFilter(request.query_params, queryset=visible)
        if not jobs.is_valid():
            raise ValidationFailed.from_fields(jobs.errors)
        return paginated(self, request, jobs.qs, io.JobOutputSerializer)

    @extend_schema(
        operation_id="jobs_create",
        request=JobSpecSerializer,
        responses={201: io.JobOutputSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        return JobCreateApi.post(self, request)  # type: ignore[arg-type]


class JobDetailApi(ApiView):
    required_permissions = {"*": "jobs.view_job", "PATCH": "jobs.change_job"}

    @extend_schema(
        operation_id="jobs_retrieve",
        parameters=[_job_param("job_ref")],
        responses={200: io.JobOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, job_ref: str) -> Response:
        return _job_response(selectors.job_get(job_ref, user=request.user))

    @extend_schema(
        operation_id="jobs_partial_update",
        parameters=[
            _job_param("job_ref"),
            OpenApiParameter(
                "If-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description='The ETag of the job as read (e.g. "3"); 412 if it changed since.',
            ),
        ],
        request=io.JobPatchSerializer,
        responses={
            200: io.JobOutputSerializer,
            409: ErrorSerializer,
            412: ErrorSerializer,
            **ERRORS,
        },
        description="Change some fields; each effective change creates a new version. "
        "Nested source/destination/trigger objects merge; `trigger: null` removes it. "
        "Send the ETag of the job you read as If-Match to get 412 instead of overwriting "
        "a change made meanwhile.",
    )
    def patch(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        if not isinstance(request.data, dict):
            raise ValidationFailed("Expected a JSON object.")
        updated = services.job_patch(
            job=job,
            patch=request.data,
            validate=lambda spec, team: _validated_spec(spec, request.user, current_team=team),
            user=request.user,
            source="api",
            expected_version=_if_match_version(request),
        )
        return _job_response(updated, warn=request.user)


class _JobEnabledApi(ApiView):
    required_permissions = {"*": "jobs.change_job"}
    enabled: bool

    def post(self, request: Request, job_ref: str) -> Response:
        job = services.job_set_enabled(
            job=selectors.job_get(job_ref, user=request.user),
            enabled=self.enabled,
            user=request.user,
            source="api",
        )
        return _job_response(job)


@extend_schema_view(
    post=extend_schema(
        operation_id="jobs_disable",
        request=None,
        parameters=[_job_param("job_ref")],
        responses={200: io.JobOutputSerializer, **ERRORS},
    )
)
class JobDisableApi(_JobEnabledApi):
    enabled = False


@extend_schema_view(
    post=extend_schema(
        operation_id="jobs_enable",
        request=None,
        parameters=[_job_param("job_ref")],
        responses={200: io.JobOutputSerializer, **ERRORS},
    )
)
class JobEnableApi(_JobEnabledApi):
    enabled = True


class JobVersionListApi(ApiView):
    @extend_schema(
        operation_id="jobs_versions_list",
        parameters=[_job_param("job_ref")],
        responses={200: page_of(io.JobVersionOutputSerializer), **ERRORS},
    )
    def get(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        versions = job.versions.select_related("changed_by").order_by("-version")
        return paginated(self, request, versions, io.JobVersionOutputSerializer)


class JobVersionDiffApi(ApiView):
    @extend_schema(
        operation_id="jobs_versions_diff",
        parameters=[_job_param("job_ref"), io.VersionDiffQuerySerializer],
        responses={200: io.VersionDiffOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        query = io.VersionDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        before = selectors.job_version_get(job, query.validated_data["from_version"])
        after = selectors.job_version_get(job, query.validated_data["to_version"])
        changes = [change.as_dict() for change in spec_diff(before.config, after.config)]
        return Response(
            {
                "job_id": str(job.job_id),
                "from_version": before.version,
                "to_version": after.version,
                "changes": changes,
            }
        )


def _filtered_runs(request: Request, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
    runs = RunFilter(request.query_params, queryset=queryset)
    if not runs.is_valid():
        raise ValidationFailed.from_fields(runs.errors)
    return runs.qs


class JobRunListApi(ApiView):
    required_permissions = {"*": "jobs.view_jobrun"}

    @extend_schema(
        operation_id="jobs_runs_list",
        parameters=[_job_param("job_ref"), *filter_parameters(RunFilter)],
        responses={200: page_of(io.RunOutputSerializer), **ERRORS},
    )
    def get(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        runs = _filtered_runs(request, selectors.visible_runs(job=job))
        return paginated(self, request, runs, io.RunOutputSerializer)


# ------------------------------------------------------------------ firing


class JobFireApi(ApiView):
    """`POST /fire_job/<jobid>`: request a run, idempotent with an Idempotency-Key."""

    required_permissions = {"*": "jobs.fire_job"}

    @extend_schema(
        operation_id="fire_job",
        parameters=[
            _job_param("job_ref"),
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Replays with the same key return the same run.",
            ),
        ],
        request=io.FireInputSerializer,
        responses={
            202: io.FireOutputSerializer,
            200: io.FireOutputSerializer,
            409: ErrorSerializer,
            422: ErrorSerializer,
            **ERRORS,
        },
    )
    def post(self, request: Request, job_ref: str) -> Response:
        body = io.FireInputSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
            raise ValidationFailed.from_fields(
                {"Idempotency-Key": ["1 to 255 printable ASCII characters without spaces."]}
            )
        result = services.job_fire_by_ref(
            job_ref,
            parameters=body.validated_data["parameters"],
            trigger=FireSource.API,
            user=request.user,
            idempotency_key=key,
            capacity_override=body.validated_data.get("capacity"),
        )
        run = result.run
        url = request.build_absolute_uri(reverse("api:run-detail", args=[run.run_id]))
        return Response(
            {"run_id": str(run.run_id), "state": run.state, "url": url},
            status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        )


# ------------------------------------------------------------------ runs


class RunListApi(ApiView):
    required_permissions = {"*": "jobs.view_jobrun"}

    @extend_schema(
        operation_id="runs_list",
        parameters=filter_parameters(RunFilter),
        responses={200: page_of(io.RunOutputSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        runs = selectors.visible_runs(request.user)
        return paginated(self, request, _filtered_runs(request, runs), io.RunOutputSerializer)


def _run_param() -> OpenApiParameter:
    return OpenApiParameter("run_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class RunDetailApi(ApiView):
    required_permissions = {"*": "jobs.view_jobrun"}

    @extend_schema(
        operation_id="runs_retrieve",
        parameters=[_run_param()],
        responses={200: io.RunDetailOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = selectors.run_get(run_id, user=request.user)
        return Response(io.RunDetailOutputSerializer(run).data)


class RunStopApi(ApiView):
    required_permissions = {"*": "jobs.stop_run"}

    @extend_schema(
        operation_id="runs_stop",
        request=None,
        parameters=[_run_param()],
        responses={202: io.RunOutputSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, run_id: str) -> Response:
        run = run_stop(
            run=selectors.run_get(run_id, user=request.user), user=request.user, source="api"
        )
        return Response(io.RunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunRetryApi(ApiView):
    required_permissions = {"*": "jobs.retry_run"}

    @extend_schema(
        operation_id="runs_retry",
        request=None,
        parameters=[_run_param()],
        responses={202: io.RunOutputSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, run_id: str) -> Response:
        new_run = run_retry(
            run=selectors.run_get(run_id, user=request.user), user=request.user, source="api"
        )
        return Response(io.RunOutputSerializer(new_run).data, status=status.HTTP_202_ACCEPTED)
