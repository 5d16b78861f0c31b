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
    if type(value) in _SCALAR_TYPES:  # most fields: as they are (no ABC check)
        return value
    if isinstance(value, dt.datetime):
        return _time(value)
    if isinstance(value, Mapping | list | tuple) and not _plain(value):
        # what the JSON column gives back: string keys, lists for tuples
        return json.loads(json.dumps(value, ensure_ascii=False))
    return value


def _time(value: dt.datetime) -> str:
    """A time's canonical text: its UTC time in ISO format, to the microsecond, without
    a zone."""
    global _last_time
    seen, text = _last_time
    if value is seen:  # the very object: datetimes are immutable
        return text
    if value.tzinfo is dt.UTC:  # the engine's clock: its text without "+00:00"
        text = value.isoformat(timespec="microseconds")[:-6]
    elif value.tzinfo is None:
        raise ValueError("audit times are aware datetimes")
    else:
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        text = utc.isoformat(timespec="microseconds")
    _last_time = (value, text)
    return text


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


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The canonical encoding: ``json.dumps(value, sort_keys=True, ensure_ascii=False,
separators=(",", ":"))``, its encoder built once instead of per call."""
_string = json.encoder.encode_basestring


def canonical_json(value: Any) -> str:
    """One field's value in the canonical JSON a chain hashes: the text
    ``json.dumps(_canonical(value), sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))``, which is also the text a JSON column may store for the value
    (it reads back as what the column gave back before: the hash covers the same)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is list:
        if not value:
            return "[]"
        try:  # roles: a list of names (a str subclass encodes as its text, as in json)
            return "[" + ",".join(map(_string, value)) + "]"
        except TypeError:  # an item not a string: the encoder's way
            pass
    elif kind is dict:
        if not value:
            return "{}"
        flat = _flat(value)
        if flat is not None:
            return flat
    elif isinstance(value, dt.datetime):
        return '"' + _time(value) + '"'  # ISO digits and separators: nothing to escape
    return _ENCODER.encode(_canonical(value))


def _flat(value: dict[Any, Any]) -> str | None:
    """The canonical JSON of a flat mapping of names to strings, integers, booleans and
    nulls (a form, a detail), written here without the walk of :func:`_canonical` and
    without the encoder's set-up per call; None for any other mapping. The same text:
    keys sorted, ``"key":value`` joined by commas, each string as ``json`` escapes it."""
    if not all(type(k) is str for k in value):
        return None
    parts = []
    for key in sorted(value):
        item = value[key]
        kind = type(item)
        if kind is str:
            text = _string(item)
        elif kind is int:
            text = int.__repr__(item)
        elif item is None:
            text = "null"
        elif kind is bool:
            text = "true" if item else "false"
        else:  # a float, a nested value: the encoder's own way
            return None
        parts.append(_string(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


def _layout(names: Sequence[str]) -> str:
    """The text hashed for a row as a %-format of the previous hash and the fields'
    canonical JSON in ``sorted(names)``: what ``json.dumps(body, sort_keys=True,
    ensure_ascii=False, separators=(",", ":"))`` writes for a body of those fields (plain
    ASCII names: nothing to escape), after ``prev_hash`` and a newline."""
    return "%s\n{" + ",".join(f'"{name}":%s' for name in sorted(names)) + "}"


def canonical_fields(names: Sequence[str], row: Mapping[str, Any]) -> list[str]:
    """:func:`canonical_json` of each of ``row``'s fields ``names`` (a missing one:
    null), in that order: the most common values (strings, None, integers, times) written
    here without the call. A row's hash takes them as they are (:func:`sealed`), and its JSON
    columns may store theirs (the same text)."""
    texts: list[str] = []
    append = texts.append
    get = row.get
    for name in names:
        value: Any = get(name)
        kind = type(value)
        if kind is str:
            append(_string(value))
        elif value is None:
            append("null")
        elif kind is int:
            append(int.__repr__(value))
        elif kind is dt.datetime:  # ISO digits and separators: nothing to escape
            append('"' + _time(value) + '"')
        else:
            append(canonical_json(value))
    return texts


def sealed(layout: str, prev_hash: str, texts: Sequence[str]) -> str:
    """SHA-256 (hex) of ``prev_hash`` and a row's hashed fields' canonical JSON
    (:func:`canonical_fields` of :data:`RECORD_NAMES` or :data:`HISTORY_NAMES`), laid out
    by :data:`RECORD_LAYOUT` or :data:`HISTORY_LAYOUT`."""
    return hashlib.sha256((layout % (prev_hash, *texts)).encode()).hexdigest()


def _digest(
    layout: str,
    names: tuple[str, ...],
    prev_hash: str,
    row: Mapping[str, Any],
    texts: Mapping[str, str] | None,
) -> str:
    if texts is None:
        fields = canonical_fields(names, row)
    else:
        get = row.get
        fields = [texts[n] if n in texts else canonical_json(get(n)) for n in names]
    return sealed(layout, prev_hash, fields)


def record_hash(
    prev_hash: str, record: Mapping[str, Any], texts: Mapping[str, str] | None = None
) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the record's hashed fields in canonical JSON.
    ``texts`` holds fields' :func:`canonical_json` computed already (to share with the
    columns they are stored in); the others are encoded here."""
    return _digest(RECORD_LAYOUT, RECORD_NAMES, prev_hash, record, texts)


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


RECORD_NAMES = tuple(sorted(HASHED_FIELDS))
"""An audit record's hashed fields in the order its hash takes them (sorted)."""
RECORD_LAYOUT = _layout(HASHED_FIELDS)
"""The text an audit record's hash covers, as a %-format (:func:`sealed`)."""
HISTORY_NAMES = tuple(sorted(HISTORY_HASHED_FIELDS))
"""A history row's hashed fields in the order its hash takes them (sorted)."""
HISTORY_LAYOUT = _layout(HISTORY_HASHED_FIELDS)
"""The text a history row's hash covers, as a %-format (:func:`sealed`)."""


def history_hash(
    prev_hash: str, row: Mapping[str, Any], texts: Mapping[str, str] | None = None
) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the history row's hashed fields in canonical JSON
    (``texts``: as for :func:`record_hash`)."""
    return _digest(HISTORY_LAYOUT, HISTORY_NAMES, prev_hash, row, texts)


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
