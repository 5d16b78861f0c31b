"""outbound webhooks for host systems: subscriptions, deliveries, attempts (issue 15, part 4)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

A host system subscribes to events (item created, transitioned, SLA warning, SLA breach),
filtered by workflow and type. Each event is written as one ``webhook_deliveries`` row per
matching subscription in the transaction of the command (or timer) that caused it, under a
unique ``(subscription_id, event_id)``; each attempt to POST it is a ``webhook_attempts``
row (time, result, HTTP status, error).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from cmc_workflow.store.tables import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False, comment="where events are POSTed"),
        sa.Column("events", _JSON, nullable=False, comment="event types received; []: all"),
        sa.Column("workflows", _JSON, nullable=False, comment="workflows received; []: all"),
        sa.Column(
            "secret", sa.String(200), nullable=False, comment="the signing secret's stored form"
        ),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        comment="host systems' webhook subscriptions (issue 15)",
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", _BIG_ID, nullable=False),
        sa.Column(
            "event_id", sa.String(64), nullable=False, comment="the host's de-duplication key"
        ),
        sa.Column(
            "event", sa.String(32), nullable=False, comment="item.created, item.transitioned, ..."
        ),
        sa.Column("item_id", _BIG_ID, nullable=True),
        sa.Column("payload", _JSON, nullable=False, comment="the JSON body sent"),
        sa.Column(
            "status", sa.String(16), nullable=False, comment="pending, sent, dead, cancelled"
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False, comment="not sent before"),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claim_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
        comment="one event to one subscription, written in the command's transaction",
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "available_at"])
    op.create_index(
        "ix_webhook_deliveries_order",
        "webhook_deliveries",
        ["subscription_id", "item_id", "status"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", _BIG_ID, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False, comment="sent, failed, dead"),
        sa.Column("status_code", sa.Integer(), nullable=True, comment="the host's HTTP status"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        comment="each attempt to deliver a webhook: time, result, HTTP status, error",
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_order", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
