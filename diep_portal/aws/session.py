"""The only place that builds boto3 clients (DESIGN.md §2).

Region, optional endpoint (moto server, LocalStack), botocore retries and timeouts
come from Django settings, read when a client is first built; credentials come only
from boto3's default chain (env, profile, container/instance role). Clients are
thread-safe and cached per process; a boto3 Session is not, so the one Session that
makes them is created and used under a lock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

_lock = threading.Lock()
_session: boto3.session.Session | None = None
_clients: dict[str, Any] = {}


def client_config(*, retries: bool = True) -> Config:
    """botocore Config from settings: retry mode and attempts, timeouts, user agent.

    botocore's `max_attempts` counts retries after the first call (5 → 6 calls in all).
    Without `retries`, a call is made exactly once (see `get_client`).
    """
    return Config(
        region_name=settings.AWS_REGION,
        retries=(
            {"mode": settings.AWS_RETRY_MODE, "max_attempts": int(settings.AWS_MAX_ATTEMPTS)}
            if retries
            else {"mode": settings.AWS_RETRY_MODE, "total_max_attempts": 1}
        ),
        connect_timeout=float(settings.AWS_CONNECT_TIMEOUT),
        read_timeout=float(settings.AWS_READ_TIMEOUT),
        user_agent_extra="diep",
    )


def endpoint_url() -> str | None:
    """The endpoint override from settings; None (real AWS) when unset or empty."""
    return getattr(settings, "AWS_ENDPOINT_URL", None) or None


def get_client(service_name: str, *, retries: bool = True) -> Any:
    """A cached boto3 client for `service_name` ("glue", "s3", ...), configured from settings.

    `retries=False` is for calls that are not idempotent, such as Glue StartJobRun: after
    a read timeout or a 5xx the request may have been carried out, and botocore's retry
    would start a second run. Such a failure goes to the caller, which looks first
    (the run's `--diep_run_id`) and only then starts again.

    Settings are read when a client is first built: call `reset_clients()` after
    changing them.
    """
    key = service_name if retries else f"{service_name}:once"
    client = _clients.get(key)
    if client is not None:
        return client
    global _session
    with _lock:
        client = _clients.get(key)
        if client is None:
            if _session is None:
                # One Session per process: credentials are resolved once (an instance
                # role lookup is an HTTP call) and shared by every client.
                _session = boto3.session.Session()
            session: Any = _session  # boto3-stubs overloads client() on literal names only
            client = session.client(
                service_name,
                region_name=settings.AWS_REGION,
                endpoint_url=endpoint_url(),
                config=client_config(retries=retries),
            )
            _clients[key] = client
        return client


def reset_clients() -> None:
    """Forget the cached session and clients (tests, settings changes)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def _reset_after_fork() -> None:
    # A forked child (Celery prefork, gunicorn) must not share the parent's pooled
    # connections, and the lock may have been held by a parent thread at fork time.
    global _lock, _session
    _lock = threading.Lock()
    _clients.clear()
    _session = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
