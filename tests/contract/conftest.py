"""The ``store`` fixture: every contract test runs once per store implementation.

- ``memory``: a fresh :class:`~cmc_workflow.store.memory.MemoryStore`;
- ``sqlite``: a copy of a SQLite file migrated once per run (``sqlite_url``);
- ``postgres`` (when ``CMC_TEST_POSTGRES_URL`` is set, else skipped): a database of its own
  per test, copied from a template migrated once per run and dropped after the test
  (``postgres_url``).

The databases come from the suite's shared fixtures (``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cmc_workflow.store import StorePort
from cmc_workflow.store.memory import MemoryStore
from cmc_workflow.store.repository import SqlStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[StorePort]:
    """An empty store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url: str = request.getfixturevalue(f"{request.param}_url")
    sql = SqlStore.open(url)
    try:
        yield sql
    finally:
        sql.close()
