"""record keys kept by the store on SQLite: 0015's triggers dropped there (issue 12, round 7)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

0015's AFTER INSERT and AFTER UPDATE triggers on ``items`` kept the ``record_keys`` rows;
on SQLite their mere presence cost every item write of every workflow 6–10 µs, a trigger
that never fires (``WHEN 0``) 6–8 µs of it. From this revision the store writes an item's
keys itself on SQLite, with the triggers' SQL, after each write of an item of a workflow
with a registered pair (``store/records.py``). The keys already written stay as they are
(the same SQL wrote them). PostgreSQL keeps its trigger: nothing changes there.

The downgrade creates the SQLite triggers again (0015's own statements); the keys the
store wrote meanwhile are those the triggers would have written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS record_keys_update")
        op.execute("DROP TRIGGER IF EXISTS record_keys_insert")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _revision_0015()._SQLITE:
            op.execute(statement)


def _revision_0015() -> ModuleType:
    """0015's module, for its trigger statements (the one text of them)."""
    path = Path(__file__).with_name("0015_record_keys.py")
    spec = importlib.util.spec_from_file_location("_cmc_migration_0015", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
