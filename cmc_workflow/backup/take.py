"""Taking a backup: a consistent copy of a live database, its manifest, and retention.

:func:`take_backup` is what ``cmc-workflow backup`` and the daemon's scheduled backup
call. The copy is one snapshot of the database while runners and commands keep writing:
every command committed before the copy started is in it, none is half in it
(:mod:`.sqlite`, :mod:`.postgres`). The manifest records when, what (engine and schema
version, database kind), the census of that snapshot (:mod:`.census`) and the file's
SHA-256; the file and then the manifest are renamed into place only when complete.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cmc_workflow.backup import postgres, sqlite
from cmc_workflow.backup.census import Census, take_census
from cmc_workflow.backup.files import (
    FORMAT,
    SUFFIXES,
    fsync_path,
    new_stem,
    prepare_folder,
    prune,
    sha256_of,
    write_manifest,
)
from cmc_workflow.errors import BackupError
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.store import schema
from cmc_workflow.store.database import open_database

log = get_logger("cmc_workflow.backup")


@dataclass(frozen=True, slots=True)
class Taken:
    """A backup just written: its file and manifest, and what it holds."""

    file: Path
    manifest: Path
    size: int
    sha256: str
    seconds: float
    census: Census
    removed: list[Path] = field(default_factory=list)
    """Older backups removed by retention (``keep``)."""


def database_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``; a :class:`BackupError` for anything else."""
    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:  # sqlalchemy's ArgumentError, or a ValueError
        raise BackupError(
            "E-BACKUP-SOURCE", url, *tr("not a database URL: {error}", error=exc)
        ) from exc
    if backend not in SUFFIXES:
        raise BackupError(
            "E-BACKUP-SOURCE",
            url,
            *tr(
                "cannot back up a {backend} database: SQLite and PostgreSQL only",
                backend=backend,
            ),
        )
    return backend


def engine_version() -> str:
    """The installed cmc-workflow's version."""
    try:
        return version("cmc-workflow")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def take_backup(
    url: str,
    folder: Path,
    *,
    keep: int | None = None,
    pg_dump: str | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    progress: sqlite.Progress | None = None,
    pages: int = sqlite.PAGES,
) -> Taken:
    """Back up the database of ``url`` into ``folder``; with ``keep``, then remove the
    oldest backups of the folder beyond the newest ``keep``. A SQLite copy goes in steps
    of ``pages`` pages, ``progress(left, total)`` called after each while the snapshot
    is held. Raises :class:`BackupError` (nothing is left under a final name when it
    fails)."""
    kind = database_kind(url)
    folder = prepare_folder(folder)
    try:
        return _take(url, kind, folder, keep, pg_dump, clock, progress, pages)
    except SQLAlchemyError as exc:
        said = str(getattr(exc, "orig", None) or exc).strip()
        raise BackupError(
            "E-BACKUP-FAILED",
            make_url(url).render_as_string(hide_password=True),
            *tr("the database cannot be read for the backup: {said}", said=said),
        ) from exc
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(
            "E-BACKUP-FAILED",
            str(folder),
            *tr("the backup failed: {error}", error=exc),
        ) from exc


def _take(
    url: str,
    kind: str,
    folder: Path,
    keep: int | None,
    pg_dump: str | None,
    clock: Callable[[], dt.datetime],
    progress: sqlite.Progress | None,
    pages: int,
) -> Taken:
    started = clock()
    began = time.monotonic()
    stem = new_stem(folder, started)
    final = folder / f"{stem}{SUFFIXES[kind]}"
    partial = final.with_name(final.name + ".partial")
    try:
        if kind == "sqlite":
            sqlite.copy_database(url, partial, progress, pages)
            census, tool = _census_of_copy(partial), f"SQLite {sqlite_version()} backup API"
        else:
            census, tool = postgres.dump(url, partial, pg_dump)
        fsync_path(partial)
        digest = sha256_of(partial)
        size = partial.stat().st_size
        partial.replace(final)
        fsync_path(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.monotonic() - began
    manifest = final.with_name(f"{stem}.json")
    write_manifest(
        manifest,
        _manifest(
            url=url,
            kind=kind,
            tool=tool,
            file=final,
            size=size,
            digest=digest,
            census=census,
            started=started,
            seconds=seconds,
        ),
    )
    removed = prune(folder, keep) if keep is not None else []
    log.info(
        "backup_taken",
        file=str(final),
        size=size,
        seconds=round(seconds, 3),
        items=census.item_count,
        audit_records=census.audit_records,
        removed=[str(p) for p in removed],
    )
    return Taken(final, manifest, size, digest, seconds, census, removed)


def sqlite_version() -> str:
    """The SQLite library's version."""
    return sqlite3.sqlite_version


def _census_of_copy(path: Path) -> Census:
    """The census of a SQLite copy, read-only (the copy is the snapshot)."""
    engine = open_database(f"sqlite:///{path}", read_only=True)
    try:
        with engine.connect() as conn:
            return take_census(conn)
    finally:
        engine.dispose()


def _manifest(
    *,
    url: str,
    kind: str,
    tool: str,
    file: Path,
    size: int,
    digest: str,
    census: Census,
    started: dt.datetime,
    seconds: float,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": started.astimezone(dt.UTC).isoformat(),
        "seconds": round(seconds, 3),
        "file": file.name,
        "size": size,
        "sha256": digest,
        "engine": {"name": "cmc-workflow", "version": engine_version(), "schema": schema.HEAD},
        "schema": census.schema,
        "database": {
            "kind": kind,
            "url": make_url(url).render_as_string(hide_password=True),
            "tool": tool,
            "host": os.uname().nodename,
        },
        "census": census.as_json(),
    }
