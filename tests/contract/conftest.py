"""The ``store`` fixture: every contract test runs once per store implementation.

- ``memory``: a fresh :class:`~cmc_workflow.store.memory.MemoryStore`;
- ``sqlite``: a copy of a SQLite file migrated once per session (a copy is faster than
  running the migrations for every test, and is the same file);
- ``postgres`` (when ``CMC_TEST_POSTGRES_URL`` is set, else skipped): a database of its own
  per test, created from a template migrated once per session and dropped in teardown.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cmc_workflow.store import StorePort
from cmc_workflow.store.database import normalize_url, open_database
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.schema import upgrade
from tests.helpers.databases import PG_ENV


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied by each test."""
    path = tmp_path_factory.mktemp("contract") / "template.db"
    store = SqlStore.open(f"sqlite:///{path}")
    store.close()
    return path


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[tuple[str, str]]:
    """(admin URL, template database name): a template migrated once for this run."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    admin_url = make_url(normalize_url(base))
    template = f"cmc_contract_tpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    engine = open_database(admin_url.set(database=template).render_as_string(False))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    try:
        yield admin_url.render_as_string(hide_password=False), template
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorePort]:
    """An empty store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        path = tmp_path / "cmc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        sql = SqlStore.open(f"sqlite:///{path}")
        try:
            yield sql
        finally:
            sql.close()
        return
    admin_url, template = request.getfixturevalue("postgres_admin")
    name = f"cmc_contract_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        sql = SqlStore.open(make_url(admin_url).set(database=name).render_as_string(False))
        try:
            yield sql
        finally:
            sql.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
