"""The ``store`` fixture: every contract test runs once per store implementation.

- ``memory``: a fresh :class:`~cmc_workflow.store.memory.MemoryStore`;
- ``sqlite``: a copy of a SQLite file migrated once per run (``sqlite_url``);
- ``postgres`` (when ``CMC_TEST_POSTGRES_URL`` is set, else skipped): a database of its own
  per test, copied from a template migrated once per run and dropped after the test
  (``postgres_url``);
- ``sqlite-core`` and ``postgres-core``: the same databases with the store's fast path
  off (``SqlStore(engine, fast=False)``: every statement through SQLAlchemy's execution),
  so that the driver-level statements of ``cmc_workflow.store.fast`` are proven to do
  what SQLAlchemy does, operation by operation.

The ``sql`` fixture is the fast-path store alone, on SQLite and PostgreSQL, for the tests
of the SQL store's own mechanics (its fast path, conversions, kept connections).

The databases come from the suite's shared fixtures (``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cmc_workflow.store import StorePort
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.repository import SqlStore


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "sqlite-core",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-core", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[StorePort]:
    """An empty store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    backend, _, path = str(request.param).partition("-")
    url: str = request.getfixturevalue(f"{backend}_url")
    opened = SqlStore.open(url)
    sql = opened if path != "core" else SqlStore(opened.engine, fast=False)
    assert (sql.fast is None) == (path == "core")
    try:
        yield sql
    finally:
        sql.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    """A SQL store with its fast path on, of each database."""
    store = SqlStore.open(request.getfixturevalue(f"{request.param}_url"))
    assert store.fast is not None
    try:
        yield store
    finally:
        store.close()
