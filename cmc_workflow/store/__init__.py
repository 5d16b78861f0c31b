"""Durable state: the port (typed rows, protocols), the SQL store (SQLite and PostgreSQL)
and the in-memory store (:class:`MemoryStore`).

The port (:mod:`cmc_workflow.store.port`) imports no SQLAlchemy; the SQL classes
(:class:`Store`, :class:`Tx`) load it on first access, so importing the rows from here
stays cheap for the domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.port import (
    DefinitionRow,
    ItemRow,
    OutboxRow,
    StorePort,
    StoreTx,
)

if TYPE_CHECKING:
    from cmc_workflow.store.repository import SqlStore, SqlTx, Store, Tx

__all__ = [
    "DefinitionRow",
    "ItemRow",
    "MemoryStore",
    "OutboxRow",
    "SqlStore",
    "SqlTx",
    "Store",
    "StorePort",
    "StoreTx",
    "Tx",
]

_SQL = frozenset({"Store", "SqlStore", "SqlTx", "Tx"})


def __getattr__(name: str) -> Any:
    if name in _SQL:
        from cmc_workflow.store import repository

        return getattr(repository, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
