"""the anchor of an item's audit chain moves onto the item row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Every command on an item appends to the item's audit chain and moves the chain's anchor.
With the anchor in ``audit_heads`` that cost a read of the head row and an UPDATE of it
(plus, on PostgreSQL, an advisory lock on the chain) per command; on the item row, which
the command reads and writes anyway under its row lock, the anchor costs nothing more
(docs/performance.md, issue 12). ``audit_heads`` keeps the chains that name no item (an
actor's refused starts). The heads of existing item chains move over as they are, so a
database upgraded from 0005 verifies clean, and back on downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ITEM_CHAINS = "chain LIKE 'item:%'"


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "audit_seq",
                sa.Integer(),
                nullable=True,
                comment="position of the last record of the item's audit chain (its anchor)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "audit_head",
                sa.String(length=64),
                nullable=True,
                comment="hash of the last record of the item's audit chain (its anchor)",
            )
        )
    conn = op.get_bind()
    # the chain of item N is named 'item:N'; the id part is compared as text, which both
    # databases can do without a cast that the other rejects
    for column, source in (("audit_seq", "chain_seq"), ("audit_head", "hash")):
        conn.execute(
            sa.text(
                f"UPDATE items SET {column} = (SELECT h.{source} FROM audit_heads h "
                "WHERE h.chain = 'item:' || CAST(items.id AS VARCHAR(40)))"
            )
        )
    conn.execute(sa.text(f"DELETE FROM audit_heads WHERE {_ITEM_CHAINS}"))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "INSERT INTO audit_heads (chain, chain_seq, hash) "
            "SELECT 'item:' || CAST(id AS VARCHAR(40)), audit_seq, audit_head FROM items "
            "WHERE audit_seq IS NOT NULL AND audit_head IS NOT NULL"
        )
    )
    # not in batch mode: on SQLite, batch re-creates ``items``, which the foreign keys of
    # history, timers and clocks forbid; SQLite (3.35 and later) drops the column itself
    op.drop_column("items", "audit_head")
    op.drop_column("items", "audit_seq")
