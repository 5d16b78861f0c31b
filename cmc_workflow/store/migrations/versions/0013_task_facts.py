"""the task guard's copy of each item's assignment in its facts (issue 12)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02

Every fire on a user task asked ``task_assignments`` whether someone else held the task:
one read per fire (8 of a publishing lifecycle's 95 statements). The task operations now
write the assignment's state, visit and assignee into ``items.facts`` (key ``task``) in
the same UPDATE as the item, and the guard judges by the facts read with the item. This
copies the assignments made before into the facts of their items; ``task_assignments``
stays the home the queues and inboxes are queried from. No column changes.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEY = "task"  # cmc_workflow.tasks.guard.FACTS_KEY, as of this revision

_items = sa.table(
    "items",
    sa.column("id", sa.BigInteger()),
    sa.column("facts", sa.JSON().with_variant(JSONB(), "postgresql")),
)
_assignments = sa.table(
    "task_assignments",
    sa.column("item_id", sa.BigInteger()),
    sa.column("state", sa.String()),
    sa.column("visit", sa.Integer()),
    sa.column("assignee", sa.String()),
)


def _rewrite(facts_of: Any) -> None:
    """Write each item's facts as ``facts_of(facts, assignment)`` gives them."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _items.c.id,
            _items.c.facts,
            _assignments.c.state,
            _assignments.c.visit,
            _assignments.c.assignee,
        )
        .select_from(_assignments.join(_items, _items.c.id == _assignments.c.item_id))
        .order_by(_items.c.id)
    ).all()
    update = sa.update(_items).where(_items.c.id == sa.bindparam("b_id"))
    changed = [{"b_id": row.id, "facts": facts_of(dict(row.facts or {}), row)} for row in rows]
    if changed:
        conn.execute(update.values(facts=sa.bindparam("facts")), changed)


def _with(facts: dict[str, Any], row: Any) -> dict[str, Any]:
    return {**facts, _KEY: {"state": row.state, "visit": row.visit, "assignee": row.assignee}}


def _without(facts: dict[str, Any], _row: Any) -> dict[str, Any] | None:
    facts.pop(_KEY, None)
    return facts or None


def upgrade() -> None:
    _rewrite(_with)


def downgrade() -> None:
    _rewrite(_without)
