"""What a backup holds, counted: items per workflow and state, history rows, audit records,
and every chain's anchor (its last position and hash).

The census is taken in the same snapshot as the copy (the copy itself for SQLite, the
snapshot ``pg_dump`` is given for PostgreSQL) and written into the manifest; ``backup
verify`` takes it again on the restored copy and names every difference. The audit
verification (:mod:`cmc_workflow.store.verification`) proves each chain whole; the
anchors in the manifest also catch the one rewrite it cannot: a chain re-hashed together
with its anchor after the backup was taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection

from cmc_workflow.store.tables import audit, audit_heads, history, items


@dataclass(frozen=True, slots=True)
class Census:
    """Counts and anchors of one snapshot of a database."""

    items: dict[str, dict[str, int]] = field(default_factory=dict)
    """workflow -> state -> how many items rest there."""
    history_rows: int = 0
    audit_records: int = 0
    audit_heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Every audit chain's anchor: chain -> (position, hash); the manifest writes each
    as ``position:hash`` with the hash's first :data:`ANCHOR_HEX` digits."""
    history_heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Every item's history anchor: ``item:<id>`` -> (rows, hash of the last)."""
    workflows: dict[str, str] = field(default_factory=dict)
    """``item:<id>`` -> its workflow, to name the item of a finding."""
    schema: str | None = None
    """The schema revision (Alembic) of the snapshot."""

    @property
    def item_count(self) -> int:
        """How many items in all."""
        return sum(n for states in self.items.values() for n in states.values())

    def as_json(self) -> dict[str, Any]:
        """The census as the manifest stores it."""
        return {
            "items": self.items,
            "item_count": self.item_count,
            "history_rows": self.history_rows,
            "audit_records": self.audit_records,
            "audit_chains": len(self.audit_heads),
            "audit_heads": {c: _written(a) for c, a in sorted(self.audit_heads.items())},
            "history_heads": {c: _written(a) for c, a in sorted(self.history_heads.items())},
            "workflows": dict(sorted(self.workflows.items())),
            "schema": self.schema,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Census:
        """The census a manifest stored (:meth:`as_json`)."""
        return cls(
            items={
                w: {s: int(n) for s, n in states.items()} for w, states in data["items"].items()
            },
            history_rows=int(data["history_rows"]),
            audit_records=int(data["audit_records"]),
            audit_heads={c: _head(v) for c, v in data["audit_heads"].items()},
            history_heads={c: _head(v) for c, v in data["history_heads"].items()},
            workflows={str(k): str(v) for k, v in data.get("workflows", {}).items()},
            schema=data.get("schema"),
        )


ANCHOR_HEX = 16
"""Hex digits of each anchor's hash the manifest keeps: 64 bits, as hard to forge a chain
for as the whole hash in practice, and a manifest of 20,000 items half the size."""


def anchor_key(anchor: tuple[int, str] | None) -> tuple[int, str] | None:
    """What is compared of an anchor: its position and the kept digits of its hash."""
    return None if anchor is None else (anchor[0], anchor[1][:ANCHOR_HEX])


def _written(anchor: tuple[int, str]) -> str:
    return f"{anchor[0]}:{anchor[1][:ANCHOR_HEX]}"


def _head(value: str) -> tuple[int, str]:
    """A chain's anchor as the manifest writes it, ``position:hash``."""
    seq, _, digest = str(value).partition(":")
    return int(seq), digest


def take_census(conn: Connection) -> Census:
    """Count and anchor everything ``conn`` sees (run it inside one snapshot)."""
    counted: dict[str, dict[str, int]] = {}
    rows = conn.execute(
        select(items.c.workflow_id, items.c.state, func.count().label("n")).group_by(
            items.c.workflow_id, items.c.state
        )
    )
    for r in rows:
        counted.setdefault(r.workflow_id, {})[r.state] = int(r.n)
    audit_anchors = {
        r.chain: (int(r.chain_seq), str(r.hash))
        for r in conn.execute(
            select(audit_heads.c.chain, audit_heads.c.chain_seq, audit_heads.c.hash)
        )
    }
    history_anchors: dict[str, tuple[int, str]] = {}
    workflows: dict[str, str] = {}
    query = select(
        items.c.id,
        items.c.workflow_id,
        items.c.seq,
        items.c.history_head,
        items.c.audit_seq,
        items.c.audit_head,
    )
    for r in conn.execute(query, execution_options={"stream_results": True, "yield_per": 5000}):
        chain = f"item:{r.id}"
        workflows[chain] = r.workflow_id
        history_anchors[chain] = (int(r.seq), str(r.history_head))
        if r.audit_seq is not None and r.audit_head is not None:
            audit_anchors[chain] = (int(r.audit_seq), str(r.audit_head))
    history_rows = conn.execute(select(func.count()).select_from(history)).scalar_one()
    audit_records = conn.execute(select(func.count()).select_from(audit)).scalar_one()
    revision = None
    if inspect(conn).has_table("alembic_version"):
        revision = conn.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()
    return Census(
        schema=None if revision is None else str(revision),
        items={w: dict(sorted(s.items())) for w, s in sorted(counted.items())},
        history_rows=int(history_rows),
        audit_records=int(audit_records),
        audit_heads=audit_anchors,
        history_heads=history_anchors,
        workflows=workflows,
    )
