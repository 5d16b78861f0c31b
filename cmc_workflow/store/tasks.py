"""The SQL of task assignment and leave cover (STF-5), as methods of the SQL transaction
(:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each does what
:class:`~cmc_workflow.store.port.StoreTx` documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from cmc_workflow.store.port import AssignmentRow, LeaveRow, NewLeave, values_of
from cmc_workflow.store.tables import staff_leaves, task_assignments

_ASSIGNMENT = tuple(task_assignments.c[name] for name in AssignmentRow.__slots__)
_LEAVE = tuple(staff_leaves.c[name] for name in LeaveRow.__slots__)


class TaskQueries:
    """Assignment and leave statements on the transaction's connection."""

    _conn: Connection

    def assignment(self, item_id: int) -> AssignmentRow | None:
        row = self._conn.execute(
            select(*_ASSIGNMENT).where(task_assignments.c.item_id == item_id)
        ).first()
        return AssignmentRow(**row._mapping) if row is not None else None

    def assignments(self, item_ids: Sequence[int]) -> dict[int, AssignmentRow]:
        found: dict[int, AssignmentRow] = {}
        ids = list(item_ids)
        for start in range(0, len(ids), 500):  # within every driver's parameter limit
            rows = self._conn.execute(
                select(*_ASSIGNMENT).where(task_assignments.c.item_id.in_(ids[start : start + 500]))
            )
            found.update({r.item_id: AssignmentRow(**r._mapping) for r in rows})
        return found

    def set_assignment(self, row: AssignmentRow) -> None:
        # the item row is locked by the command: delete-then-insert cannot race
        self._conn.execute(
            delete(task_assignments).where(task_assignments.c.item_id == row.item_id)
        )
        self._conn.execute(insert(task_assignments), values_of(row))

    def assigned_to(self, person_id: str) -> list[AssignmentRow]:
        rows = self._conn.execute(
            select(*_ASSIGNMENT)
            .where(task_assignments.c.assignee == person_id)
            .order_by(task_assignments.c.item_id)
        )
        return [AssignmentRow(**r._mapping) for r in rows]

    def insert_leave(self, row: NewLeave) -> int:
        result = self._conn.execute(
            insert(staff_leaves).returning(staff_leaves.c.id), values_of(row)
        )
        return int(result.scalar_one())

    def leaves(self, person_id: str | None = None) -> list[LeaveRow]:
        query = select(*_LEAVE).order_by(staff_leaves.c.id)
        if person_id is not None:
            query = query.where(staff_leaves.c.person_id == person_id)
        return [LeaveRow(**r._mapping) for r in self._conn.execute(query)]

    def leaves_due(self, on: dt.date) -> list[LeaveRow]:
        query = (
            select(*_LEAVE)
            .where(
                and_(
                    staff_leaves.c.starts_on <= on,
                    staff_leaves.c.ends_on >= on,
                    staff_leaves.c.covered_at.is_(None),
                )
            )
            .order_by(staff_leaves.c.id)
        )
        return [LeaveRow(**r._mapping) for r in self._conn.execute(query)]

    def mark_leave_covered(self, leave_id: int, at: dt.datetime) -> bool:
        result = self._conn.execute(
            update(staff_leaves)
            .where(and_(staff_leaves.c.id == leave_id, staff_leaves.c.covered_at.is_(None)))
            .values(covered_at=at)
        )
        return result.rowcount > 0
