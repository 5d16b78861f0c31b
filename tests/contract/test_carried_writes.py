"""A command's appends and its item's UPDATE (issue 12): on PostgreSQL the SQL store holds
the history rows and audit records a command appends, the outbox rows it queues
(``queue_outbox``) and the delivery marks it is given (``finish_outbox_many``), and sends
them with the item's UPDATE as data-modifying CTEs of one statement
(``cmc_workflow.store.carried``). Where callers can tell, every store behaves alike: a
stale version still refuses the UPDATE and the appends stay as they were, a read in the
transaction sees what was appended, each chain and the outbox keep their order, a queued
row has its id by the commit, a duplicate key is refused by the commit at the latest, a
mark is written once by the commit and never by a transaction that does not commit; and
a record found at a held record's position is still named as one inserted behind the
engine's back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, insert

from cmc_workflow.errors import ConflictError, StoreError
from cmc_workflow.store import StorePort
from cmc_workflow.store.carried import MAX_MARKS
from cmc_workflow.store.port import ItemUpdate, OutboxRow, values_of
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import audit
from tests.contract.test_store_contract import (
    HANDLERS,
    T0,
    at,
    audit_record,
    entry,
    message,
    seeded,
)


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


def queued(item_id: int, key: str) -> dict[str, Any]:
    """An outbox row as a command queues it (a dict that takes its id)."""
    return values_of(message(item_id, key))


def outbox_rows(store: StorePort, item_id: int) -> list[OutboxRow]:
    with store.read() as tx:
        return tx.outbox_of(item_id)


def test_queued_rows_take_their_ids_by_the_commit_in_the_order_they_were_queued(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        (first,) = tx.insert_outbox([message(item_id, "k1")])
        two, three = queued(item_id, "k2"), queued(item_id, "k3")
        tx.queue_outbox([two])
        (fourth,) = tx.insert_outbox([message(item_id, "k4")])  # after the queued one
        tx.insert_history([entry(item_id, 1)])
        tx.queue_outbox([three])
        tx.insert_audit(audit_record(item_id))
        tx.update_item(item_id, 1, moved(2, 1))
        five = queued(item_id, "k5")
        tx.queue_outbox([five])  # after the UPDATE: written by the commit
        tx.queue_outbox([])
    rows = outbox_rows(store, item_id)
    assert [r.idempotency_key for r in rows] == ["k1", "k2", "k4", "k3", "k5"]
    assert [r.id for r in rows] == [first, two["id"], fourth, three["id"], five["id"]]
    assert rows[3].payload == {"key": "k3"}
    assert (rows[3].delivered_at, rows[3].attempts) == (None, 0)
    with store.read() as tx:
        assert [h["seq"] for h in tx.history(item_id)] == [1]
        assert [r["chain_seq"] for r in tx.audit_of(item_id)] == [1]


def test_queued_rows_read_back_in_their_transaction(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        row = queued(item_id, "k1")
        tx.queue_outbox([row])
        assert [r.idempotency_key for r in tx.outbox_of(item_id)] == ["k1"]
        assert tx.count_pending_outbox() == 1
        assert "id" in row  # written for the read: its id is known
        tx.update_item(item_id, 1, moved(2, 1))
    assert [r.id for r in outbox_rows(store, item_id)] == [row["id"]]


def test_a_stale_update_after_queued_rows_is_refused_and_the_rows_are_written_once(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    row = queued(item_id, "k1")
    with store.write() as tx:
        tx.queue_outbox([row])
        with pytest.raises(ConflictError):
            tx.update_item(item_id, 7, moved(8, 1))  # a stale version: a lost update
    assert [r.id for r in outbox_rows(store, item_id)] == [row["id"]]


def test_a_queued_duplicate_key_is_refused_by_the_commit_and_nothing_is_written(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_outbox([message(item_id, "k1")])

    def command() -> None:
        with store.write() as tx:
            tx.insert_history([entry(item_id, 1)])
            tx.queue_outbox([queued(item_id, "k2"), queued(item_id, "k1")])
            tx.update_item(item_id, 1, moved(2, 1))

    with pytest.raises(ConflictError):
        command()
    assert [r.idempotency_key for r in outbox_rows(store, item_id)] == ["k1"]
    with store.read() as tx:
        row = tx.item(item_id)
        assert tx.history(item_id) == []
    assert row is not None
    assert row.version == 1


def claimed(store: StorePort, item_id: int, keys: list[str]) -> list[OutboxRow]:
    """Rows ``keys`` of the item, claimed by runner ``r1``."""
    with store.write() as tx:
        tx.insert_outbox([message(item_id, k) for k in keys])
    with store.write() as tx:
        return tx.claim_outbox(T0, "r1", dt.timedelta(minutes=5), 10, handler_names=HANDLERS)


def marked(store: StorePort, item_id: int) -> dict[str, tuple[dt.datetime | None, int]]:
    """Each row's delivery time and attempts, by key."""
    return {r.idempotency_key: (r.delivered_at, r.attempts) for r in outbox_rows(store, item_id)}


def test_marks_are_written_by_the_commit_once_and_not_by_a_transaction_that_fails(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    a, b, c, d = claimed(store, item_id, ["a", "b", "c", "d"])
    with store.write() as tx:  # a command that carries a mark
        tx.finish_outbox_many([(a.id, at(2))], "r1")
        tx.insert_history([entry(item_id, 1)])
        two = queued(item_id, "e")
        tx.queue_outbox([two])
        tx.update_item(item_id, 1, moved(2, 1))
    with store.write() as tx:  # marks alone
        tx.finish_outbox_many([(b.id, at(3)), (a.id, at(9))], "r1")  # a: marked already

    def failing(mark: OutboxRow, when: dt.datetime, version: int) -> None:
        with store.write() as tx:
            tx.finish_outbox_many([(mark.id, when)], "r1")
            tx.update_item(item_id, version, moved(version + 1, 1))  # refused when stale
            raise RuntimeError("the command fails after its UPDATE")

    with pytest.raises(RuntimeError):
        failing(c, at(4), 2)
    with pytest.raises(ConflictError):
        failing(d, at(5), 7)  # a lost update: the command is refused
    assert marked(store, item_id) == {
        "a": (at(2), 1),
        "b": (at(3), 1),
        "c": (None, 0),
        "d": (None, 0),
        "e": (None, 0),
    }


def test_marks_given_before_a_savepoint_outlive_its_rollback(store: StorePort) -> None:
    _, item_id = seeded(store)
    a, b = claimed(store, item_id, ["a", "b"])
    with store.write() as tx:
        tx.finish_outbox_many([(a.id, at(2))], "r1")

        def inside() -> None:
            with tx.savepoint():
                tx.finish_outbox_many([(b.id, at(3))], "r1")
                tx.queue_outbox([queued(item_id, "gone")])
                tx.update_item(item_id, 1, moved(2, 1))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            inside()
        tx.update_item(item_id, 1, moved(2, 1))
    assert marked(store, item_id) == {"a": (at(2), 1), "b": (None, 0)}


@pytest.mark.postgres
def test_postgresql_sends_queued_rows_and_marks_with_the_items_update(postgres: SqlStore) -> None:
    item_id = anchored(postgres)
    rows = claimed(postgres, item_id, ["a", "b"])
    seen: list[str] = []
    event.listen(postgres.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    one, two = queued(item_id, "k1"), queued(item_id, "k2")
    with postgres.write() as tx:
        tx.finish_outbox_many([(r.id, at(n)) for n, r in enumerate(rows, start=2)], "r1")
        assert tx.item(item_id, lock=True) is not None
        tx.insert_history([entry(item_id, 2)])
        tx.queue_outbox([one, two])
        tx.insert_audit(audit_record(item_id))
        tx.update_item(item_id, 1, moved(2, 2))
        assert one["id"] < two["id"]  # set by the UPDATE's statement
    assert [s.split()[0] for s in seen] == ["SELECT", "WITH"], seen
    assert "UPDATE items" in seen[1], seen
    assert "INSERT INTO outbox" in seen[1], seen
    assert marked(postgres, item_id) == {
        "a": (at(2), 1),
        "b": (at(3), 1),
        "k1": (None, 0),
        "k2": (None, 0),
    }
    assert [r.id for r in outbox_rows(postgres, item_id)][2:] == [one["id"], two["id"]]


@pytest.mark.postgres
def test_postgresql_writes_the_marks_no_update_carried_in_one_statement(
    postgres: SqlStore,
) -> None:
    item_id = anchored(postgres)
    rows = claimed(postgres, item_id, [f"k{n}" for n in range(MAX_MARKS + 2)])
    marks = [(r.id, at(n)) for n, r in enumerate(rows, start=1)]
    seen: list[str] = []
    event.listen(postgres.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with postgres.write() as tx:  # more than one UPDATE carries: the rest at the commit
        tx.finish_outbox_many(marks, "r1")
        tx.update_item(item_id, 1, moved(2, 1))
    assert [s.split()[0] for s in seen] == ["WITH", "UPDATE"], seen
    assert "UPDATE items" in seen[0], seen
    assert seen[1].startswith("UPDATE outbox"), seen
    assert marked(postgres, item_id) == {f"k{n}": (at(n + 1), 1) for n in range(len(rows))}
