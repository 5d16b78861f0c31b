"""Durable state: tables, migrations and the repository (SQLite and PostgreSQL)."""

from cmc_workflow.store.repository import DefinitionRow, ItemRow, OutboxRow, Store, Tx

__all__ = ["DefinitionRow", "ItemRow", "OutboxRow", "Store", "Tx"]
