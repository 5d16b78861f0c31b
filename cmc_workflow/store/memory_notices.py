"""Notifications to people (issue 14, part 4) over the memory tables, as
:class:`~cmc_workflow.store.port.StoreTx` documents them
(:class:`~cmc_workflow.store.memory.MemoryTx` inherits them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import NewNotice, NoticeAttemptRow, NoticeRow, values_of

TABLES = ("notices", "notice_attempts")
"""The memory tables of this module (the store creates them with the others)."""


class MemoryNoticeQueries:
    """The notices' operations on the memory tables."""

    _t: dict[str, Table]

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        raise NotImplementedError  # MemoryTx's

    def insert_notices(self, rows: Sequence[NewNotice]) -> int:
        keys = {r["key"] for r in self._t["notices"].rows.values()}
        added = 0
        for row in rows:
            if row.key in keys:
                continue
            keys.add(row.key)
            values = values_of(row)
            values.update(claimed_by=None, claim_until=None, sent_at=None, last_error=None)
            self._insert("notices", values)
            added += 1
        return added

    def claim_notices(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[NoticeRow]:
        table = self._t["notices"]
        due = sorted(
            (
                r
                for r in table.rows.values()
                if r["status"] == "pending"
                and r["available_at"] <= now
                and (r["claim_until"] is None or r["claim_until"] < now)
            ),
            key=lambda r: (r["available_at"], r["id"]),
        )[:limit]
        for r in due:
            table.update(r["id"], claimed_by=runner, claim_until=now + lease)
        return [row_as(NoticeRow, table.rows[r["id"]]) for r in due]

    def record_notice_attempt(
        self,
        notice_id: int,
        at: dt.datetime,
        result: str,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        table = self._t["notices"]
        row = table.rows.get(notice_id)
        if row is None:
            return
        values: dict[str, Any] = {
            "attempts": row["attempts"] + 1,
            "claimed_by": None,
            "claim_until": None,
            "last_error": error[:4000] if error else None,
        }
        if result == "sent":
            values.update(status="sent", sent_at=at)
        elif result == "dead":
            values.update(status="dead")
        else:
            values.update(available_at=retry_at or at)
        table.update(notice_id, **values)
        self._insert(
            "notice_attempts",
            {
                "notice_id": notice_id,
                "at": at,
                "transport": row["transport"],
                "result": result,
                "error": error[:4000] if error else None,
            },
        )

    def notices(self, item_id: int | None = None) -> list[NoticeRow]:
        rows = self._t["notices"].rows
        return [
            row_as(NoticeRow, rows[k])
            for k in sorted(rows)
            if item_id is None or rows[k]["item_id"] == item_id
        ]

    def notice_attempts(self, notice_id: int) -> list[NoticeAttemptRow]:
        rows = self._t["notice_attempts"].rows
        return [
            row_as(NoticeAttemptRow, rows[k])
            for k in sorted(rows)
            if rows[k]["notice_id"] == notice_id
        ]
