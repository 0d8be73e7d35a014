"""Benchmark settings: the portal as deployed, plus the bare baseline view's URL."""

from diep_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
