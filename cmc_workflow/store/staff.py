"""The SQL of the staff register (STF-1), its identity lookup (SEC-6) and the open
staffing alerts (STF-3), as methods of the SQL transaction
(:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each does what
:class:`~cmc_workflow.store.port.StoreTx` documents.

Identity's lookup is the hot one (once per command when a register is the identity
source): one statement, the person's row left-joined to their posts through
``ix_staff_posts_person``, compiled once and cached by SQLAlchemy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from cmc_workflow.store.fast import Statements
from cmc_workflow.store.port import (
    PERSON_COLUMNS,
    NewPost,
    PersonRow,
    PostRow,
    checked_columns,
    values_of,
)
from cmc_workflow.store.tables import staff_people, staff_posts, staffing_alerts

_POST_COLUMNS = tuple(staff_posts.c[name] for name in PostRow.__slots__)
_PERSON_COLUMNS = tuple(staff_people.c[name] for name in PersonRow.__slots__)
_IDENTITY = (
    select(staff_people.c.person_id.label("who"), *_POST_COLUMNS)
    .select_from(
        staff_people.outerjoin(staff_posts, staff_posts.c.person_id == staff_people.c.person_id)
    )
    .where(staff_people.c.person_id == bindparam("b_person"))
    .order_by(staff_posts.c.id)
)

_ANYBODY = select(staff_people.c.person_id).limit(1)
"""Whether the register holds anybody: built once (the notifications ask each command)."""


class StaffQueries:
    """The register's statements on the transaction's connection."""

    _conn: Connection
    _fast: Statements | None

    def insert_person(self, row: PersonRow) -> None:
        self._conn.execute(insert(staff_people), values_of(row))

    def update_person(self, person_id: str, values: Mapping[str, Any]) -> None:
        checked_columns(values, PERSON_COLUMNS, "a person")
        if values:
            self._conn.execute(
                update(staff_people)
                .where(staff_people.c.person_id == person_id)
                .values(**dict(values))
            )

    def person(self, person_id: str) -> PersonRow | None:
        row = self._conn.execute(
            select(*_PERSON_COLUMNS).where(staff_people.c.person_id == person_id)
        ).first()
        return PersonRow(**row._mapping) if row is not None else None

    def people(self) -> list[PersonRow]:
        rows = self._conn.execute(select(*_PERSON_COLUMNS).order_by(staff_people.c.person_id))
        return [PersonRow(**r._mapping) for r in rows]

    def has_people(self) -> bool:
        if self._fast is not None:
            return self._fast(_ANYBODY).first(self._conn, {}) is not None
        return self._conn.execute(_ANYBODY).first() is not None

    def insert_post(self, row: NewPost) -> int:
        result = self._conn.execute(insert(staff_posts).returning(staff_posts.c.id), values_of(row))
        return int(result.scalar_one())

    def end_post(self, post_id: int, ends_on: dt.date) -> bool:
        result = self._conn.execute(
            update(staff_posts).where(staff_posts.c.id == post_id).values(ends_on=ends_on)
        )
        return result.rowcount > 0

    def posts(self, person_id: str | None = None) -> list[PostRow]:
        query = select(*_POST_COLUMNS).order_by(staff_posts.c.id)
        if person_id is not None:
            query = query.where(staff_posts.c.person_id == person_id)
        return [PostRow(**r._mapping) for r in self._conn.execute(query)]

    def holders(self, role: str, on: dt.date) -> list[PostRow]:
        query = (
            select(*_POST_COLUMNS)
            .where(
                and_(
                    staff_posts.c.role == role,
                    staff_posts.c.starts_on <= on,
                    or_(staff_posts.c.ends_on.is_(None), staff_posts.c.ends_on >= on),
                )
            )
            .order_by(staff_posts.c.id)
        )
        return [PostRow(**r._mapping) for r in self._conn.execute(query)]

    def identity_posts(self, person_id: str) -> list[PostRow] | None:
        """On the driver's cursor when the fast path is on (store/fast.py): this runs
        once per command while a register is the identity source."""
        params = {"b_person": person_id}
        if self._fast is not None:
            found = self._fast(_IDENTITY).rows(self._conn, params)
        else:
            found = [dict(r._mapping) for r in self._conn.execute(_IDENTITY, params)]
        if not found:
            return None
        return [
            PostRow(**{name: r[name] for name in PostRow.__slots__})
            for r in found
            if r["id"] is not None
        ]

    def staffing_alerts(self) -> dict[str, int]:
        rows = self._conn.execute(select(staffing_alerts.c.gap, staffing_alerts.c.item_id))
        return {r.gap: r.item_id for r in rows}

    def insert_staffing_alert(self, gap: str, item_id: int, at: dt.datetime) -> None:
        self._conn.execute(
            insert(staffing_alerts), {"gap": gap, "item_id": item_id, "opened_at": at}
        )

    def delete_staffing_alert(self, gap: str) -> None:
        self._conn.execute(delete(staffing_alerts).where(staffing_alerts.c.gap == gap))
