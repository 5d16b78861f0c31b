"""Durable state: the port (typed rows, protocols), the SQL store (SQLite and PostgreSQL)
and the in-memory store (:class:`MemoryStore`).

The port (:mod:`cmc_workflow.store.port`) imports no SQLAlchemy; the stores load on
first access (the SQL classes :class:`Store`, :class:`Tx` with SQLAlchemy, and
:class:`MemoryStore`), so importing the rows from here stays cheap for the domain and an
engine on a database does not load the in-memory store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmc_workflow._exports import lazy as _lazy
from cmc_workflow.store.port import (
    DefinitionRow,
    ItemRow,
    OutboxRow,
    StorePort,
    StoreTx,
)

if TYPE_CHECKING:
    from cmc_workflow.store.memory import MemoryStore
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

_HOMES = {
    "MemoryStore": "cmc_workflow.store.memory",
    "SqlStore": "cmc_workflow.store.repository",
    "SqlTx": "cmc_workflow.store.repository",
    "Store": "cmc_workflow.store.repository",
    "Tx": "cmc_workflow.store.repository",
}
"""The module each store class lives in (imported on first access)."""

__getattr__ = _lazy(globals(), _HOMES)
