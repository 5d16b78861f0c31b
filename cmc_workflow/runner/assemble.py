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
from sqlalchemy.exc import ArgumentError

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine, assemble, system_clock
from cmc_workflow.errors import PolicyDenied, StoreError
from cmc_workflow.extensions import Command, Extension
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.i18n import tr
from cmc_workflow.language import load_isolated, load_paths
from cmc_workflow.model import Actor
from cmc_workflow.store import Store
from cmc_workflow.store.port import ItemRow, StoreTx


def load_definitions(paths: Sequence[str | Path], *, isolated: bool = False) -> LoadedSet:
    """Every definition under ``paths``; raises :class:`~cmc_workflow.errors.DefinitionError`
    with every problem of every file.

    With ``isolated``, a broken workflow (or schedules) file disables only the workflows it
    holds (:func:`~cmc_workflow.language.load_isolated`): they are in ``disabled``, their
    problems in ``set_aside``, and :class:`DisabledWorkflows` refuses their commands.
    Only a broken policy file still raises."""
    loaded = load_isolated(list(paths)) if isolated else load_paths(list(paths))
    loaded.raise_for_problems()
    return loaded


class DisabledWorkflows(Extension):
    """Refuses every command (start, fire, timers, schedules) on a workflow whose file is
    broken and hides its items from inboxes: their policy rules were left out with the
    file (:func:`~cmc_workflow.language.load_isolated`), so nothing may act on them until
    the file is fixed. Items stay readable (``show``, ``history``: stored versions).
    The refusal's rule is ``workflow_disabled``."""

    def __init__(self, disabled: Mapping[str, str]) -> None:
        self.disabled = dict(disabled)
        self.judges = frozenset(self.disabled)

    def check(self, command: Command, tx: StoreTx) -> None:
        """Refuse a command on a disabled workflow."""
        file = self.disabled.get(command.workflow.id)
        if file is None:
            return
        item = command.item
        raise PolicyDenied(
            "workflow_disabled",
            tr(
                "the workflow {workflow} is disabled: its file {file} has problems "
                "(run `cmc-workflow validate {file}`)",
                workflow=repr(command.workflow.id),
                file=file,
            ),
            item_id=str(item.id) if item is not None else None,
            trigger=command.trigger or "start",
            state=item.state if item is not None else None,
        )

    def visible(self, actor: Actor, item: ItemRow, workflow: CompiledWorkflow) -> bool:
        """Items of a disabled workflow wait on nobody until it is fixed."""
        return workflow.id not in self.disabled


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
    (built on ``calendar``). The workflows ``loaded`` disabled (a broken file, see
    :func:`load_definitions`) are refused by :class:`DisabledWorkflows`, which judges
    first. Raises :class:`~cmc_workflow.errors.StoreError` when the database cannot be
    opened.
    """
    if loaded.disabled:
        extensions = [DisabledWorkflows(loaded.disabled), *extensions]
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
        raise StoreError(tr("not a database URL: {db}", db=repr(db))) from exc
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        raise missing_database(parsed.database or "")
    store = Store.open(db, migrate=False)
    try:
        yield store
    finally:
        store.close()


def missing_database(path: str) -> StoreError:
    """``E-DB-MISSING``: a command that only reads was given a SQLite file that does not
    exist; connecting would create an empty database there (a mistyped ``--db``)."""
    where = str(Path(path).absolute()) if path else "(no file name)"
    reason = tr(
        "no database file {path} ({where}); nothing was created. Check --db or CMC_DB (a new "
        "database is made by `cmc-workflow db upgrade` or the first `start`)",
        path=repr(path),
        where=where,
    )
    return StoreError(f"E-DB-MISSING {reason.en} | {reason.zh}")


def require_existing(db: str) -> None:
    """Raise ``E-DB-MISSING`` when ``db`` names a SQLite file that does not exist (a
    command that only reads must not create it); any other URL passes."""
    try:
        parsed = make_url(db)
    except (ValueError, ArgumentError) as exc:
        raise StoreError(tr("not a database URL: {db}", db=repr(db))) from exc
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        raise missing_database(parsed.database or "")
