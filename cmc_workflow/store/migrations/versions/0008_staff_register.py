"""the staff register: people, their posts, and the staffing alerts open (issue 14)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

STF-1: a person per row (contact addresses, education, years of experience), their posts
(a role in a scope, with start and end dates), and STF-3's open staffing gaps (one alert
item per gap while it stays open; the primary key keeps two runners from raising it
twice). Identity (SEC-6) reads a person's posts by ``ix_staff_posts_person``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from cmc_workflow.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_people",
        sa.Column(
            "person_id", sa.String(128), nullable=False, comment="the person's actor id, normal"
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("employee_no", sa.String(64), nullable=True, comment="工号"),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("mobile", sa.String(32), nullable=True),
        sa.Column("wecom", sa.String(64), nullable=True, comment="WeCom (企业微信) user id"),
        sa.Column("dingtalk", sa.String(64), nullable=True, comment="DingTalk (钉钉) user id"),
        sa.Column("education", sa.String(16), nullable=True, comment="highest education level"),
        sa.Column(
            "experience_years", sa.Float(), nullable=True, comment="years of relevant experience"
        ),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_staff_people")),
        comment="the staff register: one row per person (STF-1)",
    )
    op.create_table(
        "staff_posts",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column(
            "post", sa.String(64), nullable=False, comment="the post's id in the posts catalogue"
        ),
        sa.Column("role", sa.String(64), nullable=False, comment="the role the post holds"),
        sa.Column(
            "scope",
            sa.JSON().with_variant(JSONB(), "postgresql"),
            nullable=False,
            comment="channels, applications, branch",
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True, comment="last day held (None: open-ended)"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["staff_people.person_id"],
            name=op.f("fk_staff_posts_person_id_staff_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_posts")),
        comment="posts of the register's people: a role in a scope, with start and end",
    )
    op.create_index("ix_staff_posts_person", "staff_posts", ["person_id"])
    op.create_index("ix_staff_posts_role", "staff_posts", ["role"])
    op.create_table(
        "staffing_alerts",
        sa.Column(
            "gap", sa.String(200), nullable=False, comment="e.g. account:fslib-wechat:ops_manager"
        ),
        sa.Column("item_id", _BIG_ID, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_staffing_alerts_item_id_items")
        ),
        sa.PrimaryKeyConstraint("gap", name=op.f("pk_staffing_alerts")),
        comment="the staffing gaps an alert item is open for (STF-3): one alert per open gap",
    )


def downgrade() -> None:
    op.drop_table("staffing_alerts")
    op.drop_index("ix_staff_posts_role", table_name="staff_posts")
    op.drop_index("ix_staff_posts_person", table_name="staff_posts")
    op.drop_table("staff_posts")
    op.drop_table("staff_people")
