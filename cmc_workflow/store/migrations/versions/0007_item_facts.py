"""what extensions keep about an item (the policy's summary of its history) on its row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Separation-of-duties and required-stages rules read an item's whole history on every
command they judge, so a command grew with the item's age (4.6x at 1,000 history rows).
They now keep a small summary (who took which step in the round, how far the stages are)
in ``items.facts``, written with the item row by each command (docs/policies.md). Existing
items start without one (NULL): the first command on each folds it from the history once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "facts",
                sa.JSON().with_variant(JSONB(), "postgresql"),
                nullable=True,
                comment="what extensions keep about the item: the policy's summary of its history",
            )
        )


def downgrade() -> None:
    # not in batch mode: on SQLite, batch re-creates ``items``, which the foreign keys of
    # history, timers and clocks forbid; SQLite (3.35 and later) drops the column itself
    op.drop_column("items", "facts")
