"""The staff register (STF-1), its identity lookup (SEC-6) and the open staffing alerts
(STF-3) over the memory tables, as :class:`~cmc_workflow.store.port.StoreTx` documents
them (:class:`~cmc_workflow.store.memory.MemoryTx` inherits them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cmc_workflow.errors import ConflictError
from cmc_workflow.i18n import tr
from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import (
    PERSON_COLUMNS,
    NewPost,
    PersonRow,
    PostRow,
    checked_columns,
    values_of,
)

TABLES = ("staff_people", "staff_posts", "staffing_alerts")
"""The memory tables of this module (the store creates them with the others)."""


class MemoryStaffQueries:
    """The register's operations on the memory tables."""

    _t: dict[str, Table]

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        raise NotImplementedError  # MemoryTx's

    def _require(self, table: str, key: Any, what: str) -> None:
        raise NotImplementedError  # MemoryTx's

    def insert_person(self, row: PersonRow) -> None:
        people = self._t["staff_people"]
        if row.person_id in people.rows:
            raise ConflictError(
                tr("a concurrent command won the race: person {person_id}", person_id=row.person_id)
            )
        people.insert(row.person_id, values_of(row))

    def update_person(self, person_id: str, values: Mapping[str, Any]) -> None:
        checked_columns(values, PERSON_COLUMNS, "a person")
        if values and person_id in self._t["staff_people"].rows:
            self._t["staff_people"].update(person_id, **values)

    def person(self, person_id: str) -> PersonRow | None:
        row = self._t["staff_people"].rows.get(person_id)
        return row_as(PersonRow, row) if row is not None else None

    def people(self) -> list[PersonRow]:
        rows = self._t["staff_people"].rows
        return [row_as(PersonRow, rows[key]) for key in sorted(rows)]

    def has_people(self) -> bool:
        return bool(self._t["staff_people"].rows)

    def insert_post(self, row: NewPost) -> int:
        self._require("staff_people", row.person_id, "person")
        return self._insert("staff_posts", values_of(row))

    def end_post(self, post_id: int, ends_on: dt.date) -> bool:
        if post_id not in self._t["staff_posts"].rows:
            return False
        self._t["staff_posts"].update(post_id, ends_on=ends_on)
        return True

    def posts(self, person_id: str | None = None) -> list[PostRow]:
        rows = self._t["staff_posts"].rows
        return [
            row_as(PostRow, rows[key])
            for key in sorted(rows)
            if person_id is None or rows[key]["person_id"] == person_id
        ]

    def holders(self, role: str, on: dt.date) -> list[PostRow]:
        return [p for p in self.posts() if p.role == role and p.active_on(on)]

    def identity_posts(self, person_id: str) -> list[PostRow] | None:
        if person_id not in self._t["staff_people"].rows:
            return None
        return self.posts(person_id)

    def staffing_alerts(self) -> dict[str, int]:
        return {gap: row["item_id"] for gap, row in self._t["staffing_alerts"].rows.items()}

    def insert_staffing_alert(self, gap: str, item_id: int, at: dt.datetime) -> None:
        alerts = self._t["staffing_alerts"]
        if gap in alerts.rows:
            raise ConflictError(
                tr("a concurrent command won the race: staffing alert {gap}", gap=gap)
            )
        self._require("items", item_id, "item")
        alerts.insert(gap, {"gap": gap, "item_id": item_id, "opened_at": at})

    def delete_staffing_alert(self, gap: str) -> None:
        if gap in self._t["staffing_alerts"].rows:
            self._t["staffing_alerts"].delete(gap)
