"""What operators and their tools see of a running DIEP: a request id on every request
(and so in every log line, diep_portal.log), `/healthz` and `/readyz` for orchestrators,
`/metrics` for Prometheus.

Run and event metrics are read from the database at scrape time rather than counted
in process memory: gunicorn, workers and the consumer are separate processes, and
the database already holds the truth. Only API latency is measured in process
(multi-process mode when PROMETHEUS_MULTIPROC_DIR is set, as compose does).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from diep_portal.aws.sqs import sqs_depth, sqs_queue_url
from diep_portal.celery import app
from diep_portal.exceptions import AwsError
from diep_portal.log import request_id
from ingestion import selectors as ingestion_selectors
from jobs import selectors as job_selectors

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

API_LATENCY = Histogram(
    "diep_http_request_duration_seconds",
    "Time to answer HTTP requests, by view and status class.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Every label set stays bounded: a made-up HTTP method is counted as "other", never as a
# new series (anyone may send one).
LABELLED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, float("inf"))


class RequestObservabilityMiddleware:
    """Takes the caller's X-Request-ID (if sane) or makes one, returns it, and times
    the request for the latency histogram."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        began = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        if view not in ("metrics", "healthz", "readyz"):
            method = request.method if request.method in LABELLED_METHODS else "other"
            API_LATENCY.labels(view, method, f"{response.status_code // 100}xx").observe(
                time.perf_counter() - began
            )
        response["X-Request-ID"] = rid
        return response


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Needs no auth and touches nothing."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, the broker and the AWS endpoint answer. 503 names the
    failing ones (never with credentials or URLs)."""
    checks = {"database": _database, "broker": _broker, "aws": _aws}
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            logger.warning("readyz.failed", extra={"check": name, "error": type(exc).__name__})
            results[name] = f"failing: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status=200 if ready else 503,
    )


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _aws() -> None:
    sqs_queue_url(queue_name=settings.DIEP_INGEST_QUEUE)


class DiepCollector(Collector):
    """Run, file and event figures from the database, and queue depths from SQS."""

    def collect(self) -> Iterator[Any]:
        runs = GaugeMetricFamily("diep_runs", "Runs by job and state.", labels=["job", "state"])
        for job_name, state, count in job_selectors.run_counts_by_job_and_state():
            runs.add_metric([job_name, state], count)
        yield runs

        durations = HistogramMetricFamily(
            "diep_run_duration_seconds",
            "Durations of the runs finished in the last 24 hours, by job.",
            labels=["job"],
        )
        bounds = DURATION_BUCKETS[:-1]
        since = timezone.now() - timedelta(hours=24)
        for job_name, cumulative, total_runs, total_seconds in job_selectors.run_duration_histogram(
            since=since, bounds=bounds
        ):
            buckets = [(str(b), n) for b, n in zip(bounds, cumulative, strict=True)]
            buckets.append(("+Inf", total_runs))
            durations.add_metric([job_name], buckets, sum_value=total_seconds)
        yield durations

        events = GaugeMetricFamily(
            "diep_events_today", "Event messages handled today, by outcome.", labels=["outcome"]
        )
        for outcome, count in ingestion_selectors.consumed_messages(timezone.now().date()):
            events.add_metric([outcome], count)
        yield events

        recent_lag = ingestion_selectors.event_lag(since=timezone.now() - timedelta(minutes=5))
        lag = GaugeMetricFamily(
            "diep_event_lag_seconds",
            "Average time from an S3 event to its ledger row, over the last 5 minutes.",
        )
        lag.add_metric([], recent_lag.total_seconds() if recent_lag else 0.0)
        yield lag

        waiting, oldest_at = ingestion_selectors.files_waiting()
        files = GaugeMetricFamily("diep_files_waiting", "Files waiting in coalescing windows.")
        files.add_metric([], waiting)
        yield files
        oldest = GaugeMetricFamily(
            "diep_files_waiting_oldest_seconds", "Age of the oldest waiting file."
        )
        oldest.add_metric([], (timezone.now() - oldest_at).total_seconds() if oldest_at else 0)
        yield oldest

        depth = GaugeMetricFamily(
            "diep_queue_depth", "Messages in the event queue and its DLQ.", labels=["queue"]
        )
        for queue, value in queue_depths().items():
            depth.add_metric([queue], value)
        yield depth


_depth_cache: dict[str, Any] = {}


def queue_depths() -> dict[str, int]:
    """Depth of the event queue and its DLQ, by name; a queue AWS did not answer for is
    missing. Two SQS calls at most every 15 s, however often scrapes and dashboard
    views ask."""
    if _depth_cache.get("at", 0) > time.monotonic() - 15:
        return dict(_depth_cache["values"])
    values: dict[str, int] = {}
    for queue in (settings.DIEP_INGEST_QUEUE, settings.DIEP_INGEST_DLQ):
        try:
            values[queue] = sqs_depth(queue_url=sqs_queue_url(queue_name=queue))
        except AwsError:
            continue
    _depth_cache.update(at=time.monotonic(), values=values)
    return values


_COLLECTOR = DiepCollector()


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: counts, never data. Scrapers send DIEP_METRICS_TOKEN as a
    bearer token (job names are not for everyone); without one configured it answers
    401 unless DIEP_METRICS_PUBLIC opens it."""
    token = settings.DIEP_METRICS_TOKEN
    if token:
        if not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    elif not settings.DIEP_METRICS_PUBLIC:
        return HttpResponse(
            "Set DIEP_METRICS_TOKEN (scrapers send it as a bearer token), or open /metrics "
            "with DIEP_METRICS_PUBLIC=true.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (API_LATENCY,):
            registry.register(collector)
    registry.register(_COLLECTOR)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
