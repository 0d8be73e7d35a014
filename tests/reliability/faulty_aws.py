"""A small HTTP proxy in front of the moto server that breaks things on purpose:
throttling and 5xx answers on a share of calls, and Glue StartJobRun calls that reach
Glue but whose answer never comes back (the client times out)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",  # requests already decoded the body
    "server",
    "date",
}


class FaultyAws:
    def __init__(
        self, target: str, *, error_rate: float, lost_start_answers: int, seed: int = 7
    ) -> None:
        self.target, self.error_rate = target.rstrip("/"), error_rate
        self.lost_start_answers = lost_start_answers
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815 - http.server names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        operation = request.headers.get("X-Amz-Target", "")
        with self.lock:
            self.counts["calls"] += 1
            lose_answer = operation.endswith("StartJobRun") and self.lost_start_answers > 0
            if lose_answer:
                self.lost_start_answers -= 1
            fail = not lose_answer and self.random.random() < self.error_rate
            throttle = fail and bool(operation) and self.random.random() < 0.5
        if throttle:
            self.counts["throttled"] += 1
            return self.answer(
                request, 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            )
        if fail:
            self.counts["5xx"] += 1
            return self.answer(request, 503, None)
        forwarded = requests.request(
            request.command,
            self.target + request.path,
            data=body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            timeout=30,
        )
        if lose_answer:
            # Glue has the run; its answer is lost: the client waits past its read timeout.
            self.counts["lost_start_answers"] += 1
            time.sleep(6)
            request.close_connection = True
            return
        request.send_response(forwarded.status_code)
        for name, value in forwarded.headers.items():
            if name.lower() not in HOP_BY_HOP:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(forwarded.content)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(forwarded.content)

    @staticmethod
    def answer(request: BaseHTTPRequestHandler, status: int, body: dict[str, str] | None) -> None:
        payload = json.dumps(body).encode() if body else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/x-amz-json-1.1")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
