"""history rows in a hash chain per item, anchored on the item; a head row per audit chain

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Chains the history rows that already exist (each item's rows in ``seq`` order, the first
on 64 zeros), sets every item's ``history_head`` to its last row's hash, and writes one
``audit_heads`` row per existing audit chain (its last record), so that a database
upgraded from 0004 verifies clean. The hash is computed by a frozen copy of
``cmc_workflow.store.audit.history_hash``: a migration must not change with the code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
_FIELDS = (
    "item_id",
    "seq",
    "at",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "visit",
    "actor",
    "roles",
    "form",
)
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TYPES: dict[str, Any] = {"at": sa.DateTime(), "roles": _JSON, "form": _JSON}
_history = sa.table(
    "history",
    sa.column("id", sa.BigInteger()),
    *(sa.column(name, _TYPES.get(name)) for name in _FIELDS),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_items = sa.table("items", sa.column("id", sa.BigInteger()), sa.column("history_head", sa.String()))
_BATCH = 2000


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dict | list | tuple):
        return json.loads(json.dumps(value, ensure_ascii=False))
    return value


def _hash(prev_hash: str, row: Any) -> str:
    body = {name: _canonical(row[name]) for name in _FIELDS}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def _chain_existing_history(conn: sa.Connection) -> None:
    """Chain every item's rows, a batch of items at a time (memory stays bounded)."""
    set_row = (
        sa.update(_history)
        .where(_history.c.id == sa.bindparam("b_id"))
        .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
    )
    set_head = (
        sa.update(_items)
        .where(_items.c.id == sa.bindparam("b_id"))
        .values(history_head=sa.bindparam("b_head"))
    )
    after = None
    while True:
        query = sa.select(_items.c.id).order_by(_items.c.id).limit(_BATCH)
        if after is not None:
            query = query.where(_items.c.id > after)
        item_ids = list(conn.execute(query).scalars())
        if not item_ids:
            return
        after = item_ids[-1]
        rows = conn.execute(
            sa.select(_history)
            .where(_history.c.item_id.in_(item_ids))
            .order_by(_history.c.item_id, _history.c.seq, _history.c.id)
        ).mappings()
        chained: list[dict[str, Any]] = []
        heads: dict[int, str] = {}
        for row in rows:
            prev = heads.get(row["item_id"], GENESIS)
            heads[row["item_id"]] = digest = _hash(prev, row)
            chained.append({"b_id": row["id"], "b_prev": prev, "b_hash": digest})
        if chained:
            conn.execute(set_row, chained)
        if heads:
            conn.execute(set_head, [{"b_id": i, "b_head": h} for i, h in heads.items()])


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "history_head",
                sa.String(length=64),
                nullable=True,
                comment="hash of the item's last history row (the anchor of its history chain)",
            )
        )
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "prev_hash",
                sa.String(length=64),
                nullable=True,
                comment="hash of the item's previous row",
            )
        )
        batch_op.add_column(
            sa.Column(
                "hash",
                sa.String(length=64),
                nullable=True,
                comment="SHA-256 over prev_hash and the row",
            )
        )
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=100), nullable=False),
        sa.Column(
            "chain_seq",
            sa.Integer(),
            nullable=False,
            comment="position of the chain's last record",
        ),
        sa.Column(
            "hash", sa.String(length=64), nullable=False, comment="hash of the chain's last record"
        ),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_heads")),
        comment="one row per audit chain: its last record, written with it (the chain's anchor)",
    )
    conn = op.get_bind()
    _chain_existing_history(conn)
    conn.execute(
        sa.text(
            "INSERT INTO audit_heads (chain, chain_seq, hash) "
            "SELECT a.chain, a.chain_seq, a.hash FROM audit a "
            "JOIN (SELECT chain, max(chain_seq) AS last FROM audit "
            "WHERE chain IS NOT NULL AND hash IS NOT NULL GROUP BY chain) m "
            "ON a.chain = m.chain AND a.chain_seq = m.last"
        )
    )


def downgrade() -> None:
    op.drop_table("audit_heads")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    # not in batch mode: on SQLite, batch re-creates ``items``, which the foreign keys of
    # history, timers and clocks forbid; SQLite (3.35 and later) drops the column itself
    op.drop_column("items", "history_head")
