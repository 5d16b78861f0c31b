"""A command's appends and its item's UPDATE (issue 12): on PostgreSQL the SQL store holds
the history rows and audit records a command appends and sends them with the item's
UPDATE as data-modifying CTEs of one statement (``cmc_workflow.store.carried``). Where
callers can tell, every store behaves alike: a stale version still refuses the UPDATE and
the appends stay as they were, a read in the transaction sees what was appended, each
chain keeps its order; and a record found at a held record's position is still named as
one inserted behind the engine's back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, insert

from cmc_workflow.errors import ConflictError, StoreError
from cmc_workflow.store import StorePort
from cmc_workflow.store.port import ItemUpdate
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import audit
from tests.contract.test_store_contract import T0, at, audit_record, entry, message, seeded


def moved(version: int, seq: int) -> ItemUpdate:
    return ItemUpdate(
        state=f"s{version}", data={"v": version}, visit=version, seq=seq, updated_at=at(version)
    )


def test_a_stale_update_after_appends_is_refused_and_the_appends_are_written_once(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1)])
        tx.insert_audit(audit_record(item_id))
        with pytest.raises(ConflictError):
            tx.update_item(item_id, 7, moved(8, 1))  # a stale version: a lost update
    with store.read() as tx:
        row = tx.item(item_id)
        assert [h["seq"] for h in tx.history(item_id)] == [1]
        assert [r["chain_seq"] for r in tx.audit_of(item_id)] == [1]
    assert row is not None
    assert (row.version, row.state) == (1, "draft")


def test_appends_read_back_in_their_transaction_and_keep_their_order(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1), entry(item_id, 2)])
        assert [h["seq"] for h in tx.history(item_id)] == [1, 2]  # seen before the UPDATE
        tx.insert_history([entry(item_id, 3)])
        tx.insert_audit(audit_record(item_id))
        tx.insert_outbox([message(item_id, "k1")])
        tx.insert_audit(audit_record(item_id, trigger="approve"))
        tx.update_item(item_id, 1, moved(2, 3))
        tx.insert_history([entry(item_id, 4)])  # after it: written at commit
        tx.insert_audit(audit_record(item_id, trigger="archive"))
    with store.read() as tx:
        row = tx.item(item_id)
        rows = tx.history(item_id)
        records = tx.audit_of(item_id)  # in id order
    assert row is not None
    assert (row.version, row.state) == (2, "s2")
    assert [h["seq"] for h in rows] == [1, 2, 3, 4]
    assert [r["chain_seq"] for r in records] == [1, 2, 3]
    assert [r["trigger"] for r in records] == ["submit", "approve", "archive"]


def anchored(store: SqlStore) -> int:
    """An item with a first history row and audit record (both chains anchored on it)."""
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1)])
        tx.insert_audit(audit_record(item_id))
    return item_id


@pytest.fixture(params=["fast", "core"])
def postgres(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[SqlStore]:
    """A PostgreSQL store on the driver's cursor and through SQLAlchemy."""
    opened = SqlStore.open(postgres_url)
    store = opened if request.param == "fast" else SqlStore(opened.engine, fast=False)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_sends_a_commands_appends_with_its_items_update(postgres: SqlStore) -> None:
    item_id = anchored(postgres)
    seen: list[str] = []
    event.listen(postgres.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with postgres.write() as tx:
        assert tx.item(item_id, lock=True) is not None
        tx.insert_history([entry(item_id, 2)])
        tx.insert_outbox([message(item_id, "k1")])
        tx.insert_audit(audit_record(item_id))
        tx.update_item(item_id, 1, moved(2, 2))
    kinds = [" ".join(s.split()[:2]).upper() for s in seen]
    assert kinds == ["SELECT ITEMS.ID,", "INSERT INTO", "WITH U"], seen
    with postgres.read() as tx:
        assert [h["seq"] for h in tx.history(item_id)] == [1, 2]
        assert [r["chain_seq"] for r in tx.audit_of(item_id)] == [1, 2]


@pytest.mark.postgres
def test_postgresql_names_a_record_found_at_a_held_records_position(postgres: SqlStore) -> None:
    item_id = anchored(postgres)
    with postgres.write() as tx:  # behind the engine's back: the chain's anchor stays
        tx.conn.execute(
            insert(audit).values(
                at=T0,
                actor="x",
                roles=[],
                command="fire",
                outcome="accepted",
                detail={},
                item_id=item_id,
                chain=f"item:{item_id}",
                chain_seq=2,
                prev_hash="0" * 64,
                hash="f" * 64,
            )
        )
    with pytest.raises(StoreError, match="behind the engine's back"):
        audited_update(postgres, item_id)


def audited_update(store: SqlStore, item_id: int) -> None:
    """One command: an audit record, then the item's UPDATE."""
    with store.write() as tx:
        tx.insert_audit(audit_record(item_id))
        tx.update_item(item_id, 1, moved(2, 2))
