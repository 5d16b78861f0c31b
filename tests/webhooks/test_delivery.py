"""Outbound webhooks to host systems (issue 15, part 4) end to end in the engine, on
SQLite and PostgreSQL, against a real HTTP endpoint on loopback: delivered and signed,
retried with a backoff, surviving a runner's restart, in order per item, filtered, and a
dead endpoint holding up nobody else."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.testing import FakeClock
from cmc_workflow.webhooks.extension import LEASE, Webhooks
from cmc_workflow.webhooks.subscriptions import NewlyAdded, add_subscription
from tests.webhooks.flows import workflows
from tests.webhooks.receiver import Endpoint, endpoint

EDITOR = Actor("wang", {"editor"})
REVIEWER = Actor("li", {"reviewer"})


@pytest.fixture
def hook() -> Iterator[Endpoint]:
    with endpoint() as hook:
        yield hook


def open_engine(url: str, home: Path, clock: FakeClock, **options: Any) -> Engine:
    return Engine.open(
        url, workflows=workflows(home), clock=clock, extensions=[Webhooks(**options)]
    )


def subscribe(engine: Engine, url: str, **options: Any) -> NewlyAdded:
    return add_subscription(engine.store, url, created_by="pytest", now=engine.clock(), **options)


def test_an_event_is_delivered_signed_with_one_id_the_host_can_verify(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock) as engine:
        added = subscribe(engine, hook.url)
        item = engine.start("article", actor=EDITOR, data={"title": "古籍展"})
        engine.fire(item.id, "submit", actor=EDITOR)
        assert hook.received == []  # written with the command, sent by the runner's pass
        engine.run_due()
        got = hook.delivered()
        assert [r.json["type"] for r in got] == ["item.created", "item.transitioned"]
        assert all(r.signed_by(added.secret) for r in got)
        assert not got[0].signed_by(added.secret + "x")
        created, moved = (r.json for r in got)
        assert created["item_id"] == item.id
        assert created["to"] == "draft"
        assert moved["from"] == "draft"
        assert moved["to"] == "review"
        assert moved["actor"] == "wang"
        assert moved["workflow"] == "article"
        assert "data" not in moved  # the host reads the item over the API if it may
        assert [r.headers["x-cmc-event-id"] for r in got] == [created["id"], moved["id"]]
        with engine.store.read() as tx:
            rows = tx.hook_deliveries(added.row.id)
            attempts = [tx.hook_attempts(r.id) for r in rows]
        assert [r.status for r in rows] == ["sent", "sent"]
        assert [[(a.result, a.status_code) for a in row] for row in attempts] == [
            [("sent", 200)],
            [("sent", 200)],
        ]
        engine.run_due()
        assert len(hook.received) == 2  # nothing is sent twice


def test_a_failing_endpoint_is_retried_with_a_growing_wait_then_succeeds(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock, retry_seconds=10) as engine:
        added = subscribe(engine, hook.url, events=["item.created"])
        engine.start("article", actor=EDITOR)
        hook.fail_next = 2
        engine.run_due()
        engine.run_due()  # not yet: the first retry waits 10 s
        assert [r.status for r in hook.received] == [500]
        clock.advance(seconds=11)
        engine.run_due()
        clock.advance(seconds=11)
        engine.run_due()  # not yet: the second retry waits 20 s
        assert [r.status for r in hook.received] == [500, 500]
        clock.advance(seconds=10)
        engine.run_due()
        assert [r.status for r in hook.received] == [500, 500, 200]
        assert len({r.headers["x-cmc-event-id"] for r in hook.received}) == 1
        assert [r.headers["x-cmc-attempt"] for r in hook.received] == ["1", "2", "3"]
        with engine.store.read() as tx:
            (row,) = tx.hook_deliveries(added.row.id)
            attempts = tx.hook_attempts(row.id)
        assert [(a.result, a.status_code) for a in attempts] == [
            ("failed", 500),
            ("failed", 500),
            ("sent", 200),
        ]
        assert row.status == "sent"
        assert row.attempts == 3


def test_the_wait_is_capped_and_a_delivery_dies_after_the_last_attempt(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(
        db_url, tmp_path, clock, retry_seconds=10, max_backoff=15, max_attempts=3
    ) as engine:
        added = subscribe(engine, hook.url)
        engine.start("memo", actor=EDITOR)
        hook.fail_next = 99
        engine.run_due()
        for _ in range(2):
            clock.advance(seconds=16)  # 10 s, then 20 s capped at 15 s
            engine.run_due()
        clock.advance(hours=2)
        engine.run_due()
        assert len(hook.received) == 3
        with engine.store.read() as tx:
            (row,) = tx.hook_deliveries(added.row.id)
            results = [a.result for a in tx.hook_attempts(row.id)]
        assert row.status == "dead"
        assert results == ["failed", "failed", "dead"]


def test_an_accepted_event_survives_the_runner_stopping_before_it_was_sent(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock) as first:
        added = subscribe(first, hook.url)
        item = first.start("article", actor=EDITOR)
    # a runner that claimed the next event and died before it sent it
    with open_engine(db_url, tmp_path, clock) as crashed:
        crashed.fire(item.id, "submit", actor=EDITOR)
        with crashed.store.write() as tx:
            claimed = tx.claim_hook_deliveries(clock(), "crashed-runner", LEASE, 10)
        assert len(claimed) == 1  # the item's first event; the second waits behind it
    with open_engine(db_url, tmp_path, clock) as second:
        second.run_due()
        assert hook.received == []  # the dead runner's claim holds until its lease ends
        clock.advance(seconds=LEASE.total_seconds() + 1)
        second.run_due()
        assert [e["type"] for e in hook.events()] == ["item.created", "item.transitioned"]
        with second.store.read() as tx:
            assert {r.status for r in tx.hook_deliveries(added.row.id)} == {"sent"}


def test_an_items_events_arrive_in_order_even_when_one_had_to_be_retried(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock, retry_seconds=10) as engine:
        subscribe(engine, hook.url)
        item = engine.start("article", actor=EDITOR)
        engine.fire(item.id, "submit", actor=EDITOR)
        engine.fire(item.id, "reject", actor=REVIEWER)
        engine.fire(item.id, "submit", actor=EDITOR)
        other = engine.start("memo", actor=EDITOR)
        hook.fail_next = 1  # the article's first event fails
        engine.run_due()
        # the article's later events wait behind its first; the endpoint failed, so the
        # memo's is given back untried for this pass
        assert [(r.status, r.json["item_id"]) for r in hook.received] == [(500, item.id)]
        clock.advance(seconds=11)
        engine.run_due()
        assert [e["item_id"] for e in hook.events()].count(other.id) == 1
        article = [e for e in hook.events() if e["item_id"] == item.id]
        assert [(e["type"], e["to"]) for e in article] == [
            ("item.created", "draft"),
            ("item.transitioned", "review"),
            ("item.transitioned", "draft"),
            ("item.transitioned", "review"),
        ]


def test_a_subscription_receives_only_its_event_types_of_its_workflows(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock) as engine:
        subscribe(engine, hook.url, events=["item.transitioned"], workflows=["memo"])
        article = engine.start("article", actor=EDITOR)
        engine.fire(article.id, "submit", actor=EDITOR)
        memo = engine.start("memo", actor=EDITOR)
        engine.fire(memo.id, "close", actor=EDITOR)
        engine.run_due()
        assert [(e["workflow"], e["type"], e["to"]) for e in hook.events()] == [
            ("memo", "item.transitioned", "closed")
        ]


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"  # nothing listens there any more


def test_a_dead_endpoint_does_not_hold_up_the_others(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock, max_attempts=2) as engine:
        dead = subscribe(engine, _closed_port())
        live = subscribe(engine, hook.url)
        items = [engine.start("memo", actor=EDITOR) for _ in range(3)]
        engine.run_due()
        assert sorted(e["item_id"] for e in hook.events()) == [i.id for i in items]
        with engine.store.read() as tx:
            tried = [len(tx.hook_attempts(r.id)) for r in tx.hook_deliveries(dead.row.id)]
        assert tried == [1, 0, 0]  # one refused connection, the rest left for later
        for _ in range(6):  # one attempt per pass while the endpoint fails
            clock.advance(minutes=5)
            engine.run_due()
        with engine.store.read() as tx:
            assert {r.status for r in tx.hook_deliveries(dead.row.id)} == {"dead"}
            assert {r.status for r in tx.hook_deliveries(live.row.id)} == {"sent"}
        assert len(hook.received) == 3


def test_an_sla_warning_and_breach_are_one_event_each_when_their_timers_fire(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(db_url, tmp_path, clock) as engine:
        subscribe(engine, hook.url, events=["sla.warning", "sla.breach"])
        item = engine.start("article", actor=EDITOR)
        engine.fire(item.id, "submit", actor=EDITOR)
        engine.run_due()
        assert hook.received == []
        with engine.store.read() as tx:  # the warning reminds both roles that may act
            warn_timers = [t for t in tx.timers_of(item.id) if t.action == "warn"]
        assert len(warn_timers) == 2
        clock.advance(days=10)
        engine.run_due()
        warning, breach = hook.events()
        assert warning["type"] == "sla.warning"
        assert breach["type"] == "sla.breach"
        assert breach["item_id"] == item.id
        assert breach["state"] == "review"
        assert breach["due_at"]
        engine.run_due()
        assert len(hook.received) == 2


def test_removing_a_subscription_cancels_what_it_had_pending(
    db_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    from cmc_workflow.webhooks.subscriptions import remove_subscription

    with open_engine(db_url, tmp_path, clock) as engine:
        added = subscribe(engine, hook.url)
        engine.start("memo", actor=EDITOR)
        assert remove_subscription(engine.store, added.row.id, clock())
        assert not remove_subscription(engine.store, added.row.id, clock())
        engine.start("memo", actor=EDITOR)
        engine.run_due()
        assert hook.received == []
        with engine.store.read() as tx:
            assert [r.status for r in tx.hook_deliveries(added.row.id)] == ["cancelled"]


def test_with_a_master_key_the_database_holds_no_secret(
    sqlite_url: str, tmp_path: Path, clock: FakeClock, hook: Endpoint
) -> None:
    with open_engine(sqlite_url, tmp_path, clock, master_key="k" * 32) as engine:
        added = subscribe(engine, hook.url, master_key="k" * 32)
        assert added.secret not in added.row.secret  # only the nonce is stored
        engine.start("memo", actor=EDITOR)
        engine.run_due()
        assert hook.delivered()[0].signed_by(added.secret)
    with open_engine(sqlite_url, tmp_path, clock) as keyless:  # a runner without the key
        keyless.start("memo", actor=EDITOR)
        keyless.run_due()
        with keyless.store.read() as tx:
            last = tx.hook_deliveries(added.row.id)[-1]
        assert last.status == "pending"
        assert "CMC_WEBHOOK_KEY" in (last.last_error or "")
    assert len(hook.received) == 1


def test_without_subscriptions_nothing_is_written(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with open_engine(sqlite_url, tmp_path, clock) as engine:
        engine.start("memo", actor=EDITOR)
        assert engine.run_due().extensions == 0
        with engine.store.read() as tx:
            assert tx.hook_deliveries() == []


def test_the_default_engine_writes_webhook_deliveries(tmp_path: Path, clock: FakeClock) -> None:
    """The composition root installs the extension: a host that embeds the library gets
    the same webhooks as the daemon (on the in-memory store too)."""
    from cmc_workflow.engine import assemble
    from cmc_workflow.runner.assemble import load_definitions
    from cmc_workflow.store.memory import MemoryStore

    with assemble(MemoryStore(), load_definitions([workflows(tmp_path)]), clock=clock) as engine:
        added = subscribe(engine, "https://host.example/hook")
        engine.start("memo", actor=EDITOR)
        with engine.store.read() as tx:
            assert [r.event for r in tx.hook_deliveries(added.row.id)] == ["item.created"]


def test_the_in_process_runner_sends_webhooks_by_itself(
    sqlite_url: str, tmp_path: Path, hook: Endpoint
) -> None:
    """An embedding host's :class:`Runner` (its own clock thread) delivers, as the daemon
    does; real time here, so the runner's passes see the rows the commands wrote."""
    from cmc_workflow.runner.core import Runner
    from tests.helpers.processes import wait_until

    with Engine.open(sqlite_url, workflows=workflows(tmp_path)) as engine:
        added = subscribe(engine, hook.url)
        with Runner(engine, poll_interval=0.1):
            item = engine.start("memo", actor=EDITOR)
            wait_until(hook.delivered, "the runner to send the webhook")
        (got,) = hook.delivered()
        assert got.signed_by(added.secret)
        assert got.json["item_id"] == item.id
