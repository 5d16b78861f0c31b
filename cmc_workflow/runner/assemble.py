"""The one place where the command line and the daemon build an engine.

Definitions are loaded once (:func:`load_definitions`) and the engine is built from that
:class:`~cmc_workflow.definition.loader.LoadedSet` (:func:`open_engine`), so that the
daemon, which also needs the schedules of the same set, never reads the YAML twice. It
hands the set to the engine's composition root,
:func:`cmc_workflow.engine.assemble`, as :meth:`Engine.open
<cmc_workflow.engine.Engine.open>` does after loading. Commands that only read a
database open its store with :func:`existing_store`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine, assemble, system_clock
from cmc_workflow.errors import StoreError
from cmc_workflow.extensions import Extension
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.language import load_paths
from cmc_workflow.store import Store


def load_definitions(paths: Sequence[str | Path]) -> LoadedSet:
    """Every definition under ``paths``; raises :class:`~cmc_workflow.errors.DefinitionError`
    with every problem of every file."""
    loaded = load_paths(list(paths))
    loaded.raise_for_problems()
    return loaded


def open_engine(
    db: str,
    loaded: LoadedSet,
    *,
    calendar: WorkingCalendar | None = None,
    clock: Callable[[], dt.datetime] = system_clock,
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
    deliver_inline: bool = True,
    migrate: bool | None = None,
    runner: str | None = None,
    extensions: Sequence[Extension] = (),
) -> Engine:
    """An engine on the database at ``db`` running the definitions of ``loaded``.

    A :class:`Clocks` or :class:`Schedules` in ``extensions`` replaces the default one
    (built on ``calendar``). Raises :class:`~cmc_workflow.errors.StoreError` when the
    database cannot be opened.
    """
    return assemble(
        functools.partial(Store.open, db, migrate=migrate),
        loaded,
        clock=clock,
        handlers=handlers,
        deliver_inline=deliver_inline,
        runner=runner,
        extensions=extensions,
        calendar=calendar,
    )


@contextmanager
def existing_store(db: str) -> Iterator[Store]:
    """The store of an existing database at ``db``, for commands that only read it: a
    missing SQLite file is an error (connecting would create it empty), and nothing is
    migrated. Raises :class:`~cmc_workflow.errors.StoreError`."""
    try:
        parsed = make_url(db)
    except ValueError as exc:
        raise StoreError(f"not a database URL: {db!r}") from exc
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        raise StoreError(f"no database file {parsed.database!r}")
    store = Store.open(db, migrate=False)
    try:
        yield store
    finally:
        store.close()
