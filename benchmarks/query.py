"""The query API at 100,000 items: how long each kind of question takes.

Seeds ``--items`` items (default 100,000) of one workflow with SQLAlchemy Core (rows as the
engine writes them: spread over states and a year of creation and update times, a quarter
with a running SLA clock, a handler named in the data of those in ``handling``), then
times ``Engine.query`` — the same call ``GET /v1/items`` makes — for each kind of
filter, first page and a page deep in the listing through its cursor. Prints the median
of ``--repeat`` runs per question. Nothing is asserted: the figures go to
docs/performance.md.

Usage::

    python benchmarks/query.py [--items 100000] [--repeat 5] [--postgres URL]

Without ``--postgres`` it runs on a SQLite file in a temporary folder; with it, on a
throw-away database next to URL (dropped afterwards).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from common import postgres_url, sqlite_url
from sqlalchemy import insert, select

from cmc_workflow.engine import Engine, ItemPage
from cmc_workflow.log import configure_logging
from cmc_workflow.model import Actor
from cmc_workflow.store.tables import clocks, definitions, items

TICKET = """\
id: ticket
label: {zh: 工单, en: Ticket}
roles:
  clerk: {zh: 受理员, en: Clerk}
  handler: {zh: 处理人, en: Handler}
data:
  title: {type: string}
  application: {type: string}
  handler: {type: string, required: false}
  priority: {type: integer, required: false}
start: {state: open, roles: [clerk]}
states:
  open:
    type: userTask
    label: {zh: 受理, en: Open}
    transitions:
      - trigger: assign
        target: handling
        roles: [clerk]
        form:
          handler: {type: string}
  handling:
    type: userTask
    label: {zh: 处理, en: Handling}
    assignee: handler
    deadline: {within: 1 working days}
    transitions:
      - {trigger: close, target: closed, roles: [handler]}
  closed:
    type: endEvent
    label: {zh: 办结, en: Closed}
"""

T0 = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
WORDS = ["printer", "wi-fi", "door", "archive", "rare books", "exhibition", "lecture", "app"]


def seed(engine: Engine, n: int, rng: random.Random) -> None:
    """``n`` items (and a running clock for each one in ``handling``) through Core."""
    raw = engine.store.engine  # type: ignore[attr-defined]  # the SQL store's SQLAlchemy engine
    with raw.begin() as conn:
        definition_id = conn.execute(select(definitions.c.id)).scalar_one()
    batch = 5000
    for start in range(0, n, batch):
        rows, running = [], []
        for i in range(start, min(n, start + batch)):
            created = T0 + dt.timedelta(minutes=5 * i + rng.randint(0, 4))
            state = rng.choices(["open", "handling", "closed"], [2, 1, 5])[0]
            data: dict[str, Any] = {
                "title": f"{rng.choice(WORDS)} {i}",
                "application": f"app-{i % 50}",
                "priority": i % 5,
            }
            if state != "open":
                data["handler"] = f"person{i % 200}"
            rows.append(
                {
                    "workflow_id": "ticket",
                    "definition_id": definition_id,
                    "state": state,
                    "data": data,
                    "visit": 2,
                    "seq": 2,
                    "version": 2,
                    "created_at": created,
                    "created_by": "chen",
                    "updated_at": created + dt.timedelta(hours=rng.randint(0, 72)),
                    "closed_at": created + dt.timedelta(days=3) if state == "closed" else None,
                }
            )
        with raw.begin() as conn:
            ids = conn.execute(insert(items).returning(items.c.id), rows).scalars().all()
            for item_id, row in zip(ids, rows, strict=True):
                if row["state"] == "handling":
                    due = row["updated_at"] + dt.timedelta(days=1)
                    running.append(
                        {
                            "item_id": item_id,
                            "workflow_id": "ticket",
                            "state": "handling",
                            "at_state": "handling",
                            "visit": 2,
                            "status": "running",
                            "within": "1 working days",
                            "started_at": row["updated_at"],
                            "due_at": due,
                            "warn_at": None,
                            "rule": "1 working day",
                            "calendar_version": "bench",
                            "provisional": False,
                            "detail": {},
                        }
                    )
            if running:
                conn.execute(insert(clocks), running)
    if raw.dialect.name == "postgresql":
        with raw.begin() as conn:
            conn.exec_driver_sql("ANALYZE items")
            conn.exec_driver_sql("ANALYZE clocks")


def timed(call: Callable[[], ItemPage], repeat: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        page = call()
        times.append(time.perf_counter() - began)
        found = len(page.items)
    return statistics.median(times) * 1000, found


def deep(engine: Engine, pages: int, **query: Any) -> Callable[[], ItemPage]:
    """A page ``pages`` pages into the listing (its cursor fetched once, untimed)."""
    cursor = None
    for _ in range(pages):
        cursor = engine.query(cursor=cursor, **query).next_cursor
    return lambda: engine.query(cursor=cursor, **query)


def questions(engine: Engine) -> list[tuple[str, Callable[[], ItemPage]]]:
    later = T0 + dt.timedelta(days=120)
    viewer = Actor("chen", {"clerk"})
    return [
        ("newest first (sort created_at desc)", lambda: engine.query(descending=True)),
        ("page 200 of the newest (cursor)", deep(engine, 200, descending=True)),
        (
            "recently updated (sort updated_at desc)",
            lambda: engine.query(sort="updated_at", descending=True),
        ),
        ("workflow + state", lambda: engine.query(workflow="ticket", states=["handling"])),
        ("open items", lambda: engine.query(open=True)),
        ("role queue (clerk)", lambda: engine.query(role="clerk")),
        ("assignee (person7)", lambda: engine.query(assignee="person7")),
        ("overdue now", lambda: engine.query(overdue=True)),
        ("due before a date", lambda: engine.query(due_before=later)),
        ("sla running", lambda: engine.query(sla="running")),
        ("data field (application=app-7)", lambda: engine.query(data={"application": "app-7"})),
        ("two data fields", lambda: engine.query(data={"application": "app-7", "priority": 2})),
        (
            "created in one week",
            lambda: engine.query(created_from=later, created_until=later + dt.timedelta(days=7)),
        ),
        ("title text (rare books)", lambda: engine.query(title="rare books")),
        ("title text, rare match ('99999')", lambda: engine.query(title="99999")),
        ("as an actor (policy visibility)", lambda: engine.query(actor=viewer, role="clerk")),
    ]


def run(url: str, n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cmc-query-") as folder:
        (Path(folder) / "ticket.yaml").write_text(TICKET, encoding="utf-8")
        with Engine.open(url, workflows=Path(folder) / "ticket.yaml", migrate=True) as engine:
            began = time.perf_counter()
            seed(engine, n, random.Random(15))
            dialect = engine.store.engine.dialect.name  # type: ignore[attr-defined]  # SQL store
            print(f"seeded {n:,} items in {time.perf_counter() - began:.1f} s ({dialect})")
            for name, call in questions(engine):
                ms, found = timed(call, repeat)
                print(f"  {name:<42} {ms:8.1f} ms  ({found} items on the page)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres", help="a PostgreSQL URL to create a throw-away database next to"
    )
    args = parser.parse_args(argv)
    configure_logging(level="warning")
    database: AbstractContextManager[str] = (
        postgres_url(args.postgres) if args.postgres else sqlite_url()
    )
    with database as url:
        run(url, args.items, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
