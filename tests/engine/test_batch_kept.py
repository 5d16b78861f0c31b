"""A fire's UPDATEs kept with a batch's appends (issue 12, round 5): on SQLite the item's
UPDATE (its version checked), its SLA clock's and its timers' UPDATEs wait for the
batch's next flush and are written by one executemany each per batch (each item's row
with the chain anchors it has then), not by a statement per command.

What the rows come to is compared with single commands in ``test_batch_appends.py``
(items, clocks and timers column by column); these tests pin how a batch gets there, and
that a version check that misses still fails, the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cmc_workflow import Engine
from cmc_workflow.engine import FireEntry
from cmc_workflow.errors import StoreError
from cmc_workflow.extensions import Change, Extension
from cmc_workflow.store import StoreTx
from cmc_workflow.testing import FakeClock
from tests.engine.test_batch import ASSISTANT, message, open_engine, verified
from tests.engine.test_batch_appends import Statements
from tests.helpers.records import train_staff

CLASSIFY = {"category": "consultation"}


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as opened:
        train_staff(opened, ASSISTANT)
        yield opened


def started(engine: Engine, count: int) -> list[int]:
    outcomes = engine.start_many("comments", [message(n) for n in range(count)], actor=ASSISTANT)
    return [o.item.id for o in outcomes if o.item is not None]


def updates(statements: Statements, table: str) -> list[str]:
    return [s for s in statements.seen if s.startswith(f"UPDATE {table} ")]


def test_a_fire_batch_updates_its_items_and_clocks_once(engine: Engine) -> None:
    small, large = started(engine, 3), started(engine, 12)
    with Statements(engine) as few:
        engine.fire_many([FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in small])
    with Statements(engine) as many:
        outcomes = engine.fire_many([FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in large])

    assert all(o.accepted for o in outcomes)
    if engine.store.sqlite:  # type: ignore[attr-defined]
        # one UPDATE of the items (their anchors with them: none after), one of the
        # clocks and one of their timers' fence for the whole batch
        for table in ("items", "clocks", "timers"):
            assert len(updates(many, table)) == len(updates(few, table)) == 1, table
        assert len(many.seen) == len(few.seen)
    else:  # PostgreSQL: each item's UPDATE at once (carrying its history and audit rows)
        assert sum("UPDATE items " in s for s in many.seen) == 12
    states = {engine.get(i).state for i in large}
    assert states == {"consultation"}


class Reads(Extension):
    """After each change, reads ``item_ids`` through the store, as the batch's commands
    left them."""

    def __init__(self) -> None:
        self.item_ids: list[int] = []
        self.seen: list[tuple[int, str | None, int | None]] = []

    def after_change(self, tx: StoreTx, change: Change) -> None:
        for item_id in self.item_ids:
            row = tx.item(item_id)
            self.seen.append((item_id, *((row.state, row.version) if row else (None, None))))


def test_an_item_read_in_the_batch_sees_its_kept_update(db_url: str, clock: FakeClock) -> None:
    """A read of an item not read ahead (here an extension's) writes the kept UPDATEs
    first: it reads the state the batch's commands left."""
    reads = Reads()
    with open_engine(db_url, clock, reads) as engine:
        train_staff(engine, ASSISTANT)
        first, second = started(engine, 2)
        reads.item_ids = [first, second]

        outcomes = engine.fire_many(
            [FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in (first, second)]
        )

    assert all(o.accepted for o in outcomes)
    assert reads.seen == [
        (first, "consultation", 2),
        (second, "classify", 1),
        (first, "consultation", 2),
        (second, "consultation", 2),
    ]
    assert verified(db_url).ok


class BumpsVersion(Extension):
    """After the first command, changes the version of ``item_id`` behind the store's
    back (a raw UPDATE): a row read ahead for the batch is then stale."""

    def __init__(self) -> None:
        self.item_id: int | None = None

    def after_change(self, tx: StoreTx, change: Change) -> None:
        if self.item_id is not None and change.item_id != self.item_id:
            conn = tx.conn  # type: ignore[attr-defined]  # the SQL store's, for tests
            conn.exec_driver_sql(
                f"UPDATE items SET version = version + 5 WHERE id = {self.item_id}"
            )
            self.item_id = None


def test_a_kept_update_whose_version_check_misses_fails_the_whole_batch(
    sqlite_url: str, clock: FakeClock
) -> None:
    bump = BumpsVersion()
    with open_engine(sqlite_url, clock, bump) as engine:
        train_staff(engine, ASSISTANT)
        first, second = started(engine, 2)
        bump.item_id = second
        with pytest.raises(StoreError) as raised:
            engine.fire_many(
                [FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in (first, second)]
            )

        assert f"item {second} was changed by another command" in str(raised.value)
        # nothing of the batch was committed: the first item was not classified either
        assert engine.get(first).state == engine.get(second).state == "classify"
        assert engine.get(second).version == 1
    assert verified(sqlite_url).ok
