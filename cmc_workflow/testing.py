"""The test kit for systems that embed the engine: a controlled clock, an engine on a
private, already migrated database, and an engine in memory.

    from cmc_workflow.testing import FakeClock, open_test_engine

    def test_a_review_is_due_in_two_working_days() -> None:
        clock = FakeClock()
        with open_test_engine(workflows="workflows/", clock=clock) as engine:
            item = engine.start("publishing", actor=editor, data=topic)
            clock.advance(days=3)
            engine.run_due()
            ...

It imports nothing but the standard library and cmc_workflow, so it works under any test
runner. The database is real (a SQLite file in a temporary folder, removed when the engine
is collected or the process ends): the engine's guarantees are the database's, so the kit
never mocks it. Every engine starts empty; the schema is migrated once per process and
copied, which keeps a test's setup in milliseconds. :func:`memory_engine` runs the same
engine on :class:`~cmc_workflow.store.MemoryStore` instead: no file, no SQL, the same
port and the same contract (``tests/contract/`` runs one body on memory, SQLite and
PostgreSQL), for the many fast tests of a host's own rules; keep a few on the real
database you deploy.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.engine import Engine, assemble
from cmc_workflow.extensions import Extension
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.language import load_paths
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.repository import Store

__all__ = ["FakeClock", "fresh_sqlite_url", "memory_engine", "open_test_engine"]

START = dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)
"""Where a :class:`FakeClock` starts unless told: Fri 2025-09-26 15:00 Asia/Shanghai."""


class FakeClock:
    """A clock that moves only when told: pass it as ``clock=`` and call :meth:`advance`.

    ``now`` may also be set directly. It must stay timezone-aware, as the engine's clock
    always is.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by ``datetime.timedelta(**delta)`` (``days=2``, ``minutes=30``);
        returns the new now."""
        self.now += dt.timedelta(**delta)
        return self.now


_template_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    """A SQLite file migrated to head, made once per process and copied for each test.

    It is closed cleanly before any copy (its WAL checkpointed into the file and removed),
    so the single file is the whole database, in WAL mode like every file the engine
    makes."""
    global _template
    with _template_lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="cmc-template-"))
            path = folder / "template.db"
            Store.open(f"sqlite:///{path}").close()
            if Path(f"{path}-wal").exists():  # another connection kept it open: refuse
                raise RuntimeError(f"the template database {path} was not closed cleanly")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _template = path
        return _template


def fresh_sqlite_url(folder: str | Path) -> str:
    """The URL of a new, empty, migrated SQLite database in ``folder`` (``cmc.db``, or
    ``cmc-2.db`` and so on when taken)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    target = folder / "cmc.db"
    while target.exists():
        n += 1
        target = folder / f"cmc-{n}.db"
    shutil.copyfile(_migrated_template(), target)
    return f"sqlite:///{target}"


def _private_url() -> str:
    """The database an engine opened without a URL runs on: the one place the kit
    chooses its store."""
    folder = tempfile.mkdtemp(prefix="cmc-test-")
    return fresh_sqlite_url(folder)


def open_test_engine(
    *,
    workflows: str | Path | Sequence[str | Path],
    policies: str | Path | Sequence[str | Path] | None = None,
    clock: FakeClock | None = None,
    url: str | None = None,
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
    extensions: Sequence[Extension] = (),
    calendar: WorkingCalendar | None = None,
    deliver_inline: bool = True,
) -> Engine:
    """An :class:`Engine` for one test, on a fresh private database unless ``url`` names
    one (which must be migrated already, or a fresh SQLite file).

    ``clock`` defaults to a new :class:`FakeClock`; the other arguments are those of
    :meth:`Engine.open`. Use it as a context manager, as any engine.
    """
    private = url is None
    target = _private_url() if url is None else url
    engine = Engine.open(
        target,
        workflows=workflows,
        policies=policies,
        clock=clock if clock is not None else FakeClock(),
        handlers=handlers,
        extensions=extensions,
        calendar=calendar,
        deliver_inline=deliver_inline,
    )
    if private:
        folder = Path(target.removeprefix("sqlite:///")).parent
        weakref.finalize(engine, shutil.rmtree, folder, ignore_errors=True)
    return engine


def memory_engine(
    *,
    workflows: str | Path | Sequence[str | Path],
    policies: str | Path | Sequence[str | Path] | None = None,
    clock: FakeClock | None = None,
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
    extensions: Sequence[Extension] = (),
    calendar: WorkingCalendar | None = None,
    deliver_inline: bool = True,
) -> Engine:
    """An :class:`Engine` for one test on a new :class:`~cmc_workflow.store.MemoryStore`:
    the definitions, policies, clocks and schedules of :meth:`Engine.open`, nothing on
    disk. The arguments are those of :func:`open_test_engine` (no ``url``)."""
    paths: list[str | Path] = [workflows] if isinstance(workflows, str | Path) else [*workflows]
    if policies is not None:
        paths += [policies] if isinstance(policies, str | Path) else [*policies]
    loaded = load_paths(paths)
    loaded.raise_for_problems()
    return assemble(
        MemoryStore(),
        loaded,
        clock=clock if clock is not None else FakeClock(),
        handlers=handlers,
        extensions=extensions,
        calendar=calendar,
        deliver_inline=deliver_inline,
    )
