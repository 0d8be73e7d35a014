from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from jobs.api import views as job_views


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Needs no auth and touches nothing."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("create_job/", job_views.JobCreateApi.as_view(), name="create-job"),
    re_path(r"^fire_job/(?P<job_ref>[^/]+)/?$", job_views.JobFireApi.as_view(), name="fire-job"),
    path("api/v1/", include("jobs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
]
