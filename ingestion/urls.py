"""Ingestion's API routes, mounted under /api/v1/ beside the jobs' (diep_portal/urls.py)."""

from django.urls import path

from ingestion import api

urlpatterns = [
    path("jobs/<str:job_ref>/backfill/", api.JobBackfillApi.as_view(), name="job-backfill"),
    path("files/", api.FileListApi.as_view(), name="file-list"),
    path("files/reprocess/", api.FileReprocessApi.as_view(), name="file-reprocess"),
    path("triggers/match", api.TriggerMatchApi.as_view(), name="trigger-match"),
]
