"""notifications to people: one delivery row per recipient per transport, each attempt
recorded (issue 14, part 4)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A notification of the outbox (a new task, an SLA warning or breach, a fault) fans out into
``notices``, one per recipient and transport, under a unique key so that a notification
delivered twice by the outbox (at least once) writes each notice once. Each attempt to send
a notice is a ``notice_attempts`` row (time, transport, result, error); a notice that
failed N times is ``dead`` (the dead letter) and is not tried again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from cmc_workflow.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column(
            "key", sa.String(300), nullable=False, comment="source key + recipient + transport"
        ),
        sa.Column(
            "item_id", _BIG_ID, nullable=True, comment="the item it is about (none for a test)"
        ),
        sa.Column(
            "event", sa.String(32), nullable=False, comment="task, warn, breach, fault, notify"
        ),
        sa.Column("role", sa.String(64), nullable=True, comment="the role it was addressed to"),
        sa.Column(
            "person_id", sa.String(128), nullable=True, comment="the register person, if any"
        ),
        sa.Column("transport", sa.String(64), nullable=False, comment="a transport of the config"),
        sa.Column(
            "address", sa.String(400), nullable=False, comment="where the transport sends it"
        ),
        sa.Column(
            "payload",
            sa.JSON().with_variant(JSONB(), "postgresql"),
            nullable=False,
            comment="what the templates render",
        ),
        sa.Column("status", sa.String(16), nullable=False, comment="pending, sent, dead"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False, comment="not sent before"),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claim_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("key", name="uq_notices_key"),
        comment="one delivery per recipient per transport of a notification (at least once)",
    )
    op.create_index("ix_notices_due", "notices", ["status", "available_at"])
    op.create_index("ix_notices_item", "notices", ["item_id"])
    op.create_table(
        "notice_attempts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", _BIG_ID, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("transport", sa.String(64), nullable=False),
        sa.Column("result", sa.String(16), nullable=False, comment="sent, failed, dead"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_attempts_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_attempts")),
        comment="each attempt to deliver a notice: time, transport, result, error",
    )
    op.create_index("ix_notice_attempts_notice", "notice_attempts", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_attempts_notice", table_name="notice_attempts")
    op.drop_table("notice_attempts")
    op.drop_index("ix_notices_item", table_name="notices")
    op.drop_index("ix_notices_due", table_name="notices")
    op.drop_table("notices")
