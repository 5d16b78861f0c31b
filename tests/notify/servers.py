"""Real servers on loopback for the notification tests: an SMTP server (aiosmtpd, with
AUTH) and an HTTP server that records each request and can be switched down."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

USER, PASSWORD = "cmc", "s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, made by the system's
    ``openssl`` (the tests that need one skip without it)."""
    cert, key = folder / "smtp.crt", folder / "smtp.key"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    names = ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(
        [*request, "-keyout", str(key), "-out", str(cert), *names],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return cert, key


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in."""

    port: int
    mails: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1 requiring AUTH (LOGIN/PLAIN) with USER/PASSWORD; in plain
    SMTP (``auth_require_tls=False``), or with ``tls`` offering STARTTLS and requiring it
    before anything else (AUTH included)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP as Server
    from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server: Server, session: Session, envelope: Envelope) -> str:
            raw = envelope.original_content or b""
            mail = message_from_bytes(raw, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            box.mails.append(mail)
            return "250 OK"

    def authenticator(
        server: Server, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        if ok:
            box.logins.append(USER)
        # handled=False: the server answers a refusal with 535 (aiosmtpd's default,
        # handled=True, sends nothing and leaves the client waiting for its timeout)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticator,
        auth_required=False,  # True without TLS warns; the test checks the login
        auth_require_tls=tls is not None,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hook:
    """What the HTTP server received; ``down`` makes it answer 503."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]


@contextmanager
def http_server(reply: bytes = b'{"errcode": 0, "errmsg": "ok"}') -> Iterator[Hook]:
    """A real HTTP server in a thread recording every POST (path, headers, body)."""
    hook = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = 503 if hook.down else 200
            with hook.lock:
                hook.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "status": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
