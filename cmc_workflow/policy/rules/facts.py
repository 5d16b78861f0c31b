"""What a rule may ask beyond the request (:class:`Facts`: the item's history, records and
entries of other workflows), and those facts from plain lists (:class:`ListFacts`), for
tools that hold the data already and for tests of the rules alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cmc_workflow.model import normal_id


@dataclass(frozen=True, slots=True)
class Step:
    """One accepted step of an item's history, as rules see it."""

    seq: int
    kind: str
    trigger: str | None
    source: str | None
    target: str
    actor: str
    form: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class First:
    """An item's id, data and the first time it entered a state (:meth:`Facts.firsts`)."""

    item: int
    data: Mapping[str, Any]
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """An item's data and the last time it entered some states (from :meth:`Facts.entered`)."""

    data: Mapping[str, Any]
    at: dt.datetime


class Facts(Protocol):
    """What a rule may ask beyond the request: answered from the store by the engine."""

    def history(self) -> Sequence[Step]:
        """The accepted steps of the request's item, in order (empty at start)."""
        ...

    def records(
        self, workflow: str, states: Sequence[str], field: str, value: str
    ) -> Sequence[Mapping[str, Any]]:
        """The data of items of ``workflow`` resting in one of ``states`` whose data
        ``field`` names ``value`` as a person reads it (Unicode NFKC, case-folded, trimmed
        on both sides: the ids of people and accounts typed into records)."""
        ...

    def entered(
        self,
        workflow: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> Sequence[Entry]:
        """For each item of ``workflow`` (resting in one of ``resting_in``, when given) that
        entered one of ``states`` from outside them (from one of ``source``, when given):
        its data and the last time it did so, as the engine recorded it."""
        ...

    def firsts(self, workflow: str, state: str) -> Sequence[First]:
        """Every item of ``workflow`` that ever entered ``state``: its id, its data now and
        the first time it entered, as the engine recorded it (oldest first)."""
        ...

    def late(self, item_ids: Sequence[int]) -> frozenset[int]:
        """Those of ``item_ids`` with an SLA clock that breached or stopped late."""
        ...


class ListFacts:
    """:class:`Facts` from plain lists, for tools that hold the data already and for tests
    of the rules alone. A record's state is its ``_state`` key."""

    def __init__(
        self,
        history: Sequence[Step] = (),
        records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        moves: Mapping[str, Sequence[Move]] | None = None,
        late: Sequence[int] = (),
    ) -> None:
        self._late = frozenset(late)
        self._history = list(history)
        self._records = {k: list(v) for k, v in (records or {}).items()}
        self._moves = {k: list(v) for k, v in (moves or {}).items()}

    def history(self) -> Sequence[Step]:
        """The steps given."""
        return self._history

    def records(
        self, workflow: str, states: Sequence[str], field: str, value: str
    ) -> Sequence[Mapping[str, Any]]:
        """The given records of ``workflow`` in one of ``states`` whose ``field`` names
        ``value`` as a person reads it."""
        return [
            r
            for r in self._records.get(workflow, [])
            if r.get("_state") in states and normal_id(str(r.get(field))) == normal_id(value)
        ]

    def entered(
        self,
        workflow: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> Sequence[Entry]:
        """The last qualifying move of each given item of ``workflow`` (see :class:`Move`)."""
        last: dict[int, Move] = {}
        for move in self._moves.get(workflow, []):
            if resting_in is not None and move.state not in resting_in:
                continue
            if move.target not in states or move.source in states:
                continue
            if source is not None and move.source not in source:
                continue
            if move.item not in last or last[move.item].at <= move.at:
                last[move.item] = move
        return [Entry(m.data, m.at) for m in last.values()]

    def firsts(self, workflow: str, state: str) -> Sequence[First]:
        """The first move of each given item of ``workflow`` into ``state``."""
        first: dict[int, Move] = {}
        for move in self._moves.get(workflow, []):
            if move.target == state and (move.item not in first or move.at < first[move.item].at):
                first[move.item] = move
        return sorted((First(m.item, m.data, m.at) for m in first.values()), key=lambda f: f.at)

    def late(self, item_ids: Sequence[int]) -> frozenset[int]:
        """The given late items among ``item_ids``."""
        return self._late & frozenset(item_ids)


@dataclass(frozen=True, slots=True)
class Move:
    """For :class:`ListFacts`: item ``item`` (now resting in ``state``, its data ``data``)
    went from ``source`` to ``target`` at ``at``."""

    item: int
    source: str | None
    target: str
    at: dt.datetime
    state: str
    data: Mapping[str, Any] = field(default_factory=dict)
