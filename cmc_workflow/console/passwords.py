"""Console passwords: set by an administrator with ``cmc-workflow console password``, kept
as an scrypt hash (:func:`hashlib.scrypt`, a memory-hard standard KDF), checked in
constant time.

The stored form reads ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash URL-safe
base64; ``n=2**14, r=8, p=1``, 16 random bytes of salt, 32 bytes of hash), so that the
parameters can be raised later without breaking the hashes stored already. No web
framework here: the command line uses it without the ``api`` extra.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets

from cmc_workflow.i18n import Text, tr
from cmc_workflow.model import normal_id
from cmc_workflow.store import StorePort
from cmc_workflow.store.port import ConsolePasswordRow

__all__ = ["MIN_LENGTH", "hash_password", "password_problem", "set_password", "verify_password"]

MIN_LENGTH = 10
"""The shortest password taken."""
_N, _R, _P = 2**14, 8, 1
_DUMMY = None  # a hash checked when a person has no password, so that timing tells nothing


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024, dklen=32
    )
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (None: no password set; the work is done
    all the same)."""
    global _DUMMY
    if stored is None:
        if _DUMMY is None:
            _DUMMY = hash_password(secrets.token_urlsafe(16))
        stored, good = _DUMMY, False
    else:
        good = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(_unb64(digest)),
        )
        same = hmac.compare_digest(computed, _unb64(digest))
    except (ValueError, binascii.Error):
        return False
    return good and same


def password_problem(password: str) -> Text | None:
    """Why ``password`` is refused (in both languages: it unpacks as English, Chinese),
    or None."""
    if len(password) < MIN_LENGTH:
        return tr("a console password has at least {count} characters", count=MIN_LENGTH)
    if len(password) > 200:
        return tr("a console password has at most {count} characters", count=200)
    if password.strip() != password:
        return tr("a console password does not begin or end with a space")
    return None


def set_password(
    store: StorePort, person_id: str, password: str, *, by: str, now: dt.datetime
) -> ConsolePasswordRow:
    """Set the console password of ``person_id`` (a person of the staff register; the
    store refuses anybody else) and end their open sessions. Raises :class:`ValueError`
    for a password :func:`password_problem` refuses or a person not filed."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(str(problem))
    person = normal_id(person_id)
    row = ConsolePasswordRow(person, hash_password(password), now, by)
    with store.write() as tx:
        if tx.person(person) is None:
            raise ValueError(
                str(
                    tr(
                        "{person} is not in the staff register (cmc-workflow staff add)",
                        person=repr(person_id),
                    )
                )
            )
        tx.set_console_password(row)
        tx.end_console_sessions(now, person_id=person)
    return row
