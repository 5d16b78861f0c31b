"""The signature of a webhook delivery and the signing secrets' stored form.

A delivery carries ``X-Cmc-Webhook-Timestamp`` (Unix seconds) and
``X-Cmc-Webhook-Signature: sha256=<hex>``, the HMAC-SHA256 under the subscription's secret
of the timestamp, a dot and the raw body (``f"{timestamp}.{body}"``). A host recomputes
it over the bytes it received, compares in constant time, and refuses a timestamp older
than a few minutes (a replay).

The engine must be able to sign, so the secret cannot be stored as a hash. With a master
key (``CMC_WEBHOOK_KEY`` where the daemon and the API server run) the database keeps only
a random nonce and the secret is ``HMAC-SHA256(master key, nonce)``: a copy of the
database alone does not let anyone forge a delivery. Without a master key the secret
itself is stored (``plain:``), protected only by who may read the database; the docs say
so and ``webhook add`` warns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cmc_workflow.i18n import tr

SIGNATURE_HEADER = "X-Cmc-Webhook-Signature"
TIMESTAMP_HEADER = "X-Cmc-Webhook-Timestamp"
EVENT_ID_HEADER = "X-Cmc-Event-Id"
EVENT_HEADER = "X-Cmc-Event"
ATTEMPT_HEADER = "X-Cmc-Attempt"

_DERIVED = "hmac:"
_PLAIN = "plain:"


class SecretUnavailable(Exception):
    """A secret was derived from a master key this process does not have."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of timestamp + "." + body>`` under ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, presented: str) -> bool:
    """Whether ``presented`` is the signature of ``body`` at ``timestamp`` (constant time)."""
    return hmac.compare_digest(signature(secret, timestamp, body), presented)


def new_secret(master_key: str | None) -> tuple[str, str]:
    """A new signing secret: ``(shown once, stored form)``."""
    if master_key:
        nonce = secrets.token_hex(16)
        return _derive(master_key, nonce), _DERIVED + nonce
    secret = "whsec_" + secrets.token_urlsafe(32)
    return secret, _PLAIN + secret


def secret_of(stored: str, master_key: str | None) -> str:
    """The signing secret of a stored form; raises :class:`SecretUnavailable` when it was
    derived from a master key and none is given."""
    if stored.startswith(_PLAIN):
        return stored[len(_PLAIN) :]
    if stored.startswith(_DERIVED):
        if not master_key:
            # both languages: the text is kept as the delivery's last error
            raise SecretUnavailable(
                tr(
                    "the subscription's secret is derived from CMC_WEBHOOK_KEY, which is not "
                    "set here"
                ).shown("both")
            )
        return _derive(master_key, stored[len(_DERIVED) :])
    raise SecretUnavailable(f"unknown stored secret form {stored[:6]!r}")


def _derive(master_key: str, nonce: str) -> str:
    mac = hmac.new(master_key.encode(), b"cmc-webhook:" + nonce.encode(), hashlib.sha256)
    return "whsec_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
