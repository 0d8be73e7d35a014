"""REST views of ingestion: the file ledger and "which jobs would this key fire?"."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from diep_portal.api.filters import filter_parameters
from diep_portal.api.serializers import ErrorSerializer
from diep_portal.api.views import ApiView, page_of, paginated
from diep_portal.exceptions import ValidationFailed
from ingestion import selectors as ingestion_selectors
from ingestion import services
from ingestion.backfill import backfill_request
from ingestion.models import Backfill, FileState, IngestedFile
from jobs import selectors
from jobs.triggers import jobs_for_key

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}
JOB_ERRORS = {**ERRORS, 404: ErrorSerializer}  # operations on one job: unknown → 404


class FileFilter(django_filters.FilterSet):
    bucket = django_filters.CharFilter(max_length=63)
    key = django_filters.CharFilter(
        lookup_expr="startswith", max_length=1024, help_text="Keys starting with this."
    )
    state = django_filters.MultipleChoiceFilter(choices=FileState.choices)
    job = django_filters.CharFilter(field_name="job__name", max_length=100, help_text="Job name.")
    run = django_filters.UUIDFilter(field_name="run__run_id")

    class Meta:
        model = IngestedFile
        fields = ["bucket", "key", "state", "job", "run"]


class FileOutputSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.name")
    run_id = serializers.UUIDField(source="run.run_id", allow_null=True, default=None)
    uri = serializers.CharField()

    class Meta:
        model = IngestedFile
        fields = [
            "id",
            "uri",
            "bucket",
            "key",
            "etag",
            "version_id",
            "sequencer",
            "size",
            "event_name",
            "event_time",
            "received_at",
            "state",
            "job",
            "run_id",
            "batched_at",
            "source",
        ]


class FileListApi(ApiView):
    required_permissions = {"*": "jobs.view_jobrun"}

    @extend_schema(
        operation_id="files_list",
        parameters=filter_parameters(FileFilter),
        responses={200: page_of(FileOutputSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        files = FileFilter(
            request.query_params,
            queryset=ingestion_selectors.visible_files(request.user),
        )
        if not files.is_valid():
            raise ValidationFailed.from_fields(files.errors)
        return paginated(self, request, files.qs, FileOutputSerializer)


class TriggerMatchQuery(serializers.Serializer):
    bucket = serializers.CharField(max_length=63)
    key = serializers.CharField(max_length=1024, trim_whitespace=False)


class TriggerMatchOutput(serializers.Serializer):
    bucket = serializers.CharField()
    key = serializers.CharField()
    jobs = serializers.ListField(child=serializers.DictField())


class TriggerMatchApi(ApiView):
    @extend_schema(
        operation_id="triggers_match",
        parameters=[TriggerMatchQuery],
        responses={200: TriggerMatchOutput, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = TriggerMatchQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        bucket, key = query.validated_data["bucket"], query.validated_data["key"]
        jobs = [
            {
                "job_id": str(job.job_id),
                "name": job.name,
                "prefix": job.trigger_prefix,
                "suffix": job.trigger_suffix,
                "window_seconds": job.trigger_window_seconds,
            }
            for job in jobs_for_key(
                bucket, key, jobs=selectors.visible_jobs(request.user).filter(enabled=True)
            )
        ]
        return Response({"bucket": bucket, "key": key, "jobs": jobs})


class ReprocessInput(serializers.Serializer):
    file_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class ReprocessOutput(serializers.Serializer):
    files = serializers.IntegerField()
    run_ids = serializers.ListField(child=serializers.UUIDField())


class FileReprocessApi(ApiView):
    """Operators send recorded files through their job again (a new run)."""

    required_permissions = {"*": "jobs.fire_job"}

    @extend_schema(
        operation_id="files_reprocess",
        request=ReprocessInput,
        responses={202: ReprocessOutput, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = ReprocessInput(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = set(body.validated_data["file_ids"])
        files = ingestion_selectors.files_by_ids(wanted, user=request.user)
        if missing := sorted(wanted - {f.pk for f in files}):
            raise ValidationFailed.from_fields({"file_ids": [f"No file {missing[0]}."]})
        runs = services.files_reprocess(files=files, user=request.user)
        return Response(
            {"files": len(files), "run_ids": [str(run.run_id) for run in runs]}, status=202
        )


class BackfillInput(serializers.Serializer):
    prefix = serializers.CharField(
        max_length=1024,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Under the job's trigger prefix; default: all of it.",
    )
    modified_after = serializers.DateTimeField(required=False, allow_null=True, default=None)
    modified_before = serializers.DateTimeField(required=False, allow_null=True, default=None)
    force = serializers.BooleanField(
        required=False, default=False, help_text="Also send objects already in the ledger."
    )


class BackfillOutput(serializers.ModelSerializer):
    job = serializers.CharField(source="job.name")

    class Meta:
        model = Backfill
        fields = [
            "id",
            "job",
            "prefix",
            "modified_after",
            "modified_before",
            "force",
            "state",
            "listed",
            "recorded",
            "skipped",
            "error",
            "created_at",
            "finished_at",
        ]


class JobBackfillApi(ApiView):
    """Start a backfill (operators) or list a job's backfills with their progress."""

    required_permissions = {"*": "jobs.view_jobrun", "POST": "jobs.fire_job"}

    @extend_schema(
        operation_id="jobs_backfills_list", responses={200: page_of(BackfillOutput), **JOB_ERRORS}
    )
    def get(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        return paginated(self, request, ingestion_selectors.job_backfills(job), BackfillOutput)

    @extend_schema(
        operation_id="jobs_backfill",
        request=BackfillInput,
        responses={202: BackfillOutput, 409: ErrorSerializer, **JOB_ERRORS},
    )
    def post(self, request: Request, job_ref: str) -> Response:
        job = selectors.job_get(job_ref, user=request.user)
        body = BackfillInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        backfill = backfill_request(
            job=job,
            prefix=data.get("prefix") or job.trigger_prefix,
            modified_after=data["modified_after"],
            modified_before=data["modified_before"],
            force=data["force"],
            user=request.user,
        )
        return Response(BackfillOutput(backfill).data, status=202)
