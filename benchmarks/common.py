"""What the benchmarks share: the throw-away databases they run on, the raw Core
baseline's tables and prebuilt statements, and the training records the bundled policies
ask of the people who act (TRN-3), seeded through the engine.

The scripts run as ``python benchmarks/NAME.py``, which puts this folder first on the path.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    text,
    update,
)
from sqlalchemy.engine import make_url

from cmc_workflow.engine import Engine
from cmc_workflow.model import Actor
from cmc_workflow.store.database import normalize_url
from cmc_workflow.store.tables import UTCDateTime

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root (``workflows/``, ``policies/``)."""


@contextmanager
def sqlite_url() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cmc-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_url(base: str) -> Iterator[str]:
    """A throw-away database next to ``base``, dropped afterwards."""
    admin_url = make_url(normalize_url(base))
    name = f"cmc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the raw Core baseline: an items-like and a history-like table -------------------------

bench = MetaData()
bench_items = Table(
    "bench_items",
    bench,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_id", String(64), nullable=True),
    Column("state", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
bench_history = Table(
    "bench_history",
    bench,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("trigger", String(64), nullable=True),
    Column("to_state", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("form", JSON, nullable=False),
    Index("ix_bench_history_item_seq", "item_id", "seq", unique=True),
)

# built once, values bound as parameters: the cheapest SQLAlchemy Core can do
INSERT_ITEM = insert(bench_items).returning(bench_items.c.id)
UPDATE_ITEM = update(bench_items).where(
    bench_items.c.id == bindparam("b_id"), bench_items.c.version == bindparam("b_version")
)
INSERT_HISTORY = insert(bench_history)


# -- the people of a publishing lifecycle and what they submit ----------------------------

EDITOR = Actor("wang", {"editor"})
LEAD = Actor("li", {"channel_lead"})
REVIEWER = Actor("zhao", {"reviewer"})
SECOND_REVIEWER = Actor("qian", {"reviewer"})
OPS = Actor("sun", {"ops_manager"})
TOPIC: dict[str, Any] = {  # a new piece, as the editor proposes it
    "title": "图书馆之夜",
    "outline": "夜间开放活动的专题报道",
    # the sites, not self-media accounts: those would add the release step (ACC-2)
    "channels": ["pc", "app"],
    # PRM-1: a topic is proposed with its content type (policies/publishing.yaml)
    "content_type": "news",
}
CHECKLIST: dict[str, Any] = {
    "truthful": True,
    "repost_authorized": True,
    "copyright_cleared": True,
    "nothing_confidential": True,
}


# -- training records the bundled policies ask for (TRN-3) -------------------------------

TRAINER = Actor("hr_li", {"hr", "trainer"})


def seed_training(engine: Engine, posts: Sequence[tuple[str, str]]) -> None:
    """A passed post-basics training record, valid for a year, for each (person, post),
    walked through the engine: the bundled policies refuse an untrained reviewer,
    editor, manager or assistant."""
    valid_until = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    for person, post in posts:
        record = engine.start(
            "training",
            actor=TRAINER,
            data={"trainee": person, "post": post, "course": "post_basics", "reason": "onboarding"},
        )
        engine.fire(record.id, "begin", actor=TRAINER)
        engine.fire(record.id, "finish", actor=TRAINER)
        form = {"result": "pass", "score": 90, "valid_until": valid_until}
        passed = engine.fire(record.id, "assess", actor=TRAINER, data=form)
        assert passed.state == "passed", passed.state
