"""A person's contact addresses: checked when they are filed (an address that does not
parse is refused, with the fix), and masked (SEC-3) wherever they are shown without
being needed: listings, exports, audit details, logs. Pure: no store, no engine.

- ``email``: ``local@domain.tld``, one ``@``, no spaces, a dotted domain (at most 254
  characters);
- ``mobile``: a mainland mobile number, 11 digits starting ``1[3-9]``; ``+86``/``86``,
  spaces and hyphens are accepted and dropped (``+86 138-0013-8000`` -> ``13800138000``);
- ``wecom`` / ``dingtalk``: a WeCom (企业微信) or DingTalk (钉钉) user id: 1-64 letters,
  digits, ``_ - . @``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cmc_workflow.i18n import N_, Text, tr
from cmc_workflow.policy.masking import mask_value

FIELDS = ("email", "mobile", "wecom", "dingtalk")
"""The contact fields of a person, in the order a notifier tries them."""
LABELS = {
    "email": N_("e-mail"),
    "mobile": N_("mobile"),
    "wecom": N_("WeCom user id"),
    "dingtalk": N_("DingTalk user id"),
}
"""What each contact field is called in a message (catalogue msgids)."""

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def checked(field: str, value: str) -> tuple[str | None, Text | None]:
    """``value`` of contact ``field`` as stored (trimmed, normalised), or why it cannot
    be: ``(None, Text)`` with the fix (in English and Chinese)."""
    text = value.strip()
    label = tr(LABELS[field])
    if field == "email":
        if len(text) <= 254 and _EMAIL.match(text) and ".." not in text:
            return text, None
        return None, tr(
            "{field} {value} is not an address like name@example.org",
            field=label,
            value=repr(text),
        )
    if field == "mobile":
        digits = re.sub(r"[\s-]", "", text)
        if digits.startswith("+86"):
            digits = digits[3:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        if _MOBILE.match(digits):
            return digits, None
        return None, tr(
            "{field} {value} is not a mainland mobile number (11 digits starting 13-19)",
            field=label,
            value=repr(text),
        )
    if _USER_ID.match(text):
        return text, None
    return None, tr(
        "{field} {value} is not a user id (1-64 letters, digits, _ - . @)",
        field=label,
        value=repr(text),
    )


def masked(field: str, value: str | None) -> str | None:
    """``value`` as shown where it is not needed (SEC-3): ``13*******00``,
    ``wa***@example.org`` (the domain of an address stays: it tells which system)."""
    if value is None:
        return None
    if field == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{mask_value(local)}@{domain}"
    return str(mask_value(value))


def masked_contacts(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every contact field masked (other keys as they are)."""
    return {k: masked(k, v) if k in FIELDS and isinstance(v, str) else v for k, v in values.items()}
