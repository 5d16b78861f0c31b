"""History rows and audit records written by every store (issue 12, round 3): each JSON
column is encoded once, as the canonical JSON its row's hash covers, and shared by the
hash and the INSERT. The hashes must be those of the code before (chains written before
still verify), and the columns must read back as they did (``json.dumps`` on the way in,
as a JSON column encoded them before): for unicode, quotes and control characters,
nested data, tuples, integer keys, large integers, floats and None."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from cmc_workflow.store import StorePort
from cmc_workflow.store.chain import GENESIS, canonical_json
from cmc_workflow.store.port import AuditRecord, HistoryEntry
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import JSONText, JSONType
from tests.contract.test_store_contract import seeded
from tests.helpers import chain_before

AT = dt.datetime(2026, 12, 2, 22, 5, 6, 789, tzinfo=dt.timezone(dt.timedelta(hours=8)))

# (form or detail, roles) of each row
VALUES: list[tuple[dict[Any, Any], Any]] = [
    ({}, []),
    ({"note": "审核通过 ✓ — ok", "quote": 'he said "ok"\\n', "tab": "a\tb"}, ["编辑", "desk"]),
    (
        {"z": {"b": [1, 2.5, None, True, False], "a": {"deep": ["x", {"y": None}]}}, "t": (1, "2")},
        ["lead", "editor", "reviewer"],
    ),
    ({"m": {1: "one", 2: "two"}, "big": 2**63 - 1, "small": -(2**63), "f": 1e-7}, ("tuple",)),
    ({"emoji": "😀", "empty": {}, "list": [], "none": None}, ["a b", 'q"uote']),
]


def test_history_rows_hash_as_before_and_read_back_as_before(store: StorePort) -> None:
    _, item_id = seeded(store)
    given = [
        HistoryEntry(
            item_id=item_id,
            seq=n,
            at=AT + dt.timedelta(seconds=n),
            kind="fire",
            trigger=None if n == 2 else f"触发{n}",
            from_state="草稿",
            to_state="review",
            visit=n,
            actor="王",
            roles=roles,
            form=form,
        )
        for n, (form, roles) in enumerate(VALUES, start=1)
    ]
    with store.write() as tx:
        tx.insert_history(given[:2])
    with store.write() as tx:
        tx.insert_history(given[2:])
    with store.read() as tx:
        rows = tx.history(item_id)
        verified = tx.verify_audit() if hasattr(tx, "verify_audit") else None
    prev = GENESIS
    for entry, row in zip(given, rows, strict=True):
        assert row["form"] == chain_before.column(entry.form)
        assert row["roles"] == chain_before.column(entry.roles)
        assert row["prev_hash"] == prev
        prev = chain_before.history_hash(prev, _fields(entry))
        assert row["hash"] == prev
        # the row as read back hashes the same (what `audit verify` does)
        assert chain_before.history_hash(row["prev_hash"], row) == row["hash"]
    assert _content_findings(verified) == []


def test_audit_records_hash_as_before_and_read_back_as_before(store: StorePort) -> None:
    _, item_id = seeded(store)
    given = [
        AuditRecord(
            at=AT,
            actor="王" if n % 2 else "wang",
            roles=roles,
            command="fire",
            workflow_id="wf",
            item_id=item_id if n != 3 else None,  # one record on the actor's chain
            trigger=f"触发{n}",
            outcome="accepted" if n % 2 else "refused",
            rule=None if n % 2 else "R-1",
            reason=None if n % 2 else '不行 "no"',
            detail=detail,
        )
        for n, (detail, roles) in enumerate(VALUES, start=1)
    ]
    with store.write() as tx:
        for record in given[:3]:
            tx.insert_audit(record)
    with store.write() as tx:
        for record in given[3:]:
            tx.insert_audit(record)
    with store.read() as tx:
        written = list(tx.audit_records())
        verified = tx.verify_audit() if hasattr(tx, "verify_audit") else None
    assert len(written) == len(given)
    heads: dict[str, str] = {}
    for record, row in zip(given, written, strict=True):
        assert row["detail"] == chain_before.column(record.detail)
        assert row["roles"] == chain_before.column(record.roles)
        assert row["prev_hash"] == heads.get(row["chain"], GENESIS)
        given_values = {**_fields(record), "chain": row["chain"]}
        assert row["hash"] == chain_before.record_hash(row["prev_hash"], given_values)
        assert chain_before.record_hash(row["prev_hash"], row) == row["hash"]  # as verified
        heads[row["chain"]] = row["hash"]
    assert _content_findings(verified) == []


def _content_findings(verified: Any) -> list[Any]:
    """What ``audit verify`` finds wrong with the rows' content (their hashes); the rows
    here are made up, so the cross-checks of items, history and log are not asked."""
    if verified is None:  # the memory store does not verify
        return []
    return [f for f in verified.findings if f.table in ("history", "audit") and f.kind == "edited"]


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


def test_a_json_column_stores_the_text_its_row_hashed(sqlite_url: str) -> None:
    """The sharing itself (SQLite keeps the text as written): the columns hold the
    canonical JSON the hash covered, not a second encoding of the values."""
    form, roles = VALUES[2]
    store = SqlStore.open(sqlite_url)
    try:
        _, item_id = seeded(store)
        with store.write() as tx:
            tx.insert_history([_entry(item_id, form, roles)])
            tx.insert_audit(_record(item_id, form, roles))
        with store.engine.connect() as conn:
            stored = conn.execute(
                text("SELECT form, roles FROM history WHERE item_id = :i"), {"i": item_id}
            ).one()
            audited = conn.execute(
                text("SELECT detail, roles FROM audit WHERE item_id = :i"), {"i": item_id}
            ).one()
    finally:
        store.close()
    assert tuple(stored) == (canonical_json(form), canonical_json(roles))
    assert tuple(audited) == (canonical_json(form), canonical_json(roles))


def test_json_text_is_bound_as_it_is_and_other_values_as_before() -> None:
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.dialects.postgresql import psycopg

    lite = sqlite.dialect()
    process = JSONType.dialect_impl(lite).bind_processor(lite)
    assert process is not None
    assert process(JSONText('{"a":"é"}')) == '{"a":"é"}'
    assert process({"a": "é"}) == '{"a": "\\u00e9"}'
    pg = psycopg.dialect()
    process = JSONType.dialect_impl(pg).bind_processor(pg)
    assert process is not None
    wrapped = process(JSONText('{"a":1}'))
    assert (wrapped.obj, wrapped.dumps(wrapped.obj)) == ('{"a":1}', '{"a":1}')
    assert process({"a": 1}).obj == {"a": 1}


def _entry(item_id: int, form: dict[Any, Any], roles: Any) -> HistoryEntry:
    return HistoryEntry(
        item_id=item_id, seq=1, at=AT, kind="start", trigger=None, from_state=None,
        to_state="draft", visit=1, actor="wang", roles=roles, form=form,
    )  # fmt: skip


def _record(item_id: int, detail: dict[Any, Any], roles: Any) -> AuditRecord:
    return AuditRecord(
        at=AT, actor="wang", roles=roles, command="start", workflow_id="wf", item_id=item_id,
        trigger=None, outcome="accepted", rule=None, reason=None, detail=detail,
    )  # fmt: skip


def test_a_row_after_a_lost_history_anchor_chains_to_the_items_last_row(sql: SqlStore) -> None:
    """An item row whose ``history_head`` is gone (NULL): the next row is chained to the
    item's last history row, read back then, in a single command and in a batch's kept
    rows alike (insert_history takes a held anchor without the lookup, round 7)."""
    _, item_id = seeded(sql)
    rows = [
        HistoryEntry(item_id, seq, AT, "fire", f"t{seq}", "a", "b", seq, "wang", [], {})
        for seq in range(1, 4)
    ]
    with sql.write() as tx:
        tx.insert_history(rows[:1])
    for row in rows[1:]:
        with sql.engine.begin() as conn:
            conn.execute(
                text("UPDATE items SET history_head = NULL WHERE id = :id"), {"id": item_id}
            )
        with sql.write() as tx:
            if row.seq == 3:
                tx.defer_appends()  # (the batch's way)
            tx.insert_history([row])
    with sql.read() as tx:
        written = tx.history(item_id)
    assert [r["prev_hash"] for r in written] == [GENESIS, written[0]["hash"], written[1]["hash"]]
    for r in written:
        assert r["hash"] == chain_before.history_hash(r["prev_hash"], r)
