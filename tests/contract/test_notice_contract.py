"""Notices (issue 14, part 4) in the store contract, on every store (memory, SQLite and
PostgreSQL, fast path and Core; see ``conftest.py``): a key is written once, claims skip
what another runner holds, each attempt is recorded and a dead letter is final."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cmc_workflow.store.port import NewNotice, StorePort

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)


def notice(key: str = "k1", **changes: Any) -> NewNotice:
    values: dict[str, Any] = {
        "key": key,
        "item_id": None,
        "event": "task",
        "role": "editor",
        "person_id": "wang",
        "transport": "mail",
        "address": "wang@lib.example.cn",
        "payload": {"event": "task", "state": "草稿"},
        "available_at": T0,
        "created_at": T0,
        **changes,
    }
    return NewNotice(**values)


def test_a_key_is_written_once(store: StorePort) -> None:
    with store.write() as tx:
        assert tx.insert_notices([notice("a"), notice("b")]) == 2
    with store.write() as tx:
        assert tx.insert_notices([notice("a"), notice("c")]) == 1  # the outbox delivered again
    with store.read() as tx:
        rows = tx.notices()
    assert [r.key for r in rows] == ["a", "b", "c"]


def test_notices_written_together_keep_their_order_and_skip_a_repeated_key(
    store: StorePort,
) -> None:
    # a command's notices go in one statement: the ones already there are skipped, a key
    # repeated among them is written once, and the ids follow the order given
    with store.write() as tx:
        assert tx.insert_notices([notice("b")]) == 1
    with store.write() as tx:
        assert tx.insert_notices([notice("d"), notice("b"), notice("a"), notice("d")]) == 2
    with store.read() as tx:
        rows = tx.notices()
    assert [r.key for r in rows] == ["b", "d", "a"]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert rows[0].payload == {"event": "task", "state": "草稿"}
    assert rows[0].status == "pending"
    assert rows[0].attempts == 0
    assert rows[0].available_at == T0


def test_claims_skip_live_claims_and_future_notices(store: StorePort) -> None:
    later = T0 + dt.timedelta(hours=1)
    with store.write() as tx:
        tx.insert_notices([notice("a"), notice("b"), notice("later", available_at=later)])
        first = tx.claim_notices(T0, "r1", LEASE, 1)
        second = tx.claim_notices(T0, "r2", LEASE, 10)
        third = tx.claim_notices(T0, "r3", LEASE, 10)
    assert [r.key for r in first] == ["a"]
    assert [r.key for r in second] == ["b"]
    assert third == []
    with store.write() as tx:  # an expired claim is taken over
        again = tx.claim_notices(T0 + LEASE + dt.timedelta(seconds=1), "r3", LEASE, 10)
    assert [r.key for r in again] == ["a", "b"]


def test_each_attempt_is_recorded_and_sent_or_dead_is_final(store: StorePort) -> None:
    with store.write() as tx:
        tx.insert_notices([notice("a"), notice("b")])
        a, b = tx.claim_notices(T0, "r1", LEASE, 10)
        retry = T0 + dt.timedelta(seconds=30)
        tx.record_notice_attempt(a.id, T0, "failed", "HTTP 503", retry)
        tx.record_notice_attempt(b.id, T0, "dead", "refused")
    with store.write() as tx:
        assert tx.claim_notices(T0, "r1", LEASE, 10) == []  # a waits, b is dead
        [again] = tx.claim_notices(retry, "r1", LEASE, 10)
        assert again.id == a.id
        assert again.attempts == 1
        assert again.last_error == "HTTP 503"
        tx.record_notice_attempt(a.id, retry, "sent", None)
    with store.write() as tx:
        assert tx.claim_notices(retry + dt.timedelta(days=1), "r1", LEASE, 10) == []
    with store.read() as tx:
        rows = {r.key: r for r in tx.notices()}
        attempts_a = tx.notice_attempts(rows["a"].id)
        attempts_b = tx.notice_attempts(rows["b"].id)
    assert rows["a"].status == "sent"
    assert rows["a"].sent_at == retry
    assert rows["a"].attempts == 2
    assert rows["a"].last_error is None
    assert rows["a"].claimed_by is None
    assert rows["b"].status == "dead"
    assert [(x.result, x.error, x.at, x.transport) for x in attempts_a] == [
        ("failed", "HTTP 503", T0, "mail"),
        ("sent", None, retry, "mail"),
    ]
    assert [x.result for x in attempts_b] == ["dead"]


def test_notices_of_an_item_and_a_rollback_writes_none(store: StorePort) -> None:
    class Boom(Exception):
        pass

    try:
        with store.write() as tx:
            tx.insert_notices([notice("gone")])
            raise Boom
    except Boom:
        pass
    with store.read() as tx:
        assert tx.notices() == []
        assert tx.notices(42) == []
