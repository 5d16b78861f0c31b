"""The engine's value objects: who acts (:class:`Actor`) and what comes back (results)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True, init=False)
class Actor:
    """A person (or system) issuing commands, with the roles they hold now.

    ``attributes`` carries facts policies may scope on (e.g. ``{"integrator": "app-7"}``).
    """

    id: str
    roles: frozenset[str]
    attributes: Mapping[str, str]

    def __init__(
        self, id: str, roles: Iterable[str] = (), attributes: Mapping[str, str] | None = None
    ) -> None:
        if not id:
            raise ValueError("an actor needs a non-empty id")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "roles", frozenset(roles))
        object.__setattr__(self, "attributes", MappingProxyType(dict(attributes or {})))


SYSTEM = Actor("system", {"system"})
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
