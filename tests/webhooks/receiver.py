"""A host system's webhook endpoint for the tests: a real HTTP server on loopback, in a
thread, that records every POST, can be told to fail, and verifies signatures the way the
how-to tells hosts to (HMAC-SHA256 of ``timestamp + "." + body``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as it arrived."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_by(self, secret: str) -> bool:
        """What a host checks: the signature over the timestamp and the raw body."""
        stamp = self.headers["x-cmc-webhook-timestamp"]
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + self.body, hashlib.sha256)
        return hmac.compare_digest(
            "sha256=" + mac.hexdigest(), self.headers["x-cmc-webhook-signature"]
        )


@dataclass
class Endpoint:
    """What the server received; ``fail_next`` POSTs are answered 500."""

    url: str
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]

    def events(self) -> list[dict[str, Any]]:
        return [r.json for r in self.delivered()]


@contextmanager
def endpoint() -> Iterator[Endpoint]:
    """A real HTTP server on a free loopback port, shut down and joined afterwards."""
    hook = Endpoint("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hook.lock:
                status = 500 if hook.fail_next > 0 else 200
                hook.fail_next = max(0, hook.fail_next - 1)
                hook.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/cmc-hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
