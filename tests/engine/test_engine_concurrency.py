"""Concurrent commands on one item: exactly one wins per version, nothing is lost or doubled.

Threads start together at a barrier and fire through one Engine, or through two Engines
(two runners) on one database. Afterwards the history must run 1..n without gaps or
duplicates and agree with the accepted audit records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from cmc_workflow import ConflictError, Engine, HandlerContext, Item
from cmc_workflow.errors import EngineError, InvalidTrigger
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    EDITOR,
    LEAD,
    OPS,
    TOPIC,
    check_invariants,
    ok_handler,
    walk,
)
from tests.helpers import (
    UNGUARDED_PUBLISHING as PUBLISHING,
)
from tests.helpers.processes import CAP

THREADS = 8


@contextmanager
def engines(db_url: str, clock: FakeClock, count: int) -> Iterator[list[Engine]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                Engine.open(
                    db_url,
                    workflows=PUBLISHING,
                    clock=clock,
                    handlers={"publish_to_channels": ok_handler},
                    runner=f"runner-{n}",
                )
            )
            for n in range(count)
        ]


def together(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``work(n)`` in ``threads`` threads released at once; returns results or errors."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as exc:  # collected and judged by the test
            results[n] = exc

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=CAP)  # a cap for a loaded machine, not a speed limit
        assert not thread.is_alive(), "a command hung"
    return results


runners = pytest.mark.parametrize("runner_count", [1, 2], ids=["one-engine", "two-engines"])


@runners
@pytest.mark.req("SEC-4")
def test_one_of_eight_simultaneous_approvals_wins(
    db_url: str, clock: FakeClock, runner_count: int
) -> None:
    with engines(db_url, clock, runner_count) as pool:
        item = pool[0].start("publishing", actor=EDITOR, data=TOPIC)
        results = together(lambda n: pool[n % runner_count].fire(item.id, "approve", actor=LEAD))
        won = [r for r in results if isinstance(r, Item)]
        lost = [r for r in results if not isinstance(r, Item)]
        assert len(won) == 1, results
        assert won[0].state == "selected"
        assert won[0].version == 2
        # the losers either lost the race or found the state moved on: never anything else
        assert all(isinstance(r, ConflictError | InvalidTrigger) for r in lost), lost
        history = pool[0].history(item.id)
        assert [(h.seq, h.trigger) for h in history] == [(1, None), (2, "approve")]
        audit = pool[0].audit_trail(item.id)
        assert sum(a["outcome"] == "accepted" for a in audit) == 2
        assert sum(a["outcome"] == "refused" for a in audit) == THREADS - 1
    assert check_invariants(db_url) == []


@runners
@pytest.mark.req("SEC-4")
def test_stale_clicks_lose_to_the_first(db_url: str, clock: FakeClock, runner_count: int) -> None:
    rounds = 4
    with engines(db_url, clock, runner_count) as pool:
        item = pool[0].start("publishing", actor=EDITOR, data=TOPIC)
        for round_ in range(rounds):
            seen = pool[0].get(item.id).version

            def edit(n: int, seen: int = seen, round_: int = round_) -> Item:
                return pool[n % runner_count].fire(
                    item.id,
                    "edit",
                    actor=LEAD,
                    data={"title": f"round {round_} thread {n}"},
                    expected_version=seen,
                )

            results = together(edit)
            won = [r for r in results if isinstance(r, Item)]
            assert len(won) == 1, results
            assert all(isinstance(r, ConflictError) for r in results if r is not won[0])
            now = pool[0].get(item.id)
            assert now.version == seen + 1
            assert now.data["title"] == won[0].data["title"]
        history = pool[0].history(item.id)
        assert [h.seq for h in history] == list(range(1, rounds + 2))
        titles = [h.form["title"] for h in history[1:]]
        assert len(set(titles)) == rounds
    assert check_invariants(db_url) == []


@runners
@pytest.mark.req("SEC-4")
def test_concurrent_edits_without_expected_version_lose_nothing(
    db_url: str, clock: FakeClock, runner_count: int
) -> None:
    edits = 5
    with engines(db_url, clock, runner_count) as pool:
        item = pool[0].start("publishing", actor=EDITOR, data=TOPIC)

        def edit_many(n: int) -> int:
            conflicts = 0
            for k in range(edits):
                while True:  # what a caller does with a retryable conflict
                    try:
                        pool[n % runner_count].fire(
                            item.id, "edit", actor=LEAD, data={"outline": f"{n}/{k}"}
                        )
                        break
                    except ConflictError:
                        conflicts += 1
                        assert conflicts < 100, "livelock"
            return conflicts

        results = together(edit_many)
        assert all(isinstance(r, int) for r in results), results
        final = pool[0].get(item.id)
        assert final.version == 1 + THREADS * edits
        history = pool[0].history(item.id)
        assert [h.seq for h in history] == list(range(1, THREADS * edits + 2))
        outlines = sorted(h.form["outline"] for h in history[1:])
        assert outlines == sorted(f"{n}/{k}" for n in range(THREADS) for k in range(edits))
    assert check_invariants(db_url) == []


@runners
def test_items_started_and_moved_in_parallel_stay_apart(
    db_url: str, clock: FakeClock, runner_count: int
) -> None:
    with engines(db_url, clock, runner_count) as pool:

        def lifecycle(n: int) -> tuple[int, str]:
            engine = pool[n % runner_count]
            item = engine.start("publishing", actor=EDITOR, data={**TOPIC, "title": f"t{n}"})
            item = engine.fire(item.id, "approve", actor=LEAD)
            item = engine.fire(
                item.id,
                "assign",
                actor=LEAD,
                data={"assignees": [EDITOR.id], "due_date": "2025-10-10"},
            )
            return item.id, item.data["title"]

        results = together(lifecycle)
        assert not [r for r in results if isinstance(r, EngineError | Exception)], results
        ids = [r[0] for r in results]
        assert len(set(ids)) == THREADS
        for item_id, title in results:
            item = pool[-1].get(item_id)
            assert (item.state, item.data["title"], item.version) == ("assigned", title, 3)
        assert sorted(i.id for i in pool[0].inbox(EDITOR)) == sorted(ids)
    # closed: each runner wrote the marks of what it delivered (they wait for its next
    # write otherwise, see cmc_workflow.engine.marks)
    store = Store.open(db_url)
    try:
        with store.read() as tx:
            outbox = [row for item_id in ids for row in tx.outbox_of(item_id)]
    finally:
        store.close()
    assert len(outbox) == THREADS  # one notification of the assigned editor each
    assert all(row.delivered_at is not None and row.attempts == 1 for row in outbox)
    assert check_invariants(db_url) == []


@pytest.mark.req("PUB-7")
def test_two_daemons_deliver_each_side_effect_once(db_url: str, clock: FakeClock) -> None:
    """Runners compete for the outbox (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on
    SQLite): when nothing fails, every handler row runs exactly once."""
    items = 6
    runs: list[str] = []
    lock = threading.Lock()

    def publisher(ctx: HandlerContext) -> None:
        with lock:
            runs.append(ctx.idempotency_key)

    with ExitStack() as stack:
        web = stack.enter_context(
            Engine.open(db_url, workflows=PUBLISHING, clock=clock, runner="web")
        )
        daemons = [
            stack.enter_context(
                Engine.open(
                    db_url,
                    workflows=PUBLISHING,
                    clock=clock,
                    handlers={"publish_to_channels": publisher},
                    runner=f"daemon-{n}",
                )
            )
            for n in range(2)
        ]
        signed = []
        for _ in range(items):
            item = walk(web, web.start("publishing", actor=EDITOR, data=TOPIC), "signoff")
            signed.append(web.fire(item.id, "sign", actor=OPS).id)

        def drain(n: int) -> int:
            return sum(daemons[n % 2].deliver_outbox(limit=1).delivered for _ in range(items))

        delivered = together(drain)
        assert all(isinstance(d, int) for d in delivered), delivered
        assert sorted(runs) == sorted(set(runs))  # nothing ran twice
        assert len(runs) == items
        assert {web.get(i).state for i in signed} == {"published"}
    assert check_invariants(db_url) == []
