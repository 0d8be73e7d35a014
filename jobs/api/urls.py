from django.urls import path

from jobs.api import views

# Mounted under /api/v1/ with ingestion's routes, in the "api" namespace (diep_portal/urls.py).
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
    path("runs/", views.RunListApi.as_view(), name="run-list"),
    path("runs/<str:run_id>/", views.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/stop/", views.RunStopApi.as_view(), name="run-stop"),
    path("runs/<str:run_id>/retry/", views.RunRetryApi.as_view(), name="run-retry"),
]
