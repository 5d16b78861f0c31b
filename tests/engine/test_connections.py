"""Server connections without a ping per transaction (issue 12): a connection used a
moment ago goes straight to work; one that rested is pinged at checkout and, when the
server has closed it, replaced before the command sees it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cmc_workflow.errors import StoreError
from cmc_workflow.store import Store
from cmc_workflow.store.database import normalize_url, open_database

pytestmark = pytest.mark.postgres


def backend_pid(store: Store) -> int:
    with store.read() as tx:
        return int(tx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(url: str, pid: int) -> None:
    admin = create_engine(make_url(normalize_url(url)), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()


def pings(store: Store) -> list[int]:
    """Counts the pings the pool sends (SQLAlchemy's do_ping of the dialect)."""
    seen: list[int] = []
    ping = store.engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        seen.append(1)
        return ping(dbapi_connection)

    store.engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return seen


def test_a_busy_connection_is_not_pinged(postgres_url: str) -> None:
    store = Store(open_database(postgres_url, pool_size=1))
    try:
        seen = pings(store)
        for _ in range(5):
            backend_pid(store)
        assert seen == []
    finally:
        store.close()


def test_a_rested_connection_closed_by_the_server_is_replaced_unseen(postgres_url: str) -> None:
    store = Store(open_database(postgres_url, pool_size=1, ping_after_idle=0.0))
    try:
        seen = pings(store)
        first = backend_pid(store)
        terminate(postgres_url, first)
        assert backend_pid(store) != first  # pinged, found dead, replaced: no error
        assert seen
    finally:
        store.close()


def test_without_the_ping_a_dead_connection_fails_one_command_only(postgres_url: str) -> None:
    store = Store(open_database(postgres_url, pool_size=1, ping_after_idle=3600.0))
    try:
        first = backend_pid(store)
        terminate(postgres_url, first)
        with pytest.raises(StoreError):
            backend_pid(store)
        assert backend_pid(store) != first  # the pool replaced it after the failure
    finally:
        store.close()
