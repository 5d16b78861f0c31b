"""The command boundary: what a caller hands the engine, checked before anything is read or
written, and made storable for the audit record whatever it was.

Two halves, one per direction:

- **checks** (:func:`text_problem`, :func:`item_id_problem`, :func:`data_problems`,
  :func:`admitted`) refuse what the store cannot hold or a person cannot read: ids of the
  wrong type or wider than their column, 64-bit overflows, data that is not a mapping,
  text with NUL or a lone surrogate, numbers that are not finite, and actor ids that are
  blank, unreadable or reserved. They name the field, in English and Chinese.
- **escaping** (:func:`storable_text`, :func:`storable_json`) turns anything at all into
  what an audit column can hold (SEC-1: a refusal is recorded, however bad its input):
  control characters and lone surrogates backslash-escaped, text cut to the column's
  width, non-finite numbers and foreign objects as their ``repr``. The audit record says
  which of its fields were escaped or truncated.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from cmc_workflow.errors import FieldError, IdentityRefused
from cmc_workflow.i18n import tr
from cmc_workflow.model import (
    RESERVED_ROLE,
    Actor,
    id_problem,
    is_engine_actor,
    normal_id,
    unreadable,
)

ID_WIDTH = 64
"""The width of workflow, trigger and state columns."""
INT64 = (-(2**63), 2**63 - 1)
"""The range of item ids (BIGINT)."""
INT32 = (-(2**31), 2**31 - 1)
"""The range of row versions (INTEGER)."""
MAX_DEPTH = 32
"""How deeply data may nest."""


_PLAIN = (bool, int, dt.date, type(None))
"""Scalars data may hold besides text and floats (dates and datetimes are written as ISO
8601 text by the forms)."""


def _unstorable(text: str) -> list[str]:
    """Code points of ``text`` the store cannot hold: NUL and lone surrogates."""
    if text.isprintable():  # neither is printable
        return []
    return [f"U+{ord(ch):04X}" for ch in text if ch == "\0" or "\ud800" <= ch <= "\udfff"]


# -- checks ------------------------------------------------------------------------------
def text_problem(field: str, value: object, width: int = ID_WIDTH) -> FieldError | None:
    """Why ``value`` cannot be the id ``field`` (a workflow id, a trigger), or None."""
    if not isinstance(value, str):
        kind = type(value).__name__
        return FieldError(field, *tr("expected text, got {kind}", kind=kind))
    if not value.strip():
        return FieldError(field, *tr("must not be blank"))
    bad = unreadable(value)
    if bad:
        return FieldError(
            field,
            *tr(
                "holds control or invisible characters ({characters})",
                characters=", ".join(dict.fromkeys(bad)),
            ),
        )
    if len(value) > width:
        return FieldError(
            field,
            *tr(
                "has {count} characters, at most {limit} are possible",
                count=len(value),
                limit=width,
            ),
        )
    return None


def int_problem(
    field: str, value: object, bounds: tuple[int, int] = INT64, *, optional: bool = False
) -> FieldError | None:
    """Why ``value`` cannot be the whole number ``field`` (an item id, a version), or None."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = type(value).__name__
        return FieldError(field, *tr("expected a whole number, got {kind}", kind=kind))
    low, high = bounds
    if not low <= value <= high:
        return FieldError(
            field, *tr("{value} is outside {low}..{high}", value=value, low=low, high=high)
        )
    return None


def data_problems(field: str, value: object) -> list[FieldError]:
    """Why ``value`` cannot be the data or form ``field``: not a mapping, keys that are not
    text, text with NUL or lone surrogates, numbers that are not finite, values no JSON
    column holds (bytes, sets, objects), nesting deeper than :data:`MAX_DEPTH`. None is
    an empty mapping."""
    if value is None:
        return []
    if type(value) is not dict and not isinstance(value, Mapping):  # (a dict: no ABC check)
        kind = type(value).__name__
        return [
            FieldError(
                field, *tr("expected a mapping of field names to values, got {kind}", kind=kind)
            )
        ]
    if _clean(value, 0):
        return []  # the common case, without building the paths a problem would name
    found: list[FieldError] = []
    _walk(field, value, 0, found)
    return found


def _clean(value: object, depth: int) -> bool:
    """True when :func:`_walk` finds nothing in ``value`` for certain: JSON's own types
    (exactly), text without NUL or lone surrogates, finite numbers, text keys, within
    :data:`MAX_DEPTH`. False leaves the answer to :func:`_walk` (dates, tuples, subclasses
    are fine there, and every problem is named there)."""
    if type(value) is str:
        return value.isprintable() or not _unstorable(value)
    if type(value) is int or type(value) is bool or value is None:
        return True
    if type(value) is float:
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if type(value) is dict:
        # text keys and text values (most of a command's data) checked here, not by a
        # call each: a call costs more than the check
        for key, inner in value.items():
            if type(key) is not str or not (key.isprintable() or not _unstorable(key)):
                return False
            if type(inner) is str:
                if not (inner.isprintable() or not _unstorable(inner)):
                    return False
            elif not _clean(inner, depth + 1):
                return False
        return True
    if type(value) is list:
        return all(_clean(inner, depth + 1) for inner in value)
    return False


def _walk(path: str, value: object, depth: int, found: list[FieldError]) -> None:
    if depth > MAX_DEPTH:
        found.append(FieldError(path, *tr("nests deeper than {limit} levels", limit=MAX_DEPTH)))
        return
    if isinstance(value, str):
        bad = _unstorable(value)
        if bad:
            found.append(
                FieldError(
                    path,
                    *tr(
                        "holds characters no text may hold ({characters}: NUL or a lone surrogate)",
                        characters=", ".join(dict.fromkeys(bad)),
                    ),
                )
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append(FieldError(path, *tr("{value} is not a finite number", value=repr(value))))
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str):
                kind = type(key).__name__
                found.append(
                    FieldError(
                        f"{path}.{storable_text(repr(key), 40)[0]}",
                        *tr("a field name is text, not {kind}", kind=kind),
                    )
                )
                continue
            name = storable_text(key, 64)[0]
            if _unstorable(key):
                found.append(
                    FieldError(
                        f"{path}.{name}",
                        *tr("the field name holds NUL or a lone surrogate"),
                    )
                )
                continue
            _walk(f"{path}.{name}", inner, depth + 1, found)
    elif isinstance(value, list | tuple):
        for n, inner in enumerate(value):
            _walk(f"{path}[{n}]", inner, depth + 1, found)
    elif not isinstance(value, _PLAIN):
        kind = type(value).__name__
        found.append(
            FieldError(
                path,
                *tr(
                    "a {kind} cannot be stored: give text, numbers, true/false, dates, lists "
                    "or mappings",
                    kind=kind,
                ),
            )
        )


def admitted(actor: object) -> Actor:
    """``actor`` as the engine takes it: its id normalised (:func:`normal_id`), or
    :class:`IdentityRefused` naming the rule. Only actors the engine made
    (:func:`~cmc_workflow.model.engine_actor`) may hold the id or role ``system``."""
    last = _last_admitted[0]
    if actor is last and last is not None:
        return last  # admitted already (a command admits its actor twice): immutable
    if not isinstance(actor, Actor):
        kind = type(actor).__name__
        raise IdentityRefused(
            "actor_invalid", *tr("a command's actor is an Actor, not {kind}", kind=kind)
        )
    engine = is_engine_actor(actor)
    problem = None if engine else id_problem(actor.id)
    if problem is not None:
        raise IdentityRefused(*problem)
    for role in actor.roles:
        if not isinstance(role, str) or unreadable(role) or not role.strip():
            shown = storable_text(repr(role), 40)[0]
            raise IdentityRefused(
                "role_invalid", *tr("the role {role} is not a readable role name", role=shown)
            )
    for key, val in actor.attributes.items():
        if not (isinstance(key, str) and isinstance(val, str)) or _unstorable(f"{key}{val}"):
            shown = storable_text(repr(key), 40)[0]
            raise IdentityRefused(
                "attribute_invalid",
                *tr(
                    "the actor attribute {name} is not text without NUL or lone surrogates",
                    name=shown,
                ),
            )
    if engine:
        return actor
    if RESERVED_ROLE in actor.roles:
        raise IdentityRefused(
            "role_reserved",
            *tr(
                "the role {role} is the engine's own; no caller holds it",
                role=repr(RESERVED_ROLE),
            ),
        )
    normal = normal_id(actor.id)
    if normal != actor.id:
        actor = Actor(normal, actor.roles, actor.attributes)
    _last_admitted[0] = actor
    return actor


_last_admitted: list[Actor | None] = [None]
"""The actor :func:`admitted` gave back last: a command admits its actor at the boundary
and again when it resolves them in its transaction, the same object. An :class:`Actor` is
frozen (its attributes a read-only copy), so the one it gave back is admitted as it is.
"""


# -- escaping for the audit record -------------------------------------------------------
def escaped(text: str) -> str:
    """``text`` with control characters and lone surrogates backslash-escaped."""
    if text.isprintable():  # one C-level pass; NUL and lone surrogates are not printable
        return text
    out = []
    for ch in text:
        if "\ud800" <= ch <= "\udfff" or (not ch.isprintable() and ch != " "):
            out.append(ascii(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def storable_text(value: object, width: int | None) -> tuple[str, bool, bool]:
    """``value`` as column text: ``(text, escaped, truncated)``. Anything that is not a
    string is written as its ``repr``; text is escaped (:func:`escaped`) and cut to
    ``width`` characters."""
    text = value if isinstance(value, str) else repr(value)
    safe = escaped(text)
    changed = safe != text or not isinstance(value, str)
    if width is not None and len(safe) > width:
        return safe[:width], changed, True
    return safe, changed, False


def storable_json(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """``value`` as a JSON column can hold it on every store: ``(value, changed)``. Text is
    escaped, keys become text, non-finite numbers and foreign objects become their
    ``repr``, and nesting stops at :data:`MAX_DEPTH`."""
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, int):
        if INT64[0] <= value <= INT64[1]:
            return value, False
        return repr(value), True
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (repr(value), True)
    if isinstance(value, str):
        text, changed, _cut = storable_text(value, None)
        return text, changed
    if depth >= MAX_DEPTH:
        return storable_text(value, 200)[0], True
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        changed = False
        for key, inner in value.items():
            name, key_changed, _cut = storable_text(key, None)
            out[name], inner_changed = storable_json(inner, depth + 1)
            changed = changed or key_changed or inner_changed
        return out, changed
    if isinstance(value, list | tuple):
        items = [storable_json(inner, depth + 1) for inner in value]
        return [v for v, _c in items], any(c for _v, c in items)
    return storable_text(value, 200)[0], True
