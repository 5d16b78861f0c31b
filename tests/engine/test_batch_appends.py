"""Appends written together: in ``start_many``/``fire_many`` the history rows, the audit
records of an item's chain and the timers are written with one executemany per table and
batch (``flush_appends``), not one INSERT per command.

What must not change: every row a batch commits, its id, its place in its chain and its
hash are those the same commands write one at a time (a refused command in the middle
included, before and after it wrote); a rolled-back command's appends go with its
savepoint; whatever reads those tables inside the batch sees the rows appended before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, event, select

from cmc_workflow import Engine, EngineError
from cmc_workflow.engine import FireEntry, StartEntry
from cmc_workflow.extensions import Change, Extension
from cmc_workflow.store import StoreTx
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, clocks, history, items, timers
from cmc_workflow.testing import FakeClock, fresh_sqlite_url
from tests.engine.test_batch import (
    ASSISTANT,
    UNTRAINED,
    RefuseOnWrite,
    message,
    open_engine,
    verified,
)
from tests.helpers.records import train_staff

CLASSIFY = {"category": "consultation"}


def entries() -> list[StartEntry | dict[str, Any]]:
    """Five messages: the second refused by its form (before it writes), the third by its
    policy, the fourth after it wrote (``RefuseOnWrite("reader_4")``)."""
    return [
        message(1),
        message(2, channel="fax"),
        StartEntry(message(3), actor=UNTRAINED),
        message(4),
        message(5),
    ]


COMPARED: dict[str, tuple[Table, tuple[str, ...]]] = {
    "history": (history, ("id", "item_id", "seq", "prev_hash", "hash")),
    "audit": (audit, ("id", "chain", "chain_seq", "outcome", "prev_hash", "hash")),
    "items": (
        items,
        (
            "id",
            "workflow_id",
            "state",
            "data",
            "visit",
            "seq",
            "version",
            "updated_at",
            "closed_at",
            "history_head",
            "audit_seq",
            "audit_head",
            "facts",
        ),
    ),
    "clocks": (
        clocks,
        (
            "id",
            "item_id",
            "state",
            "at_state",
            "visit",
            "status",
            "due_at",
            "stopped_at",
            "outcome",
            "detail",
        ),
    ),
    "timers": (
        timers,
        ("id", "item_id", "clock_id", "state", "visit", "step", "role", "status", "due_at"),
    ),
}
"""The columns compared of each table: ids, chains and hashes, anchors, due times, and
what a fire's kept UPDATEs write (an item's state and data, a clock's and its timers'
fence)."""


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every history row, audit record, item, clock and timer, in id order, with its
    chain and hash (:data:`COMPARED`)."""
    db = open_database(url)
    try:
        with db.connect() as conn:
            return {
                name: [
                    tuple(r)
                    for r in conn.execute(
                        select(*(table.c[c] for c in columns)).order_by(table.c.id)
                    )
                ]
                for name, (table, columns) in COMPARED.items()
            }
    finally:
        db.dispose()


@pytest.mark.req("SEC-1", "SEC-2")
def test_a_batch_commits_the_rows_and_chains_single_commands_commit(
    tmp_path: Path, clock: FakeClock
) -> None:
    batch_url = fresh_sqlite_url(tmp_path / "batch")
    single_url = fresh_sqlite_url(tmp_path / "single")
    with open_engine(batch_url, clock, RefuseOnWrite("reader_4")) as engine:
        train_staff(engine, ASSISTANT)
        started = engine.start_many("comments", entries(), actor=ASSISTANT)
        ids = [o.item.id for o in started if o.item is not None]
        fired = engine.fire_many(
            [
                FireEntry(ids[0], "classify", ASSISTANT, CLASSIFY),
                FireEntry(ids[1], "reply", ASSISTANT, {"reply": "好的"}),  # not offered yet
                FireEntry(ids[1], "classify", ASSISTANT, CLASSIFY),
            ]
        )
    with open_engine(single_url, clock, RefuseOnWrite("reader_4")) as engine:
        train_staff(engine, ASSISTANT)
        single_ids = []
        for entry in entries():
            data = entry.data if isinstance(entry, StartEntry) else entry
            actor = entry.actor if isinstance(entry, StartEntry) else None
            try:
                item = engine.start("comments", actor=actor or ASSISTANT, data=data)
            except EngineError:
                continue
            single_ids.append(item.id)
        for item_id, trigger, data in (
            (single_ids[0], "classify", CLASSIFY),
            (single_ids[1], "reply", {"reply": "好的"}),
            (single_ids[1], "classify", CLASSIFY),
        ):
            try:
                engine.fire(item_id, trigger, actor=ASSISTANT, data=data)
            except EngineError:
                continue

    assert [o.accepted for o in started] == [True, False, False, False, True]
    assert [o.accepted for o in fired] == [True, False, True]
    assert single_ids == ids
    batch, single = rows(batch_url), rows(single_url)
    assert batch["audit"] == single["audit"]
    assert batch["history"] == single["history"]
    assert batch["timers"] == single["timers"]
    assert batch["clocks"] == single["clocks"]  # ids reserved ahead: those SQLite gives
    assert batch["items"] == single["items"]
    # the refusals are in the log, the late one's rows are not
    outcomes = [r[3] for r in batch["audit"][-8:]]
    started_outcomes = ["accepted", "refused", "refused", "refused", "accepted"]
    assert outcomes == [*started_outcomes, "accepted", "refused", "accepted"]
    assert batch["timers"]  # the messages' SLA clocks armed their timers
    assert verified(batch_url).ok


@pytest.mark.req("SEC-1")
def test_a_refusal_after_writing_mid_batch_keeps_the_others_chains(
    db_url: str, clock: FakeClock
) -> None:
    with open_engine(db_url, clock, RefuseOnWrite("reader_4")) as engine:
        train_staff(engine, ASSISTANT)
        before = rows(db_url)

        outcomes = engine.start_many("comments", entries(), actor=ASSISTANT)

        accepted = [o.item.id for o in outcomes if o.item is not None]
        assert len(accepted) == 2
        after = rows(db_url)
        new_history = after["history"][len(before["history"]) :]
        assert [(r[1], r[2]) for r in new_history] == [(i, 1) for i in accepted]
        new_audit = after["audit"][len(before["audit"]) :]
        refused = ["refused"] * 3
        assert [r[3] for r in new_audit] == ["accepted", *refused, "accepted"]
        assert {r[1] for r in after["timers"][len(before["timers"]) :]} == set(accepted)
        assert verified(db_url).ok


class Statements:
    """The SQL the database saw while the ``with`` block ran."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine.store.engine  # type: ignore[attr-defined]
        self.seen: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(self.db, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.db, "before_cursor_execute", self._on)

    def _on(self, _conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        self.seen.append(" ".join(sql.split()))

    def inserts(self, table: str) -> int:
        return sum(1 for s in self.seen if s.startswith(f"INSERT INTO {table} "))


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as opened:
        train_staff(opened, ASSISTANT)
        yield opened


def commands(statements: Statements) -> list[str]:
    """The statements seen but the webhooks' re-read of their subscriptions, which comes
    with wall time (``subscriptions_max_age``): a batch slowed by a busy machine reads them
    once more."""
    return [s for s in statements.seen if not re.match(r"SELECT .* FROM webhook_subscriptions", s)]


def test_a_batch_inserts_its_appends_once_per_table(engine: Engine) -> None:
    engine.start_many("comments", [message(0)], actor=ASSISTANT)  # what waits for a write
    with Statements(engine) as small:
        engine.start_many("comments", [message(n) for n in range(5)], actor=ASSISTANT)
    with Statements(engine) as large:
        started = engine.start_many("comments", [message(n) for n in range(15)], actor=ASSISTANT)

    for table in ("history", "audit", "timers"):
        assert large.inserts(table) == small.inserts(table) == 1, table
    if engine.store.sqlite:  # type: ignore[attr-defined]
        # the new items and clocks too, their ids reserved ahead (one read of the largest
        # id per table and batch): no statement per message
        for table in ("items", "clocks"):
            assert large.inserts(table) == small.inserts(table) == 1, table
            assert sum(f"max({table}.id)" in s for s in large.seen) == 1, table
        assert len(commands(large)) == len(commands(small))
        # written with their chain anchors: no UPDATE of the anchors after them
        assert not [s for s in large.seen if s.startswith("UPDATE items")]
    else:  # PostgreSQL's ids come from a sequence: each item and clock inserted at once
        assert len(commands(large)) - len(commands(small)) == 2 * 10
        assert large.inserts("items") == large.inserts("clocks") == 15

    ids = [o.item.id for o in started if o.item is not None]
    with Statements(engine) as fired:
        outcomes = engine.fire_many([FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in ids])
    assert all(o.accepted for o in outcomes)
    assert fired.inserts("history") == fired.inserts("audit") == 1
    by_id = [s for s in fired.seen if s.startswith("SELECT items.id,") and "FROM items" in s]
    clock_reads = [s for s in fired.seen if s.startswith("SELECT") and "FROM clocks" in s]
    if engine.store.sqlite:  # type: ignore[attr-defined]
        # the batch's items read ahead in one statement, none on its own
        assert [s for s in by_id if "IN (" in s] == by_id
        assert len(by_id) == 1
        # and the clocks the commands leave: one read of them all, none per message
        assert len(clock_reads) == 1
        assert "clocks.item_id IN (" in clock_reads[0]
    else:  # PostgreSQL: each locked when its command reads it, its clocks left with it
        assert len(by_id) == 15
        assert not clock_reads


def test_a_second_command_on_an_item_sees_the_first(engine: Engine, db_url: str) -> None:
    """An item read ahead for the batch is read afresh once a command of the batch wrote
    it: the second command acts on what the first left."""
    (started,) = engine.start_many("comments", [message(1)], actor=ASSISTANT)
    assert started.item is not None
    item_id = started.item.id
    outcomes = engine.fire_many(
        [
            FireEntry(item_id, "classify", ASSISTANT, CLASSIFY),
            FireEntry(item_id, "reply", ASSISTANT, {"reply": "开放，时间照常。"}),
            FireEntry(item_id, "classify", ASSISTANT, CLASSIFY),  # no longer offered
        ]
    )
    assert [o.accepted for o in outcomes] == [True, True, False]
    first, second = outcomes[0].item, outcomes[1].item
    assert first is not None
    assert second is not None
    assert first.state == "consultation"
    assert second.state != first.state  # the reply acted on the classified item
    assert second.version == first.version + 1
    now = engine.get(item_id)
    assert (now.state, now.version) == (second.state, second.version)
    assert verified(db_url).ok


class ReadsHistory(Extension):
    """Reads the item's history and its timers after each change, in the command's
    transaction: what a batch appended before must be there."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def after_change(self, tx: StoreTx, change: Change) -> None:
        item_id = change.item_id
        row = tx.item(item_id)
        self.seen.append(
            (
                len(tx.history(item_id)),
                len(tx.timers_of(item_id)),
                len(tx.clocks_of(item_id)),
                row.state if row is not None else None,
            )
        )


def test_reads_inside_a_batch_see_the_rows_appended_before(db_url: str, clock: FakeClock) -> None:
    reader = ReadsHistory()
    with open_engine(db_url, clock, reader) as engine:
        train_staff(engine, ASSISTANT)
        reader.seen.clear()
        started = engine.start_many("comments", [message(n) for n in range(3)], actor=ASSISTANT)
        ids = [o.item.id for o in started if o.item is not None]
        engine.fire_many([FireEntry(ids[0], "classify", ASSISTANT, CLASSIFY)])

    # each start: its own history row; the clocks (installed first) armed the timers
    armed = reader.seen[0][1]
    assert armed > 0
    # the clock kept with the timers, too; the new item (kept on SQLite) reads back
    assert reader.seen[:3] == [(1, armed, 1, "classify")] * 3
    assert reader.seen[3][0] == 3  # start, classify, the gateway's route


def test_clocks_read_ahead_give_way_to_their_changes(engine: Engine) -> None:
    """What ``clocks_ahead`` read of an item is what ``active_clocks`` reads of it, until
    one of its clocks changes (started, stopped, updated, marked) or a savepoint it was
    read in rolls back: from then on its clocks are read afresh."""
    started = engine.start_many("comments", [message(n) for n in range(4)], actor=ASSISTANT)
    a, b, c, d = (o.item.id for o in started if o.item is not None)
    store = engine.store  # type: ignore[attr-defined]
    with store.write() as tx:
        fresh = {i: tx.active_clocks(i) for i in (a, b, c, d)}
    assert all(len(rows) == 1 for rows in fresh.values())
    now = engine.clock.now

    with store.write() as tx:
        tx.clocks_ahead([a, b, c, d])
        tx.update_clock(fresh[a][0].id, {"warn_at": now})
        tx.stop_clock(fresh[b][0].id, "met", now)
        tx.mark_clock_once(fresh[d][0].id, "warned_at", now)
        assert tx.active_clocks(a)[0].warn_at == now
        assert tx.active_clocks(b) == []
        assert tx.active_clocks(c) == fresh[c]  # taken from what was read ahead
        assert tx.active_clocks(d)[0].warned_at == now

    copied = "item_id workflow_id state at_state visit status within started_at due_at warn_at"
    new_clock = {
        name: getattr(fresh[c][0], name)
        for name in (*copied.split(), "rule", "calendar_version", "provisional", "detail")
    }
    with store.write() as tx:
        tx.clocks_ahead([c, d])
        started_id = tx.start_clock(new_clock, [])
        tx.update_clock(started_id, {"warn_at": now})  # a clock of c's: d's stay kept
        with Statements(engine) as reads:
            assert tx.active_clocks(d) == [replace(fresh[d][0], warned_at=now)]
        if store.sqlite:  # PostgreSQL reads nothing ahead: its clocks are read at once
            assert not reads.seen
        assert len(tx.active_clocks(c)) == 2  # the new clock, read afresh

    def undone(tx: StoreTx, clock_id: int) -> None:
        with tx.savepoint():
            tx.update_clock(clock_id, {"warn_at": None})
            tx.clocks_ahead([a])  # type: ignore[attr-defined]  # reads what is undone
            raise LookupError

    with store.write() as tx:
        before = tx.active_clocks(a)
        with pytest.raises(LookupError):
            undone(tx, before[0].id)
        assert tx.active_clocks(a) == before
