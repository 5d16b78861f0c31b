"""Finding items and keeping API tokens: the port's rows and the in-memory implementation.

:class:`ItemFilter` is what :meth:`~cmc_workflow.store.port.StoreTx.find_items` answers:
every condition is optional and they combine with AND; rows come sorted by ``sort`` then
``id`` (ascending or descending), after the keyset position ``after`` (the sort value and
id of the last row of the previous page), at most ``limit`` of them. The engine
(:mod:`cmc_workflow.engine.queries`) turns a role queue, an assignee and an SLA question into
these conditions with the workflow definitions; the store knows no definitions.

This module imports the standard library only (the port imports it). The SQL
implementation is :mod:`cmc_workflow.store.finding_sql`; the memory one is
:mod:`cmc_workflow.store.memory_finding`, and ``tests/contract/test_finding.py`` holds
them to the same answers. Semantics both keep:

- ``data`` compares top-level fields by JSON equality: the string ``"1"`` is not the
  number ``1``, ``true`` is not ``1``;
- ``title`` is a substring of the text field ``title``, ignoring ASCII case;
- ``people`` match an ``assigned`` field holding one of them, or a list holding one of them
  (ids as stored; pass the forms to match, e.g. as typed and :func:`normal_id`);
- ``due_before``: a running clock of the item is due before that time; ``sla``: ``running``,
  ``paused`` (a clock in that status), ``warned`` (a clock warned and not stopped),
  ``breached`` (a clock breached, stopped or not), ``met`` (a clock stopped in time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SLA_STATUSES",
    "SORTS",
    "ItemFilter",
    "NewToken",
    "TokenRow",
]

SORTS = ("created_at", "updated_at", "id")
"""The columns items can be sorted by (then by id)."""
SLA_STATUSES = ("running", "paused", "warned", "breached", "met")
"""The SLA questions :class:`ItemFilter` answers."""
MAX_LIMIT = 1000
"""The most rows one page may ask for."""


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items to find, in which order, from where (see the module docstring)."""

    workflows: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] | None = None
    """(workflow, state) the item must rest in (a role queue); None: anywhere, (): nowhere."""
    assigned: tuple[tuple[str, str, str], ...] | None = None
    """(workflow, state, field) naming the people of ``people``; None: no assignee asked."""
    people: tuple[str, ...] = ()
    open: bool | None = None
    due_before: dt.datetime | None = None
    sla: str | None = None
    data: tuple[tuple[str, Any], ...] = ()
    created_from: dt.datetime | None = None
    created_until: dt.datetime | None = None
    updated_from: dt.datetime | None = None
    updated_until: dt.datetime | None = None
    title: str | None = None
    parent_id: int | None = None
    sort: str = "created_at"
    descending: bool = False
    after: tuple[Any, int] | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort by one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.sla is not None and self.sla not in SLA_STATUSES:
            raise ValueError(f"sla is one of {', '.join(SLA_STATUSES)}, not {self.sla!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit is 1..{MAX_LIMIT}, not {self.limit}")
        for when in (self.created_from, self.created_until, self.updated_from):
            if when is not None and when.tzinfo is None:
                raise ValueError("filter times must be aware datetimes")
        for when in (self.updated_until, self.due_before):
            if when is not None and when.tzinfo is None:
                raise ValueError("filter times must be aware datetimes")


@dataclass(frozen=True, slots=True)
class NewToken:
    """An API token to store: its public key and the SHA-256 of its secret, never the
    secret itself."""

    key: str
    secret_hash: str
    system: str
    label: str
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token as stored."""

    key: str
    secret_hash: str
    system: str
    label: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
