"""Databases for the tests: PostgreSQL ones made and dropped per test, from one migrated
template per test run.

Every PostgreSQL test works in a database of its own, so that nothing a test leaves behind
(a connection, a daemon that outlived it) can block or corrupt the next one: a database is
made with ``CREATE DATABASE ... TEMPLATE`` (a file copy on the server, no migrations) and
dropped afterwards, its leftover connections terminated first. SQLite tests copy a migrated
file the same way (:func:`cmc_workflow.testing.fresh_sqlite_url`).

Copying a database costs the server a few hundred milliseconds of writing, so
:class:`PostgresPool` copies the next ones in a background thread while a test runs, and
drops used ones in another. Test databases commit asynchronously (``synchronous_commit``
off): the tests end clients and runners, never the server.

A ``DROP DATABASE`` waits for a checkpoint of the whole server (PostgreSQL 15 forces one),
which fsyncs every file written since the last: a fresh copy of the template is about 440
files, and one checkpoint here fsynced 22,457 (14.6 s). Dropped one at a time (a second or
more each), the used databases fell behind the tests (70 waiting after the store contract
file alone), every checkpoint had all of them to write out, and each xdist worker's session
teardown dropped the rest in turn: 13-15 s in the whole suite, 48-80 s after the contract
file at ``-n 0``. A database dropped before a checkpoint takes it costs it nothing (its
pending fsyncs are forgotten), and drops asked for together share checkpoints. So the pool
drops whatever is waiting at once, each on a connection of its own, and keeps at most
:data:`LIVE` databases undropped (ready, in use, waiting): copying waits for the drops, one
batch takes every waiting database, and the teardown ends when its last batch is dropped.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import make_url

from cmc_workflow.store import schema
from cmc_workflow.store.database import normalize_url, open_database

PG_ENV = "CMC_TEST_POSTGRES_URL"
"""The variable naming the PostgreSQL server the tests may make databases on; without it
the PostgreSQL cases are skipped, never failed."""


def postgres_admin_url() -> URL | None:
    """The URL of the server's maintenance database, or None when :data:`PG_ENV` is unset."""
    base = os.environ.get(PG_ENV)
    return make_url(normalize_url(base)) if base else None


def _create(admin_url: URL, name: str, template: str | None = None) -> None:
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
            # a test's commits need not wait for the server's disk: what the tests kill is
            # clients and runners, never the server, and an asynchronous commit is seen by
            # every session at once and kept by the server all the same
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    finally:
        admin.dispose()


def _drop(admin_url: URL, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # a daemon a test left running still holds connections: end them first
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def postgres_database(
    admin_url: URL, prefix: str = "cmc_test", *, template: str | None = None
) -> Iterator[str]:
    """A new database on the server of ``admin_url`` (empty, or a copy of ``template``),
    yielded as a URL and dropped on exit whatever happened."""
    name = _new_name(prefix)
    _create(admin_url, name, template)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin_url, name)


@contextmanager
def migrated_template(admin_url: URL) -> Iterator[str]:
    """A database migrated to head, to copy with :func:`postgres_database` (``template=``
    the name yielded); nobody may stay connected to it, so its engine is disposed at once."""
    with postgres_database(admin_url, "cmc_template") as url:
        engine = open_database(url)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
        name = make_url(url).database
        assert name is not None
        yield name


AHEAD = 2
"""How many copies of the template :class:`PostgresPool` keeps ready."""

CAP = 300.0
"""How long a test waits for its database before it fails (seconds)."""

LIVE = 8
"""How many databases :class:`PostgresPool` keeps at most (ready, in use, waiting to be
dropped): also how many it drops at once, each on a connection of its own (see the module
docstring)."""


class PostgresPool:
    """Databases of one test each, copied from ``template`` ahead of need and dropped
    after use, both in background threads (see the module docstring).

    :meth:`take` hands out a database nobody used; :meth:`give_back` ends its connections
    at once and drops it later. :meth:`close` drops everything left."""

    def __init__(self, admin_url: URL, template: str, *, ahead: int = AHEAD) -> None:
        self.admin_url = admin_url
        self.template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=ahead)
        self._used: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._live = threading.BoundedSemaphore(LIVE)  # a slot per database not yet dropped
        self._failure: BaseException | None = None
        self._maker = threading.Thread(target=self._make, name="pg-copies", daemon=True)
        self._dropper = threading.Thread(target=self._drop_used, name="pg-drops", daemon=True)
        self._maker.start()
        self._dropper.start()

    def _make(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._live.acquire(timeout=0.1):  # until a drop frees a slot
                    continue
                name = _new_name("cmc_test")
                _create(self.admin_url, name, self.template)
                while True:
                    if self._stop.is_set():
                        self._used.put(name)
                        return
                    try:
                        self._ready.put(name, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # surfaced by take()
            self._failure = exc

    def _drop_used(self) -> None:
        with ThreadPoolExecutor(LIVE, thread_name_prefix="pg-drop") as drops:
            while True:
                # everything waiting, taken at once: ``None`` (from close()) ends the loop
                # after the names before it are dropped
                waiting = [self._used.get()]
                while None not in waiting:
                    try:
                        waiting.append(self._used.get_nowait())
                    except queue.Empty:
                        break
                names = [name for name in waiting if name is not None]
                for failure in drops.map(self._drop_one, names):
                    if failure is not None:  # surfaced by the next take() or close()
                        self._failure = failure
                if None in waiting:
                    return

    def _drop_one(self, name: str) -> Exception | None:
        try:
            _drop(self.admin_url, name)
        except Exception as exc:
            return exc
        finally:
            self._live.release()
        return None

    def take(self) -> str:
        """The URL of a migrated database for one test."""
        deadline = time.monotonic() + CAP
        while True:
            if self._failure is not None:
                raise self._failure
            try:
                name = self._ready.get(timeout=0.1)
                break
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"waited {CAP:.0f} s for a copy of the PostgreSQL template {self.template}"
                    ) from None
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def give_back(self, url: str) -> None:
        """Done with ``url``'s database: it is dropped in the background, its leftover
        connections ended first (no other test ever connects to it)."""
        name = make_url(url).database
        assert name is not None
        self._used.put(name)

    def close(self) -> None:
        """Stop copying and drop every database this pool made."""
        self._stop.set()
        self._maker.join()
        while True:
            try:
                self._used.put(self._ready.get_nowait())
            except queue.Empty:
                break
        self._used.put(None)
        self._dropper.join()
        if self._failure is not None:
            raise self._failure
