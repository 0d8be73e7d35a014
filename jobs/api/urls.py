from django.urls import path

from ingestion import api as ingestion_api
from jobs.api import views

app_name = "api"

urlpatterns = [
    path("jobs/", views.JobListCreateApi.as_view(), name="job-list"),
    path("jobs/<str:job_ref>/", views.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<str:job_ref>/disable/", views.JobDisableApi.as_view(), name="job-disable"),
    path("jobs/<str:job_ref>/enable/", views.JobEnableApi.as_view(), name="job-enable"),
    path("jobs/<str:job_ref>/versions/", views.JobVersionListApi.as_view(), name="job-versions"),
    path(
        "jobs/<str:job_ref>/versions/diff/",
        views.JobVersionDiffApi.as_view(),
        name="job-version-diff",
    ),
    path("jobs/<str:job_ref>/runs/", views.JobRunListApi.as_view(), name="job-runs"),
    path(
        "jobs/<str:job_ref>/backfill/", ingestion_api.JobBackfillApi.as_view(), name="job-backfill"
    ),
    path("runs/", views.RunListApi.as_view(), name="run-list"),
    path("runs/<str:run_id>/", views.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/stop/", views.RunStopApi.as_view(), name="run-stop"),
    path("runs/<str:run_id>/retry/", views.RunRetryApi.as_view(), name="run-retry"),
    path("files/", ingestion_api.FileListApi.as_view(), name="file-list"),
    path("files/reprocess/", ingestion_api.FileReprocessApi.as_view(), name="file-reprocess"),
    path("triggers/match", ingestion_api.TriggerMatchApi.as_view(), name="trigger-match"),
]
