"""the web console's passwords and sessions (issue 15, part 5)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02

A person of the staff register signs in to the console with a password an administrator
sets (``cmc-workflow console password``): ``console_passwords`` keeps its scrypt hash,
never the password. A sign-in opens a session: ``console_sessions`` keeps the SHA-256 of
the cookie's secret (never the cookie), the CSRF token its forms carry, when it expires
and when it was ended (signed out, or the password changed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cmc_workflow.store.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_passwords",
        sa.Column(
            "person_id",
            sa.String(128),
            sa.ForeignKey("staff_people.person_id"),
            primary_key=True,
            comment="a person of the staff register",
        ),
        sa.Column(
            "password_hash", sa.String(300), nullable=False, comment="scrypt$n$r$p$salt$hash"
        ),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        comment="console passwords (issue 15): an scrypt hash, never the password",
    )
    op.create_table(
        "console_sessions",
        sa.Column("key", sa.String(64), primary_key=True, comment="SHA-256 of the cookie's secret"),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False, comment="the token every form carries"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        comment="signed-in console sessions (issue 15): the cookie is never stored",
    )
    op.create_index("ix_console_sessions_person", "console_sessions", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_person", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_passwords")
