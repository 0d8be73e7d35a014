"""Helpers shared by the benchmarks: a throwaway PostgreSQL database per run, servers
stopped for sure, and a clock that tells the portal's time from the emulator's."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any
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


def free_port() -> int:
    """A port nobody listens on (a fixed one could be a stale server's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def moto_process(port: int) -> subprocess.Popen[bytes]:
    """A moto server in a process of its own, serving once it answers: the emulator's
    work then runs beside the portal's, as AWS would, not under the portal's GIL."""
    import sys

    import requests

    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
        except requests.RequestException:
            time.sleep(0.2)
        else:
            return process
    stop(process)
    raise RuntimeError("the moto server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Never leave a server or worker behind: the next run would measure it instead."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Clock:
    """Wall time of a block, split into time waiting on an AWS service (the emulator's
    share, not the portal's), in database queries, and the rest: the portal's own time
    is the total less the AWS wait. `client`: the boto3 client whose calls are timed
    (one call at a time: the benchmarks' consumers and pollers are sequential)."""

    def __init__(self, client: Any, *, service: str) -> None:
        self.service = service
        self.total = self.aws = self.database = self.cpu = 0.0
        self._aws_began = 0.0
        prefix = client.meta.service_model.endpoint_prefix
        client.meta.events.register(f"before-send.{prefix}", self._aws_start)
        client.meta.events.register(f"after-call.{prefix}", self._aws_end)

    def _aws_start(self, **_: Any) -> None:
        self._aws_began = time.perf_counter()

    def _aws_end(self, **_: Any) -> None:
        self.aws += time.perf_counter() - self._aws_began

    def _query(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.database += time.perf_counter() - began

    def __enter__(self) -> None:
        from django.db import connection

        self._wrapper = connection.execute_wrapper(self._query)
        self._wrapper.__enter__()
        self._began, self._cpu_began = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: Any) -> None:
        self.total += time.perf_counter() - self._began
        self.cpu += time.process_time() - self._cpu_began
        self._wrapper.__exit__(*exc)

    def split(self) -> Split:
        split = Split(self.total, self.aws, self.database, self.cpu, self.service)
        self.total = self.aws = self.database = self.cpu = 0.0
        return split


@dataclass(frozen=True)
class Split:
    total: float
    aws: float
    database: float
    cpu: float  # this process's CPU: the portal's own work, whatever it waited on
    service: str

    @property
    def portal(self) -> float:
        return self.total - self.aws

    def __str__(self) -> str:
        return (
            f"{self.total:.2f} s ({self.portal:.2f} s portal, of which {self.database:.2f} s "
            f"database; {self.aws:.2f} s waiting on {self.service}; {self.cpu:.2f} s CPU)"
        )
