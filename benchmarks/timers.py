"""Durable timers: the cost of a poll, firing 10,000 due timers among 100,000, memory.

Three measurements on one database per store, in one run:

1. **Poll with nothing due** at 1,000, 10,000 and 100,000 pending timers: the median time
   of ``Clocks.run_due(now)`` (one index probe on ``ix_timers_due``, no write lock) and of
   the daemon's whole pass ``Engine.run_due()`` (timers, schedules, outbox). It must not
   grow with the number of pending timers.
2. **Firing**: 10,000 due timers (``warn`` steps of SLA clocks) per side, among the
   pending ones. ``Clocks.run_due`` fires them in groups of ``--group`` per transaction
   (claim the group with the fence, then per timer mark the clock and append a
   hash-chained audit record, then mark the group's timers), and, as a second side, one
   transaction per timer (``Clocks(group=1)``, what the engine did before group commit).
   A raw SQLAlchemy Core baseline does the least a correct claimer must, in transactions
   of the same two sizes (claim the due rows — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL —,
   per row mark the clock and insert an audit row, then mark the rows), on other due
   timers of the same table. The four sides take turns in chunks of 500, so load from
   other processes falls on all of them alike.
3. **The daemon**: 10,000 timers are made due again and ``cmc-workflow run --once`` fires
   them in a child process; its wall time and peak RSS (``getrusage``) are reported.

Usage::

    python benchmarks/timers.py [--pending 100000] [--due 10000] [--group 100] [--only sqlite]
    CMC_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/timers.py

PostgreSQL runs when ``CMC_BENCH_POSTGRES_URL`` (or ``CMC_TEST_POSTGRES_URL``) is set, in a
throw-away database created next to the one named and dropped at the end.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import postgres_url
from sqlalchemy import Engine as SAEngine
from sqlalchemy import Integer, bindparam, func, insert, select, text, update

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.engine import Engine
from cmc_workflow.log import configure_logging
from cmc_workflow.store import timers as sql
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, clocks, definitions, items, timers

WAITING = """\
id: waiting
label: {zh: 等待, en: Waiting}
roles:
  operator: {zh: 运营方, en: Operator}
start: {state: open, roles: [operator]}
states:
  open:
    type: userTask
    label: {zh: 待处理, en: Open}
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: warn}
    transitions:
      - {trigger: close, target: closed, roles: [operator]}
  closed:
    type: endEvent
    label: {zh: 已关闭, en: Closed}
"""

NOW = dt.datetime.now(dt.UTC)  # the daemon child runs on the real clock
PAST = NOW - dt.timedelta(hours=1)
FUTURE = NOW + dt.timedelta(days=30)
RAW = "raw"  # the baseline's own "pending" status, so the two sides never share a row
CHUNK = 500


DAEMON_WITH_RSS = """
import resource, sys
from cmc_workflow.cli import main
url, folder, batch = sys.argv[1:4]
try:
    main(["run", "--db", url, "--workflows", folder, "--once", "--batch", batch,
          "--log-level", "warning"], prog_name="cmc-workflow")
except SystemExit as exc:
    if exc.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
"""``cmc-workflow run --once`` in a child that prints its own peak RSS (KiB) at the end."""


class FixedClock:
    def __call__(self) -> dt.datetime:
        return NOW


def _chunks(n: int, size: int = 5000) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def add_pending(url: str, folder: Path, count: int, due: dt.datetime, status: str) -> None:
    """``count`` open items, each with a running clock and one pending ``warn`` timer."""
    database = open_database(url)
    try:
        with database.begin() as conn:
            definition = conn.execute(
                select(definitions.c.id).where(definitions.c.workflow_id == "waiting")
            ).scalar_one()
            first_item = conn.execute(select(func.coalesce(func.max(items.c.id), 0))).scalar()
            first_clock = conn.execute(select(func.coalesce(func.max(clocks.c.id), 0))).scalar()
        for part in _chunks(count):
            with database.begin() as conn:
                conn.execute(
                    insert(items),
                    [
                        {
                            "workflow_id": "waiting",
                            "definition_id": definition,
                            "state": "open",
                            "data": {},
                            "visit": 1,
                            "seq": 1,
                            "version": 1,
                            "created_at": PAST,
                            "created_by": "bench",
                            "updated_at": PAST,
                        }
                        for _ in part
                    ],
                )
                conn.execute(
                    insert(clocks),
                    [
                        {
                            "item_id": first_item + n + 1,
                            "workflow_id": "waiting",
                            "state": "open",
                            "at_state": "open",
                            "visit": 1,
                            "status": sql.RUNNING,
                            "within": "2 working days",
                            "started_at": PAST,
                            "due_at": FUTURE,
                            "rule": "bench",
                            "calendar_version": "bench",
                            "provisional": False,
                            "detail": {},
                        }
                        for n in part
                    ],
                )
                conn.execute(
                    insert(timers),
                    [
                        {
                            "item_id": first_item + n + 1,
                            "clock_id": first_clock + n + 1,
                            "state": "open",
                            "visit": 1,
                            "step": 0,
                            "action": "warn",
                            "due_at": due,
                            "status": status,
                            "created_at": PAST,
                        }
                        for n in part
                    ],
                )
    finally:
        database.dispose()


def median_us(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


# -- the raw baseline --------------------------------------------------------------------------
def raw_fire(database: SAEngine, postgres: bool, limit: int, group: int) -> int:
    """Fire up to ``limit`` due rows of the baseline's status, ``group`` per transaction."""
    claim = (
        select(timers.c.id, timers.c.item_id, timers.c.clock_id)
        .where(timers.c.status == RAW, timers.c.due_at <= NOW)
        .order_by(timers.c.due_at)
        .limit(bindparam("b_limit", type_=Integer))
    )
    if postgres:
        claim = claim.with_for_update(skip_locked=True)
    mark = update(clocks).where(clocks.c.id == bindparam("b_clock"), clocks.c.warned_at.is_(None))
    finish = update(timers).where(timers.c.id == bindparam("b_id"))
    done = 0
    with database.connect() as conn:
        while done < limit:
            with conn.begin():
                rows = conn.execute(claim, {"b_limit": min(group, limit - done)}).all()
                for row in rows:
                    conn.execute(mark, {"b_clock": row.clock_id, "warned_at": NOW})
                    conn.execute(
                        insert(audit),
                        {
                            "at": NOW,
                            "actor": "system",
                            "roles": ["system"],
                            "command": "timer",
                            "workflow_id": "waiting",
                            "item_id": row.item_id,
                            "outcome": "accepted",
                            "detail": {"timer_id": row.id},
                        },
                    )
                if rows:
                    conn.execute(
                        finish,
                        [
                            {"b_id": r.id, "status": sql.FIRED, "done_at": NOW, "runner": "raw"}
                            for r in rows
                        ],
                    )
            done += len(rows)
            if not rows:
                break
    return done


def idle_plan(url: str) -> str:
    """How the database finds the next due timer (the idle pass's one query)."""
    database = open_database(url)
    query = "SELECT due_at FROM timers WHERE status = 'pending' ORDER BY due_at LIMIT 1"
    try:
        with database.connect() as conn:
            if database.dialect.name == "sqlite":
                rows = conn.execute(text(f"EXPLAIN QUERY PLAN {query}")).all()
                return "; ".join(str(r[-1]) for r in rows)
            rows = conn.execute(text(f"EXPLAIN {query}")).all()
            return "; ".join(str(r[0]).strip() for r in rows)
    finally:
        database.dispose()


def raw_engine(url: str) -> tuple[SAEngine, bool]:
    database = open_database(url)
    return database, database.dialect.name == "postgresql"


# -- one store ------------------------------------------------------------------------------------
def bench_store(name: str, url: str, pending: int, due: int, group: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cmc-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "waiting.yaml").write_text(WAITING, encoding="utf-8")
    clocks_ext = Clocks(WorkingCalendar(), batch=CHUNK, group=group)
    out: dict[str, Any] = {"store": name, "poll": [], "group": group}
    with Engine.open(
        url, workflows=folder, clock=FixedClock(), extensions=[clocks_ext], migrate=True
    ) as engine:
        # 1. the poll at 1k, 10k, 100k pending timers, none due
        have = 0
        for target in (1_000, 10_000, pending):
            add_pending(url, folder, target - have, FUTURE, sql.PENDING)
            have = target
            out["poll"].append(
                (
                    target,
                    median_us(lambda: clocks_ext.run_due(NOW), 300),
                    median_us(engine.run_due, 100),
                )
            )
        # 2. firing: 2 x 10,000 due among them for the engine's two sides (they share the
        # pool), 2 x 10,000 more for the baseline's; four sides take turns chunk by chunk
        database = open_database(url)
        with database.begin() as conn:
            due_ids = (
                conn.execute(select(timers.c.id).order_by(timers.c.id).limit(2 * due))
                .scalars()
                .all()
            )
            conn.execute(update(timers).where(timers.c.id.in_(due_ids)).values(due_at=PAST))
        database.dispose()
        add_pending(url, folder, 2 * due, PAST, RAW)
        single = Clocks(WorkingCalendar(), batch=CHUNK, group=1)
        single.bind(clocks_ext.runtime)  # the same engine, one transaction per timer
        raw, postgres = raw_engine(url)
        sides: list[Callable[[], int]] = [
            lambda: clocks_ext.run_due(NOW),
            lambda: single.run_due(NOW),
            lambda: raw_fire(raw, postgres, CHUNK, group),
            lambda: raw_fire(raw, postgres, CHUNK, 1),
        ]
        spent = [0.0] * len(sides)
        fired = [0] * len(sides)
        while min(fired) < due:
            before = sum(fired)
            for side, run in enumerate(sides):
                if fired[side] < due:
                    start = time.perf_counter()
                    fired[side] += run()
                    spent[side] += time.perf_counter() - start
            assert sum(fired) > before, f"a side found nothing more to fire: {fired}"
        raw.dispose()
        assert fired == [due] * len(sides), fired
        with engine.store.read() as tx:
            assert tx.count_timers(sql.PENDING) == pending - 2 * due
        out.update(spent=spent, plan=idle_plan(url))
    # 3. the daemon, in a child process, on 10,000 timers made due again
    database = open_database(url)
    with database.begin() as conn:
        again = (
            conn.execute(
                select(timers.c.id)
                .where(timers.c.status == sql.FIRED, timers.c.runner != "raw")
                .limit(due)
            )
            .scalars()
            .all()
        )
        conn.execute(
            update(timers).where(timers.c.id.in_(again)).values(status=sql.PENDING, due_at=PAST)
        )
        conn.execute(update(clocks).values(warned_at=None))
    database.dispose()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_WITH_RSS, url, str(folder), str(CHUNK)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    out["daemon_s"] = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    out["daemon_rss_mb"] = int(done.stdout.split()[-1]) / 1024
    database = open_database(url)
    with database.connect() as conn:
        left = conn.execute(
            select(func.count()).where(timers.c.status == sql.PENDING, timers.c.due_at <= NOW)
        ).scalar_one()
    database.dispose()
    assert left == 0, left
    return out


def report(result: dict[str, Any], due: int) -> None:
    print(f"\n== {result['store']} ==")
    print("poll with nothing due (median):")
    print(f"  {'pending timers':>15}  {'Clocks.run_due':>15}  {'Engine.run_due':>15}")
    for count, clocks_us, engine_us in result["poll"]:
        print(f"  {count:>15,}  {clocks_us:>12.0f} µs  {engine_us:>12.0f} µs")
    print(f"  plan of the idle query: {result['plan']}")
    group = result["group"]
    names = [
        f"engine, {group} per transaction",
        "engine, one per transaction",
        f"raw Core, {group} per transaction",
        "raw Core, one per transaction",
    ]
    rates = [due / spent for spent in result["spent"]]
    print(f"firing {due:,} due timers among the pending ones, each side (sides take turns):")
    for name, spent, rate in zip(names, result["spent"], rates, strict=True):
        print(f"  {name:<34} {spent:7.2f} s  {rate:8.0f} timers/s")
    print(f"  group commit, engine: {rates[0] / rates[1]:.1f}x the rate of one per transaction")
    print(
        f"  engine / raw Core at the same size: {rates[0] / rates[2]:.0%} ({group} per "
        f"transaction), {rates[1] / rates[3]:.0%} (one per transaction)"
    )
    print(
        f"daemon (cmc-workflow run --once, child process): {due:,} timers in "
        f"{result['daemon_s']:.2f} s including start-up, peak RSS {result['daemon_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--group", type=int, default=100, help="timers per transaction")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    configure_logging(level="warning")
    print(f"{args.pending:,} pending timers, {args.due:,} due; python {sys.version.split()[0]}")
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'timers.db'}"
            report(bench_store("SQLite", url, args.pending, args.due, args.group), args.due)
    base = os.environ.get("CMC_BENCH_POSTGRES_URL") or os.environ.get("CMC_TEST_POSTGRES_URL")
    if args.only != "sqlite" and base:
        with postgres_url(base) as url:
            report(bench_store("PostgreSQL", url, args.pending, args.due, args.group), args.due)


if __name__ == "__main__":
    main()
