"""The read queries of the operational report (``cmc-workflow report``, RPT-1).

Each function runs inside a read transaction the caller opened with
:meth:`~cmc_workflow.store.Store.read` (or on an engine's store), like the functions of
:mod:`cmc_workflow.store.timers`. They return plain rows; counting, bucketing by month in
the business time zone and the statistics are domain work, done in
:mod:`cmc_workflow.reports`.

Periods are half-open, ``since <= t < until``; either bound may be None (open-ended).
JSON fields are read as text the same way on SQLite (``JSON_EXTRACT``) and PostgreSQL
(``->>``), as :meth:`~cmc_workflow.store.Tx.records` does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.engine import Connection

from cmc_workflow.store.port import (
    RUNNING,
    STOPPED,
    FirstReplyRow,
    OverdueRow,
    PublicationRow,
    RecordRow,
    SlaClockRow,
    StateCountRow,
    StepRow,
)
from cmc_workflow.store.tables import clocks, history, items

__all__ = [
    "RUNNING",
    "STOPPED",
    "FirstReplyRow",
    "OverdueRow",
    "PublicationRow",
    "RecordRow",
    "ReportQueries",
    "SlaClockRow",
    "StateCountRow",
    "StepRow",
]


def _within(
    column: Any, since: dt.datetime | None, until: dt.datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


def _aware(value: dt.datetime) -> dt.datetime:
    """An aggregate of a time column (``min``) keeps the column's type, which makes it
    aware UTC; this only guards a driver that would hand back a naive value."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class ReportQueries:
    """The read queries of the report, as methods of the SQL transaction
    (:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each does what
    :class:`~cmc_workflow.store.port.StoreTx` documents."""

    _conn: Connection
    sqlite: bool

    def state_counts(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StateCountRow]:
        closed = items.c.closed_at.is_not(None)
        query = (
            select(
                items.c.workflow_id,
                items.c.state,
                func.sum(case((closed, 0), else_=1)).label("open"),
                func.sum(case((closed, 1), else_=0)).label("closed"),
                func.max(items.c.definition_id).label("definition_id"),
            )
            .where(*_within(items.c.created_at, since, until))
            .group_by(items.c.workflow_id, items.c.state)
            .order_by(items.c.workflow_id, items.c.state)
        )
        return [
            StateCountRow(r.workflow_id, r.state, int(r.open), int(r.closed), int(r.definition_id))
            for r in self._conn.execute(query).all()
        ]

    def sla_clocks(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[SlaClockRow]:
        reference = func.coalesce(clocks.c.stopped_at, clocks.c.due_at)
        query = select(
            clocks.c.workflow_id,
            clocks.c.status,
            clocks.c.outcome,
            clocks.c.due_at,
            clocks.c.breached_at,
            clocks.c.stopped_at,
        ).where(*_within(reference, since, until))
        return [SlaClockRow(**r._mapping) for r in self._conn.execute(query).all()]

    def first_replies(
        self,
        workflow_id: str,
        triggers: Sequence[str],
        category_field: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        received_field: str | None = None,
    ) -> list[FirstReplyRow]:
        first = (
            select(history.c.item_id, func.min(history.c.at).label("first_at"))
            .where(history.c.trigger.in_(list(triggers)))
            .group_by(history.c.item_id)
            .subquery()
        )
        query = (
            select(
                items.c.id,
                items.c.created_at,
                items.c.closed_at,
                items.c.data[category_field].as_string().label("category"),
                items.c.data[received_field or category_field].as_string().label("received"),
                first.c.first_at,
            )
            .select_from(items.outerjoin(first, first.c.item_id == items.c.id))
            .where(items.c.workflow_id == workflow_id, *_within(items.c.created_at, since, until))
            .order_by(items.c.id)
        )
        return [
            FirstReplyRow(
                item_id=r.id,
                created_at=r.created_at,
                closed=r.closed_at is not None,
                category=r.category,
                first_reply_at=_utc(r.first_at),
                received=r.received if received_field else None,
            )
            for r in self._conn.execute(query).all()
        ]

    def overdue_items(self, now: dt.datetime) -> list[OverdueRow]:
        query = (
            select(
                items.c.id.label("item_id"),
                items.c.workflow_id,
                items.c.definition_id,
                items.c.state.label("item_state"),
                items.c.data,
                clocks.c.state.label("clock_state"),
                clocks.c.due_at,
            )
            .select_from(clocks.join(items, items.c.id == clocks.c.item_id))
            .where(
                items.c.closed_at.is_(None),
                clocks.c.status != STOPPED,
                or_(
                    clocks.c.breached_at.is_not(None),
                    and_(clocks.c.status == RUNNING, clocks.c.due_at < now),
                ),
            )
            .order_by(clocks.c.due_at, items.c.id)
        )
        return [OverdueRow(**r._mapping) for r in self._conn.execute(query).all()]

    def first_entries(
        self,
        workflow_id: str,
        state: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[PublicationRow]:
        first = (
            select(history.c.item_id, func.min(history.c.at).label("first_at"))
            .select_from(history.join(items, items.c.id == history.c.item_id))
            .where(items.c.workflow_id == workflow_id, history.c.to_state == state)
            .group_by(history.c.item_id)
            .subquery()
        )
        query = (
            select(items.c.id, items.c.data, first.c.first_at)
            .select_from(first.join(items, items.c.id == first.c.item_id))
            .where(*_within(first.c.first_at, since, until))
            .order_by(first.c.first_at, items.c.id)
        )
        return [
            PublicationRow(item_id=r.id, published_at=_aware(r.first_at), data=dict(r.data))
            for r in self._conn.execute(query).all()
        ]

    def workflow_records(self, workflow_id: str) -> list[RecordRow]:
        query = (
            select(items.c.id, items.c.state, items.c.data)
            .where(items.c.workflow_id == workflow_id)
            .order_by(items.c.id)
        )
        return [RecordRow(r.id, r.state, dict(r.data)) for r in self._conn.execute(query).all()]

    def steps_taken(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StepRow]:
        stopped = clocks.alias("stopped")
        query = (
            select(
                history.c.actor,
                history.c.roles,
                items.c.workflow_id,
                history.c.item_id,
                history.c.at,
                stopped.c.outcome,
            )
            .select_from(
                history.join(items, items.c.id == history.c.item_id).outerjoin(
                    stopped,
                    and_(
                        stopped.c.item_id == history.c.item_id,
                        stopped.c.state == history.c.from_state,
                        stopped.c.stopped_at == history.c.at,
                    ),
                )
            )
            .where(history.c.kind.in_(("start", "fire")), *_within(history.c.at, since, until))
            .order_by(history.c.at, history.c.id)
        )
        return [
            StepRow(r.actor, tuple(r.roles), r.workflow_id, r.item_id, _aware(r.at), r.outcome)
            for r in self._conn.execute(query).all()
        ]
