"""audit hash-chain columns (SEC-2)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "chain",
                sa.String(length=100),
                nullable=True,
                comment="hash chain this record belongs to",
            )
        )
        batch_op.add_column(
            sa.Column(
                "chain_seq", sa.Integer(), nullable=True, comment="position in its chain, from 1"
            )
        )
        batch_op.add_column(
            sa.Column(
                "prev_hash",
                sa.String(length=64),
                nullable=True,
                comment="hash of the previous record",
            )
        )
        batch_op.add_column(
            sa.Column(
                "hash",
                sa.String(length=64),
                nullable=True,
                comment="SHA-256 over prev_hash and the record",
            )
        )
        batch_op.create_unique_constraint("uq_audit_chain_seq", ["chain", "chain_seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_chain_seq", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("chain")
