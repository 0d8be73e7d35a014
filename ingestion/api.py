"""REST views of ingestion: the file ledger and "which jobs would this key fire?"."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from diep_portal.exceptions import ValidationFailed
from ingestion.models import FileState, IngestedFile
from ingestion.routing import jobs_for_key
from jobs.api.filters import filter_parameters
from jobs.api.serializers import ErrorSerializer
from jobs.api.views import ApiView, paginated

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}


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
        responses={200: FileOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        files = FileFilter(
            request.query_params, queryset=IngestedFile.objects.select_related("job", "run")
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
            for job in jobs_for_key(bucket, key)
        ]
        return Response({"bucket": bucket, "key": key, "jobs": jobs})
