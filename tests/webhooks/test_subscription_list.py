"""Which subscriptions a command writes its event to, now that the webhooks extension keeps
the live subscriptions instead of reading them per command (issue 12): a change made in
this process is used by the very next command; one made by another process (a real
``cmc-workflow webhook`` child) by the commands after ``subscriptions_max_age`` seconds or
after the runner's next pass, and not before; a subscription removed by another process
gets nothing more, and a delivery that raced its removal is cancelled untried. On SQLite
and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from cmc_workflow import Actor, Engine
from cmc_workflow.store.tables import webhook_subscriptions
from cmc_workflow.testing import FakeClock
from cmc_workflow.webhooks.extension import Webhooks
from cmc_workflow.webhooks.subscriptions import add_subscription, remove_subscription
from tests.helpers.processes import run
from tests.webhooks.flows import workflows
from tests.webhooks.receiver import Endpoint, endpoint

EDITOR = Actor("wang", {"editor"})
REVIEWER = Actor("li", {"reviewer"})
HOUR = 3600.0


class Ticks:
    """The extension's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hook() -> Iterator[Endpoint]:
    with endpoint() as hook:
        yield hook


def open_engine(url: str, home: Path, clock: FakeClock, **options: Any) -> Engine:
    return Engine.open(
        url, workflows=workflows(home), clock=clock, extensions=[Webhooks(**options)]
    )


def other_process(*args: str) -> str:
    """``cmc-workflow webhook ARGS`` in a child process (its changes are not counted in
    this one); its standard output."""
    done = run(
        [sys.executable, "-m", "cmc_workflow", "webhook", *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def events_of(engine: Engine, item_id: int) -> list[tuple[int, str, str]]:
    """(subscription, event type, status) of every delivery written for the item."""
    with engine.store.read() as tx:
        return [(d.subscription_id, d.event, d.status) for d in tx.hook_deliveries(item_id=item_id)]


def live_ids(engine: Engine) -> list[int]:
    with engine.store.read() as tx:
        return [s.id for s in tx.subscriptions()]


def test_a_subscription_added_in_this_process_gets_the_next_commands_event(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    # the list is kept for an hour: only the change itself makes the next command read
    with open_engine(db_url, tmp_path, clock, subscriptions_max_age=HOUR) as engine:
        item = engine.start("article", actor=EDITOR, data={"title": "古籍展"})
        added = add_subscription(engine.store, hook.url, created_by="pytest", now=clock())
        engine.fire(item.id, "submit", actor=EDITOR)
        assert events_of(engine, item.id) == [(added.row.id, "item.transitioned", "pending")]
        assert remove_subscription(engine.store, added.row.id, clock())
        engine.fire(item.id, "approve", actor=REVIEWER)
        # the removal cancelled the pending one; the approve wrote none
        assert events_of(engine, item.id) == [(added.row.id, "item.transitioned", "cancelled")]


def test_a_command_with_the_list_kept_reads_no_subscription(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock, subscriptions_max_age=HOUR) as engine:
        add_subscription(engine.store, hook.url, created_by="pytest", now=clock())
        reads: list[str] = []

        def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            if sql.startswith("SELECT") and "FROM webhook_subscriptions" in sql:
                reads.append(sql)

        event.listen(engine.store.engine, "before_cursor_execute", seen)
        try:
            first = engine.start("article", actor=EDITOR, data={"title": "一"})
            assert len(reads) == 1  # the first command after the change reads the list
            engine.fire(first.id, "submit", actor=EDITOR)
            second = engine.start("article", actor=EDITOR, data={"title": "二"})
            engine.fire(second.id, "submit", actor=EDITOR)
            assert len(reads) == 1  # the next three wrote their events from the list kept
        finally:
            event.remove(engine.store.engine, "before_cursor_execute", seen)
        assert len(events_of(engine, first.id)) == len(events_of(engine, second.id)) == 2


def test_another_process_s_subscription_is_used_after_max_age_or_the_next_pass(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    ticks = Ticks()
    with open_engine(
        db_url, tmp_path, clock, subscriptions_max_age=60.0, monotonic=ticks
    ) as engine:
        item = engine.start("article", actor=EDITOR, data={"title": "古籍展"})  # none kept
        other_process("add", "--db", db_url, "--url", hook.url)
        (first,) = live_ids(engine)
        ticks.now += 59.0
        engine.fire(item.id, "submit", actor=EDITOR)
        assert events_of(engine, item.id) == []  # within the bound: the list kept is used
        ticks.now += 1.0
        engine.fire(item.id, "reject", actor=REVIEWER)
        assert events_of(engine, item.id) == [(first, "item.transitioned", "pending")]

        other_process("add", "--db", db_url, "--url", hook.url, "--label", "second")
        second = max(live_ids(engine))
        engine.fire(item.id, "submit", actor=EDITOR)
        assert [e[0] for e in events_of(engine, item.id)] == [first, first]  # kept: 0 s old
        engine.run_due()  # the runner's pass reads the subscriptions (and sends)
        engine.fire(item.id, "approve", actor=REVIEWER)
        assert [e[0] for e in events_of(engine, item.id)] == [first, first, first, second]


def test_a_subscription_another_process_removed_gets_no_more_events(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    ticks = Ticks()
    with open_engine(
        db_url, tmp_path, clock, subscriptions_max_age=60.0, monotonic=ticks
    ) as engine:
        added = add_subscription(engine.store, hook.url, created_by="pytest", now=clock())
        item = engine.start("article", actor=EDITOR, data={"title": "古籍展"})
        other_process("remove", "--db", db_url, str(added.row.id))
        engine.fire(item.id, "submit", actor=EDITOR)  # the list kept still names it...
        # ...but a delivery is written only while its subscription is live (and the
        # removal cancelled the start's)
        assert events_of(engine, item.id) == [(added.row.id, "item.created", "cancelled")]


def test_a_pending_delivery_of_a_removed_subscription_is_cancelled_untried(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock, subscriptions_max_age=0.0) as engine:
        gone = add_subscription(engine.store, hook.url, created_by="pytest", now=clock())
        kept = add_subscription(engine.store, hook.url, created_by="pytest", now=clock())
        item = engine.start("article", actor=EDITOR, data={"title": "古籍展"})
        # staged: the removal committed while a command's insert was not yet visible to
        # it (PostgreSQL, READ COMMITTED), so it could not cancel that delivery
        with engine.store.write() as tx:
            tx.conn.execute(
                update(webhook_subscriptions)
                .where(webhook_subscriptions.c.id == gone.row.id)
                .values(removed_at=clock())
            )
        engine.run_due()
        assert sorted(events_of(engine, item.id)) == [
            (gone.row.id, "item.created", "cancelled"),
            (kept.row.id, "item.created", "sent"),
        ]
        with engine.store.read() as tx:
            (cancelled,) = tx.hook_deliveries(gone.row.id)
            assert tx.hook_attempts(cancelled.id) == []  # not tried, so no attempt
        assert [r.json["subscription_id"] for r in hook.received] == [kept.row.id]
