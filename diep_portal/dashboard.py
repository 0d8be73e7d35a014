"""The operators' dashboard on the admin index: runs by state (24 h), runs per hour,
success rate and p50/p95 duration per job, event lag, DLQ depth and recent failures.
Charts are SVG rendered on the server: nothing is fetched from the internet."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from diep_portal.admin_kit import STATE_COLOURS
from diep_portal.observability import queue_depths
from ingestion import selectors as ingestion_selectors
from jobs import selectors as job_selectors
from jobs.models import RunState

BAR_WIDTH, BAR_HEIGHT = 360, 18


@dataclass
class JobHealth:
    name: str
    runs: int
    succeeded: int
    p50: float | None
    p95: float | None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.runs if self.runs else 0.0


def dashboard(now: datetime | None = None, *, user: Any = None) -> dict[str, Any]:
    """Everything the dashboard shows `user` (their teams' and shared jobs' runs; all for
    platform admins and internal callers), from a handful of grouped queries."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    by_state = job_selectors.runs_by_state_since(since, user=user)
    hourly = job_selectors.runs_per_hour_since(since, user=user)
    hours = [
        (now - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)
        for h in range(23, -1, -1)
    ]
    per_job: dict[str, list[tuple[str, float]]] = {}
    for name, state, seconds in job_selectors.finished_run_durations(since=since, user=user):
        per_job.setdefault(name, []).append((state, seconds))
    health = [
        JobHealth(
            name=name,
            runs=len(rows),
            succeeded=sum(state == RunState.SUCCEEDED for state, _ in rows),
            p50=_percentile([d for _, d in rows], 50),
            p95=_percentile([d for _, d in rows], 95),
        )
        for name, rows in sorted(per_job.items())
    ]
    lag = ingestion_selectors.event_lag(since=now - timedelta(minutes=15))
    states = [s for s in RunState.values if by_state.get(s)]
    return {
        "runs_total": sum(by_state.values()),
        "state_chart": bar_chart(
            [(state, by_state[state], STATE_COLOURS.get(state, "#6c757d")) for state in states]
        ),
        "hourly_chart": column_chart([(hour, hourly.get(hour, 0)) for hour in hours]),
        "health": [(job, rate_bar(job.success_rate)) for job in health],
        "event_lag_seconds": lag.total_seconds() if lag else None,
        # None: shown as unknown, the dashboard never fails for AWS.
        "dlq_depth": queue_depths().get(settings.DIEP_INGEST_DLQ),
        "failures": job_selectors.recent_failures(limit=10, user=user),
    }


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def bar_chart(rows: list[tuple[str, int, str]]) -> SafeString:
    """Horizontal bars, one per (label, value, colour)."""
    top = max((value for _, value, _ in rows), default=0) or 1
    bars = format_html_join(
        "",
        '<g transform="translate(0,{})"><text x="0" y="13" font-size="12">{}</text>'
        '<rect x="90" y="2" width="{}" height="{}" fill="{}" rx="3"></rect>'
        '<text x="{}" y="13" font-size="12">{}</text></g>',
        (
            (
                index * (BAR_HEIGHT + 6),
                label,
                max(int(value / top * (BAR_WIDTH - 140)), 1),
                BAR_HEIGHT - 4,
                colour,
                96 + int(value / top * (BAR_WIDTH - 140)),
                value,
            )
            for index, (label, value, colour) in enumerate(rows)
        ),
    )
    height = max(len(rows), 1) * (BAR_HEIGHT + 6)
    return format_html(
        '<svg role="img" aria-label="runs by state" width="{}" height="{}">{}</svg>',
        BAR_WIDTH,
        height,
        bars,
    )


def column_chart(points: list[tuple[datetime, int]]) -> SafeString:
    """Columns per hour, labelled every six hours."""
    top = max((value for _, value in points), default=0) or 1
    width, height, step = BAR_WIDTH, 90, BAR_WIDTH // max(len(points), 1)
    columns = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#0d6efd"><title>{}: {}</title></rect>',
        (
            (
                index * step,
                70 - int(value / top * 66),
                step - 2,
                int(value / top * 66),
                hour.strftime("%H:00"),
                value,
            )
            for index, (hour, value) in enumerate(points)
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="86" font-size="10">{}</text>',
        (
            (index * step, hour.strftime("%H:00"))
            for index, (hour, _) in enumerate(points)
            if index % 6 == 0
        ),
    )
    return format_html(
        '<svg role="img" aria-label="runs per hour" width="{}" height="{}">{}{}</svg>',
        width,
        height,
        columns,
        labels,
    )


def rate_bar(rate: float) -> SafeString:
    colour = "#198754" if rate >= 0.95 else "#fd7e14" if rate >= 0.8 else "#dc3545"
    return format_html(
        '<svg width="100" height="10" role="img" aria-label="{}%">'
        '<rect width="100" height="10" fill="#e9ecef"></rect>'
        '<rect width="{}" height="10" fill="{}"></rect></svg>',
        round(rate * 100),
        round(rate * 100),
        colour,
    )


class DiepAdminSite(admin.AdminSite):
    site_header = "DIEP"
    site_title = "DIEP admin"
    index_title = "Dashboard"

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        context = {**(extra_context or {})}
        # Staff without a role see nothing of any team's runs.
        if request.user.is_active and request.user.has_perm("jobs.view_job"):
            context["dashboard"] = dashboard(user=request.user)
        return super().index(request, context)
