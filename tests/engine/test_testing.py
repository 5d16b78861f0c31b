"""The public test kit, ``cmc_workflow.testing``, as an embedder uses it (docs/engine.md,
"Testing your integration")."""

from __future__ import annotations

import datetime as dt
import gc
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cmc_workflow import Engine
from cmc_workflow.store import MemoryStore, schema
from cmc_workflow.store.tables import items
from cmc_workflow.testing import FakeClock, fresh_sqlite_url, memory_engine, open_test_engine
from tests.helpers import EDITOR, LEAD, ROOT, TOPIC, UNGUARDED_PUBLISHING, ok_handler


def journal_mode(path: str) -> str:
    conn = sqlite3.connect(path)
    try:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return mode
    finally:
        conn.close()


def test_the_fake_clock_starts_on_a_friday_afternoon_in_beijing_and_moves_when_told() -> None:
    clock = FakeClock()
    assert clock() == dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)
    assert clock.advance(days=3, minutes=30) == dt.datetime(2025, 9, 29, 7, 30, tzinfo=dt.UTC)
    assert clock() == clock.now
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert FakeClock(start)() == start


def test_each_fresh_sqlite_url_is_a_new_migrated_database_in_wal_mode(tmp_path: Path) -> None:
    first, second = fresh_sqlite_url(tmp_path), fresh_sqlite_url(tmp_path)
    assert first == f"sqlite:///{tmp_path / 'cmc.db'}"
    assert second == f"sqlite:///{tmp_path / 'cmc-2.db'}"
    path = first.removeprefix("sqlite:///")
    assert journal_mode(path) == "wal"
    with open_test_engine(
        workflows=UNGUARDED_PUBLISHING, url=first, handlers={"publish_to_channels": ok_handler}
    ) as engine:
        assert schema.current_revision(engine.store.engine) == schema.head_revision()
        assert schema.drift(engine.store.engine) == []
        engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    with (
        open_test_engine(
            workflows=UNGUARDED_PUBLISHING, url=second, handlers={"publish_to_channels": ok_handler}
        ) as engine,
        engine.store.read() as tx,
    ):  # the first engine's item is not in the copy
        assert tx.conn.execute(select(func.count()).select_from(items)).scalar_one() == 0


def test_an_engine_of_the_kit_runs_on_a_private_database_removed_after_it() -> None:
    clock = FakeClock()
    handlers = {"publish_to_channels": ok_handler}
    with (
        open_test_engine(workflows=UNGUARDED_PUBLISHING, clock=clock, handlers=handlers) as one,
        open_test_engine(workflows=UNGUARDED_PUBLISHING, clock=clock, handlers=handlers) as other,
    ):
        item = one.start("publishing", actor=EDITOR, data=dict(TOPIC))
        assert item.created_at == clock.now
        assert other.inbox(EDITOR) == []
        path = Path(str(one.store.engine.url.database))
        assert path.exists()
        assert journal_mode(str(path)) == "wal"
    del one, other
    gc.collect()
    assert not path.parent.exists()


def test_the_example_of_the_guide_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    guide = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    section = guide.split("## Testing your integration", 1)[1]
    example = re.search(r"```python\n(.+?)\n```", section, flags=re.DOTALL)
    assert example is not None, "docs/engine.md lost its example test"
    monkeypatch.chdir(ROOT)  # the example names workflows/ and policies/ as a project would
    namespace: dict[str, object] = {}
    exec(compile(example.group(1), "docs/engine.md", "exec"), namespace)  # the guide's own code
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 1
    tests[0]()


def _walk_and_wait(engine: Engine, clock: FakeClock) -> list[tuple[object, ...]]:
    """Start a topic, let a weekend pass, approve it; what the history and clocks say."""
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    clock.advance(days=3)
    engine.run_due()
    engine.fire(item.id, "approve", actor=LEAD)
    clock.advance(days=10)
    engine.run_due()
    seen: list[tuple[object, ...]] = [
        (e.from_state, e.to_state, e.trigger, e.actor, e.at) for e in engine.history(item.id)
    ]
    seen += [(i.id, i.state, i.version) for i in engine.inbox(LEAD)]
    seen += [(row["outcome"], row["trigger"]) for row in engine.audit_trail(item.id)]
    return seen


def test_the_memory_engine_does_what_the_sqlite_one_does() -> None:
    """The same commands and the same time on memory and on SQLite leave the same history,
    inbox and audit trail, and the memory engine writes no file."""
    on_memory, on_sqlite = FakeClock(), FakeClock()
    with (
        memory_engine(
            workflows=ROOT / "workflows", policies=ROOT / "policies", clock=on_memory
        ) as memory,
        open_test_engine(
            workflows=ROOT / "workflows", policies=ROOT / "policies", clock=on_sqlite
        ) as sqlite,
    ):
        assert isinstance(memory.store, MemoryStore)
        assert _walk_and_wait(memory, on_memory) == _walk_and_wait(sqlite, on_sqlite)
