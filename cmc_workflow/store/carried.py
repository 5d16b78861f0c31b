"""PostgreSQL: a command's history rows and audit records carried by its item's UPDATE
(issue 12).

A command appends its history rows and its audit record, then writes the item row (its
state, version and both chains' anchors). On PostgreSQL each statement is a round trip to
the server; the appends need no answer, so the SQL transaction holds them
(``SqlTx._held``) and sends them with the item's UPDATE as data-modifying CTEs of one
statement::

    WITH u AS (UPDATE items SET ... WHERE id = :b_id AND version = :b_version
               RETURNING items.id),
         r0 AS (INSERT INTO history (...) SELECT :r0_item_id, ... FROM u RETURNING id),
         r1 AS (INSERT INTO audit (...) SELECT :r1_at, ... FROM u RETURNING id)
    SELECT count(*) AS n FROM u

Every INSERT selects from the UPDATE's answer: an UPDATE that matches no row (a stale
version: a lost update) inserts nothing either, and the count tells the caller. The rows
of one table are inserted in the order they were appended: each row's INSERT selects from
the previous row's of the same table (``RETURNING id``), so PostgreSQL must insert that
one first (the audit log's ids keep its chains' order). The statement's shape (the
UPDATE's keys, the tables and columns of the rows) is built once and kept.

SQLite has no data-modifying CTE: it keeps its statements (this module is not used
there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Update

from cmc_workflow.store.tables import items

__all__ = ["MAX_ROWS", "Shape", "carrying", "parameters"]

MAX_ROWS = 8
"""At most this many held rows ride on one UPDATE (a command appends one to three); more
are inserted on their own, so that the kept shapes stay few."""

Shape = tuple[int, tuple[str, ...] | None, tuple[tuple[str, tuple[str, ...]], ...]]
"""What a carrying statement is built from: the UPDATE's identity, the keys it sets (None:
its values are in the statement) and, per held row, its table and columns."""

_BUILT: dict[Shape, Select[Any]] = {}


def carrying(
    update: Update,
    keys: Sequence[str] | None,
    rows: Sequence[tuple[Table, Sequence[str]]],
) -> Select[Any]:
    """The statement that runs ``update`` (of ``items``, setting ``keys`` from binds of
    the same names, or its own values when None) and inserts ``rows`` (a table and the
    columns of each row, bound as ``r<n>_<column>``) only if the UPDATE changed the row;
    it answers ``n``, the rows the UPDATE changed. The set values are bound as
    ``u_<key>`` (a bind may not take a column's name). Built once per shape."""
    shape: Shape = (
        id(update),
        tuple(keys) if keys is not None else None,
        tuple((table.name, tuple(columns)) for table, columns in rows),
    )
    built = _BUILT.get(shape)
    if built is None:
        built = _BUILT[shape] = _built(update, keys, rows)
    return built


def _built(
    update: Update,
    keys: Sequence[str] | None,
    rows: Sequence[tuple[Table, Sequence[str]]],
) -> Select[Any]:
    if keys is not None:
        update = update.values(
            {key: bindparam(f"u_{key}", type_=items.c[key].type) for key in keys}
        )
    updated = update.returning(items.c.id).cte("u")
    last: dict[str, Any] = {}  # table -> the CTE of its previous row
    inserts = []
    for n, (table, columns) in enumerate(rows):
        values = [bindparam(f"r{n}_{c}", type_=table.c[c].type) for c in columns]
        source = last.get(table.name, updated)
        row = (
            insert(table)
            .from_select(list(columns), select(*values).select_from(source))
            .returning(table.c.id)
            .cte(f"r{n}")
        )
        last[table.name] = row
        inserts.append(row)
    return select(func.count().label("n")).select_from(updated).add_cte(*inserts)


def parameters(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The held rows' values under their binds' names (``r<n>_<column>``)."""
    return {f"r{n}_{column}": value for n, row in enumerate(rows) for column, value in row.items()}
