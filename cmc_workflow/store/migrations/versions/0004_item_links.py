"""index the parent link of items (starts:, children_closed)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_parent", "items", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_items_parent", table_name="items")
