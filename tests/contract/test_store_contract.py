"""The store contract: one test body per behaviour the engine relies on, run on every
store (memory, SQLite, PostgreSQL; see ``conftest.py``)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from cmc_workflow.errors import ConflictError, StoreError
from cmc_workflow.store.chain import GENESIS, history_hash, record_hash
from cmc_workflow.store.port import (
    CANCELLED,
    CLAIMED,
    FIRED,
    MISSED,
    PAUSED,
    PENDING,
    RUNNING,
    STARTED,
    STOPPED,
    AuditRecord,
    HistoryEntry,
    ItemUpdate,
    NewClock,
    NewItem,
    NewTimer,
    OutboxMessage,
    StorePort,
    StoreTx,
    values_of,
)

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
HANDLERS = ["publish"]


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def definition(tx: StoreTx, workflow: str = "wf", content: str = "a" * 64) -> int:
    return tx.insert_definition(workflow, content, 1, f"{workflow}.yaml", "id: wf", T0).id


def new_item(definition_id: int, **changes: Any) -> NewItem:
    values: dict[str, Any] = {
        "workflow_id": "wf",
        "definition_id": definition_id,
        "state": "draft",
        "data": {"title": "T", "author": "Wang"},
        "visit": 1,
        "seq": 1,
        "version": 1,
        "created_at": T0,
        "created_by": "wang",
        "updated_at": T0,
        **changes,
    }
    return NewItem(**values)


def entry(item_id: int, seq: int, **changes: Any) -> HistoryEntry:
    values: dict[str, Any] = {
        "item_id": item_id,
        "seq": seq,
        "at": at(seq),
        "kind": "fire",
        "trigger": f"t{seq}",
        "from_state": "draft",
        "to_state": "review",
        "visit": seq,
        "actor": "wang",
        "roles": ["editor"],
        "form": {"n": seq},
        **changes,
    }
    return HistoryEntry(**values)


def message(
    item_id: int | None, key: str, kind: str = "notify", name: str = "lead"
) -> OutboxMessage:
    return OutboxMessage(
        item_id=item_id,
        kind=kind,
        name=name,
        payload={"key": key},
        idempotency_key=key,
        created_at=T0,
        available_at=T0,
    )


def audit_record(item_id: int | None, actor: str = "wang", **changes: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "at": T0,
        "actor": actor,
        "roles": ["editor"],
        "command": "fire",
        "workflow_id": "wf",
        "item_id": item_id,
        "trigger": "submit",
        "outcome": "accepted",
        "rule": None,
        "reason": None,
        "detail": {"x": 1},
        **changes,
    }
    return AuditRecord(**values)


def clock(item_id: int, **changes: Any) -> NewClock:
    values: dict[str, Any] = {
        "item_id": item_id,
        "workflow_id": "wf",
        "state": "review",
        "at_state": "review",
        "visit": 1,
        "status": RUNNING,
        "within": "2 workdays",
        "started_at": T0,
        "due_at": at(60),
        "warn_at": None,
        "rule": "r",
        "calendar_version": "2026",
        "provisional": False,
        "detail": {"pauses": []},
        **changes,
    }
    return NewClock(**values)


def timer(item_id: int, clock_id: int | None, due: dt.datetime, **changes: Any) -> NewTimer:
    values: dict[str, Any] = {
        "item_id": item_id,
        "clock_id": clock_id,
        "state": "review",
        "visit": 1,
        "step": 0,
        "action": "warn",
        "role": "lead",
        "trigger": None,
        "due_at": due,
        "created_at": T0,
        **changes,
    }
    return NewTimer(**values)


def seeded(store: StorePort) -> tuple[int, int]:
    """A definition and one item on it."""
    with store.write() as tx:
        definition_id = definition(tx)
        return definition_id, tx.insert_item(new_item(definition_id))


# -- items ---------------------------------------------------------------------------------
def test_an_item_reads_back_as_written_and_an_update_moves_its_version(store: StorePort) -> None:
    definition_id, item_id = seeded(store)
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert (row.workflow_id, row.definition_id, row.state, row.version) == (
        "wf",
        definition_id,
        "draft",
        1,
    )
    assert row.data == {"title": "T", "author": "Wang"}
    assert row.created_at == T0
    assert row.created_at.tzinfo is not None
    assert row.closed_at is None
    assert row.parent_id is None
    update = ItemUpdate(state="done", data={"title": "U"}, visit=2, seq=2, updated_at=at(5))
    with store.write() as tx:
        tx.update_item(item_id, 1, update)
    with store.read() as tx:
        row = tx.item(item_id)
        assert tx.item(item_id + 1000) is None
    assert row is not None
    assert (row.state, row.data, row.visit, row.seq, row.version) == (
        "done",
        {"title": "U"},
        2,
        2,
        2,
    )
    assert row.updated_at == at(5)


def test_an_update_over_a_stale_version_is_a_conflict_and_writes_nothing(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.update_item(
            item_id, 1, {"state": "b", "data": {}, "visit": 2, "seq": 1, "updated_at": T0}
        )
    with pytest.raises(ConflictError), store.write() as tx:
        tx.update_item(
            item_id, 1, {"state": "c", "data": {}, "visit": 3, "seq": 1, "updated_at": T0}
        )
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert (row.state, row.version) == ("b", 2)


def test_an_item_naming_a_missing_definition_or_parent_is_refused(store: StorePort) -> None:
    definition_id, _ = seeded(store)
    with pytest.raises(StoreError), store.write() as tx:
        tx.insert_item(new_item(definition_id + 99))
    with pytest.raises(StoreError), store.write() as tx:
        tx.insert_item(new_item(definition_id, parent_id=12345))


def test_stored_values_are_copies_in_utc(store: StorePort) -> None:
    with store.write() as tx:
        definition_id = definition(tx)
    data: dict[str, Any] = {"tags": ["a"], "n": 1}
    shanghai = dt.timezone(dt.timedelta(hours=8))
    written = new_item(definition_id, data=data, created_at=T0.astimezone(shanghai))
    with store.write() as tx:
        item_id = tx.insert_item(written)
    data["tags"].append("changed after the insert")
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert row.data == {"tags": ["a"], "n": 1}
    assert row.created_at == T0
    assert row.created_at.utcoffset() == dt.timedelta(0)
    row.data["tags"].append("changed after the read")
    with store.read() as tx:
        again = tx.item(item_id)
    assert again is not None
    assert again.data == {"tags": ["a"], "n": 1}


def test_the_old_dict_rows_are_accepted_and_unknown_fields_refused(store: StorePort) -> None:
    with store.write() as tx:
        definition_id = definition(tx)
        item_id = tx.insert_item(
            {
                "workflow_id": "wf",
                "definition_id": definition_id,
                "state": "draft",
                "data": {},
                "visit": 1,
                "seq": 0,
                "version": 1,
                "created_at": T0,
                "created_by": "wang",
                "updated_at": T0,
                "closed_at": None,
                "parent_id": None,
            }
        )
    with store.read() as tx:
        assert tx.item(item_id) is not None
    with pytest.raises(TypeError), store.write() as tx:
        tx.update_clock(1, {"no_such_column": 1})


def test_item_queries_select_and_order_as_documented(store: StorePort) -> None:
    with store.write() as tx:
        d1 = definition(tx)
        d2 = definition(tx, content="b" * 64)
        parent = tx.insert_item(new_item(d1, state="review"))
        child_open = tx.insert_item(new_item(d2, parent_id=parent, data={"author": "WANG"}))
        child_closed = tx.insert_item(
            new_item(d1, parent_id=parent, state="done", closed_at=T0, data={"author": "li"})
        )
        other = tx.insert_item(new_item(d1, workflow_id="other", state="review"))
    with store.read() as tx:
        assert [r.id for r in tx.children(parent)] == [child_open, child_closed]
        assert [r.id for r in tx.open_children(parent)] == [child_open]
        assert sorted(tx.open_definition_ids()) == [d1, d2]
        pairs = [("wf", "review"), ("wf", "draft"), ("other", "review")]
        assert [r.id for r in tx.open_items(pairs)] == [parent, child_open, other]
        assert tx.open_items([]) == []
        found = tx.records("wf", ["draft", "done"], "author", "wang")
        assert found == [{"author": "WANG"}]
        assert [(r.revision, n) for r, n in tx.definitions_of("wf")] == [(1, 2), (2, 1)]
        assert tx.workflow_records("other")[0].item_id == other


# -- definitions ---------------------------------------------------------------------------
def test_definitions_are_unique_by_content_hash_and_numbered_per_workflow(
    store: StorePort,
) -> None:
    with store.write() as tx:
        first = tx.insert_definition("wf", "a" * 64, 3, "wf.yaml", "one", T0)
        second = tx.insert_definition("wf", "b" * 64, None, "wf.yaml", "two", at(1))
        other = tx.insert_definition("other", "a" * 64, None, "o.yaml", "o", at(2))
    assert (first.revision, second.revision, other.revision) == (1, 2, 1)
    with store.read() as tx:
        assert tx.find_definition("wf", "a" * 64) == first
        assert tx.find_definition("wf", "c" * 64) is None
        assert tx.definition(second.id) == second
        assert tx.definition(second.id + 99) is None
        assert sorted(tx.definition_sources()) == [
            ("other", "o.yaml", "o"),
            ("wf", "wf.yaml", "one"),
            ("wf", "wf.yaml", "two"),
        ]
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_definition("wf", "a" * 64, None, "wf.yaml", "again", at(3))
    with store.read() as tx:
        assert len(tx.definitions_of("wf")) == 2


# -- history -------------------------------------------------------------------------------
def test_history_is_appended_in_order_on_a_hash_chain_anchored_on_the_item(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1, kind="start", from_state=None), entry(item_id, 2)])
    with store.write() as tx:
        tx.insert_history([entry(item_id, 3, kind="route")])
    with store.read() as tx:
        rows = tx.history(item_id)
        last = tx.last_command(item_id)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in zip([None, *rows], rows, strict=False):
        if before is not None:
            assert row["prev_hash"] == before["hash"]
        assert row["hash"] == history_hash(row["prev_hash"], row)
    assert rows[1]["form"] == {"n": 2}
    assert rows[1]["roles"] == ["editor"]
    assert last is not None
    assert last["seq"] == 2
    assert last["trigger"] == "t2"


def test_a_history_row_at_a_taken_position_is_a_conflict(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1)])
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_history([entry(item_id, 1, trigger="again")])
    with store.read() as tx:
        assert [r["trigger"] for r in tx.history(item_id)] == ["t1"]


def test_last_entries_give_each_items_latest_entry_from_outside(store: StorePort) -> None:
    _, first = seeded(store)
    with store.write() as tx:
        definition_id = tx.definitions_of("wf")[0][0].id
        second = tx.insert_item(new_item(definition_id, state="published"))
        tx.insert_history(
            [
                entry(first, 1, from_state="review", to_state="published", at=at(1)),
                entry(first, 2, from_state="published", to_state="published", at=at(2)),
                entry(first, 3, from_state="draft", to_state="published", at=at(3)),
            ]
        )
        tx.insert_history([entry(second, 1, from_state=None, to_state="published", at=at(4))])
    with store.read() as tx:
        everyone = tx.last_entries("wf", ["published"])
        reviewed = tx.last_entries("wf", ["published"], source=["review"])
        resting = tx.last_entries("wf", ["published"], resting_in=["published"])
    assert [when for _, when in everyone] == [at(3), at(4)]
    assert [when for _, when in reviewed] == [at(1)]
    assert [when for _, when in resting] == [at(4)]


# -- outbox --------------------------------------------------------------------------------
def test_outbox_rows_are_unique_by_idempotency_key(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        ids = tx.insert_outbox([message(item_id, "k1"), message(item_id, "k2")])
        assert tx.insert_outbox([]) == []
    assert ids == sorted(ids)
    assert len(set(ids)) == 2
    with pytest.raises(ConflictError), store.write() as tx:
        tx.insert_outbox([message(item_id, "k3"), message(item_id, "k1")])
    with store.read() as tx:
        assert [r.idempotency_key for r in tx.outbox_of(item_id)] == ["k1", "k2"]
        assert tx.count_pending_outbox() == 2


def test_delivered_rows_are_marked_together_each_at_its_time(store: StorePort) -> None:
    """``finish_outbox_many``: the marks of several deliveries in one statement; a row
    whose claim went to another runner, or that is marked already, is left alone."""
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_outbox([message(item_id, k) for k in ("a", "b", "c")])
    lease = dt.timedelta(minutes=5)
    with store.write() as tx:
        a, b, c = tx.claim_outbox(T0, "r1", lease, 10, handler_names=HANDLERS)
        tx.finish_outbox_many([], "r1")
    with store.write() as tx:  # c's lease ran out and r2 took it over
        assert [r.id for r in tx.claim_outbox(at(6), "r2", lease, 1, handler_names=[])] == [a.id]
    with store.write() as tx:
        assert tx.finish_outbox(b.id, "r1", at(1))
        tx.finish_outbox_many([(a.id, at(2)), (b.id, at(3)), (c.id, at(4))], "r1")
    with store.read() as tx:
        rows = {r.id: r for r in tx.outbox_of(item_id)}
    assert rows[a.id].delivered_at is None  # r2 holds its claim now
    assert (rows[b.id].delivered_at, rows[b.id].attempts) == (at(1), 1)  # marked once
    assert (rows[c.id].delivered_at, rows[c.id].attempts) == (at(4), 1)


def test_outbox_claims_carry_a_lease_and_only_the_claimer_finishes(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_outbox(
            [
                message(item_id, "n"),
                message(item_id, "h", kind="handler", name="publish"),
                message(item_id, "x", kind="handler", name="unknown"),
            ]
        )
    lease = dt.timedelta(minutes=5)
    with store.write() as tx:
        assert tx.has_due_outbox(T0, handler_names=HANDLERS)
        claimed = tx.claim_outbox(T0, "r1", lease, 10, handler_names=HANDLERS)
    assert [r.idempotency_key for r in claimed] == ["n", "h"]
    with store.write() as tx:  # leased: nobody else gets them before the lease ends
        assert tx.claim_outbox(at(4), "r2", lease, 10, handler_names=HANDLERS) == []
        assert not tx.has_due_outbox(at(4), handler_names=HANDLERS)
        assert not tx.finish_outbox(claimed[0].id, "r2", at(4))
    with store.write() as tx:  # the lease ran out: r2 takes both over
        again = tx.claim_outbox(at(6), "r2", lease, 1, handler_names=HANDLERS)
        assert [r.idempotency_key for r in again] == ["n"]
        assert not tx.finish_outbox(claimed[0].id, "r1", at(6))  # r1 lost its claim
        assert tx.finish_outbox(claimed[0].id, "r2", at(6))
        assert not tx.finish_outbox(claimed[0].id, "r2", at(6))  # delivered already
    with store.write() as tx:
        (handler,) = tx.claim_outbox(at(7), "r2", lease, 10, handler_names=HANDLERS)
        tx.retry_outbox(handler.id, "r2", "boom" * 2000, at(30))
    with store.read() as tx:
        rows = {r.idempotency_key: r for r in tx.outbox_of(item_id)}
        assert not tx.has_due_outbox(at(29), handler_names=HANDLERS)
        assert tx.has_due_outbox(at(30), handler_names=HANDLERS)
        assert tx.count_pending_outbox() == 2
    assert rows["n"].delivered_at == at(6)
    assert rows["n"].attempts == 1
    assert rows["h"].attempts == 1
    assert rows["h"].available_at == at(30)
    assert rows["h"].last_error is not None
    assert len(rows["h"].last_error) == 4000


# -- audit ---------------------------------------------------------------------------------
def test_audit_records_join_their_chain_and_move_its_head(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_audit(audit_record(item_id))
        tx.insert_audit(audit_record(None, actor="li", outcome="refused"))
    with store.write() as tx:
        tx.insert_audit(audit_record(item_id, trigger="approve"))
    with store.read() as tx:
        mine = tx.audit_of(item_id)
        everything = list(tx.audit_records())
        assert tx.item_data([item_id, item_id + 50]) == {
            item_id: ("wf", {"title": "T", "author": "Wang"})
        }
    assert [r["chain"] for r in mine] == [f"item:{item_id}"] * 2
    assert [r["chain_seq"] for r in mine] == [1, 2]
    assert mine[0]["prev_hash"] == GENESIS
    assert mine[1]["prev_hash"] == mine[0]["hash"]
    for r in everything:
        assert r["hash"] == record_hash(r["prev_hash"], r)
    assert [r["chain"] for r in everything] == [f"item:{item_id}", "actor:li", f"item:{item_id}"]
    assert everything[1]["chain_seq"] == 1
    assert everything[1]["detail"] == {"x": 1}


def test_item_forms_list_every_submitted_form_in_order(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_history([entry(item_id, 1), entry(item_id, 2, form={}), entry(item_id, 3)])
    with store.read() as tx:
        assert tx.item_forms([item_id]) == {item_id: [{"n": 1}, {"n": 3}]}
        assert tx.item_forms([]) == {}


# -- timers --------------------------------------------------------------------------------
def test_timers_are_claimed_when_due_with_their_fence_and_fire_once(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        clock_id = tx.insert_clock(clock(item_id))
        tx.insert_timers(
            [timer(item_id, clock_id, at(10)), timer(item_id, None, at(5), action="fire")]
        )
        assert tx.next_due_at() == at(5)
    with store.write() as tx:
        assert tx.claim_due_timer(at(4)) is None
        due = tx.claim_due_timer(at(10))
        assert due is not None
        assert due.timer.action == "fire"
        assert (due.workflow_id, due.item_state, due.item_visit, due.item_closed) == (
            "wf",
            "draft",
            1,
            False,
        )
        assert due.clock_status is None
        tx.finish_timer(due.timer.id, FIRED, at(10), "r1")
    with store.write() as tx:
        due = tx.claim_due_timer(at(10))
        assert due is not None
        assert due.timer.due_at == at(10)
        assert (due.clock_status, due.clock_state, due.clock_due_at) == (RUNNING, "review", at(60))
        tx.finish_timer(due.timer.id, "stale", at(10), "r1", error=None)
    with store.read() as tx:
        assert tx.claim_due_timer(at(100)) is None
        assert tx.next_due_at() is None
        fired = tx.timers_of(item_id)
    assert [(t.status, t.runner, t.done_at) for t in fired] == [
        ("stale", "r1", at(10)),
        (FIRED, "r1", at(10)),
    ]


def test_timers_are_claimed_in_groups_read_again_and_finished_together(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        clock_id = tx.insert_clock(clock(item_id))
        tx.insert_timers([timer(item_id, clock_id, at(n)) for n in (3, 1, 2, 50)])
    with store.write() as tx:
        group = tx.claim_due_timers(at(10), 2)
        assert [d.timer.due_at for d in group] == [at(1), at(2)]  # earliest first, bounded
        assert [d.item_state for d in group] == ["draft", "draft"]
        first, second = group
        again = tx.due_timer(second.timer.id, at(10))
        assert again is not None
        assert again.timer == second.timer
        assert again.clock_status == RUNNING
        assert tx.due_timer(second.timer.id, at(1)) is None  # not due yet at that time
        tx.finish_timers(
            [(first.timer.id, FIRED, None), (second.timer.id, "failed", "refused")], at(10), "r1"
        )
        assert tx.due_timer(first.timer.id, at(10)) is None  # no longer pending
        rest = tx.claim_due_timers(at(10), 10)
        assert [d.timer.due_at for d in rest] == [at(3)]
    with store.read() as tx:
        rows = {t.due_at: t for t in tx.timers_of(item_id)}
    assert (rows[at(1)].status, rows[at(1)].runner, rows[at(1)].done_at) == (FIRED, "r1", at(10))
    assert (rows[at(2)].status, rows[at(2)].error) == ("failed", "refused")
    assert rows[at(3)].status == PENDING


def test_a_stopped_clocks_timers_are_cancelled_in_one_call(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        one = tx.insert_clock(clock(item_id))
        two = tx.insert_clock(clock(item_id, state="other"))
        kept = tx.insert_clock(clock(item_id, state="kept"))
        tx.insert_timers(
            [
                timer(item_id, one, at(1)),
                timer(item_id, one, at(2), status=PAUSED),
                timer(item_id, one, at(3), status=FIRED),
                timer(item_id, two, at(4)),
                timer(item_id, kept, at(5)),
            ]
        )
        assert tx.cancel_clock_timers([], at(9)) == 0
        assert tx.cancel_clock_timers([one, two], at(9)) == 3
    with store.read() as tx:
        rows = {t.due_at: t for t in tx.timers_of(item_id)}
    assert [(rows[at(n)].status, rows[at(n)].done_at) for n in (1, 2, 4)] == [
        (CANCELLED, at(9))
    ] * 3
    assert rows[at(3)].status == FIRED  # a timer already done keeps its outcome
    assert rows[at(5)].status == PENDING  # another clock's timer is untouched


def test_starting_a_clock_arms_its_timers_with_its_id(store: StorePort) -> None:
    _, item_id = seeded(store)

    def armed(*dues: dt.datetime, **changes: Any) -> list[dict[str, Any]]:
        rows = [
            values_of(timer(item_id, None, due, step=n, **changes)) for n, due in enumerate(dues)
        ]
        return [{k: v for k, v in row.items() if k != "clock_id"} for row in rows]

    with store.write() as tx:
        before = tx.insert_clock(clock(item_id, state="before"))
        first = tx.start_clock(clock(item_id), armed(at(1), at(2), at(3), role=None))
        second = tx.start_clock(
            values_of(clock(item_id, state="later", due_at=at(90))), armed(at(90))
        )
        alone = tx.start_clock(clock(item_id, state="alone"), [])
    assert len({before, first, second, alone}) == 4
    with store.read() as tx:
        clocks = {c.id: c for c in tx.clocks_of(item_id)}
        rows = tx.timers_of(item_id)
    assert (clocks[first].state, clocks[first].status, clocks[first].due_at) == (
        "review",
        RUNNING,
        at(60),
    )
    assert (clocks[second].state, clocks[second].due_at) == ("later", at(90))
    assert [(t.clock_id, t.step, t.due_at, t.role, t.status) for t in rows] == [
        (first, 0, at(1), None, PENDING),
        (first, 1, at(2), None, PENDING),
        (first, 2, at(3), None, PENDING),
        (second, 0, at(90), "lead", PENDING),
    ]


def test_a_started_clock_and_its_timers_read_back_whole_empty_columns_or_not(
    store: StorePort,
) -> None:
    """Whatever a start is given reads back the same, the columns a new clock or timer
    usually leaves empty (stop, pause, marks, a timer's outcome) whether empty or set,
    and in one start's timers set in some rows and empty in others."""
    _, item_id = seeded(store)
    plain = clock(item_id, state="plain", warn_at=at(30))
    marked = clock(
        item_id,
        state="marked",
        status=PAUSED,
        paused_at=at(5),
        warned_at=at(6),
        escalated_at=at(7),
        breached_at=at(8),
        outcome="breached",
        detail={"pauses": [{"from": "a", "to": "b"}], "名": "值"},
    )
    done = {"status": FIRED, "done_at": at(4), "runner": "r1", "error": "boom"}
    rows = [
        values_of(timer(item_id, None, due, step=n, **extra))
        for n, (due, extra) in enumerate([(at(1), {}), (at(2), done), (at(3), {"role": None})])
    ]
    for row in rows:
        del row["clock_id"]
    with store.write() as tx:
        first = tx.start_clock(plain, rows[:1])
        second = tx.start_clock(marked, rows)
    with store.read() as tx:
        clocks = {c.id: c for c in tx.clocks_of(item_id)}
        timers = tx.timers_of(item_id)
    for clock_id, given in ((first, plain), (second, marked)):
        assert {**values_of(clocks[clock_id]), "id": None} == {**values_of(given), "id": None}
    assert [{**values_of(t), "id": None} for t in timers] == [
        {**row, "clock_id": clock_id, "id": None}
        for clock_id, row in [(first, rows[0]), *((second, row) for row in rows)]
    ]


@pytest.mark.parametrize("kept", [False, True], ids=["alone", "batch"])
def test_a_clock_started_as_the_engine_starts_it_reads_back_as_one_given_whole(
    store: StorePort, kept: bool
) -> None:
    """The engine's clocks give a start the fields without a default and none of the
    empty ones (SQLite binds such a clock and timers as they are, alone or kept by a
    batch for its flush, and so does PostgreSQL's one statement): they read back as the
    same start given every field does; a
    start whose timers come in both shapes, or with a field a timer does not have, is
    completed or refused field by field."""
    _, item_id = seeded(store)
    whole = values_of(clock(item_id, warn_at=at(30)))
    started = {k: v for k, v in whole.items() if v is not None or k == "warn_at"}
    full = [values_of(timer(item_id, None, at(n), step=n)) for n in (1, 2)]
    for row in full:
        del row["clock_id"]
    armed = [{k: v for k, v in full[0].items() if v is not None or k in ("role", "trigger")}]
    armed.append({**armed[0], "step": 2, "due_at": at(2), "trigger": "go"})
    assert armed[0].keys() < full[0].keys()
    with store.write() as tx:
        if kept:  # as a batch keeps its appends (SQL stores; the memory store has none)
            getattr(tx, "defer_appends", lambda: None)()
        given_whole = tx.start_clock(whole, full)
        as_engine = tx.start_clock(started, armed)
        mixed = tx.start_clock(started, [armed[0], {**full[1], "error": "late"}])
        with pytest.raises(TypeError):
            tx.start_clock(started, [{**armed[0], "colour": "red"}])
        getattr(tx, "flush_appends", lambda: None)()
    with store.read() as tx:
        clocks = {c.id: c for c in tx.clocks_of(item_id)}
        timers = tx.timers_of(item_id)
    assert {**values_of(clocks[as_engine]), "id": 0} == {**values_of(clocks[given_whole]), "id": 0}
    assert {**values_of(clocks[mixed]), "id": 0} == {**values_of(clocks[given_whole]), "id": 0}
    read = [{**values_of(t), "id": 0} for t in timers]
    assert read == [
        {**row, "clock_id": clock_id, "id": 0}
        for clock_id, row in [
            (given_whole, full[0]),
            (given_whole, full[1]),
            (as_engine, full[0]),
            (as_engine, {**full[1], "trigger": "go"}),
            (mixed, full[0]),
            (mixed, {**full[1], "error": "late"}),
        ]
    ]


def test_stopping_a_clock_cancels_its_timers_and_keeps_a_breach_recorded_first(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        met = tx.insert_clock(clock(item_id))
        late = tx.insert_clock(clock(item_id, state="late"))
        marked = tx.insert_clock(clock(item_id, state="marked"))
        kept = tx.insert_clock(clock(item_id, state="kept"))
        tx.insert_timers(
            [
                timer(item_id, met, at(1)),
                timer(item_id, met, at(2), status=PAUSED),
                timer(item_id, met, at(3), status=FIRED),
                timer(item_id, late, at(4)),
                timer(item_id, kept, at(5)),
            ]
        )
        tx.update_clock(met, {"status": PAUSED, "paused_at": at(6)})
        tx.mark_clock_once(marked, "breached_at", at(7))  # a breach timer recorded it
        assert tx.stop_clock(met, "met", at(9)) == 2
        assert tx.stop_clock(late, "breached", at(9), breached=True) == 1
        assert tx.stop_clock(marked, "breached", at(9), breached=True) == 0
    with store.read() as tx:
        clocks = {c.id: c for c in tx.clocks_of(item_id)}
        rows = {t.due_at: t for t in tx.timers_of(item_id)}
        assert [c.id for c in tx.active_clocks(item_id)] == [kept]
    stopped = [(c.status, c.stopped_at, c.paused_at) for c in map(clocks.get, (met, late))]
    assert stopped == [(STOPPED, at(9), None)] * 2
    assert [(clocks[c].outcome, clocks[c].breached_at) for c in (met, late, marked)] == [
        ("met", None),
        ("breached", at(9)),
        ("breached", at(7)),  # the breach recorded first stays
    ]
    assert [(rows[at(n)].status, rows[at(n)].done_at) for n in (1, 2, 4)] == [
        (CANCELLED, at(9))
    ] * 3
    assert rows[at(3)].status == FIRED  # a timer already done keeps its outcome
    assert rows[at(5)].status == PENDING  # another clock's timer is untouched


def test_leaving_stops_the_clocks_not_kept_judged_at_the_act_and_returns_them_as_they_were(
    store: StorePort,
) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        met = tx.insert_clock(clock(item_id, state="met", due_at=at(30)))
        late = tx.insert_clock(clock(item_id, state="late", due_at=at(10)))
        marked = tx.insert_clock(clock(item_id, state="marked", due_at=at(50)))
        paused = tx.insert_clock(clock(item_id, state="paused", due_at=at(10)))
        kept = tx.insert_clock(clock(item_id, state="kept", due_at=at(10)))
        done = tx.insert_clock(clock(item_id, state="done", status=STOPPED))
        tx.insert_timers(
            [
                timer(item_id, met, at(25)),
                timer(item_id, late, at(5), status=FIRED),
                timer(item_id, late, at(10)),
                timer(item_id, paused, at(8), status=PAUSED),
                timer(item_id, kept, at(9)),
            ]
        )
        tx.mark_clock_once(marked, "breached_at", at(40))  # recorded first, by a timer
        tx.update_clock(paused, {"status": PAUSED, "paused_at": at(5)})
        # the act happened at minute 20 (a fire step's due time), seen at minute 60
        seen = tx.stop_clocks_leaving(item_id, ["kept", "elsewhere"], at(60), at(20))
        assert tx.stop_clocks_leaving(item_id, [], at(61), at(61)) != []  # `kept` only
    # every active clock, oldest first, as it was before the call
    assert [(c.id, c.status, c.breached_at) for c in seen] == [
        (met, RUNNING, None),
        (late, RUNNING, None),
        (marked, RUNNING, at(40)),
        (paused, PAUSED, None),
        (kept, RUNNING, None),
    ]
    with store.read() as tx:
        clocks = {c.id: c for c in tx.clocks_of(item_id)}
        timers = {t.due_at: t for t in tx.timers_of(item_id)}
    stopped = {c: (clocks[c].outcome, clocks[c].breached_at, clocks[c].stopped_at) for c in clocks}
    assert stopped[met] == ("met", None, at(60))  # due at 30, act at 20: in time
    assert stopped[late] == ("breached", at(60), at(60))  # recorded by the stop
    assert stopped[marked] == ("breached", at(40), at(60))  # the first record stays
    assert stopped[paused] == ("met", None, at(60))  # overdue while paused: not counted
    assert stopped[kept] == ("breached", at(61), at(61))  # stopped by the second call
    assert clocks[done].stopped_at is None  # not active: untouched
    assert all(clocks[c].status == STOPPED and clocks[c].paused_at is None for c in stopped)
    assert [(timers[at(n)].status, timers[at(n)].done_at) for n in (25, 10, 8)] == [
        (CANCELLED, at(60))
    ] * 3
    assert timers[at(5)].status == FIRED
    assert (timers[at(9)].status, timers[at(9)].done_at) == (CANCELLED, at(61))


def test_leaving_tells_a_breach_recorded_at_the_same_instant_from_one_the_stop_records(
    store: StorePort,
) -> None:
    """The clocks come back whole, as they were: a breach a timer recorded earlier in the
    transaction at the stop's very ``now`` shows (no second breach to audit), one the
    stop records does not; a kept clock is left as it is."""
    _, item_id = seeded(store)
    with store.write() as tx:
        marked = tx.insert_clock(clock(item_id, state="marked", due_at=at(10)))
        late = tx.insert_clock(clock(item_id, state="late", due_at=at(10)))
        paused = tx.insert_clock(clock(item_id, state="paused", due_at=at(10), warn_at=at(5)))
        kept = tx.insert_clock(clock(item_id, state="kept", due_at=at(10), detail={"名": 1}))
        tx.mark_clock_once(marked, "breached_at", at(60))  # a breach timer fired at `now`
        tx.update_clock(paused, {"status": PAUSED, "paused_at": at(5), "warned_at": at(6)})
        before = tx.active_clocks(item_id)
        seen = tx.stop_clocks_leaving(item_id, ["kept"], at(60), at(60))
        after = {c.id: c for c in tx.clocks_of(item_id)}
    assert seen == before
    assert [(c.id, c.breached_at) for c in seen][:2] == [(marked, at(60)), (late, None)]
    assert (seen[2].status, seen[2].paused_at) == (PAUSED, at(5))
    assert after[kept] == before[3]
    assert [(after[c].status, after[c].outcome, after[c].breached_at) for c in (marked, late)] == [
        (STOPPED, "breached", at(60))
    ] * 2
    assert (after[paused].outcome, after[paused].paused_at) == ("met", None)


def test_clock_timers_pause_resume_move_and_count(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        clock_id = tx.insert_clock(clock(item_id))
        tx.insert_timers([timer(item_id, clock_id, at(20)), timer(item_id, clock_id, at(10))])
        assert tx.set_clock_timers(clock_id, PENDING, {"status": PAUSED}) == 2
        assert tx.count_timers(PENDING) == 0
        first, second = tx.clock_timers(clock_id, PAUSED)
        assert (first.due_at, second.due_at) == (at(10), at(20))
        tx.resume_timer(first.id, at(15), "review2", 2)
        tx.set_timer_due(second.id, at(99))  # paused: not moved
        tx.set_timer_due(first.id, at(16))
    with store.read() as tx:
        rows = {t.id: t for t in tx.timers_of(item_id)}
        assert tx.count_timers(PENDING) == 1
        assert tx.count_timers(PAUSED) == 1
        assert tx.count_timers(PENDING, due_before=at(15)) == 0
        assert [(t.id, w) for t, w in tx.upcoming_timers(5)] == [(first.id, "wf")]
    assert (rows[first.id].status, rows[first.id].due_at) == (PENDING, at(16))
    assert (rows[first.id].state, rows[first.id].visit) == ("review2", 2)
    assert (rows[second.id].status, rows[second.id].due_at) == (PAUSED, at(20))


# -- clocks --------------------------------------------------------------------------------
def test_clocks_update_mark_once_and_list_by_status(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        running = tx.insert_clock(clock(item_id, due_at=at(30), provisional=True))
        stopped = tx.insert_clock(clock(item_id, status=STOPPED, due_at=at(5)))
        tx.mark_clock_once(running, "warned_at", at(1))
        tx.mark_clock_once(running, "warned_at", at(2))
        tx.update_clock(stopped, {"outcome": "met", "stopped_at": at(3)})
    with store.read() as tx:
        row = tx.clock(running)
        assert row is not None
        assert row.warned_at == at(1)
        assert row.detail == {"pauses": []}
        assert [c.id for c in tx.active_clocks(item_id)] == [running]
        assert [c.id for c in tx.clocks_of(item_id)] == [running, stopped]
        assert [c.id for c in tx.provisional_clocks()] == [running]
        assert tx.overdue_clocks(at(29)) == []
        assert [c.id for c in tx.overdue_clocks(at(31))] == [running]
        stopped_row = tx.clock(stopped)
        assert stopped_row is not None
        assert stopped_row.outcome == "met"
        assert tx.clock(999) is None


# -- schedules -----------------------------------------------------------------------------
def test_a_schedule_cursor_is_created_once_and_never_moves_back(store: StorePort) -> None:
    with store.write() as tx:
        first = tx.cursor("weekly", T0)
        assert tx.cursor("weekly", at(10)).since == T0
        tx.advance_cursor("weekly", at(20), at(21))
        tx.advance_cursor("weekly", at(15), at(22))
    with store.read() as tx:
        cursors = tx.cursors()
    assert first.last_due is None
    assert list(cursors) == ["weekly"]
    assert (cursors["weekly"].last_due, cursors["weekly"].updated_at) == (at(20), at(21))


def test_schedule_occurrences_are_unique_and_claimed_with_a_lease(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        run = tx.insert_run("weekly", at(0), CLAIMED, T0, runner="r1", claimed_until=at(5))
        assert tx.insert_run("weekly", at(0), CLAIMED, T0, runner="r2") is None
        missed = tx.insert_run("weekly", at(-60), MISSED, T0, detail={"why": "late"})
    assert run is not None
    assert missed is not None
    with store.write() as tx:
        assert not tx.has_stale_runs(at(4))
        assert tx.has_stale_runs(at(6))
        (taken,) = tx.reclaim_stale_runs(at(6), "r2", at(11))
        assert taken.id == run
        assert not tx.finish_run(run, "r1", STARTED, at(7), item_id=item_id)
        assert tx.finish_run(run, "r2", STARTED, at(7), item_id=item_id)
        assert not tx.finish_run(run, "r2", STARTED, at(8), item_id=item_id)
    with store.read() as tx:
        runs = tx.runs_of("weekly")
        latest = tx.latest_runs()
    assert [r.id for r in runs] == [run, missed]
    assert (runs[0].status, runs[0].item_id, runs[0].finished_at) == (STARTED, item_id, at(7))
    assert runs[0].claimed_until is None
    assert runs[0].runner == "r2"
    assert (runs[1].finished_at, runs[1].detail) == (T0, {"why": "late"})
    assert latest["weekly"].id == run


# -- runners -------------------------------------------------------------------------------
def test_runner_heartbeats_upsert_stop_and_are_forgotten(store: StorePort) -> None:
    with store.write() as tx:
        tx.heartbeat("r1", "host", 10, T0, {"pass": 1})
        tx.heartbeat("r2", "host", 11, at(1), {})
        tx.runner_stopped("r1", at(2))
        tx.heartbeat("r1", "other-host", 12, at(3), {"pass": 2})
        tx.runner_stopped("r2", at(4))
    with store.read() as tx:
        rows = tx.runner_rows()
    assert [r.runner for r in rows] == ["r1", "r2"]
    r1, r2 = rows
    assert (r1.host, r1.pid, r1.started_at, r1.heartbeat_at) == ("host", 10, T0, at(3))
    assert (r1.stopped_at, r1.detail) == (None, {"pass": 2})
    assert r2.stopped_at == at(4)
    with store.write() as tx:
        assert tx.forget_runners(at(2)) == 1
    with store.read() as tx:
        assert [r.runner for r in tx.runner_rows()] == ["r1"]


# -- reports -------------------------------------------------------------------------------
def test_report_queries_count_and_select_as_documented(store: StorePort) -> None:
    with store.write() as tx:
        d = definition(tx)
        open_id = tx.insert_item(new_item(d, data={"kind": "a", "n": 5}))
        closed_id = tx.insert_item(new_item(d, state="done", closed_at=at(2), created_at=at(1)))
        tx.insert_item(new_item(d, created_at=at(100)))
        tx.insert_history([entry(open_id, 1, trigger="reply", to_state="published", at=at(3))])
        tx.insert_history([entry(closed_id, 1, trigger="other", at=at(4))])
        tx.insert_clock(clock(open_id, due_at=at(10)))
        tx.insert_clock(clock(closed_id, status=STOPPED, stopped_at=at(2), outcome="met"))
    with store.read() as tx:
        counts = tx.state_counts(T0, at(50))
        slas = tx.sla_clocks(at(5), None)
        replies = tx.first_replies("wf", ["reply"], "kind", None, at(50), received_field="n")
        overdue = tx.overdue_items(at(11))
        firsts = tx.first_entries("wf", "published", None, None)
    assert [(c.state, c.open, c.closed) for c in counts] == [("done", 0, 1), ("draft", 1, 0)]
    assert [s.due_at for s in slas] == [at(10)]
    assert [(r.item_id, r.category, r.first_reply_at, r.received) for r in replies] == [
        (open_id, "a", at(3), "5"),
        (closed_id, None, None, None),
    ]
    assert [(o.item_id, o.clock_state, o.due_at) for o in overdue] == [(open_id, "review", at(10))]
    assert [(p.item_id, p.published_at) for p in firsts] == [(open_id, at(3))]


def test_steps_taken_carry_the_outcome_of_the_clock_each_stopped(store: StorePort) -> None:
    with store.write() as tx:
        d = definition(tx)
        one = tx.insert_item(new_item(d))
        two = tx.insert_item(new_item(d))
        tx.insert_history([entry(one, 1, kind="start", from_state=None, to_state="review")])
        tx.insert_history([entry(one, 2, from_state="review", to_state="done", actor="li")])
        tx.insert_history([entry(two, 1, kind="timer", actor="system", roles=["system"])])
        tx.insert_history([entry(two, 2, from_state="review", at=at(7))])
        tx.insert_clock(clock(one, status=STOPPED, stopped_at=at(2), outcome="breached"))
        tx.insert_clock(clock(two, status=STOPPED, stopped_at=at(3), outcome="met"))
    with store.read() as tx:
        every = tx.steps_taken()
        later = tx.steps_taken(at(2), None)
    assert [(s.actor, s.item_id, s.at, s.clock_outcome) for s in every] == [
        ("wang", one, at(1), None),  # a start stops no clock
        ("li", one, at(2), "breached"),  # left review at the instant its clock stopped
        ("wang", two, at(7), None),  # a timer is not a step; this one stopped no clock
    ]
    assert (every[1].roles, every[1].workflow_id) == (("editor",), "wf")
    assert [s.at for s in later] == [at(2), at(7)]


# -- transactions --------------------------------------------------------------------------
def test_an_exception_rolls_the_whole_write_back(store: StorePort) -> None:
    _, kept = seeded(store)

    def failing_command() -> None:
        with store.write() as tx:
            d = definition(tx, content="f" * 64)
            item_id = tx.insert_item(new_item(d))
            changes = {"state": "x", "data": {}, "visit": 9, "seq": 9, "updated_at": T0}
            tx.update_item(kept, 1, changes)
            tx.insert_history([entry(item_id, 1)])
            tx.insert_outbox([message(item_id, "gone")])
            tx.insert_audit(audit_record(item_id))
            clock_id = tx.insert_clock(clock(item_id))
            tx.insert_timers([timer(item_id, clock_id, at(1))])
            tx.cursor("weekly", T0)
            tx.insert_run("weekly", T0, CLAIMED, T0, runner="r1")
            tx.heartbeat("r1", "h", 1, T0, {})
            raise RuntimeError("the command failed")

    with pytest.raises(RuntimeError, match="the command failed"):
        failing_command()
    with store.read() as tx:
        assert tx.find_definition("wf", "f" * 64) is None
        assert [r.id for r in tx.open_items([("wf", "draft")])] == [kept]
        row = tx.item(kept)
        assert row is not None
        assert (row.state, row.version) == ("draft", 1)
        assert tx.count_pending_outbox() == 0
        assert list(tx.audit_records()) == []
        assert tx.next_due_at() is None
        assert tx.clocks_of(kept) == []
        assert tx.cursors() == {}
        assert tx.latest_runs() == {}
        assert tx.runner_rows() == []


def test_a_savepoint_rolls_back_only_what_it_wrote(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write() as tx:
        tx.insert_outbox([message(item_id, "kept")])

        def failing_step() -> None:
            with tx.savepoint():
                tx.insert_outbox([message(item_id, "dropped")])
                raise RuntimeError("one step failed")

        with pytest.raises(RuntimeError, match="one step failed"):
            failing_step()
        tx.insert_outbox([message(item_id, "after")])
    with store.read() as tx:
        assert [r.idempotency_key for r in tx.outbox_of(item_id)] == ["kept", "after"]


def test_a_series_of_writes_commits_each_on_its_own(store: StorePort) -> None:
    _, item_id = seeded(store)
    with store.write_series() as transaction:
        with transaction() as tx:
            tx.insert_outbox([message(item_id, "one")])

        def failing_timer() -> None:
            with transaction() as tx:
                tx.insert_outbox([message(item_id, "two")])
                raise RuntimeError("this one fails")

        with pytest.raises(RuntimeError, match="this one fails"):
            failing_timer()
    with store.read() as tx:
        assert [r.idempotency_key for r in tx.outbox_of(item_id)] == ["one"]


def test_concurrent_writers_lose_no_update(store: StorePort) -> None:
    """Two threads read-modify-write one item; a lost race is a ConflictError that the
    writer retries, never a silently overwritten update."""
    _, item_id = seeded(store)
    rounds = 10

    def bump() -> None:
        done = 0
        while done < rounds:
            try:
                with store.write() as tx:
                    row = tx.item(item_id, lock=True)
                    assert row is not None
                    count = int(row.data.get("count", 0)) + 1
                    changes = ItemUpdate(
                        state=row.state, data={"count": count}, visit=1, seq=1, updated_at=T0
                    )
                    tx.update_item(item_id, row.version, changes)
            except ConflictError:
                continue
            done += 1

    workers = [threading.Thread(target=bump) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert (row.data, row.version) == ({"count": 2 * rounds}, 2 * rounds + 1)
