"""indexes of the query API, and the API tokens of host systems (issue 15)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The query API (``Engine.query``, ``GET /v1/items``) pages through items sorted by
creation or update time with a keyset ``(time, id)``: two indexes serve it, a third the
usual "this workflow, newest first", a fourth the open items (queues, assignees) in
order. On PostgreSQL a GIN index (``jsonb_path_ops``) serves equality on data fields
(``data @> {...}``); SQLite has no index over a whole JSON document. ``api_tokens``
holds the tokens of the HTTP API: the SHA-256 of each secret, never the secret.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_created", "items", ["created_at", "id"], unique=False)
    op.create_index("ix_items_updated", "items", ["updated_at", "id"], unique=False)
    op.create_index(
        "ix_items_workflow_created", "items", ["workflow_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_items_open_created", "items", ["closed_at", "created_at", "id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_items_data",
            "items",
            ["data"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"data": "jsonb_path_ops"},
        )
    op.create_table(
        "api_tokens",
        sa.Column("key", sa.String(32), nullable=False, comment="the token's public part"),
        sa.Column(
            "secret_hash", sa.String(64), nullable=False, comment="SHA-256 of the secret, hex"
        ),
        sa.Column(
            "system", sa.String(64), nullable=False, comment="the host system it is bound to"
        ),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=False), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_api_tokens"),
        comment="API tokens of host systems (issue 15): the secret is never stored",
    )
    op.create_index("ix_api_tokens_system", "api_tokens", ["system"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_tokens_system", table_name="api_tokens")
    op.drop_table("api_tokens")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_items_data", table_name="items")
    op.drop_index("ix_items_open_created", table_name="items")
    op.drop_index("ix_items_workflow_created", table_name="items")
    op.drop_index("ix_items_updated", table_name="items")
    op.drop_index("ix_items_created", table_name="items")
