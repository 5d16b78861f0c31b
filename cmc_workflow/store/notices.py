"""The SQL of notifications to people (issue 14, part 4): notices, one per recipient and
transport, and their attempts, as methods of the SQL transaction
(:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each does what
:class:`~cmc_workflow.store.port.StoreTx` documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection

from cmc_workflow.store.database import insert_of
from cmc_workflow.store.fast import Statements
from cmc_workflow.store.port import NewNotice, NoticeAttemptRow, NoticeRow, values_of
from cmc_workflow.store.tables import notice_attempts, notices

_NOTICE_COLUMNS = tuple(notices.c[name] for name in NoticeRow.__slots__)
_ATTEMPT_COLUMNS = tuple(notice_attempts.c[name] for name in NoticeAttemptRow.__slots__)


_INSERT_NOTICE: dict[bool, Any] = {}
"""The prebuilt INSERT of a notice that skips a key already there, per dialect (SQLite:
True), made on first use (the PostgreSQL dialect is imported only on PostgreSQL)."""


class NoticeQueries:
    """The notices' statements on the transaction's connection."""

    _conn: Connection
    _fast: Statements | None
    sqlite: bool

    def insert_notices(self, rows: Sequence[NewNotice]) -> int:
        if not rows:
            return 0
        if self._fast is not None:
            # the driver's executemany of the prebuilt statement; its count leaves out
            # the rows skipped as duplicates
            statement = _INSERT_NOTICE.get(self.sqlite)
            if statement is None:
                statement = insert_of(self.sqlite, notices).on_conflict_do_nothing(
                    index_elements=["key"]
                )
                _INSERT_NOTICE[self.sqlite] = statement
            values = [values_of(row) for row in rows]
            prepared = self._fast(statement, list(values[0]))
            if len(values) == 1:
                return prepared.count(self._conn, values[0])
            return prepared.run_many(self._conn, values)
        statement = (
            insert_of(self.sqlite, notices)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(notices.c.id)
        )
        # one statement for all of them (SQLAlchemy's "insertmanyvalues": a multi-row
        # INSERT); a row skipped as a duplicate returns no id
        values = [values_of(row) for row in rows]
        return len(self._conn.execute(statement, values if len(values) > 1 else values[0]).all())

    def claim_notices(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[NoticeRow]:
        due = (
            select(*_NOTICE_COLUMNS)
            .where(
                and_(
                    notices.c.status == "pending",
                    notices.c.available_at <= now,
                    or_(notices.c.claim_until.is_(None), notices.c.claim_until < now),
                )
            )
            .order_by(notices.c.available_at, notices.c.id)
            .limit(limit)
        )
        if not self.sqlite:  # SQLite's writers are serialized by BEGIN IMMEDIATE
            due = due.with_for_update(skip_locked=True)
        rows = [NoticeRow(**r._mapping) for r in self._conn.execute(due)]
        if rows:
            self._conn.execute(
                update(notices)
                .where(notices.c.id.in_([r.id for r in rows]))
                .values(claimed_by=runner, claim_until=now + lease)
            )
        return rows

    def record_notice_attempt(
        self,
        notice_id: int,
        at: dt.datetime,
        result: str,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        row = self._conn.execute(
            select(notices.c.transport, notices.c.attempts).where(notices.c.id == notice_id)
        ).first()
        if row is None:
            return
        values: dict[str, object] = {
            "attempts": row.attempts + 1,
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
        self._conn.execute(update(notices).where(notices.c.id == notice_id).values(**values))
        self._conn.execute(
            insert(notice_attempts),
            {
                "notice_id": notice_id,
                "at": at,
                "transport": row.transport,
                "result": result,
                "error": error[:4000] if error else None,
            },
        )

    def notices(self, item_id: int | None = None) -> list[NoticeRow]:
        query = select(*_NOTICE_COLUMNS).order_by(notices.c.id)
        if item_id is not None:
            query = query.where(notices.c.item_id == item_id)
        return [NoticeRow(**r._mapping) for r in self._conn.execute(query)]

    def notice_attempts(self, notice_id: int) -> list[NoticeAttemptRow]:
        query = (
            select(*_ATTEMPT_COLUMNS)
            .where(notice_attempts.c.notice_id == notice_id)
            .order_by(notice_attempts.c.id)
        )
        return [NoticeAttemptRow(**r._mapping) for r in self._conn.execute(query)]
