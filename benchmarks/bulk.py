"""Reader messages per second through group commit, against a raw SQLAlchemy Core baseline.

The engine registers bursts of reader messages (the bundled ``comments`` workflow) as the
operations assistant with the bundled policies loaded: ``Engine.start_many`` in batches
of ``--batch`` messages, then ``Engine.fire_many`` for their first step (``classify``).
Every message is policy-checked (``posts_trained`` reads the assistant's training
record, seeded through the engine first), recorded with its history row, its SLA clock
and timers, and audited on its hash chain — one transaction per batch, SQLite at
``synchronous=FULL`` as shipped.

The baseline commits the same batches on the same database in the same process through
SQLAlchemy Core with statements built once: per message an INSERT of an items-like row
and of a history-like row (start), then an UPDATE of that row (with its version check)
and an INSERT of a history-like row (classify), one transaction per batch of the same
size. For scale, the engine's single commands (``Engine.start``/``Engine.fire``, one
commit each) run on a few messages too.

Usage::

    python benchmarks/bulk.py [--items 2000] [--batch 1000] [--rounds 3] [--profile FILE]

The sides take turns batch by batch, so that load from other processes falls on both
alike; the ratio is over all rounds. At the end the script checks that every message the
engine took is classified, with its two history rows and two audit records.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from common import (
    INSERT_HISTORY,
    INSERT_ITEM,
    ROOT,
    UPDATE_ITEM,
    bench,
    seed_training,
)
from sqlalchemy import Engine as SAEngine
from sqlalchemy import (
    event,
    func,
    select,
)

from cmc_workflow.engine import Engine, FireEntry
from cmc_workflow.log import configure_logging
from cmc_workflow.model import Actor
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, history, items

_T = TypeVar("_T")

ASSISTANT = Actor("li", {"ops_assistant"})
CLASSIFY = {"category": "consultation"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def message(n: int) -> dict[str, Any]:
    """Reader message ``n`` as a platform delivers it."""
    return {
        "channel": "weibo",
        "account": "library_official",
        "reader": f"reader_{n}",
        "text": f"第 {n} 条留言：请问国庆期间少儿馆开放吗？",
        "received_at": now().isoformat(),
    }


def engine_start(engine: Engine, messages: list[dict[str, Any]]) -> list[int]:
    outcomes = engine.start_many("comments", messages, actor=ASSISTANT)
    refused = [o.refusal for o in outcomes if o.refusal is not None]
    assert not refused, refused[0]
    return [o.item.id for o in outcomes if o.item is not None]


def engine_fire(engine: Engine, ids: list[int]) -> None:
    outcomes = engine.fire_many([FireEntry(i, "classify", ASSISTANT, CLASSIFY) for i in ids])
    refused = [o.refusal for o in outcomes if o.refusal is not None]
    assert not refused, refused[0]


def single_commands(engine: Engine, messages: list[dict[str, Any]]) -> None:
    for data in messages:
        item = engine.start("comments", actor=ASSISTANT, data=data)
        engine.fire(item.id, "classify", actor=ASSISTANT, data=CLASSIFY)


def core_start(db: SAEngine, messages: list[dict[str, Any]]) -> list[int]:
    """The baseline's start: an items-like row and a history-like row per message."""
    ids = []
    with db.begin() as conn:
        for data in messages:
            at = now()
            item_id = conn.execute(
                INSERT_ITEM,
                {
                    "workflow_id": "comments",
                    "state": "classify",
                    "data": data,
                    "version": 1,
                    "updated_at": at,
                },
            ).scalar_one()
            conn.execute(
                INSERT_HISTORY,
                {
                    "item_id": item_id,
                    "seq": 1,
                    "at": at,
                    "trigger": None,
                    "to_state": "classify",
                    "actor": ASSISTANT.id,
                    "form": data,
                },
            )
            ids.append(item_id)
    return ids


def core_fire(db: SAEngine, ids: list[int]) -> None:
    """The baseline's classify: an UPDATE with its version check and a history-like row."""
    with db.begin() as conn:
        for item_id in ids:
            at = now()
            result = conn.execute(
                UPDATE_ITEM,
                {
                    "b_id": item_id,
                    "b_version": 1,
                    "state": "consultation",
                    "version": 2,
                    "updated_at": at,
                },
            )
            assert result.rowcount == 1
            conn.execute(
                INSERT_HISTORY,
                {
                    "item_id": item_id,
                    "seq": 2,
                    "at": at,
                    "trigger": "classify",
                    "to_state": "consultation",
                    "actor": ASSISTANT.id,
                    "form": CLASSIFY,
                },
            )


def counted(db: SAEngine, run: Callable[[], _T]) -> tuple[int, _T]:
    """Statements (BEGIN and COMMIT not counted) of one call of ``run``, and its result."""
    seen = [0]

    def on_execute(*_args: Any) -> None:
        seen[0] += 1

    event.listen(db, "before_cursor_execute", on_execute)
    try:
        result = run()
    finally:
        event.remove(db, "before_cursor_execute", on_execute)
    return seen[0] - 1, result  # BEGIN IMMEDIATE


def check(url: str, taken: int) -> None:
    """Every message the engine took is classified, with 2 history rows and 2 audit
    records (the training record's are left aside)."""
    db = open_database(url)
    try:
        with db.connect() as conn:
            comments = select(items.c.id).where(items.c.workflow_id == "comments")
            states = conn.execute(
                select(items.c.state, func.count())
                .where(items.c.workflow_id == "comments")
                .group_by(items.c.state)
            ).all()
            rows = conn.execute(
                select(func.count()).select_from(history).where(history.c.item_id.in_(comments))
            ).scalar_one()
            records = conn.execute(
                select(func.count()).select_from(audit).where(audit.c.item_id.in_(comments))
            ).scalar_one()
    finally:
        db.dispose()
    assert dict(states) == {"consultation": taken}, states
    # classify routes through a gateway: start, classify, route = 3 history rows
    assert rows == 3 * taken, rows
    assert records == 2 * taken, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="messages per round and side")
    parser.add_argument("--batch", type=int, default=1000, help="messages per batch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument("--single", type=int, default=50, help="messages as single commands")
    parser.add_argument("--profile", type=Path, help="profile one engine round into FILE")
    args = parser.parse_args(argv)
    configure_logging(level="warning")  # as deployed: JSON to stderr, info filtered out

    with tempfile.TemporaryDirectory(prefix="cmc-bulk-") as folder:
        url = f"sqlite:///{Path(folder) / 'bulk.db'}"
        with Engine.open(url, workflows=ROOT / "workflows", policies=ROOT / "policies") as engine:
            raw = open_database(url)
            bench.create_all(raw)
            try:
                return run(engine, raw, url, args)
            finally:
                raw.dispose()


def run(engine: Engine, raw: SAEngine, url: str, args: argparse.Namespace) -> int:
    seed_training(engine, [(ASSISTANT.id, "ops_assistant")])
    n, size = args.items, args.batch
    # warm up both sides with one small batch each, counting its statements
    warm = [message(i) for i in range(min(size, 50))]
    start_stmts, ids = counted(engine.store.engine, lambda: engine_start(engine, warm))
    core_start_stmts, core_ids = counted(raw, lambda: core_start(raw, warm))
    fire_stmts, _ = counted(engine.store.engine, lambda: engine_fire(engine, ids))
    core_fire_stmts, _ = counted(raw, lambda: core_fire(raw, core_ids))
    statements = {
        "engine start": start_stmts,
        "core start": core_start_stmts,
        "engine fire": fire_stmts,
        "core fire": core_fire_stmts,
    }
    taken = len(warm)

    spent = {"engine start": 0.0, "engine fire": 0.0, "core start": 0.0, "core fire": 0.0}
    cpu = dict.fromkeys(spent, 0.0)  # this process's CPU time, which load disturbs less
    sides: list[tuple[str, Callable[[list[Any]], Any]]] = [
        ("engine start", lambda batch: engine_start(engine, batch)),
        ("engine fire", lambda ids: engine_fire(engine, ids)),
        ("core start", lambda batch: core_start(raw, batch)),
        ("core fire", lambda ids: core_fire(raw, ids)),
    ]
    for _round in range(args.rounds):
        for first in range(0, n, size):
            batch = [message(i) for i in range(first, min(first + size, n))]
            given: list[Any] = batch
            for side, call in sides:
                t0, c0 = time.perf_counter(), time.process_time()
                answer = call(given)
                spent[side] += time.perf_counter() - t0
                cpu[side] += time.process_time() - c0
                given = batch if side.endswith("fire") else answer
            taken += len(batch)
    singles = [message(i) for i in range(args.single)]
    t0 = time.perf_counter()
    single_commands(engine, singles)
    single_seconds = time.perf_counter() - t0
    taken += len(singles)

    total = n * args.rounds
    print(
        f"{total} reader messages in batches of {size} ({args.rounds} rounds); SQLite "
        f"synchronous=FULL; bundled workflows and policies; python "
        f"{sys.version.split()[0]}"
    )
    print(
        f"{'side':<36}{'msg/s':>9}{'µs/msg':>9}{'engine/core':>13}{'stmts/msg':>11}"
        f"{'CPU µs/msg':>12}"
    )
    rows = [
        ("engine start_many (register)", "engine start"),
        ("core, start", "core start"),
        ("engine fire_many (classify)", "engine fire"),
        ("core, classify", "core fire"),
    ]
    for label, side in rows:
        rate = total / spent[side]
        base = side.replace("engine", "core")
        ratio = f"{rate / (total / spent[base]):.0%}" if side != base else ""
        per_msg = statements[side] / len(warm)
        print(
            f"{label:<36}{rate:>9,.0f}{1e6 / rate:>9,.0f}{ratio:>13}{per_msg:>11.1f}"
            f"{1e6 * cpu[side] / total:>12,.0f}"
        )
    both = total / (spent["engine start"] + spent["engine fire"])
    print(f"{'engine, both steps':<36}{both:>9,.0f}{1e6 / both:>9,.0f}")
    single = args.single / single_seconds if single_seconds else 0.0
    print(f"{'engine, single commands (2 commits)':<36}{single:>9,.0f}{1e6 / single:>9,.0f}")

    if args.profile is not None:
        profiler = cProfile.Profile()
        batch = [message(i) for i in range(size)]
        profiler.enable()
        ids = engine_start(engine, batch)
        engine_fire(engine, ids)
        profiler.disable()
        taken += len(batch)
        profiler.dump_stats(args.profile)
        print(f"profile of one batch of {size} (start_many + fire_many) written to {args.profile}")
    check(url, taken)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
