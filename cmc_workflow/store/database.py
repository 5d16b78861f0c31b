"""Opening a database: SQLAlchemy engines set up for SQLite and PostgreSQL.

SQLite (ARCHITECTURE decision 4): WAL, ``synchronous=FULL``, a busy timeout,
``foreign_keys=ON``, and write transactions opened with ``BEGIN IMMEDIATE`` (SQLAlchemy's
documented pysqlite recipe) so that read-then-write races queue on the lock instead of
failing. Read-only work asks for a deferred ``BEGIN`` with the ``cmc_read`` option.
PostgreSQL goes through psycopg 3.

``synchronous=FULL`` departs from decision 4's ``NORMAL``: in WAL mode ``NORMAL`` keeps the
file consistent but may roll back the last commits on a power loss, and SEC-4 asks that no
accepted transition be lost at any instant. FULL syncs the WAL on every commit; measured
here it halves the engine's SQLite throughput (about 800 -> 400 commands/s), far above
what a center's staff produce.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

READ_ONLY = {"cmc_read": True}
"""Execution options for a read-only transaction (a deferred BEGIN on SQLite)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def open_database(url: str, **options: Any) -> Engine:
    """Create the SQLAlchemy engine for ``url`` with the settings above."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, **options)
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


def _sqlite_engine(url: str, **options: Any) -> Engine:
    if make_url(url).database in (None, "", ":memory:"):
        raise ValueError("use a SQLite file, not an in-memory database: every runner must see it")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("cmc_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so: only a fresh file changes).

    The change needs an exclusive lock; when connections race to convert one fresh file,
    SQLite answers one of them "database is locked" at once, without waiting for the
    busy timeout (its deadlock avoidance). Retry until the other one is done.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
