"""The engine's value objects: who acts (:class:`Actor`) and what comes back (results)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cmc_workflow.i18n import tr

RESERVED_ID = "system"
"""The id of the engine's own actor; no caller may use it."""
RESERVED_ROLE = "system"
"""The role of engine-driven steps (``roles: [system]`` transitions); no caller holds it."""
MAX_ID_LENGTH = 128
"""The longest actor id, normalised (the width of the ``actor`` columns)."""

_UNREADABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Character categories no id may hold: control, format (zero-width: U+200B..U+200F,
U+2060, U+FEFF, ...), lone surrogates, line and paragraph separators."""
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True, init=False)
class Actor:
    """A person (or system) issuing commands, with the roles they hold now.

    ``attributes`` carries facts policies may scope on (e.g. ``{"integrator": "app-7"}``).
    The engine takes the id as a person reads it (:func:`normal_id`): ``Wang``, ``wang ``
    and ``ｗａｎｇ`` are one person, ``wang``, and the engine records them so. It refuses
    ids that are not text, empty, unreadable (:func:`id_problem`) or reserved (``system``).
    """

    id: str
    roles: frozenset[str]
    attributes: Mapping[str, str]
    _engine: bool = field(default=False, repr=False, compare=False)

    def __init__(
        self, id: str, roles: Iterable[str] = (), attributes: Mapping[str, str] | None = None
    ) -> None:
        if not id:
            raise ValueError("an actor needs a non-empty id")
        if isinstance(roles, str | bytes):
            # frozenset("editor") would be the roles d, e, i, o, r, t
            raise TypeError(
                f"roles is a collection of role names, not one text: write "
                f"Actor({id!r}, {{{roles!r}}})"
            )
        held = frozenset(roles)
        if not all(isinstance(role, str) for role in held):
            raise TypeError(f"every role is a name (text): {sorted(map(repr, held))}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "roles", held)
        object.__setattr__(self, "attributes", MappingProxyType(dict(attributes or {})))
        object.__setattr__(self, "_engine", False)


ATTRIBUTE_SEPARATOR = ","
"""Several values of one actor attribute travel comma-separated: a lead of two channels
has ``{"channel": "wechat,weibo"}``; a scoping policy matches an item holding any."""


def attribute_values(value: str | None) -> frozenset[str]:
    """The values an actor attribute holds: one, or several separated by commas."""
    if value is None:
        return frozenset()
    return frozenset(v.strip() for v in str(value).split(ATTRIBUTE_SEPARATOR) if v.strip())


def engine_actor(id: str, roles: Iterable[str] = ()) -> Actor:
    """An actor the engine (or its runtime extensions, e.g. the scheduler) acts as: it may
    use the reserved id and role ``system``. Not for people: their commands come with an
    ordinary :class:`Actor`."""
    actor = Actor(id, roles)
    object.__setattr__(actor, "_engine", True)
    return actor


def is_engine_actor(actor: Actor) -> bool:
    """True for an actor made by :func:`engine_actor` (e.g. :data:`SYSTEM`)."""
    return actor._engine


def normal_id(value: str) -> str:
    """An id as a person reads it: Unicode NFKC (full-width letters become ASCII),
    case-folded, trimmed, inner runs of whitespace as one space. Two ids name one person
    exactly when their normal forms are equal.

    The last :data:`_NORMAL_IDS` ids asked are remembered: a command normalises the
    same few ids (its actor's, twice at the boundary, the rows its rules compare) about
    seven times, each two NFKC passes, a case fold and a regular expression."""
    return _normal_id(value)


_NORMAL_IDS = 1024
"""How many ids :func:`normal_id` remembers (the people acting at a time, and more)."""


@functools.lru_cache(maxsize=_NORMAL_IDS)
def _normal_id(value: str) -> str:
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return _SPACES.sub(" ", text).strip()


def unreadable(text: str) -> list[str]:
    """The code points of ``text`` no id may hold, as ``U+XXXX`` (control, zero-width and
    other format characters, lone surrogates, line separators)."""
    if text.isprintable():  # none of those is printable: the common case costs one scan
        return []
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in _UNREADABLE]


def id_problem(value: object) -> tuple[str, str, str] | None:
    """Why ``value`` cannot be an actor id: ``(rule, English, Chinese)``, or None."""
    if not isinstance(value, str):
        kind = type(value).__name__
        return ("actor_id_invalid", *tr("an actor id is text, not {kind}", kind=kind))
    bad = unreadable(value)
    if bad:
        return (
            "actor_id_invalid",
            *tr(
                "an actor id may not hold control or invisible characters ({characters})",
                characters=", ".join(dict.fromkeys(bad)),
            ),
        )
    normal = normal_id(value)
    if not normal:
        return ("actor_id_invalid", *tr("an actor id may not be blank"))
    if len(normal) > MAX_ID_LENGTH:
        return (
            "actor_id_invalid",
            *tr(
                "an actor id has at most {limit} characters, this one {count}",
                limit=MAX_ID_LENGTH,
                count=len(normal),
            ),
        )
    if normal == RESERVED_ID:
        return (
            "actor_id_reserved",
            *tr(
                "the actor id {id} is the engine's own; people act under their own id",
                id=repr(RESERVED_ID),
            ),
        )
    return None


SYSTEM = engine_actor(RESERVED_ID, {RESERVED_ROLE})
"""The actor of engine-driven steps: gateway routes, handler outcomes, timers."""


@dataclass(frozen=True, slots=True)
class Item:
    """An item (one case of a workflow) as it stands after the last committed command."""

    id: int
    workflow: str
    revision: int
    state: str
    state_label: str
    data: Mapping[str, Any]
    visit: int
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    parent_id: int | None = None
    state_label_en: str = ""
    """The state's label in English (``state_label`` is the Chinese one)."""

    @property
    def is_open(self) -> bool:
        """False once the item reached an endEvent."""
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One accepted step of an item, in order (``seq`` 1, 2, 3, ... without gaps)."""

    seq: int
    at: dt.datetime
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str
    visit: int
    actor: str
    roles: tuple[str, ...]
    form: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Allowed:
    """Whether an actor may fire ``trigger`` now, and why not when they may not."""

    trigger: str
    allowed: bool
    target: str
    label: str
    reasons: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # the rules or checks that refuse it
    reasons_zh: tuple[str, ...] = ()  # each reason in Chinese ("" where none is written)
    label_en: str = ""  # the transition's label in English (``label`` is the Chinese one)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A stored version of a workflow and how many open items run on it."""

    workflow: str
    revision: int
    version_label: int | None
    content_hash: str
    source_file: str
    loaded_at: dt.datetime
    open_items: int
    current: bool
