from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from diep_portal import observability
from jobs.api import views as job_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("create_job/", job_views.JobCreateApi.as_view(), name="create-job"),
    re_path(r"^fire_job/(?P<job_ref>[^/]+)/?$", job_views.JobFireApi.as_view(), name="fire-job"),
    path("api/v1/", include("jobs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
]
