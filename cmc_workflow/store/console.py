"""The web console's passwords and sessions in SQL (SQLite and PostgreSQL), as
:class:`~cmc_workflow.store.port.StoreTx` documents them (:class:`~cmc_workflow.store.
repository.SqlTx` inherits them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cmc_workflow.errors import ConflictError
from cmc_workflow.i18n import tr
from cmc_workflow.store.port import ConsolePasswordRow, ConsoleSessionRow, values_of
from cmc_workflow.store.tables import console_passwords, console_sessions

_PASSWORD = tuple(console_passwords.c[name] for name in ConsolePasswordRow.__slots__)
_SESSION = tuple(console_sessions.c[name] for name in ConsoleSessionRow.__slots__)


class ConsoleQueries:
    """Console password and session statements on the transaction's connection."""

    _conn: Connection

    def set_console_password(self, row: ConsolePasswordRow) -> None:
        # one row per person: replace it (the write transaction holds the lock)
        self._conn.execute(
            delete(console_passwords).where(console_passwords.c.person_id == row.person_id)
        )
        self._conn.execute(insert(console_passwords), values_of(row))

    def console_password(self, person_id: str) -> ConsolePasswordRow | None:
        row = self._conn.execute(
            select(*_PASSWORD).where(console_passwords.c.person_id == person_id)
        ).first()
        return None if row is None else ConsolePasswordRow(**row._mapping)

    def insert_console_session(self, row: ConsoleSessionRow) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(console_sessions), values_of(row))
        except IntegrityError as exc:
            raise ConflictError(tr("a console session with this key exists")) from exc

    def console_session(self, key: str) -> ConsoleSessionRow | None:
        row = self._conn.execute(select(*_SESSION).where(console_sessions.c.key == key)).first()
        return None if row is None else ConsoleSessionRow(**row._mapping)

    def end_console_sessions(
        self, now: dt.datetime, *, key: str | None = None, person_id: str | None = None
    ) -> int:
        if key is None and person_id is None:
            raise ValueError("end_console_sessions needs a key or a person_id")
        statement = update(console_sessions).where(console_sessions.c.ended_at.is_(None))
        if key is not None:
            statement = statement.where(console_sessions.c.key == key)
        if person_id is not None:
            statement = statement.where(console_sessions.c.person_id == person_id)
        return int(self._conn.execute(statement.values(ended_at=now)).rowcount or 0)
