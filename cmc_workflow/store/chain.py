"""Hashing for the chains of the store (SEC-2): the audit log's records and each item's
history rows, in canonical JSON. Pure functions, no I/O: the store appends with them
(:mod:`cmc_workflow.store.audit`, the history insert of the repository) and
:mod:`cmc_workflow.store.verification` checks with them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record of every chain."""

HASHED_FIELDS = (
    "chain",
    "at",
    "actor",
    "roles",
    "command",
    "workflow_id",
    "item_id",
    "trigger",
    "outcome",
    "rule",
    "reason",
    "detail",
)
"""The columns a record's hash covers. ``chain_seq`` is left out on purpose: renumbering
records to hide an insertion or a deletion then breaks a link (and names the record)
instead of only failing every later hash."""

AUDITED_KINDS = ("start", "fire", "handler", "timer", "migrate")
"""History kinds that the engine audits one-to-one as accepted commands."""

_MAX_CHAIN = 100


def chain_of(record: Mapping[str, Any]) -> str:
    """The chain a record joins: its item's, else its actor's."""
    item_id = record.get("item_id")
    if item_id is not None:
        return f"item:{item_id}"
    actor = str(record.get("actor", ""))
    name = f"actor:{actor}"
    if len(name) > _MAX_CHAIN:
        name = "actor:#" + hashlib.sha256(actor.encode("utf-8")).hexdigest()[:40]
    return name


_last_time: tuple[dt.datetime | None, str] = (None, "")
"""The datetime :func:`_canonical` wrote last, and its text: a command hashes its one
``now`` into each of its rows (a batch, into all of its commands' rows)."""


def _canonical(value: Any) -> Any:
    global _last_time
    if type(value) in _SCALAR_TYPES:  # most fields: as they are (no ABC check)
        return value
    if isinstance(value, dt.datetime):
        seen, text = _last_time
        if value is seen:  # the very object: datetimes are immutable
            return text
        if value.tzinfo is None:
            raise ValueError("audit times are aware datetimes")
        text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        _last_time = (value, text)
        return text
    if isinstance(value, Mapping | list | tuple) and not _plain(value):
        # what the JSON column gives back: string keys, lists for tuples
        return json.loads(json.dumps(value, ensure_ascii=False))
    return value


_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def _plain(value: Any) -> bool:
    """True when ``value`` encodes to the same JSON as it reads back from a JSON column
    (string keys, nothing but JSON's types; tuples encode as lists), so that the round
    trip through ``json`` can be skipped: the hash's own encoding gives the same text."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the record's hashed fields in canonical JSON."""
    body = {name: _canonical(record.get(name)) for name in HASHED_FIELDS}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


HISTORY_HASHED_FIELDS = (
    "item_id",
    "seq",
    "at",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "visit",
    "actor",
    "roles",
    "form",
)
"""The columns a history row's hash covers. Unlike the audit log, the position (``seq``)
is covered: it is what ``items.seq`` counts, and the rows of an item are dense from 1."""


def history_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the history row's hashed fields in canonical JSON."""
    body = {name: _canonical(row.get(name)) for name in HISTORY_HASHED_FIELDS}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def chain_history(prev_hash: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (of one item, in order) with ``prev_hash`` and ``hash`` set, the first
    chained to ``prev_hash``: the item's ``history_head`` (GENESIS for its first row)."""
    chained = []
    for values in rows:
        row = dict(values)
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = history_hash(prev_hash, row)
        chained.append(row)
    return chained
