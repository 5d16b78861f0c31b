"""task operations: who holds each user task, and leave with its cover (issue 14, part 3)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

``task_assignments`` gives assignment one home: one row per item, fenced by the state
visit it was claimed in (an item that moved on is back in the next state's queue without
a write). ``staff_leaves`` holds STF-5's leave with dates and the named substitute;
``covered_at`` marks the leave whose open work the runner's pass has moved.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cmc_workflow.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "task_assignments",
        sa.Column("item_id", _BIG_ID, nullable=False),
        sa.Column("state", sa.String(64), nullable=False, comment="the userTask state claimed in"),
        sa.Column(
            "visit", sa.Integer(), nullable=False, comment="the state visit (fences a stale claim)"
        ),
        sa.Column(
            "assignee", sa.String(128), nullable=True, comment="the person; None: in the queue"
        ),
        sa.Column("delegated_by", sa.String(128), nullable=True, comment="who may take it back"),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_task_assignments_item_id_items")
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_task_assignments")),
        comment="who holds each item's user task now (claim, delegate, reassign, leave cover)",
    )
    op.create_index("ix_task_assignments_assignee", "task_assignments", ["assignee"])
    op.create_table(
        "staff_leaves",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False, comment="last day of leave (inclusive)"),
        sa.Column("substitute", sa.String(128), nullable=True, comment="named cover (代班人)"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column(
            "covered_at", UTCDateTime(), nullable=True, comment="when the open work was moved"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["staff_people.person_id"],
            name=op.f("fk_staff_leaves_person_id_staff_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_leaves")),
        comment="leave of the register's people with dates and cover (STF-5)",
    )
    op.create_index("ix_staff_leaves_starts", "staff_leaves", ["starts_on"])


def downgrade() -> None:
    op.drop_index("ix_staff_leaves_starts", table_name="staff_leaves")
    op.drop_table("staff_leaves")
    op.drop_index("ix_task_assignments_assignee", table_name="task_assignments")
    op.drop_table("task_assignments")
