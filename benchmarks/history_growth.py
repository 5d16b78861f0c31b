"""What a command costs as its item grows old: 10, 100, 1,000 and 10,000 history entries.

Publishing items with the bundled policies (``roles.yaml``, ``publishing.yaml``) on
SQLite as shipped (WAL, ``synchronous=FULL``). Each item is walked through the engine to
drafting, then given a long past of rework: pairs of history entries "submitted by the
editor, rejected at the first review" (drafting is a rework state, so every pair is a new
round), written through the store port in one transaction, up to the size measured. The
editor submits once more (untimed, while the items are prepared: after the padding the
item's policy summary is behind its history, and this first command folds it again);
then, the sizes taking turns item by item, three commands are timed:

- ``first approve``: judged by separation of duties (``author_does_not_review``,
  ``distinct_reviewers``, ``corrector_does_not_review``) and the review checklist;
- ``second approve``: the same rules, the first reviewer of the round now known;
- ``sign``: judged by required stages (``reviewed_and_signed_off``: both reviews and the
  sign-off, in order, since the last rework) and separation of duties.

Two raw SQLAlchemy Core baselines run on the same database, item by item with the engine
(prebuilt statements, one transaction per command): ``core`` UPDATEs an items-like row and
INSERTs a history-like row for an item with as many history rows (the database's own
cost as the table grows); ``core + history`` also SELECTs the item's whole history first,
which is what a rule reading the history costs at the database.

Usage::

    python benchmarks/history_growth.py [--items 20] [--sizes 10,100,1000,10000]
        [--only sqlite|postgres] [--pad store|commands] [--records 10,1000]

``--records 10,1000`` measures instead what the same three commands cost as the center's
passed training records grow (TRN-3, ``posts_trained`` in ``policies/training.yaml``
judges the reviewers and the signing manager by them): one database per count, the
records of other people written through the store port, items at 10 history entries,
the counts taking turns item by item; besides the command, the CPU time of its judging
(every policy rule it asks).

``--pad commands`` writes the past through the engine instead (each pair two real
commands, with their audit records, SLA clocks and timers): slower to prepare, and a
check that nothing else in a command grows with the item's age. PostgreSQL runs when
``CMC_BENCH_POSTGRES_URL`` (or ``CMC_TEST_POSTGRES_URL``) is set, in a throw-away database.

Output: per size, the median µs per command over the items, and its ratio to the
10-entry case (or the smallest size given). The sizes take turns item by item, so load
from other processes falls on all of them alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from common import (
    CHECKLIST,
    EDITOR,
    INSERT_HISTORY,
    LEAD,
    OPS,
    REVIEWER,
    ROOT,
    SECOND_REVIEWER,
    TOPIC,
    UPDATE_ITEM,
    bench,
    bench_history,
    bench_items,
    postgres_url,
    seed_training,
    sqlite_url,
)
from sqlalchemy import Engine as SAEngine
from sqlalchemy import (
    bindparam,
    insert,
    select,
)

from cmc_workflow.engine import Engine, transition
from cmc_workflow.handlers import HandlerContext
from cmc_workflow.log import configure_logging
from cmc_workflow.store.database import open_database

WORKFLOWS = [
    ROOT / "workflows" / name
    for name in ("publishing.yaml", "training.yaml", "training_plan.yaml", "accounts.yaml")
]
POLICIES = [ROOT / "policies" / "roles.yaml", ROOT / "policies" / "publishing.yaml"]

COMMANDS = ("first approve", "second approve", "sign")
BASELINES = ("core", "core + history")
HEAD = 4  # start, approve, assign, accept: the entries before the padding

_HISTORY = select(bench_history).where(bench_history.c.item_id == bindparam("b_id")).order_by("seq")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def publish(_ctx: HandlerContext) -> None:
    """Registered, never run: deliveries stay queued (``deliver_inline=False``), so that
    ``sign`` measures the command alone."""


def to_drafting(engine: Engine) -> int:
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    item = engine.fire(item.id, "approve", actor=LEAD)
    item = engine.fire(item.id, "assign", actor=LEAD, data={"assignees": ["wang"], "due_date": due})
    item = engine.fire(item.id, "accept", actor=EDITOR)
    assert item.state == "drafting"
    assert len(engine.history(item.id)) == HEAD
    return item.id


def pad_through_store(engine: Engine, item_id: int, pairs: int) -> None:
    """``pairs`` rounds of submit and reject written as history in one transaction; the
    item's row follows (its ``seq``), its policy summary is left behind on purpose."""
    if pairs == 0:
        return
    at = now()
    rows: list[dict[str, Any]] = []
    with engine.store.write() as tx:
        row = tx.item(item_id, lock=True)
        assert row is not None
        assert row.state == "drafting"
        for n in range(pairs):
            seq = row.seq + 2 * n + 1
            for offset, (trigger, source, target, actor, form) in enumerate(
                (
                    ("submit", "drafting", "first_review", EDITOR, {"content": f"第 {n} 稿"}),
                    ("reject", "first_review", "drafting", REVIEWER, {"reason": "请修改"}),
                )
            ):
                rows.append(
                    {
                        "item_id": item_id,
                        "seq": seq + offset,
                        "at": at,
                        "kind": "fire",
                        "trigger": trigger,
                        "from_state": source,
                        "to_state": target,
                        "visit": row.visit,
                        "actor": actor.id,
                        "roles": sorted(actor.roles),
                        "form": form,
                    }
                )
        tx.insert_history(rows)
        values = {
            "state": row.state,
            "data": row.data,
            "visit": row.visit,
            "seq": row.seq + 2 * pairs,
            "updated_at": at,
        }
        tx.update_item(item_id, row.version, values)


def pad_through_commands(engine: Engine, item_id: int, pairs: int) -> None:
    """``pairs`` rounds of submit and reject, each a real command."""
    for n in range(pairs):
        # each resubmission names a higher draft version (PUB-4)
        form = {"content": f"第 {n} 稿", "draft_version": n + 1}
        engine.fire(item_id, "submit", actor=EDITOR, data=form)
        engine.fire(item_id, "reject", actor=REVIEWER, data={"reason": "请修改"})


def submit(engine: Engine, item_id: int) -> None:
    """The untimed submit after the padding: it folds the item's summary again."""
    last = max((h.form.get("draft_version") or 1 for h in engine.history(item_id)), default=1)
    form = {"content": "终稿", "draft_version": last + 1}
    item = engine.fire(item_id, "submit", actor=EDITOR, data=form)
    assert item.state == "first_review"


def timed_commands(engine: Engine, item_id: int) -> list[Times]:
    """The three timed commands on a submitted item: (wall, CPU) seconds each."""
    spent = []
    for trigger, actor, form in (
        ("approve", REVIEWER, CHECKLIST),
        ("approve", SECOND_REVIEWER, CHECKLIST),
        ("sign", OPS, {}),
    ):
        start = stopwatch()
        item = engine.fire(item_id, trigger, actor=actor, data=form)
        spent.append(elapsed(start))
    assert item.state == "publishing", item.state
    return spent


Times = tuple[float, float]
"""Wall-clock and CPU seconds of one command."""
Results = dict[int, dict[str, list[Times]]]


def stopwatch() -> Times:
    return time.perf_counter(), time.process_time()


def elapsed(start: Times) -> Times:
    """Wall-clock seconds since ``start``, and this process's CPU seconds (the CPU time
    does not count waiting for the disk or for other processes on a busy machine)."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def baseline_item(raw: SAEngine, entries: int) -> tuple[int, int]:
    """An items-like row with ``entries`` history-like rows (id, version)."""
    with raw.begin() as conn:
        item_id = conn.execute(
            insert(bench_items).returning(bench_items.c.id),
            {"state": "drafting", "data": TOPIC, "version": 1, "updated_at": now()},
        ).scalar_one()
        rows = [
            {
                "item_id": item_id,
                "seq": seq,
                "at": now(),
                "trigger": "submit" if seq % 2 else "reject",
                "to_state": "first_review" if seq % 2 else "drafting",
                "actor": "wang" if seq % 2 else "zhao",
                "form": {"content": "稿"} if seq % 2 else {"reason": "请修改"},
            }
            for seq in range(1, entries + 1)
        ]
        conn.execute(INSERT_HISTORY, rows)
    return item_id, 1


def baseline_command(raw: SAEngine, item: list[int], read_history: bool) -> Times:
    """One command of the baseline on ``item`` ([id, version, seq]): (wall, CPU) seconds."""
    item_id, version, seq = item
    start = stopwatch()
    with raw.begin() as conn:
        if read_history:
            conn.execute(_HISTORY, {"b_id": item_id}).all()
        result = conn.execute(
            UPDATE_ITEM,
            {"b_id": item_id, "b_version": version, "state": "x", "version": version + 1},
        )
        assert result.rowcount == 1
        conn.execute(
            INSERT_HISTORY,
            {
                "item_id": item_id,
                "seq": seq + 1,
                "at": now(),
                "trigger": "approve",
                "to_state": "x",
                "actor": "qian",
                "form": CHECKLIST,
            },
        )
    item[1], item[2] = version + 1, seq + 1
    return elapsed(start)


def measure(backend: str, url: str, sizes: list[int], n_items: int, pad: str) -> Results:
    """(wall, CPU) seconds per command, per size and command (engine, then baselines)."""
    results: Results = {size: {name: [] for name in (*COMMANDS, *BASELINES)} for size in sizes}
    padder = pad_through_store if pad == "store" else pad_through_commands
    with Engine.open(
        url,
        workflows=WORKFLOWS,
        policies=POLICIES,
        handlers={"publish_to_channels": publish},
        deliver_inline=False,
        migrate=True,
    ) as engine:
        raw = open_database(url)
        bench.create_all(raw)
        try:
            seed_training(engine, [(EDITOR.id, "editor")])
            started = time.perf_counter()
            prepared: dict[int, list[int]] = {}
            baselines: dict[int, list[list[int]]] = {}
            for size in sizes:
                pairs = max(0, (size - HEAD - 1) // 2)  # the untimed submit makes the size
                prepared[size] = []
                baselines[size] = []
                for _ in range(n_items):
                    item_id = to_drafting(engine)
                    padder(engine, item_id, pairs)
                    submit(engine, item_id)
                    prepared[size].append(item_id)
                    item_row, version = baseline_item(raw, HEAD + 2 * pairs + 1)
                    baselines[size].append([item_row, version, HEAD + 2 * pairs + 1])
            print(f"  {backend}: prepared in {time.perf_counter() - started:.1f} s", flush=True)
            # warm up: statement caches (not counted); then a clean heap for every size
            warm = to_drafting(engine)
            submit(engine, warm)
            timed_commands(engine, warm)
            gc.collect()
            for n in range(n_items):
                for size in sizes:
                    spent = timed_commands(engine, prepared[size][n])
                    for name, seconds in zip(COMMANDS, spent, strict=True):
                        results[size][name].append(seconds)
                    for name, read in zip(BASELINES, (False, True), strict=True):
                        seconds = baseline_command(raw, baselines[size][n], read)
                        results[size][name].append(seconds)
            entries = {size: len(engine.history(prepared[size][0])) for size in sizes}
            print(f"  history entries per item after the commands: {entries}")
        finally:
            raw.dispose()
    return results


TRAINED = [
    (EDITOR.id, "editor"),
    (REVIEWER.id, "reviewer"),
    (SECOND_REVIEWER.id, "reviewer"),
    (OPS.id, "ops_manager"),
]


def pad_records(engine: Engine, count: int) -> None:
    """Passed training records of other people, written through the store port, up to
    ``count`` records in all (those of the people acting included)."""
    with engine.store.read() as tx:
        records = tx.workflow_records("training")
        item = tx.item(records[0].item_id)
        assert item is not None
        definition = item.definition_id
    have = len(records)
    valid_until = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    at = now()
    with engine.store.write() as tx:
        for n in range(count - have):
            data = {
                "trainee": f"staff{n:04d}",
                "post": ("editor", "reviewer", "operator")[n % 3],
                "course": "post_basics",
                "reason": "onboarding",
                "result": "pass",
                "score": 90,
                "valid_until": valid_until,
            }
            values = {
                "workflow_id": "training",
                "definition_id": definition,
                "state": "passed",
                "data": data,
                "visit": 4,
                "seq": 4,
                "version": 4,
                "created_at": at,
                "created_by": "hr_li",
                "updated_at": at,
            }
            tx.insert_item(values)


class JudgeTimer:
    """The CPU time of the engine's judging (``transition.judge``), summed while on."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._judge = transition.judge

    def __enter__(self) -> JudgeTimer:
        def timed(*args: Any) -> Any:
            start = time.process_time()
            try:
                return self._judge(*args)
            finally:
                self.spent += time.process_time() - start

        transition.judge = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *_exc: object) -> None:
        transition.judge = self._judge  # type: ignore[assignment]


def measure_records(backend: str, counts: list[int], n_items: int, pg_base: str | None) -> None:
    """Command and judging CPU per count of passed training records (one database each)."""
    policies = [*POLICIES, ROOT / "policies" / "training.yaml"]
    spent: dict[int, dict[str, list[float]]] = {
        c: {f"{name}{part}": [] for name in COMMANDS for part in ("", " judging")} for c in counts
    }
    with ExitStack() as stack:
        engines: dict[int, Engine] = {}
        for count in counts:
            url = stack.enter_context(
                sqlite_url() if backend == "sqlite" else postgres_url(pg_base or "")
            )
            engine = stack.enter_context(
                Engine.open(
                    url,
                    workflows=WORKFLOWS,
                    policies=policies,
                    handlers={"publish_to_channels": publish},
                    deliver_inline=False,
                    migrate=True,
                )
            )
            seed_training(engine, TRAINED)
            pad_records(engine, count)
            engines[count] = engine
        items = {c: [to_drafting(e) for _ in range(n_items + 1)] for c, e in engines.items()}
        for count, engine in engines.items():
            for item_id in items[count]:
                submit(engine, item_id)
            timed_commands(engine, items[count].pop())  # warm up
        gc.collect()
        timer = stack.enter_context(JudgeTimer())
        for n in range(n_items):
            for count, engine in engines.items():
                item_id = items[count][n]
                for trigger, actor, form, name in (
                    ("approve", REVIEWER, CHECKLIST, COMMANDS[0]),
                    ("approve", SECOND_REVIEWER, CHECKLIST, COMMANDS[1]),
                    ("sign", OPS, {}, COMMANDS[2]),
                ):
                    timer.spent = 0.0
                    start = time.process_time()
                    engine.fire(item_id, trigger, actor=actor, data=form)
                    spent[count][name].append(time.process_time() - start)
                    spent[count][f"{name} judging"].append(timer.spent)
    base = counts[0]
    names = list(spent[base])
    print(f"{backend}: median CPU µs per command and its judging, by passed training records")
    print(f"{'records':>8}" + "".join(f"  {name:>22}" for name in names))
    for count in counts:

        def median(name: str, count: int = count) -> float:
            return statistics.median(spent[count][name]) * 1e6

        cells = [f"{median(n):>10,.0f} ({median(n) / median(n, base):4.2f}x)" for n in names]
        print(f"{count:>8,}" + "".join(f"  {c:>22}" for c in cells))


def report(backend: str, results: Results) -> None:
    sizes = sorted(results)
    base = sizes[0]
    names = (*COMMANDS, *BASELINES)
    for index, what in ((0, "wall-clock"), (1, "CPU")):

        def median(size: int, name: str, index: int = index) -> float:
            return statistics.median(t[index] for t in results[size][name]) * 1e6

        print(f"{backend}: median {what} µs per command (ratio to {base} entries)")
        print(f"{'entries':>8}" + "".join(f"  {name:>22}" for name in names))
        for size in sizes:
            cells = [
                f"{median(size, name):>12,.0f} ({median(size, name) / median(base, name):4.2f}x)"
                for name in names
            ]
            print(f"{size:>8,}" + "".join(f"  {c:>22}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20, help="items per size")
    parser.add_argument("--sizes", default="10,100,1000,10000", help="history entries")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run one database")
    parser.add_argument("--pad", choices=["store", "commands"], default="store")
    parser.add_argument("--records", help="passed training records, e.g. 10,1000 (see above)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    # errors only: the bundle's deadlines past the calendar data warn once per state
    configure_logging(level="error")

    pg_base = os.environ.get("CMC_BENCH_POSTGRES_URL") or os.environ.get("CMC_TEST_POSTGRES_URL")
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = []
    if args.only in (None, "sqlite"):
        backends.append(("sqlite", sqlite_url))
    if args.only in (None, "postgres"):
        if pg_base:
            backends.append(("postgres", lambda: postgres_url(pg_base)))
        else:
            print("PostgreSQL skipped: set CMC_BENCH_POSTGRES_URL or CMC_TEST_POSTGRES_URL")
    print(
        f"{args.items} items per size, padding through {args.pad}; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )
    if args.records:
        counts = sorted(int(c) for c in args.records.split(","))
        for backend, _database in backends:
            measure_records(backend, counts, args.items, pg_base)
        return 0
    for backend, database in backends:
        with database() as url:
            report(backend, measure(backend, url, sizes, args.items, args.pad))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
