"""The records a policy asks for: items of a workflow resting in some states whose data
field names a person or an account (:meth:`~cmc_workflow.store.port.StoreTx.records`).

A field names ``value`` when both read the same as a person reads an id
(:func:`~cmc_workflow.model.normal_id`: Unicode NFKC, case-folded, spaces trimmed), which
no database computes the same way; the comparison itself stays in Python. The database
only leaves out the rows that cannot match (issue 12: before, every record in the states
was read and decoded, so a command cost more the more records a center kept), and it
can tell them without folding anything:

- a text of plain characters (printable ASCII but for ``A``-``Z`` and spaces) is its own
  normal form, so it matches exactly when it equals the wanted normal form; any other
  text (capitals, spaces, full-width or other non-ASCII letters) is read and compared in
  Python as before;
- an integer matches when its digits equal it; a number SQLite reads as a float (one
  beyond 64 bits too) is read; ``true`` and ``false`` are sent when they equal it on
  PostgreSQL, and on SQLite (whose JSON gives them as ``1`` and ``0``) a wanted
  ``true`` or ``false`` reads every record; no other JSON value can match (the store
  compares only texts and integers).

``wanted`` holding NUL is read the old way (every record): SQLite's JSON functions cut
a text at NUL, and only then could such a text match. So is every record when a row's
JSON is one SQLite cannot parse (``NaN``: the store's caller sees what it saw before).

**By key** (migration 0015): for a (workflow, field) pair registered in ``record_fields``
(:func:`key_pairs`, once, when an engine with policies asking for it opens), a
``record_keys`` row is kept per item whose field may name someone, keyed as above (a
plain text, an integer's digits, ``true``/``false``; NULL for a row to compare in
Python). :func:`keyed` reads the rows keyed ``wanted`` or NULL through an index: a
person's records cost the same whatever the others' number (the SELECT above still
parses every record of the states on SQLite).

Who writes the keys: on PostgreSQL a trigger on ``items`` (migration 0015; its writes
ride in one statement with their rows, store/carried.py). On SQLite the store, since
migration 0016 dropped the triggers there (the mere presence of an AFTER trigger on
``items`` cost every item write of every workflow 6–10 µs): after it writes an item of a
workflow with a registered pair it rewrites that item's keys (:data:`UNKEY_ITEM`, then
:data:`KEY_ITEM`, the triggers' SQL over the row as written). Whether the workflow has
a pair rides on a statement the write makes anyway (:data:`HAS_PAIR` on the item's read,
:data:`HAS_PAIR_RETURNED` on its INSERT), read under ``BEGIN IMMEDIATE``, so that a pair
registered by another process is seen by the next write; a batch's new items ask once
per transaction (:data:`PAIRED_WORKFLOWS`). A write to ``items`` that bypasses the store
(hand-written SQL) is not keyed on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection

from cmc_workflow.store.tables import items, record_fields, record_keys

ODD_TEXT = "*[^!-@[-~]*"
"""SQLite ``GLOB``: a text holding a character outside printable ASCII, a space or a
capital (its normal form may differ from it)."""
ODD_TEXT_POSTGRES = "[^!-@[-~]"
"""PostgreSQL ``~``: the same as :data:`ODD_TEXT`."""


def _where_sqlite() -> Any:
    # one JSON value per row: SQLite parses the row's JSON once for the three uses
    value = func.json_extract(items.c.data, bindparam("b_path", type_=Text))
    text = cast(value, Text)
    return or_(
        text == bindparam("b_wanted", type_=Text),
        text.op("GLOB")(ODD_TEXT),
        func.typeof(value) == "real",
    )


def _where_postgres() -> Any:
    data = items.c.data
    field = bindparam("b_field", type_=Text)
    kind = func.jsonb_typeof(data.op("->")(field))
    value = data.op("->>", return_type=Text)(field)
    wanted = bindparam("b_wanted", type_=Text)
    return or_(
        and_(or_(kind == "number", kind == "boolean"), value == wanted),
        and_(kind == "string", or_(value == wanted, value.op("~")(ODD_TEXT_POSTGRES))),
    )


def _in_states(many: bool) -> Any:
    """The items' state among ``b_states`` (an expanding list) or equal to ``b_state``."""
    if many:
        return items.c.state.in_(bindparam("b_states", expanding=True))
    return items.c.state == bindparam("b_state")


def _statement(where: Any, many: bool) -> Select[Any]:
    return (
        select(items.c.data)
        .where(items.c.workflow_id == bindparam("b_workflow"), _in_states(many), where)
        .order_by(items.c.id)
    )


_BOOLEANS = frozenset({"true", "false"})
"""Normal forms SQLite cannot tell from ``1`` and ``0`` (its JSON gives both as integers)."""
_SQLITE = (_statement(_where_sqlite(), False), _statement(_where_sqlite(), True))
_POSTGRES = (_statement(_where_postgres(), False), _statement(_where_postgres(), True))


def candidates(
    sqlite: bool, workflow_id: str, states: list[str], field: str, wanted: str
) -> tuple[Select[Any], dict[str, Any]] | None:
    """The prebuilt SELECT of the data of ``workflow_id``'s items in ``states`` whose
    ``field`` may name ``wanted`` (a normal form), with its parameters; None when the
    database cannot narrow them (``wanted`` holds NUL, or a field name SQLite's JSON path
    cannot quote)."""
    if "\x00" in wanted or (sqlite and wanted in _BOOLEANS):
        return None
    many = len(states) != 1
    params: dict[str, Any] = {"b_workflow": workflow_id, "b_wanted": wanted}
    params.update({"b_states": states} if many else {"b_state": states[0]})
    if not sqlite:
        params["b_field"] = field
        return _POSTGRES[many], params
    if '"' in field or "\\" in field:
        return None
    params["b_path"] = f'$."{field}"'
    return _SQLITE[many], params


def _keyed_statement(many: bool) -> Select[Any]:
    keys = record_keys.c
    state = _in_states(many)
    return (
        select(items.c.data)
        .select_from(record_keys.join(items, items.c.id == keys.item_id))
        .where(
            # written out in full on each side of OR, so that SQLite looks both keys up in
            # the index (MULTI-INDEX OR) instead of reading every key of the field
            or_(
                and_(
                    keys.workflow_id == bindparam("b_workflow"),
                    keys.field == bindparam("b_field"),
                    keys.key == bindparam("b_wanted"),
                ),
                and_(
                    keys.workflow_id == bindparam("b_workflow"),
                    keys.field == bindparam("b_field"),
                    keys.key.is_(None),
                ),
            ),
            state,
        )
        .order_by(items.c.id)
    )


_KEYED = (_keyed_statement(False), _keyed_statement(True))
_REGISTERED = select(record_fields.c.workflow_id, record_fields.c.field)


def keyed(
    workflow_id: str, states: list[str], field: str, wanted: str
) -> tuple[Select[Any], dict[str, Any]] | None:
    """The prebuilt SELECT of the data of ``workflow_id``'s items in ``states`` keyed
    ``wanted`` (a normal form) or NULL for ``field``, for a registered pair (see
    :func:`key_pairs`); None when ``wanted`` holds NUL (read the old way)."""
    if "\x00" in wanted:
        return None
    many = len(states) != 1
    params: dict[str, Any] = {"b_workflow": workflow_id, "b_field": field, "b_wanted": wanted}
    params.update({"b_states": states} if many else {"b_state": states[0]})
    return _KEYED[many], params


def keyable(field: str) -> bool:
    """Whether ``field`` can be keyed (SQLite's JSON path quotes it as it is)."""
    return '"' not in field and "\\" not in field


def registered(conn: Connection) -> set[tuple[str, str]]:
    """The (workflow, field) pairs whose records are found by key."""
    return {(w, f) for w, f in conn.execute(_REGISTERED).all()}


def key_pairs(conn: Connection, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Register those of ``pairs`` not registered yet and key the items written so far;
    returns them. In a write transaction: on SQLite, ``BEGIN IMMEDIATE`` holds every
    writer off; on PostgreSQL the lock of ``items`` taken first waits for the writers in
    flight and holds off the others until the commit, after which their statements' own
    trigger sees the new pairs (no item is written between the fill and the triggers).
    On PostgreSQL the fill is an ``UPDATE`` of each item's data to itself, so that the
    trigger, the one definition of a key there, computes the keys; on SQLite
    :data:`KEY_PAIR` writes the new pairs' keys with the SQL the store keys items by."""
    wanted = [p for p in dict.fromkeys(pairs) if keyable(p[1])]
    if not wanted:
        return []
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE items IN SHARE ROW EXCLUSIVE MODE"))
    known = registered(conn)
    new = [p for p in wanted if p not in known]
    if not new:
        return []
    conn.execute(record_fields.insert(), [{"workflow_id": w, "field": f} for w, f in new])
    if conn.dialect.name == "sqlite":  # the store keys (no trigger): the pairs' own keys
        conn.execute(KEY_PAIR, [{"b_workflow": w, "b_field": f} for w, f in new])
        return new
    workflows = sorted({w for w, _f in new})
    conn.execute(items.update().where(items.c.workflow_id.in_(workflows)).values(data=items.c.data))
    return new


# SQLite, the keys kept by the store (migration 0016 dropped the triggers of 0015): the
# same SQL as 0015's trigger, over the item's row as written (``i``) instead of ``NEW``
_PATH = "('$.\"' || f.field || '\"')"
_KEY = f"""CASE WHEN json_valid(i.data) THEN CASE json_type(i.data, {_PATH})
      WHEN 'text' THEN CASE
        WHEN length(json_extract(i.data, {_PATH})) > 200
          OR json_extract(i.data, {_PATH}) GLOB '*[^!-@[-~]*' THEN NULL
        ELSE json_extract(i.data, {_PATH}) END
      WHEN 'integer' THEN CASE
        WHEN typeof(json_extract(i.data, {_PATH})) = 'integer'
          THEN CAST(json_extract(i.data, {_PATH}) AS TEXT)
        ELSE NULL END
      WHEN 'true' THEN 'true'
      WHEN 'false' THEN 'false'
      ELSE NULL END END"""
_NAMES_SOMEONE = f"""CASE WHEN json_valid(i.data)
        THEN json_type(i.data, {_PATH}) IN ('text', 'integer', 'real', 'true', 'false')
        ELSE 1 END"""
_KEY_ROWS = f"""INSERT INTO record_keys (item_id, field, workflow_id, key)
    SELECT i.id, f.field, i.workflow_id, {_KEY}
    FROM items i JOIN record_fields f ON f.workflow_id = i.workflow_id"""

KEY_ITEM = text(f"{_KEY_ROWS} WHERE i.id = :b_id AND {_NAMES_SOMEONE}")
"""SQLite: the keys of item ``b_id`` for its workflow's registered pairs (none when it has
none), after :data:`UNKEY_ITEM` when the item had keys."""
UNKEY_ITEM = text("DELETE FROM record_keys WHERE item_id = :b_id")
"""SQLite: forget item ``b_id``'s keys (its data was rewritten)."""
KEY_PAIR = text(
    f"{_KEY_ROWS} WHERE f.workflow_id = :b_workflow AND f.field = :b_field AND {_NAMES_SOMEONE}"
)
"""SQLite: the keys of every item of ``b_workflow`` for the pair just registered."""
HAS_PAIR = exists().where(record_fields.c.workflow_id == items.c.workflow_id).label("keyed")
"""A column of a SELECT of items: whether the item's workflow has a registered pair."""
HAS_PAIR_RETURNED: Any = literal_column(
    "EXISTS (SELECT 1 FROM record_fields WHERE record_fields.workflow_id = items.workflow_id)"
).label("keyed")
"""The same in the RETURNING of an INSERT of an item (SQLAlchemy would render the
subquery's correlation away there)."""
PAIRED_WORKFLOWS = select(record_fields.c.workflow_id).distinct()
"""The workflows with a registered pair."""
