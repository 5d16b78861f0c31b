"""PostgreSQL: a command's history rows, audit records and outbox rows, and the marks of
deliveries, carried by its item's UPDATE (issue 12).

A command appends its history rows and its audit record, queues its side effects (outbox
rows), then writes the item row (its state, version and both chains' anchors). On
PostgreSQL each statement is a round trip to the server; the appends need no answer, and
the outbox rows' ids are needed only after commit (``StoreTx.queue_outbox``), so the SQL
transaction holds them (``SqlTx._held``) and sends them with the item's UPDATE as
data-modifying CTEs of one statement::

    WITH u AS (UPDATE items SET ... WHERE id = :b_id AND version = :b_version
               RETURNING items.id),
         r0 AS (INSERT INTO history (...) SELECT :r0_item_id, ... FROM u RETURNING id),
         r1 AS (INSERT INTO outbox (...) SELECT :r1_item_id, ... FROM u RETURNING id),
         r2 AS (INSERT INTO audit (...) SELECT :r2_at, ... FROM u RETURNING id),
         m0 AS (UPDATE outbox SET delivered_at = :m0_at, ... WHERE id = :m0_id
                AND claimed_by = :m0_runner AND delivered_at IS NULL RETURNING id)
    SELECT count(*) AS n, (SELECT id FROM r1) AS r1_id FROM u

Every INSERT selects from the UPDATE's answer: an UPDATE that matches no row (a stale
version: a lost update) inserts nothing either, and the count tells the caller. The rows
of one table are inserted in the order they were appended: each row's INSERT selects from
the previous row's of the same table (``RETURNING id``), so PostgreSQL must insert that
one first (the audit log's ids keep its chains' order, the outbox's its queue's). The
statement answers the new ids of the tables asked for (the outbox's: the engine delivers
the rows by id after commit).

The marks (``m<k>``, the transaction's :meth:`~cmc_workflow.store.port.StoreTx.
finish_outbox_many` held) do not depend on the UPDATE: they are the transaction's
whatever the item's row did, and each changes only a row still claimed by its runner and
not delivered yet, as the marks' own statement does. The statement's shape (the UPDATE's
keys, the tables and columns of the rows, the number of marks) is built once and kept.

SQLite has no data-modifying CTE: it keeps its statements (this module is not used
there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy import update as sa_update
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import Update

from cmc_workflow.store.tables import items, outbox

__all__ = ["ANSWERED", "MAX_MARKS", "MAX_ROWS", "Shape", "carrying", "marks", "parameters"]

MAX_ROWS = 8
"""At most this many held rows ride on one UPDATE (a command appends one to three and
queues none to two); more are inserted on their own, so that the kept shapes stay few."""

MAX_MARKS = 4
"""At most this many held marks ride on one UPDATE (a command carries the marks of the
notifications delivered since the engine's last write: usually none or one); more are
written on their own (one executemany), so that the kept shapes stay few."""

ANSWERED = frozenset({"outbox"})
"""The tables whose new rows' ids the statement answers (``r<n>_id``)."""

Shape = tuple[int, tuple[str, ...] | None, tuple[tuple[str, tuple[str, ...]], ...], int]
"""What a carrying statement is built from: the UPDATE's identity, the keys it sets (None:
its values are in the statement), per held row its table and columns, and the number of
marks."""

_BUILT: dict[Shape, Select[Any]] = {}


def carrying(
    update: Update,
    keys: Sequence[str] | None,
    rows: Sequence[tuple[Table, Sequence[str]]],
    marks: int = 0,
) -> Select[Any]:
    """The statement that runs ``update`` (of ``items``, setting ``keys`` from binds of
    the same names, or its own values when None), inserts ``rows`` (a table and the
    columns of each row, bound as ``r<n>_<column>``) only if the UPDATE changed the row,
    and marks ``marks`` outbox rows delivered (bound as ``m<k>_id``, ``m<k>_at``,
    ``m<k>_runner``: :func:`marks`) whatever the UPDATE did; it answers ``n``, the rows
    the UPDATE changed, and ``r<n>_id``, the id of each row of the :data:`ANSWERED`
    tables (None when not inserted). The set values are bound as ``u_<key>`` (a bind may
    not take a column's name). Built once per shape."""
    shape: Shape = (
        id(update),
        tuple(keys) if keys is not None else None,
        tuple((table.name, tuple(columns)) for table, columns in rows),
        marks,
    )
    built = _BUILT.get(shape)
    if built is None:
        built = _BUILT[shape] = _built(update, keys, rows, marks)
    return built


def _built(
    update: Update,
    keys: Sequence[str] | None,
    rows: Sequence[tuple[Table, Sequence[str]]],
    marks: int,
) -> Select[Any]:
    if keys is not None:
        update = update.values(
            {key: bindparam(f"u_{key}", type_=items.c[key].type) for key in keys}
        )
    updated = update.returning(items.c.id).cte("u")
    last: dict[str, Any] = {}  # table -> the CTE of its previous row
    inserts = []
    answers = []
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
        if table.name in ANSWERED:
            answers.append(select(row.c.id).scalar_subquery().label(f"r{n}_id"))
    for k in range(marks):
        inserts.append(
            sa_update(outbox)
            .where(
                outbox.c.id == bindparam(f"m{k}_id", type_=outbox.c.id.type),
                outbox.c.claimed_by == bindparam(f"m{k}_runner", type_=outbox.c.claimed_by.type),
                outbox.c.delivered_at.is_(None),
            )
            .values(
                delivered_at=bindparam(f"m{k}_at", type_=outbox.c.delivered_at.type),
                claimed_until=None,
                attempts=outbox.c.attempts + 1,
            )
            .returning(outbox.c.id)
            .cte(f"m{k}")
        )
    counted = select(func.count().label("n"), *answers).select_from(updated)
    return counted.add_cte(*inserts)


def parameters(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The held rows' values under their binds' names (``r<n>_<column>``)."""
    return {f"r{n}_{column}": value for n, row in enumerate(rows) for column, value in row.items()}


def marks(held: Sequence[tuple[int, dt.datetime, str]]) -> dict[str, Any]:
    """The held marks (outbox id, delivered at, runner) under their binds' names."""
    values: dict[str, Any] = {}
    for k, (outbox_id, at, runner) in enumerate(held):
        values[f"m{k}_id"], values[f"m{k}_at"], values[f"m{k}_runner"] = outbox_id, at, runner
    return values
