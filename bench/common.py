"""Helpers shared by the benchmarks: a throwaway PostgreSQL database per run."""

from __future__ import annotations

import signal
import subprocess
from urllib.parse import urlparse

import psycopg


def _server_and_name(database_url: str, suffix: str) -> tuple[str, str]:
    parsed = urlparse(database_url)
    name = (parsed.path.lstrip("/") or "diep") + suffix
    return parsed._replace(path="/postgres").geturl(), name


def create_database(database_url: str, suffix: str) -> str:
    """A fresh database beside the one `database_url` names; returns its URL."""
    server, name = _server_and_name(database_url, suffix)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlparse(database_url)._replace(path=f"/{name}").geturl()


def drop_database(database_url: str, suffix: str) -> None:
    server, name = _server_and_name(database_url, suffix)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop(process: subprocess.Popen[bytes]) -> None:
    """Never leave a server or worker behind: the next run would measure it instead."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
