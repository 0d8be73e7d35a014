from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from diep_portal import observability
from ingestion import urls as ingestion_urls
from jobs.api import urls as jobs_api_urls
from jobs.api import views as job_views

# One versioned API, one namespace, routes from both apps (ingestion's are its own).
api_v1 = ([*jobs_api_urls.urlpatterns, *ingestion_urls.urlpatterns], "api")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("create_job/", job_views.JobCreateApi.as_view(), name="create-job"),
    re_path(r"^fire_job/(?P<job_ref>[^/]+)/?$", job_views.JobFireApi.as_view(), name="fire-job"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
]


API_PREFIXES = ("/api/", "/create_job", "/fire_job")


def bad_request(request: HttpRequest, exception: Any) -> HttpResponse:
    """Requests Django itself refuses before any view (too many form fields, a hostile
    multipart body): the API answers in its own JSON error shape, never an HTML page."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(
            {"detail": "The request could not be read.", "code": "bad_request", "fields": {}},
            status=400,
        )
    return defaults.bad_request(request, exception)


handler400 = bad_request
