"""DIEP's own system checks (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.security, deploy=True)
def metrics_not_public(app_configs: Any, **kwargs: Any) -> list[CheckWarning]:
    """Warn when /metrics is open to anyone: it lists every job's name and run counts."""
    if settings.DIEP_METRICS_PUBLIC and not settings.DIEP_METRICS_TOKEN:
        return [
            CheckWarning(
                "/metrics is open to anonymous requests (DIEP_METRICS_PUBLIC=true).",
                hint="Set DIEP_METRICS_TOKEN and give it to your scraper instead.",
                id="diep.W001",
            )
        ]
    return []
