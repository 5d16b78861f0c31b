"""What a batch spares itself per command (issue 12): the collector's runs while its
commands run, the empty columns of the SLA clocks and timers it keeps, and the delegation
of the operations every command asks for.

What the rows come to is compared with single commands in ``test_batch_appends.py``;
these tests pin how a batch gets there.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.engine import transition
from cmc_workflow.engine.batch import BatchTx, FireEntry
from cmc_workflow.testing import FakeClock
from tests.engine.test_batch import ASSISTANT, message, open_engine
from tests.engine.test_batch_appends import Statements
from tests.helpers.records import train_staff

EMPTY_AT_START = ("paused_at", "stopped_at", "warned_at", "escalated_at", "breached_at")


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as opened:
        train_staff(opened, ASSISTANT)
        yield opened


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test found it, whatever the test did to it."""
    was = gc.isenabled()
    try:
        yield
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def _watch_collector(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the collector ran, as each command of a ``start_many`` found it."""
    seen: list[bool] = []
    start_in = transition.start_in

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return start_in(*args, **kwargs)

    monkeypatch.setattr(transition, "start_in", watched)
    return seen


def test_the_collector_waits_while_a_batch_runs(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    seen = _watch_collector(monkeypatch)
    gc.enable()

    outcomes = engine.start_many("comments", [message(n) for n in range(3)], actor=ASSISTANT)

    assert all(o.accepted for o in outcomes)
    assert seen == [False, False, False]
    assert gc.isenabled()  # resumed after the batch


def test_the_collector_resumes_after_a_batch_that_failed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(transition, "start_in", broken)
    gc.enable()

    with pytest.raises(RuntimeError):
        engine.start_many("comments", [message(1)], actor=ASSISTANT)

    assert gc.isenabled()


def test_a_collector_the_host_paused_stays_paused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    seen = _watch_collector(monkeypatch)
    gc.disable()

    engine.start_many("comments", [message(1)], actor=ASSISTANT)
    started = [
        o.item.id
        for o in engine.start_many("comments", [message(2)], actor=ASSISTANT)
        if o.item is not None
    ]
    engine.fire_many(
        [FireEntry(i, "classify", ASSISTANT, {"category": "consultation"}) for i in started]
    )

    assert seen == [False, False]
    assert not gc.isenabled()


def test_a_kept_clock_binds_no_empty_column(engine: Engine) -> None:
    engine.start_many("comments", [message(0)], actor=ASSISTANT)
    with Statements(engine) as seen:
        outcomes = engine.start_many("comments", [message(n) for n in range(3)], actor=ASSISTANT)
    assert all(o.accepted for o in outcomes)

    if not engine.store.sqlite:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL inserts each clock at once, with its timers")
    (clock,) = [s for s in seen.seen if s.startswith("INSERT INTO clocks ")]
    (timer,) = [s for s in seen.seen if s.startswith("INSERT INTO timers ")]
    columns = clock[: clock.index(")")]
    assert "due_at" in columns
    assert not [c for c in EMPTY_AT_START if c in columns]
    assert "done_at" not in timer[: timer.index(")")]


class _Recording:
    """A store transaction that notes each call and each write of the kept rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.flushes: list[Any] = []

    def defer_appends(self) -> None:
        pass

    def flush_appends(self, tables: Any = None) -> None:
        self.flushes.append(tables)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> str:
            self.calls.append((name, args))
            return f"{name} done"

        return call


OWN_METHODS = (
    "insert_history",
    "insert_audit",
    "start_clock",
    "update_clock",
    "set_clock_timers",
    "stop_clocks_leaving",
    "item_facts",
)


@pytest.mark.parametrize("name", OWN_METHODS)
def test_a_batchs_own_methods_do_what_its_delegation_does(name: str) -> None:
    """The operations every accepted command asks for are methods of ``BatchTx`` (no
    ``__getattr__`` a call): each counts as a write or not, writes the kept rows first
    or not, and reaches the store with the same arguments, as the delegation would."""
    assert name in vars(BatchTx)
    seen = []
    for way in ("method", "delegation"):
        store = _Recording()
        view = BatchTx(store)  # type: ignore[arg-type]  # duck-typed, as the store is
        args = tuple(range(len(inspect.signature(getattr(view, name)).parameters)))
        operation = getattr(view, name) if way == "method" else view.__getattr__(name)
        operation(*args)
        assert store.calls == [(name, args)]
        seen.append((view.writes, store.flushes))
    assert seen[0] == seen[1]
