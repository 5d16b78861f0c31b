"""Console sessions: sign-in with a person's console password, a session cookie whose
secret is stored hashed, a CSRF token per session, sign-out; every sign-in and every
failure written to the audit (SEC-1).

The cookie ``cmc_session`` holds 32 random bytes (URL-safe base64); the store keeps their
SHA-256 only (``console_sessions.key``), so a copy of the database lets nobody in. The
cookie is ``HttpOnly``, ``SameSite=Strict`` and lives :data:`SESSION_HOURS` hours; each
session's forms carry its own random CSRF token, compared in constant time. The person's
roles are not kept in the session: they are read from the staff register on every request
(a post ended today ends the role today).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cmc_workflow.console.passwords import verify_password
from cmc_workflow.engine import Engine
from cmc_workflow.engine import audit as audit_log
from cmc_workflow.errors import CmcWorkflowError
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import Actor, normal_id
from cmc_workflow.staff.identity import BUSINESS_TZ, identity_of
from cmc_workflow.store.port import ConsoleSessionRow

__all__ = [
    "COOKIE",
    "SESSION_HOURS",
    "SignIn",
    "actor_of",
    "refuse_limited",
    "same_token",
    "session_of",
    "sign_in",
    "sign_out",
]

log = get_logger("cmc_workflow.console")

COOKIE = "cmc_session"
SESSION_HOURS = 12


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (a missing one never matches)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in: the cookie's secret and the session, or the rule that
    refused it with its reason in both languages."""

    secret: str | None
    session: ConsoleSessionRow | None
    rule: str | None = None
    reason_en: str = ""
    reason_zh: str = ""


def _audit(
    engine: Engine,
    who: str,
    outcome: str,
    address: str,
    *,
    rule: str | None = None,
    en: str | None = None,
    zh: str | None = None,
) -> None:
    try:
        with engine.store.write() as tx:
            audit_log.record(
                tx,
                who,
                "console_sign_in",
                None,
                None,
                None,
                outcome,
                engine.clock(),
                rule=rule,
                reason=en,
                detail={"client": address, "reason_zh": zh} if rule else {"client": address},
            )
    except CmcWorkflowError as exc:  # never hide a sign-in's outcome behind an audit failure
        log.error("audit_write_failed", error=str(exc), rule=rule)


def sign_in(engine: Engine, person: str, password: str, address: str) -> SignIn:
    """Check ``person``'s console password; open a session when it matches. Both the
    sign-in and a refusal are audited (never the password)."""
    now = engine.clock()
    person_id = normal_id(person)[:128]
    with engine.store.read() as tx:
        row = tx.console_password(person_id) if person_id else None
    good = verify_password(password, row.password_hash if row is not None else None)
    if not good:
        en, zh = tr("the person or the password is wrong")
        _audit(
            engine,
            f"console:{person_id or '?'}",
            "refused",
            address,
            rule="password_wrong",
            en=en,
            zh=zh,
        )
        log.warning("console_sign_in_refused", person=person_id, client=address)
        return SignIn(None, None, "password_wrong", en, zh)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    session = ConsoleSessionRow(
        key=_digest(secret),
        person_id=person_id,
        csrf=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + dt.timedelta(hours=SESSION_HOURS),
        ended_at=None,
    )
    with engine.store.write() as tx:
        tx.insert_console_session(session)
    _audit(engine, person_id, "accepted", address)
    log.info("console_sign_in", person=person_id, client=address)
    return SignIn(secret, session)


def refuse_limited(engine: Engine, address: str) -> None:
    """Audit a sign-in refused because its address failed too often (SEC-1)."""
    en, zh = tr("too many failed sign-ins from this address; try later")
    _audit(engine, f"console:{address}", "refused", address, rule="rate_limited", en=en, zh=zh)
    log.warning("console_sign_in_limited", client=address)


def session_of(engine: Engine, secret: str | None) -> ConsoleSessionRow | None:
    """The live session of a cookie, or None (unknown, ended or expired)."""
    if not secret or len(secret) > 100:
        return None
    with engine.store.read() as tx:
        row = tx.console_session(_digest(secret))
    if row is None or row.ended_at is not None or row.expires_at <= engine.clock():
        return None
    return row


def sign_out(engine: Engine, session: ConsoleSessionRow) -> None:
    """End ``session`` (its cookie no longer signs anybody in)."""
    with engine.store.write() as tx:
        tx.end_console_sessions(engine.clock(), key=session.key)


def actor_of(engine: Engine, person_id: str) -> Actor:
    """The person as the engine sees them: the roles their posts in the staff register
    give today (the engine's identity source, when configured, checks them again)."""
    with engine.store.read() as tx:
        posts = tx.identity_posts(person_id)
    if posts is None:
        return Actor(person_id, ())
    day = engine.clock().astimezone(BUSINESS_TZ).date()
    return Actor(person_id, identity_of(person_id, posts, day).roles)
