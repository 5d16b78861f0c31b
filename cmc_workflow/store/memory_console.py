"""The web console's passwords and sessions over the memory tables, as
:class:`~cmc_workflow.store.port.StoreTx` documents them
(:class:`~cmc_workflow.store.memory.MemoryTx` inherits them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cmc_workflow.errors import ConflictError
from cmc_workflow.i18n import tr
from cmc_workflow.store.memory_tables import Table, row_as
from cmc_workflow.store.port import ConsolePasswordRow, ConsoleSessionRow, values_of

TABLES = ("console_passwords", "console_sessions")
"""The memory tables of this module (the store creates them with the others)."""


class MemoryConsoleQueries:
    """Console password and session operations on the memory tables."""

    _t: dict[str, Table]

    def _require(self, table: str, key: Any, what: str) -> None:
        raise NotImplementedError  # MemoryTx's

    def set_console_password(self, row: ConsolePasswordRow) -> None:
        self._require("staff_people", row.person_id, "person")
        table = self._t["console_passwords"]
        if row.person_id in table.rows:
            table.delete(row.person_id)
        table.insert(row.person_id, values_of(row))

    def console_password(self, person_id: str) -> ConsolePasswordRow | None:
        row = self._t["console_passwords"].rows.get(person_id)
        return None if row is None else row_as(ConsolePasswordRow, row)

    def insert_console_session(self, row: ConsoleSessionRow) -> None:
        table = self._t["console_sessions"]
        if row.key in table.rows:
            raise ConflictError(tr("a console session with this key exists"))
        table.insert(row.key, values_of(row))

    def console_session(self, key: str) -> ConsoleSessionRow | None:
        row = self._t["console_sessions"].rows.get(key)
        return None if row is None else row_as(ConsoleSessionRow, row)

    def end_console_sessions(
        self, now: dt.datetime, *, key: str | None = None, person_id: str | None = None
    ) -> int:
        if key is None and person_id is None:
            raise ValueError("end_console_sessions needs a key or a person_id")
        table = self._t["console_sessions"]
        ended = 0
        for k, row in list(table.rows.items()):
            if row["ended_at"] is not None:
                continue
            if (key is None or k == key) and (person_id is None or row["person_id"] == person_id):
                table.update(k, ended_at=now)
                ended += 1
        return ended
