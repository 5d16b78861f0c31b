"""Databases for the tests: PostgreSQL ones made and dropped per test, from one migrated
template per test run.

Every PostgreSQL test works in a database of its own, so that nothing a test leaves behind
(a connection, a daemon that outlived it) can block or corrupt the next one: a database is
made with ``CREATE DATABASE ... TEMPLATE`` (a file copy on the server, no migrations) and
dropped afterwards, its leftover connections terminated first. SQLite tests copy a migrated
file the same way (:func:`cmc_workflow.testing.fresh_sqlite_url`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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


@contextmanager
def postgres_database(
    admin_url: URL, prefix: str = "cmc_test", *, template: str | None = None
) -> Iterator[str]:
    """A new database on the server of ``admin_url`` (empty, or a copy of ``template``),
    yielded as a URL and dropped on exit whatever happened."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
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
