"""Task assignment and leave cover (STF-5) over the memory tables, as
:class:`~cmc_workflow.store.port.StoreTx` documents them
(:class:`~cmc_workflow.store.memory.MemoryTx` inherits them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import AssignmentRow, LeaveRow, NewLeave, values_of

TABLES = ("task_assignments", "staff_leaves")
"""The memory tables of this module (the store creates them with the others)."""


class MemoryTaskQueries:
    """Assignment and leave operations on the memory tables."""

    _t: dict[str, Table]

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        raise NotImplementedError  # MemoryTx's

    def _require(self, table: str, key: Any, what: str) -> None:
        raise NotImplementedError  # MemoryTx's

    def assignment(self, item_id: int) -> AssignmentRow | None:
        row = self._t["task_assignments"].rows.get(item_id)
        return row_as(AssignmentRow, row) if row is not None else None

    def assignments(self, item_ids: Sequence[int]) -> dict[int, AssignmentRow]:
        rows = self._t["task_assignments"].rows
        return {i: row_as(AssignmentRow, rows[i]) for i in item_ids if i in rows}

    def set_assignment(self, row: AssignmentRow) -> None:
        self._require("items", row.item_id, "item")
        table = self._t["task_assignments"]
        if row.item_id in table.rows:
            table.delete(row.item_id)
        table.insert(row.item_id, values_of(row))

    def assigned_to(self, person_id: str) -> list[AssignmentRow]:
        rows = self._t["task_assignments"].rows
        return [
            row_as(AssignmentRow, rows[key])
            for key in sorted(rows)
            if rows[key]["assignee"] == person_id
        ]

    def insert_leave(self, row: NewLeave) -> int:
        self._require("staff_people", row.person_id, "person")
        return self._insert("staff_leaves", {**values_of(row), "covered_at": None})

    def leaves(self, person_id: str | None = None) -> list[LeaveRow]:
        rows = self._t["staff_leaves"].rows
        return [
            row_as(LeaveRow, rows[key])
            for key in sorted(rows)
            if person_id is None or rows[key]["person_id"] == person_id
        ]

    def leaves_due(self, on: dt.date) -> list[LeaveRow]:
        return [
            leave
            for leave in self.leaves()
            if leave.starts_on <= on <= leave.ends_on and leave.covered_at is None
        ]

    def mark_leave_covered(self, leave_id: int, at: dt.datetime) -> bool:
        row = self._t["staff_leaves"].rows.get(leave_id)
        if row is None or row["covered_at"] is not None:
            return False
        self._t["staff_leaves"].update(leave_id, covered_at=at)
        return True
