"""The transports that carry a notice to a person: e-mail over SMTP (STARTTLS and
authentication, stdlib ``smtplib``), a signed generic webhook, and the group robots of
WeCom (企业微信) and DingTalk (钉钉) — all over the standard library (``urllib.request``:
httpx is no dependency of any extra, and none is needed for one POST).

A transport raises :class:`SendFailed` when the message did not arrive; the caller
records the attempt and retries with a backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from cmc_workflow.notify.config import DingTalk, Smtp, Webhook, WeCom

SIGNATURE_HEADER = "X-CMC-Signature"
TIMESTAMP_HEADER = "X-CMC-Timestamp"
KEY_HEADER = "X-CMC-Idempotency-Key"


class SendFailed(Exception):
    """The message did not arrive (the text says why; no secret in it)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification: subject, plain text, markdown, and the JSON facts."""

    subject: str
    text: str
    markdown: str
    facts: Mapping[str, Any]
    key: str
    """The notice's idempotency key (an e-mail's Message-ID, a webhook's header)."""


class Sender(Protocol):
    """A transport ready to send (its secrets bound)."""

    def send(self, address: str, message: Message) -> None:
        """Deliver ``message`` to ``address`` or raise :class:`SendFailed`."""
        ...


def signature(secret: str, body: bytes) -> str:
    """The webhook's ``X-CMC-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign``: base64 HMAC-SHA256 of ``"timestamp\\nsecret"``, URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def _post_json(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"HTTP {exc.code} from {_host(url)}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"{_host(url)} unreachable: {reason}") from exc


def _host(url: str) -> str:
    """The URL without its query (a robot's key or token is a secret)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _robot_reply(url: str, raw: bytes) -> None:
    """WeCom and DingTalk answer 200 with ``errcode`` != 0 on a refusal."""
    try:
        reply = json.loads(raw or b"{}")
    except ValueError as exc:
        raise SendFailed(f"{_host(url)} answered no JSON") from exc
    if isinstance(reply, dict) and reply.get("errcode", 0) != 0:
        raise SendFailed(f"{_host(url)} refused: {reply.get('errcode')} {reply.get('errmsg')}")


class SmtpSender:
    """E-mail over SMTP: STARTTLS when configured (refused if the server cannot), then
    AUTH when a user is configured."""

    def __init__(
        self, config: Smtp, password: str | None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.config = config
        self.password = password
        self.tls = tls or ssl.create_default_context()

    def send(self, address: str, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.config.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Message-ID"] = make_msgid(idstring=message.key.replace(":", "."))
        mail["X-CMC-Idempotency-Key"] = message.key
        mail.set_content(message.text)
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
                smtp.ehlo()
                if cfg.starttls:
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                if cfg.user:
                    smtp.login(cfg.user, self.password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"smtp {cfg.host}:{cfg.port}: {exc}") from exc


class WebhookSender:
    """POST the message's JSON, signed: ``X-CMC-Signature: sha256=<hex HMAC-SHA256 of the
    body>``, ``X-CMC-Timestamp`` (Unix seconds) and ``X-CMC-Idempotency-Key``."""

    def __init__(self, config: Webhook, secret: str) -> None:
        self.config = config
        self.secret = secret

    def send(self, address: str, message: Message) -> None:
        body = json.dumps(
            {
                **message.facts,
                "subject": message.subject,
                "text": message.text,
                "key": message.key,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        headers = {
            SIGNATURE_HEADER: signature(self.secret, body),
            TIMESTAMP_HEADER: str(int(time.time())),
            KEY_HEADER: message.key,
        }
        _post_json(address or self.config.url, body, headers, self.config.timeout)


class WeComSender:
    """A WeCom group robot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``."""

    def __init__(self, config: WeCom, key: str) -> None:
        self.config = config
        self.key = key

    def send(self, address: str, message: Message) -> None:
        url = f"{self.config.url}?key={urllib.parse.quote(self.key)}"
        body = json.dumps(
            {"msgtype": "markdown", "markdown": {"content": message.markdown}},
            ensure_ascii=False,
        ).encode()
        _robot_reply(url, _post_json(url, body, {}, self.config.timeout)[1])


class DingTalkSender:
    """A DingTalk group robot with signed URLs: ``access_token``, ``timestamp`` (ms) and
    ``sign``; body ``{"msgtype": "markdown", "markdown": {"title", "text"}}``."""

    def __init__(self, config: DingTalk, token: str, secret: str) -> None:
        self.config = config
        self.token = token
        self.secret = secret

    def send(self, address: str, message: Message) -> None:
        stamp = int(time.time() * 1000)
        query = (
            f"access_token={urllib.parse.quote(self.token)}"
            f"&timestamp={stamp}&sign={dingtalk_sign(self.secret, stamp)}"
        )
        url = f"{self.config.url}?{query}"
        body = json.dumps(
            {
                "msgtype": "markdown",
                "markdown": {"title": message.subject, "text": message.markdown},
            },
            ensure_ascii=False,
        ).encode()
        _robot_reply(url, _post_json(url, body, {}, self.config.timeout)[1])
