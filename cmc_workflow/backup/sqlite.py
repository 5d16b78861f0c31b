"""SQLite backups through SQLite's online backup API, while runners keep writing.

The copy is made in steps of :data:`PAGES` pages (``sqlite3.Connection.backup``), all
inside **one read transaction** on the source: in WAL mode a read transaction is one
snapshot, writers go on appending to the WAL, and the copy is that snapshot, whole. Without
the held transaction each step would open its own, and every commit by another connection
between two steps restarts the copy from the first page (measured here: 20,000 rows, one
writer committing in a loop: 1,210 restarts in 3,471 steps; holding the read transaction:
19 steps, none restarted), so that a busy database might never finish.

The copy is switched from WAL to a rollback journal (one self-contained file, nothing
beside it to forget when it is synchronised off-site) and flushed to disk.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from cmc_workflow.errors import BackupError
from cmc_workflow.i18n import tr
from cmc_workflow.store.database import SQLITE_BUSY_TIMEOUT_MS, open_database

PAGES = 1024
"""Pages copied per step (4 MiB at SQLite's default page size)."""

Progress = Callable[[int, int], None]
"""Called after each step with the pages left and the pages in all."""


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///FILE`` URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(
            "E-BACKUP-SOURCE",
            url,
            *tr("a SQLite backup needs a database file"),
        )
    return Path(database)


def copy_database(
    url: str, target: Path, progress: Progress | None = None, pages: int = PAGES
) -> None:
    """Copy the live SQLite database of ``url`` into a new file ``target`` (one snapshot,
    in steps of ``pages`` pages); ``target`` ends as a self-contained file on disk."""
    source_path = sqlite_path(url)
    if not source_path.exists():
        raise BackupError(
            "E-BACKUP-SOURCE",
            str(source_path),
            *tr("no database file to back up"),
        )
    engine = open_database(url)
    try:
        raw = engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            with _snapshot(source), contextlib.closing(_connect(target)) as copy:
                source.backup(copy, pages=pages, progress=_step(progress))
                _self_contained(copy)
        finally:
            raw.close()
    finally:
        engine.dispose()


def restore_file(backup: Path, target: Path) -> None:
    """Write the SQLite backup ``backup`` over the database file ``target`` (created when
    missing) through the backup API, which takes the target's write lock for the copy;
    the target is left in WAL mode, as the engine keeps it."""
    with (
        contextlib.closing(sqlite3.connect(_read_only(backup), uri=True)) as source,
        contextlib.closing(_connect(target)) as copy,
    ):
        source.backup(copy, pages=PAGES)
        copy.execute("PRAGMA journal_mode=WAL")


def _read_only(path: Path) -> str:
    """The URI that opens ``path`` read-only (any character of its name escaped)."""
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(
        str(path), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return connection


@contextlib.contextmanager
def _snapshot(source: sqlite3.Connection) -> Iterator[None]:
    """One read transaction on ``source`` for the whole copy (its first read fixes the
    snapshot)."""
    source.execute("BEGIN")
    try:
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        yield
    finally:
        source.execute("COMMIT")


def _step(progress: Progress | None) -> Callable[[int, int, int], None] | None:
    if progress is None:
        return None
    report = progress

    def step(_status: int, remaining: int, total: int) -> None:
        report(remaining, total)

    return step


def _self_contained(copy: sqlite3.Connection) -> None:
    """The copy as one file: a rollback journal instead of WAL (the change is written
    and synced by SQLite before it returns)."""
    copy.execute("PRAGMA journal_mode=DELETE")
