"""Inline delivery after commit (``engine/delivery.py``, ``engine/marks.py``): what the
lighter path keeps of the old one — a handler's payload shares nothing with the item the
caller gets back, the log events name their row, a write without marks waits on no lock."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from cmc_workflow import Engine, HandlerContext, HandlerRegistry
from cmc_workflow.engine.delivery import fresh
from cmc_workflow.engine.marks import DeliveryMarks
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, OPS, TOPIC, check_invariants, walk
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING

JSON_LIKE: list[Any] = [
    {"a": [1, 2.5, {"b": None, "c": True}], "d": "正文", "e": []},
    [[], [{}], "x", 0, -1, 1e300],
    {"when": dt.date(2026, 12, 2), "at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC)},
    {"pair": (1, [2]), "amount": Decimal("1.50"), "set": {1, 2}},
    "plain",
    None,
]


def _mutables(value: Any) -> list[int]:
    """The ids of the dicts and lists inside ``value`` (what a copy must not share)."""
    found: list[int] = []
    if isinstance(value, dict):
        found.append(id(value))
        for item in value.values():
            found += _mutables(item)
    elif isinstance(value, list | tuple):
        if isinstance(value, list):
            found.append(id(value))
        for item in value:
            found += _mutables(item)
    return found


@pytest.mark.parametrize("value", JSON_LIKE)
def test_a_payload_is_copied_as_deepcopy_copied_it(value: Any) -> None:
    copied = fresh(value)
    assert copied == copy.deepcopy(value)
    assert type(copied) is type(value)
    assert not set(_mutables(copied)) & set(_mutables(value))


def test_a_handler_that_changes_its_payload_changes_nothing_else(
    db_url: str, clock: FakeClock
) -> None:
    """The handler gets the item's data as a fresh read would give it: what it does to it
    reaches neither the item the caller gets back nor the stored item."""
    seen: list[HandlerContext] = []

    def vandal(ctx: HandlerContext) -> None:
        seen.append(ctx)
        data: Any = ctx.data
        data["title"] = "changed"
        data["channels"].append("weibo")

    registry = HandlerRegistry({"publish_to_channels": vandal})
    with Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers=registry) as engine:
        signoff = walk(engine, engine.start("publishing", actor=EDITOR, data=TOPIC), "signoff")
        item = engine.fire(signoff.id, "sign", actor=OPS)
        assert item.state == "published"
        assert len(seen) == 1
        assert item.data["title"] == TOPIC["title"]
        assert item.data["channels"] == TOPIC["channels"]
        stored = engine.get(item.id)
        assert (stored.data["title"], stored.data["channels"]) == (
            TOPIC["title"],
            TOPIC["channels"],
        )
    assert check_invariants(db_url) == []


def test_delivery_log_events_name_their_row(db_url: str, clock: FakeClock) -> None:
    """``delivered`` and ``delivery_failed`` carry the row's item, id, kind and name, as
    when a logger was bound per delivery."""
    failures = [ConnectionError("weibo is down")]

    def flaky(_ctx: HandlerContext) -> None:
        if failures:
            raise failures.pop()

    registry = HandlerRegistry({"publish_to_channels": flaky})
    with Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers=registry) as engine:
        signoff = walk(engine, engine.start("publishing", actor=EDITOR, data=TOPIC), "signoff")
        with capture_logs() as logs:
            item = engine.fire(signoff.id, "sign", actor=OPS)
        (row,) = [r for r in engine.outbox(item.id) if r.kind == "handler"]
        (failed,) = [e for e in logs if e["event"] == "delivery_failed"]
        assert failed["attempt"] == 1
        assert failed["error"] == "ConnectionError: weibo is down"
        named = (item.id, row.id, "handler", "publish_to_channels")
        assert (failed["item_id"], failed["outbox_id"], failed["kind"], failed["name"]) == named
        clock.now = row.available_at
        with capture_logs() as logs:
            assert engine.run_due().delivered == 1
        (done,) = [e for e in logs if e["event"] == "delivered"]
        assert (done["item_id"], done["outbox_id"], done["kind"], done["name"]) == named
        assert done["attempt"] == 2
        assert engine.get(item.id).state == "published"


def test_a_write_without_marks_waits_on_no_lock(sqlite_url: str) -> None:
    """Every write of the engine asks the marks; with none pending it goes on even while
    another thread holds their lock (adding a mark)."""
    store = Store.open(sqlite_url)
    try:
        marks = DeliveryMarks(store, "me")
        done = threading.Event()

        def write() -> None:
            with store.write() as tx:
                marks.write_in(tx)
            done.set()

        with marks._lock:
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            assert done.wait(10)
        writer.join()
    finally:
        store.close()
