"""Opening a database: SQLAlchemy engines set up for SQLite and PostgreSQL.

SQLite (ARCHITECTURE decision 4): WAL, ``synchronous=FULL``, a busy timeout,
``foreign_keys=ON``, and write transactions opened with ``BEGIN IMMEDIATE`` (SQLAlchemy's
documented pysqlite recipe) so that read-then-write races queue on the lock instead of
failing. Read-only work asks for a deferred ``BEGIN`` with the ``cmc_read`` option.
PostgreSQL goes through psycopg 3.

A SQLite file this process may not write (the file, or its folder: WAL needs its ``-wal``
and ``-shm`` files beside it), or a URL with ``?mode=ro``, is opened **read-only**
(``file:...?mode=ro``, plus ``immutable=1`` when the folder is read-only and no ``-wal``
file holds pending commits): no pragma that writes, only deferred ``BEGIN``, so ``show``,
``history``, ``audit verify`` work on an auditor's read-only copy, and a write fails with
:class:`~cmc_workflow.errors.DatabaseReadOnly` (``E-DB-READ-ONLY``) instead of
"attempt to write a readonly database" on the first statement.

``synchronous=FULL`` departs from decision 4's ``NORMAL``: in WAL mode ``NORMAL`` keeps the
file consistent but may roll back the last commits on a power loss, and SEC-4 asks that no
accepted transition be lost at any instant. FULL syncs the WAL on every commit; measured
here it halves the engine's SQLite throughput (about 800 -> 400 commands/s), far above
what a center's staff produce.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import tr
from cmc_workflow.store.fast import execute_plain

SUPPORTED_BACKENDS = frozenset({"sqlite", "postgresql"})
"""The databases the store runs on (``E-DB-UNSUPPORTED`` for any other URL)."""

READ_ONLY = {"cmc_read": True}
"""Execution options for a read-only transaction (a deferred BEGIN on SQLite)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000

READ_ONLY_OPTION = "cmc_read_only"
"""The execution option that marks an engine opened read-only (see :func:`is_read_only`)."""


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def insert_of(on_sqlite: bool, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT. The PostgreSQL dialect is imported
    only on PostgreSQL: a SQLite start does not pay for it (about 20 ms)."""
    if on_sqlite:
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


def is_sqlite(engine: Engine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def is_read_only(engine: Engine) -> bool:
    """True when ``engine`` was opened read-only (a SQLite file this process cannot write)."""
    return bool(engine.get_execution_options().get(READ_ONLY_OPTION))


def open_database(url: str, *, read_only: bool | None = None, **options: Any) -> Engine:
    """Create the SQLAlchemy engine for ``url`` with the settings above.

    ``read_only`` None opens a SQLite file read-only when this process cannot write it
    (or its folder); True always does. PostgreSQL ignores it (its roles say who writes).
    """
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        why = tr(
            "{backend}:// databases are not supported: use sqlite:///FILE or "
            "postgresql://USER@HOST/DB",
            backend=backend,
        )
        raise StoreError(f"E-DB-UNSUPPORTED {why}")
    if backend == "sqlite":
        return _sqlite_engine(url, read_only=read_only, **options)
    ping_after = options.pop("ping_after_idle", PING_AFTER_IDLE)
    options.setdefault("pool_recycle", POOL_RECYCLE)
    try:
        engine = create_engine(url, **options)
    except ImportError as exc:  # the driver is an extra: psycopg
        why = tr(
            "the PostgreSQL driver is not installed ({error}): install it with "
            "pip install 'cmc-workflow[postgres]'",
            error=exc,
        )
        raise StoreError(f"E-DB-DRIVER {why}") from exc
    _ping_after_idle(engine, ping_after)
    return engine


PING_AFTER_IDLE = 10.0
"""Seconds a pooled server connection may rest before its next checkout pings it.

SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per transaction,
about a third of a command's round trips on PostgreSQL. A connection used a moment ago is
alive (or the command fails once and the pool replaces it); one that rested, which a
server restart or an idle timeout may have closed, is pinged first and replaced quietly.
"""
POOL_RECYCLE = 1800
"""Seconds after which a pooled server connection is closed and opened anew."""


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection at checkout only after it rested ``seconds``; a dead one
    raises ``DisconnectionError``, on which the pool opens a new connection instead."""
    dialect = engine.dialect
    _PING_AFTER[engine] = seconds

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:  # a kept connection rests since its last use (KeptConnections)
            used = record.info.pop(LAST_USED, None)
            record.info["cmc_rested_since"] = time.monotonic() if used is None else used

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested_since = record.info.get("cmc_rested_since")
        if rested_since is None or time.monotonic() - rested_since < seconds:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any driver error: the connection is gone
            raise DisconnectionError(f"a rested connection did not answer: {exc}") from exc


def _read_only_uri(path: str, read_only: bool | None) -> str | None:
    """The ``file:`` URI that opens ``path`` read-only, or None to open it for writing."""
    if read_only is False or (read_only is None and not os.path.exists(path)):
        return None  # a missing file is created (and migrated) by a writer
    folder = os.path.dirname(os.path.abspath(path))
    folder_writable = os.access(folder, os.W_OK)
    if read_only is None and os.access(path, os.W_OK) and folder_writable:
        return None
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    if not folder_writable and not os.path.exists(f"{path}-wal"):
        # no -shm can be made beside it and no commit waits in a WAL: the file is the
        # whole database, and SQLite may read it without the WAL index
        uri += "&immutable=1"
    return uri


def _sqlite_engine(url: str, *, read_only: bool | None = None, **options: Any) -> Engine:
    parsed = make_url(url)
    path = parsed.database
    if path in (None, "", ":memory:"):
        raise ValueError("use a SQLite file, not an in-memory database: every runner must see it")
    assert path is not None
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    uri = None if parsed.query.get("uri") else _read_only_uri(path, read_only)
    readonly = uri is not None or parsed.query.get("mode") == "ro"
    if uri is not None:
        target = uri

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(target, uri=True, timeout=timeout, check_same_thread=False)

        engine = create_engine(url, creator=connect, **options)
    else:
        engine = create_engine(url, connect_args={"timeout": timeout}, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not readonly:  # both write the file; a read-only reader takes it as it is
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # on the driver's cursor: through ``exec_driver_sql`` SQLAlchemy's execution cost
        # a command more than SQLite's BEGIN itself (store/fast.py)
        if readonly or conn.get_execution_options().get("cmc_read"):
            execute_plain(conn, "BEGIN")
        else:
            execute_plain(conn, "BEGIN IMMEDIATE")

    if readonly:
        return engine.execution_options(**{READ_ONLY_OPTION: True})
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


KEEP_FOR = 5.0
"""Seconds a connection kept by a store between its transactions (:class:`KeptConnections`)
stays out of the pool at most, counted from its checkout: then it goes back, so the pool's
reset, recycling and ping after rest still run on it at least this often. A kept connection
that rested as long as the engine's ``ping_after_idle`` goes back too: it skips no ping the
pool would have made."""
_PING_AFTER: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
"""A server engine's ``ping_after_idle`` (SQLite engines ping never)."""
KEPT_MAX = 2
"""Connections a :class:`KeptConnections` keeps at most (the rest go back to the pool)."""
LAST_USED = "cmc_last_used"
"""The key, in a pooled connection's ``info``, of when a kept connection was last used: its
rest counts from then, not from its return to the pool (``_ping_after_idle``)."""

_LEFT_IN_PARENT: list[Connection] = []
"""Kept connections a forked child found: the parent's. Never used, closed or collected in
the child (collecting would return them to the child's copy of the pool)."""


class KeptConnections:
    """Pooled connections a store keeps checked out between its transactions (issue 12).

    Checking a connection out of SQLAlchemy's pool and back in (the ``Connection`` object,
    the pool's events, its reset) cost a command about 40 µs of CPU on SQLite and 60 µs on
    PostgreSQL, several times SQLite's own BEGIN and COMMIT. A store keeps up to
    :data:`KEPT_MAX` connections that ended their transaction cleanly and hands them to its
    next transactions, one transaction and so one thread at a time. The bound: a kept
    connection holds no transaction, so no lock and no snapshot; it goes back to the pool
    :data:`KEEP_FOR` seconds after it left it, when the store closes, and at once after an
    error; a forked child never uses its parent's. Only a :class:`QueuePool` with room for
    three times what is kept keeps any (the default pool holds 15)."""

    __slots__ = ("_closed", "_engine", "_kept", "_lock", "_max", "_options", "_pid", "_rest")

    def __init__(self, engine: Engine, options: Mapping[str, Any] | None = None) -> None:
        self._engine = engine
        self._options = dict(options or {})
        # (connection, when it left the pool, when it was last used), the latest last
        self._kept: list[tuple[Connection, float, float]] = []
        self._lock = threading.Lock()
        self._max = KEPT_MAX if _room(engine) >= 3 * KEPT_MAX else 0
        self._rest = _PING_AFTER.get(engine, PING_AFTER_IDLE)  # a longer rest: to the pool
        self._pid = os.getpid()
        self._closed = False

    def __len__(self) -> int:
        return len(self._kept)

    def take(self) -> tuple[Connection, float]:
        """A connection for one transaction, and when it left the pool: a kept one when
        one is fresh enough, else one checked out now."""
        if self._kept:
            stale: list[tuple[Connection, float, float]] = []
            now = time.monotonic()
            with self._lock:
                if os.getpid() != self._pid:  # a forked child: those are the parent's
                    _LEFT_IN_PARENT.extend(conn for conn, _since, _used in self._kept)
                    self._kept, self._pid = [], os.getpid()
                while self._kept:
                    conn, since, used = self._kept.pop()
                    if now - since < KEEP_FOR and now - used < self._rest:
                        break
                    stale.append((conn, since, used))
                else:
                    conn = None
            for old, _since, used in stale:
                _give_back(old, used)
            if conn is not None:
                return conn, since
        conn = self._engine.connect()
        if self._options:
            conn.execution_options(**self._options)
        return conn, time.monotonic()

    def keep(self, conn: Connection, since: float) -> None:
        """Keep ``conn`` after a transaction that ended cleanly (none open), or give it
        back to the pool when enough are kept or the store is closed."""
        if self._max and not conn.invalidated and not conn.in_transaction():
            with self._lock:
                if not self._closed and len(self._kept) < self._max:
                    self._kept.append((conn, since, time.monotonic()))
                    return
        conn.close()

    def close(self) -> None:
        """Give every kept connection back to the pool and keep none from now on."""
        with self._lock:
            self._closed = True
            kept, self._kept = self._kept, []
            forked = os.getpid() != self._pid
        if forked:
            _LEFT_IN_PARENT.extend(conn for conn, _since, _used in kept)
            return
        for conn, _since, used in kept:
            _give_back(conn, used)


def _give_back(conn: Connection, used: float) -> None:
    """Return a kept connection to the pool, resting since its last use."""
    try:
        if not conn.invalidated:
            conn.info[LAST_USED] = used
    finally:
        conn.close()


def _room(engine: Engine) -> float:
    """How many connections ``engine``'s pool lends at once (0 for pools that do not queue
    them: those keep nothing)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return 0
    # QueuePool has no public accessor for the overflow it was made with; a SQLAlchemy
    # that named it otherwise gets a store that keeps nothing (slower, never wrong), and
    # tests/contract/test_kept_connections.py fails so that we notice
    overflow = getattr(pool, "_max_overflow", None)
    if not isinstance(overflow, int):
        return 0
    return float("inf") if overflow < 0 else pool.size() + overflow
