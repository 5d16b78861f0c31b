"""time: SLA clocks, durable timers, schedule occurrences and runners (issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

The due-timer poll reads ``ix_timers_due`` (status, due_at), so its cost does not grow
with the number of pending timers; ``uq_schedule_runs_occurrence`` makes each schedule
occurrence exist once across any number of daemons.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cmc_workflow.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runners",
        sa.Column("runner", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("runner", name=op.f("pk_runners")),
    )
    op.create_table(
        "schedule_cursors",
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column(
            "since",
            cmc_workflow.store.tables.UTCDateTime(),
            nullable=False,
            comment="first seen: nothing before is due",
        ),
        sa.Column(
            "last_due",
            cmc_workflow.store.tables.UTCDateTime(),
            nullable=True,
            comment="latest occurrence handled",
        ),
        sa.Column("updated_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_schedule_cursors")),
    )
    op.create_table(
        "clocks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.String(length=64),
            nullable=False,
            comment="the state whose deadline this is",
        ),
        sa.Column(
            "at_state",
            sa.String(length=64),
            nullable=False,
            comment="where the item is while it runs",
        ),
        sa.Column(
            "visit", sa.Integer(), nullable=False, comment="the item's visit there (timer fence)"
        ),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="running, paused or stopped"
        ),
        sa.Column("within", sa.String(length=64), nullable=False),
        sa.Column("started_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column(
            "due_at",
            cmc_workflow.store.tables.UTCDateTime(),
            nullable=False,
            comment="moved on by pauses",
        ),
        sa.Column(
            "warn_at",
            cmc_workflow.store.tables.UTCDateTime(),
            nullable=True,
            comment="first warning step, if any",
        ),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("calendar_version", sa.String(length=32), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("paused_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column("stopped_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column("warned_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column("breached_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column(
            "outcome", sa.String(length=16), nullable=True, comment="met or breached, once stopped"
        ),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_clocks_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clocks")),
    )
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.create_index("ix_clocks_item", ["item_id", "status"], unique=False)
        batch_op.create_index("ix_clocks_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "schedule_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column(
            "due_at",
            cmc_workflow.store.tables.UTCDateTime(),
            nullable=False,
            comment="the occurrence's nominal time",
        ),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="claimed, started, missed or failed",
        ),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("runner", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column("created_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column("finished_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_schedule_runs_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_occurrence"),
    )
    with op.batch_alter_table("schedule_runs", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_runs_status", ["status", "claimed_until"], unique=False)

    op.create_table(
        "timers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("clock_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "state",
            sa.String(length=64),
            nullable=False,
            comment="fence: fires only while the item",
        ),
        sa.Column("visit", sa.Integer(), nullable=False, comment="is still in this state visit"),
        sa.Column(
            "step",
            sa.Integer(),
            nullable=False,
            comment="index in the deadline ladder, -1 implicit",
        ),
        sa.Column(
            "action",
            sa.String(length=16),
            nullable=False,
            comment="warn, escalate, breach, fire, notify",
        ),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("trigger", sa.String(length=64), nullable=True),
        sa.Column("due_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="pending, paused, fired, cancelled, stale or failed",
        ),
        sa.Column("created_at", cmc_workflow.store.tables.UTCDateTime(), nullable=False),
        sa.Column("done_at", cmc_workflow.store.tables.UTCDateTime(), nullable=True),
        sa.Column(
            "runner", sa.String(length=128), nullable=True, comment="the runner that fired it"
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clock_id"], ["clocks.id"], name=op.f("fk_timers_clock_id_clocks")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_timers_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_clock", ["clock_id", "status"], unique=False)
        batch_op.create_index("ix_timers_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_timers_item", ["item_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_item")
        batch_op.drop_index("ix_timers_due")
        batch_op.drop_index("ix_timers_clock")

    op.drop_table("timers")
    with op.batch_alter_table("schedule_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_runs_status")

    op.drop_table("schedule_runs")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_clocks_status_due")
        batch_op.drop_index("ix_clocks_item")

    op.drop_table("clocks")
    op.drop_table("schedule_cursors")
    op.drop_table("runners")
