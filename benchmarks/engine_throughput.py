"""Transitions per second of the engine against a raw SQLAlchemy Core baseline.

The engine walks full lifecycles of the publishing workflow through ``Engine.start`` and
``Engine.fire``: start, approve, assign, accept, submit, approve, approve, sign (the
``publish_to_channels`` handler runs inline and moves the item to ``published``),
archive: 10 committed transitions per item, plus the deliveries of 3 notifications and
1 handler, with all bundled workflows and policies loaded (``--no-policies``: the
publishing graph alone). The baseline commits the same number of transactions on the same database
in the same run, each one UPDATE of an items-like row and one INSERT of a history-like
row (the first of each lifecycle INSERTs the row instead), through SQLAlchemy Core on an
engine with the same settings (WAL, ``BEGIN IMMEDIATE`` on SQLite). It runs twice: with
statements built once and values bound as parameters (the cheapest Core can do), and
with statements built per call the everyday way (``update(t).where(...).values(...)``).
The table also shows each side's CPU time per transition and the transactions,
statements and round trips one lifecycle takes on each side.

``--notifications`` runs the engine with a notifications file (the shape of the one
``tests/notify`` uses: mail and a webhook, the people and roles of the publishing
lifecycle without a staff register), so that every new task and ``notify:`` writes its
notices to people; nothing is sent (sending is the daemon's pass, not a command's).

Usage::

    python benchmarks/engine_throughput.py [--items 200] [--rounds 3] [--only sqlite]
        [--notifications]
    CMC_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/engine_throughput.py

PostgreSQL runs when ``CMC_BENCH_POSTGRES_URL`` (or ``CMC_TEST_POSTGRES_URL``) is set, in
a throw-away database created next to the one named and dropped at the end. The sides
take turns lifecycle by lifecycle, so that load from other processes on the machine
falls on all of them alike; each ratio is over all ``--rounds`` rounds, and the range
of the rounds' ratios shows how steady the machine was.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    CHECKLIST,
    EDITOR,
    INSERT_HISTORY,
    INSERT_ITEM,
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
    event,
    func,
    insert,
    select,
    update,
)

from cmc_workflow.engine import Engine
from cmc_workflow.handlers import HandlerContext
from cmc_workflow.log import configure_logging
from cmc_workflow.model import Actor
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import history, items

BUNDLED_PUBLISHING = ROOT / "workflows" / "publishing.yaml"


def _without_policies(source: Path) -> Path:
    """The bundled publishing graph without its ``effects:`` declarations, in a temporary
    folder: a workflow that declares guarded effects loads only with the policies that
    guard them (fail closed), and this benchmark measures the engine's mechanics alone."""
    kept = "".join(
        line
        for line in source.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.lstrip().startswith("effects:")
    )
    folder = tempfile.mkdtemp(prefix="cmc-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # made at import: gone at exit
    target = Path(folder) / source.name
    target.write_text(kept, encoding="utf-8")
    return target


PUBLISHING = _without_policies(BUNDLED_PUBLISHING)
TRANSITIONS_PER_ITEM = 10

LIFECYCLE: list[tuple[str, Actor, dict[str, Any]]] = [
    ("approve", LEAD, {}),
    ("assign", LEAD, {"assignees": [EDITOR.id], "due_date": "2099-10-10"}),
    ("accept", EDITOR, {}),
    ("submit", EDITOR, {"content": "正文" * 50}),
    ("approve", REVIEWER, CHECKLIST),
    ("approve", SECOND_REVIEWER, CHECKLIST),
    ("sign", OPS, {}),  # the handler moves the item on to published
    ("archive", EDITOR, {"category": "活动"}),
]


def publish(_ctx: HandlerContext) -> None:
    """The serviceTask's handler: succeeds at once (the default outcome follows)."""


POSTS = [(EDITOR.id, "editor"), (REVIEWER.id, "reviewer"), (SECOND_REVIEWER.id, "reviewer")]
POSTS.append((OPS.id, "ops_manager"))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NOTIFICATIONS: dict[str, Any] = {
    "kind": "notifications",
    "transports": {
        "mail": {
            "type": "smtp",
            "host": "127.0.0.1",
            "port": 2525,
            "starttls": False,
            "user": "cmc",
            "password_env": "CMC_BENCH_SMTP_PASSWORD",
            "sender": "CMC 工作流 <cmc@lib.example.cn>",
        },
        "hook": {
            "type": "webhook",
            "url": "http://127.0.0.1:8099/hook",
            "secret_env": "CMC_BENCH_HOOK_SECRET",
        },
    },
    "default_transports": ["mail"],
    "people": {
        EDITOR.id: {"transports": ["mail", "hook"], "email": "wang@lib.example.cn"},
        LEAD.id: {"email": "li@lib.example.cn", "language": "en"},
        REVIEWER.id: {"email": "zhao@lib.example.cn"},
        SECOND_REVIEWER.id: {"email": "qian@lib.example.cn"},
        OPS.id: {"email": "sun@lib.example.cn"},
    },
    "roles": {
        "editor": [EDITOR.id],
        "channel_lead": [LEAD.id],
        "reviewer": [REVIEWER.id, SECOND_REVIEWER.id],
        "ops_manager": [OPS.id],
    },
}
"""The notifications file of ``--notifications`` (as data)."""


def notifications_extension() -> Any:
    """The notifications extension of :data:`NOTIFICATIONS`, its secrets given here."""
    from cmc_workflow.notify.config import NotificationsFile
    from cmc_workflow.notify.extension import Notifications, bind_secrets

    config = NotificationsFile.model_validate(NOTIFICATIONS)
    secrets = {"CMC_BENCH_SMTP_PASSWORD": "pw", "CMC_BENCH_HOOK_SECRET": "secret"}
    return Notifications(config, bind_secrets(config, None, secrets))


def engine_lifecycle(engine: Engine) -> None:
    """One full lifecycle through the engine (10 committed transitions)."""
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    for trigger, actor, form in LIFECYCLE:
        item = engine.fire(item.id, trigger, actor=actor, data=form)
    assert item.state == "archived", item.state


BASELINE_STEPS = [*LIFECYCLE[:7], ("done", OPS, {}), LIFECYCLE[7]]


def prebuilt_lifecycle(db: SAEngine) -> None:
    """The baseline with statements built once and values bound as parameters: the
    cheapest SQLAlchemy Core can do (what cmc_workflow.store does)."""
    with db.begin() as conn:
        item_id = conn.execute(
            INSERT_ITEM,
            {
                "workflow_id": "publishing",
                "state": "proposed",
                "data": TOPIC,
                "version": 1,
                "updated_at": now(),
            },
        ).scalar_one()
        conn.execute(
            INSERT_HISTORY,
            {
                "item_id": item_id,
                "seq": 1,
                "at": now(),
                "trigger": None,
                "to_state": "proposed",
                "actor": EDITOR.id,
                "form": TOPIC,
            },
        )
    for seq, (trigger, actor, form) in enumerate(BASELINE_STEPS, start=2):
        with db.begin() as conn:
            result = conn.execute(
                UPDATE_ITEM,
                {
                    "b_id": item_id,
                    "b_version": seq - 1,
                    "state": trigger,
                    "version": seq,
                    "updated_at": now(),
                },
            )
            assert result.rowcount == 1
            conn.execute(
                INSERT_HISTORY,
                {
                    "item_id": item_id,
                    "seq": seq,
                    "at": now(),
                    "trigger": trigger,
                    "to_state": trigger,
                    "actor": actor.id,
                    "form": form,
                },
            )


def per_call_lifecycle(db: SAEngine) -> None:
    """The baseline written the everyday way: ``update(t).where(...).values(...)`` built
    for each call (SQLAlchemy then recomputes each statement's cache key)."""
    with db.begin() as conn:
        item_id = conn.execute(
            insert(bench_items)
            .values(
                workflow_id="publishing", state="proposed", data=TOPIC, version=1, updated_at=now()
            )
            .returning(bench_items.c.id)
        ).scalar_one()
        conn.execute(
            insert(bench_history).values(
                item_id=item_id,
                seq=1,
                at=now(),
                trigger=None,
                to_state="proposed",
                actor=EDITOR.id,
                form=TOPIC,
            )
        )
    for seq, (trigger, actor, form) in enumerate(BASELINE_STEPS, start=2):
        with db.begin() as conn:
            result = conn.execute(
                update(bench_items)
                .where(bench_items.c.id == item_id, bench_items.c.version == seq - 1)
                .values(state=trigger, version=seq, updated_at=now())
            )
            assert result.rowcount == 1
            conn.execute(
                insert(bench_history).values(
                    item_id=item_id,
                    seq=seq,
                    at=now(),
                    trigger=trigger,
                    to_state=trigger,
                    actor=actor.id,
                    form=form,
                )
            )


SIDES = ("engine", "core, prebuilt statements", "core, statements per call")


@dataclass
class Result:
    """What one database measured: seconds per side per round, statements per lifecycle."""

    backend: str
    n_items: int
    rounds: list[list[float]]  # seconds of each side (in SIDES order) per round
    statements: list[tuple[int, int, int]]  # (transactions, statements, round trips) per side
    cpu: list[list[float]]  # CPU seconds of each side per round (this process)

    def cpu_us(self, side: int) -> float:
        """CPU microseconds per transition of one side over all rounds."""
        seconds = sum(r[side] for r in self.cpu)
        return seconds * 1e6 / (self.n_items * len(self.cpu) * TRANSITIONS_PER_ITEM)

    def tps(self, side: int) -> float:
        """Transitions per second of one side over all rounds."""
        seconds = sum(r[side] for r in self.rounds)
        return self.n_items * len(self.rounds) * TRANSITIONS_PER_ITEM / seconds

    def ratio(self, side: int) -> float:
        """The engine's throughput as a share of ``side``'s."""
        return self.tps(0) / self.tps(side)

    def spread(self, side: int) -> tuple[float, float]:
        """The lowest and highest per-round ratio against ``side``."""
        ratios = [r[side] / r[0] for r in self.rounds]
        return min(ratios), max(ratios)


def count_statements(db: SAEngine, run: Callable[[], None]) -> tuple[int, int, int]:
    """Transactions, statements and round trips to the server of one call of ``run``.

    Statements leave out BEGIN and COMMIT. Round trips (PostgreSQL) count every statement,
    each transaction's BEGIN and COMMIT (psycopg sends each alone) and the pool's pings;
    on SQLite, which runs in the process, they are the statements plus BEGIN and COMMIT."""
    seen = {"statements": 0, "commits": 0, "rollbacks": 0, "pings": 0}
    ping = db.dialect.do_ping

    def on_execute(*_args: Any) -> None:
        seen["statements"] += 1

    def on_commit(*_args: Any) -> None:
        seen["commits"] += 1

    def on_rollback(*_args: Any) -> None:
        seen["rollbacks"] += 1

    def counted_ping(dbapi_connection: Any) -> bool:
        seen["pings"] += 1
        return ping(dbapi_connection)

    event.listen(db, "before_cursor_execute", on_execute)
    event.listen(db, "commit", on_commit)
    event.listen(db, "rollback", on_rollback)
    db.dialect.do_ping = counted_ping  # type: ignore[method-assign]
    try:
        run()
    finally:
        event.remove(db, "before_cursor_execute", on_execute)
        event.remove(db, "commit", on_commit)
        event.remove(db, "rollback", on_rollback)
        db.dialect.do_ping = ping  # type: ignore[method-assign]
    transactions = seen["commits"] + seen["rollbacks"]
    begins = transactions if db.dialect.name == "sqlite" else 0  # BEGIN IMMEDIATE is a statement
    statements = seen["statements"] - begins
    return seen["commits"], statements, statements + 2 * transactions + seen["pings"]


def measure(
    backend: str,
    url: str,
    n_items: int,
    rounds: int,
    profile: Path | None,
    policies: bool,
    notify: bool = False,
) -> Result:
    """Warm every side up, then time ``rounds`` rounds of ``n_items`` lifecycles each,
    the sides taking turns lifecycle by lifecycle so that load from other processes
    falls on all of them alike."""
    extensions = [notifications_extension()] if notify else []
    if policies:
        opened = Engine.open(
            url,
            workflows=ROOT / "workflows",
            policies=ROOT / "policies",
            handlers={"publish_to_channels": publish},
            extensions=extensions,
            migrate=True,
        )
    else:
        opened = Engine.open(
            url,
            workflows=PUBLISHING,
            handlers={"publish_to_channels": publish},
            extensions=extensions,
            migrate=True,
        )
    with opened as engine:
        if policies:
            seed_training(engine, POSTS)
        raw = open_database(url)
        bench.create_all(raw)
        try:
            runs: list[Callable[[], None]] = [
                lambda: engine_lifecycle(engine),
                lambda: prebuilt_lifecycle(raw),
                lambda: per_call_lifecycle(raw),
            ]
            for run in runs * 3:
                run()
            before = count_notices(engine) if notify else 0
            statements = [
                count_statements(engine.store.engine, runs[0]),
                count_statements(raw, runs[1]),
                count_statements(raw, runs[2]),
            ]
            if notify:
                print(f"  {backend}: {count_notices(engine) - before} notices a lifecycle")
            result = Result(backend, n_items, [], statements, [])
            clock, cpu = time.perf_counter, time.process_time
            for _ in range(rounds):
                spent = [0.0] * len(runs)
                used = [0.0] * len(runs)
                for _ in range(n_items):
                    for side, run in enumerate(runs):
                        start, start_cpu = clock(), cpu()
                        run()
                        spent[side] += clock() - start
                        used[side] += cpu() - start_cpu
                result.rounds.append(spent)
                result.cpu.append(used)
            if profile is not None:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(n_items):
                    engine_lifecycle(engine)
                profiler.disable()
                target = profile.with_name(f"{profile.stem}-{backend}{profile.suffix}")
                profiler.dump_stats(target)
                print(f"  profile of {n_items} engine lifecycles written to {target}")
            check(raw)
        finally:
            raw.dispose()
    return result


def check(raw: SAEngine) -> None:
    """Every engine item ended archived with its 10 history rows (nothing skipped)."""
    with raw.connect() as conn:
        open_items = conn.execute(
            select(func.count())
            .select_from(items)
            .where(items.c.closed_at.is_(None), items.c.workflow_id == "publishing")
        ).scalar_one()
        per_item = set(
            conn.execute(
                select(func.count())
                .select_from(history)
                .join(items, items.c.id == history.c.item_id)
                .where(items.c.workflow_id == "publishing")
                .group_by(history.c.item_id)
            )
            .scalars()
            .all()
        )
    assert open_items == 0, f"{open_items} items did not finish"
    assert per_item == {TRANSITIONS_PER_ITEM}, per_item


def count_notices(engine: Engine) -> int:
    """The notices to people the engine has written so far (``--notifications``)."""
    with engine.store.read() as tx:
        return len(tx.notices())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="lifecycles per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run one database")
    parser.add_argument(
        "--profile", type=Path, help="also profile one engine round into FILE (pstats)"
    )
    parser.add_argument(
        "--no-policies",
        action="store_true",
        help="publishing alone, without the bundled policies (the engine's mechanics)",
    )
    parser.add_argument(
        "--notifications",
        action="store_true",
        help="with a notifications file: notices to people written for each task and notify:",
    )
    args = parser.parse_args(argv)
    configure_logging(level="warning")  # as deployed: JSON to stderr, info filtered out

    pg_base = os.environ.get("CMC_BENCH_POSTGRES_URL") or os.environ.get("CMC_TEST_POSTGRES_URL")
    backends: list[tuple[str, Callable[[], Any]]] = []
    if args.only in (None, "sqlite"):
        backends.append(("sqlite", sqlite_url))
    if args.only in (None, "postgres"):
        if pg_base:
            backends.append(("postgres", lambda: postgres_url(pg_base)))
        else:
            print("PostgreSQL skipped: set CMC_BENCH_POSTGRES_URL or CMC_TEST_POSTGRES_URL")

    print(
        f"{args.items} lifecycles x {TRANSITIONS_PER_ITEM} transitions per round, "
        f"{args.rounds} rounds; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
        + ("publishing alone" if args.no_policies else "bundled workflows and policies")
        + (", notifications file" if args.notifications else "")
    )
    results = []
    for backend, url_of in backends:
        with url_of() as url:
            results.append(
                measure(
                    backend,
                    url,
                    args.items,
                    args.rounds,
                    args.profile,
                    not args.no_policies,
                    args.notifications,
                )
            )
    print(
        f"{'database':<9} {'side':<27} {'tr/s':>6} {'engine/side':>12} {'rounds':>10}"
        f" {'cpu us/tr':>9} {'x cpu':>6} {'tx':>4} {'stmts':>6} {'trips':>6}  (per lifecycle)"
    )
    for r in results:
        for side, name in enumerate(SIDES):
            tx, stmts, trips = r.statements[side]
            share = spread = times = ""
            if side:
                low, high = r.spread(side)
                share, spread = f"{r.ratio(side):.0%}", f"{low:.0%}..{high:.0%}"
                times = f"{r.cpu_us(0) / r.cpu_us(side):.1f}"
            print(
                f"{r.backend:<9} {name:<27} {r.tps(side):>6.0f} {share:>12} {spread:>10}"
                f" {r.cpu_us(side):>9.0f} {times:>6} {tx:>4} {stmts:>6} {trips:>6}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
