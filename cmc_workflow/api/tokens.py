"""API tokens of host systems: issued once, stored as the SHA-256 of their secret, checked
in constant time, revoked.

A token reads ``cmcw_<key>_<secret>``: ``key`` (16 hex digits) is public and finds the
stored row; ``secret`` is 32 random bytes (``secrets.token_bytes``), URL-safe base64. The
store keeps ``sha256(secret)`` only, so a copy of the database does not let anyone in;
the presented secret's hash is compared with :func:`hmac.compare_digest`. Every token is
bound to one named host system (``--system``), which asserts the people on its calls
(:mod:`cmc_workflow.api.identity`).

Issuing and revoking a token change who may sign in: each writes its audit record (SEC-1:
who, when, which key and system; never the secret) in the transaction that changes the
token, as a refused sign-in does (:mod:`cmc_workflow.api.app`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cmc_workflow.engine import audit as audit_log
from cmc_workflow.i18n import tr
from cmc_workflow.store import StorePort
from cmc_workflow.store.port import NewToken, TokenRow

__all__ = [
    "PREFIX",
    "IssuedToken",
    "TokenCheck",
    "check_token",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "secret_hash",
    "valid_system",
]

PREFIX = "cmcw"
_FORMAT = re.compile(r"cmcw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_SYSTEM = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``text`` is shown once and never stored."""

    key: str
    system: str
    text: str


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The outcome of checking a presented token: the row when it is good, else the rule
    that refused it (``token_missing``, ``token_malformed``, ``token_unknown``,
    ``token_revoked``) and the key when one could be read."""

    row: TokenRow | None
    rule: str | None
    key: str | None


def secret_hash(secret: bytes) -> str:
    """The stored form of a secret: SHA-256, hex."""
    return hashlib.sha256(secret).hexdigest()


def valid_system(name: str) -> bool:
    """A host system's name: lowercase letters, digits, ``.``, ``_``, ``-``; at most 64."""
    return _SYSTEM.fullmatch(name) is not None


def issue_token(
    store: StorePort, system: str, *, label: str, created_by: str, now: dt.datetime
) -> IssuedToken:
    """Create a token for ``system`` and store its hash; the returned text is the only copy
    of the secret."""
    if not valid_system(system):
        raise ValueError(
            str(
                tr(
                    "{system} is not a system name: lowercase letters, digits, '.', '_', '-' "
                    "(at most 64)",
                    system=repr(system),
                )
            )
        )
    key = secrets.token_hex(8)
    secret = secrets.token_bytes(32)
    encoded = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    with store.write() as tx:
        tx.insert_token(NewToken(key, secret_hash(secret), system, label, now, created_by))
        audit_log.record(
            tx,
            created_by,
            "token_issue",
            None,
            None,
            None,
            "accepted",
            now,
            detail={"key": key, "system": system, "label": label},
        )
    return IssuedToken(key, system, f"{PREFIX}_{key}_{encoded}")


def check_token(store: StorePort, presented: str | None, now: dt.datetime) -> TokenCheck:
    """Whether ``presented`` (the bearer token as sent) is a live token."""
    if not presented:
        return TokenCheck(None, "token_missing", None)
    found = _FORMAT.fullmatch(presented)
    if found is None:
        return TokenCheck(None, "token_malformed", None)
    key, encoded = found.groups()
    try:
        secret = base64.urlsafe_b64decode(encoded + "=")
    except (binascii.Error, ValueError):
        return TokenCheck(None, "token_malformed", key)
    with store.read() as tx:
        row = tx.token(key)
    # hash and compare even when no row is found, so that timing tells nothing
    expected = row.secret_hash if row is not None else "0" * 64
    same = hmac.compare_digest(secret_hash(secret), expected)
    if row is None or not same:
        return TokenCheck(None, "token_unknown", key)
    if row.revoked_at is not None:
        return TokenCheck(None, "token_revoked", key)
    return TokenCheck(row, None, key)


def list_tokens(store: StorePort, system: str | None = None) -> list[TokenRow]:
    """Every token (of ``system``), oldest first: keys and hashes, never secrets."""
    with store.read() as tx:
        return tx.tokens(system)


def revoke_token(
    store: StorePort, key: str, now: dt.datetime, *, revoked_by: str = "cmc-workflow"
) -> bool:
    """Revoke the token ``key`` (its key, or its whole text); False when there is no live
    one. A revocation is audited under ``revoked_by``."""
    found = _FORMAT.fullmatch(key)
    if found is not None:
        key = found.group(1)
    with store.write() as tx:
        done = tx.revoke_token(key, now)
        if done:
            audit_log.record(
                tx,
                revoked_by,
                "token_revoke",
                None,
                None,
                None,
                "accepted",
                now,
                detail={"key": key},
            )
        return done
