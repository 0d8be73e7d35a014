import json
import uuid

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from diep_portal.urls import urlpatterns as portal_urlpatterns


@csrf_exempt
def bare_insert(request: HttpRequest) -> JsonResponse:
    """The baseline: parse the body and INSERT one run-sized row. No auth, no validation."""
    body = json.loads(request.body or b"{}")
    run_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline_run (run_id, state, parameters, queued_at) "
            "VALUES (%s, 'PENDING', %s, now())",
            [run_id, json.dumps(body.get("parameters", {}))],
        )
    return JsonResponse({"run_id": str(run_id), "state": "PENDING"}, status=202)


urlpatterns = [path("bench/bare/", bare_insert), *portal_urlpatterns]
