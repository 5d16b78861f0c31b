"""The connections a SQL store keeps checked out between its transactions
(``cmc_workflow.store.database.KeptConnections``, issue 12): kept only between clean
transactions, never shared by two at once, holding no lock or snapshot, bounded in number
and in time, given back on an error and when the store or the engine closes."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import event

from cmc_workflow import Engine
from cmc_workflow.errors import ConflictError
from cmc_workflow.store import database
from cmc_workflow.store.database import open_database
from cmc_workflow.store.repository import SqlStore
from tests.contract.test_store_contract import entry, seeded
from tests.helpers import EDITOR, TOPIC
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING


def checkouts(store: SqlStore) -> list[Any]:
    """The driver connections checked out of ``store``'s pool from now on, in order."""
    seen: list[Any] = []
    event.listen(store.engine, "checkout", lambda dbapi, _record, _proxy: seen.append(dbapi))
    return seen


def driver(tx: Any) -> Any:
    return tx.conn.connection.dbapi_connection


def is_closed(connection: Any) -> bool:
    if isinstance(connection, sqlite3.Connection):
        try:
            connection.execute("SELECT 1")
        except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
            return True
        return False
    return bool(connection.closed)


def test_a_store_keeps_its_connection_between_transactions(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    seen = checkouts(sql)
    used = set()
    for _ in range(5):
        with sql.write() as tx:
            assert tx.item(item_id) is not None
            used.add(id(driver(tx)))
        with sql.read() as tx:
            assert tx.item(item_id) is not None
            used.add(id(driver(tx)))
    assert len(seen) == 1  # the readers' (the writers' is kept since seeded())
    assert len(used) == 2
    assert sql.engine.pool.checkedout() == 2  # type: ignore[attr-defined]


def test_closing_the_store_gives_back_the_kept_connections(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    with sql.write() as tx:
        written = driver(tx)
    with sql.read() as tx:
        read = driver(tx)
    assert sql.engine.pool.checkedout() == 2  # type: ignore[attr-defined]
    sql.close()
    assert sql.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert is_closed(written)
    assert is_closed(read)
    with sql.write() as tx:  # a closed store opens connections as its pool does, keeps none
        assert tx.item(item_id) is not None
    assert sql.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_closing_the_engine_leaves_no_connection_checked_out(db_url: str) -> None:
    engine = Engine.open(db_url, workflows=PUBLISHING)
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    engine.get(item.id)
    store = engine.store
    assert isinstance(store, SqlStore)
    assert store.engine.pool.checkedout() >= 1  # type: ignore[attr-defined]
    engine.close()
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_kept_connection_holds_no_lock_or_snapshot_between_transactions(
    sqlite_url: str,
) -> None:
    """SQLite: another connection may take the write lock at once (no busy wait) and
    checkpoint the whole WAL (no reader holds a snapshot) while the store keeps both."""
    sql = SqlStore.open(sqlite_url)
    try:
        _, item_id = seeded(sql)
        with sql.write() as tx:
            tx.item(item_id)
        with sql.read() as tx:
            tx.item(item_id)
        assert len(sql._writers) == len(sql._readers) == 1
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0)
        other.isolation_level = None
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
            busy, _log, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
        finally:
            other.close()
    finally:
        sql.close()


def test_two_transactions_at_once_never_share_a_connection(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    inside = threading.Barrier(3)
    done = threading.Event()
    used: list[Any] = []

    def reader() -> None:
        with sql.read() as tx:
            tx.item(item_id)
            used.append(driver(tx))
            inside.wait(timeout=30)
            done.wait(timeout=30)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=30)
    with sql.read() as tx:  # a third, while both hold theirs
        used.append(driver(tx))
    done.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len({id(c) for c in used}) == 3
    assert len(sql._readers) == database.KEPT_MAX  # the bound: the third went back to the pool
    assert sql.engine.pool.checkedout() == 1 + database.KEPT_MAX  # type: ignore[attr-defined]


def test_an_error_rolls_back_and_gives_the_connection_back(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    with sql.write() as tx:
        tx.insert_history([entry(item_id, 1)])
    with sql.read() as tx:
        tx.item(item_id)
    seen = checkouts(sql)

    def interrupted() -> None:
        with sql.write() as tx:
            tx.insert_history([entry(item_id, 2)])
            raise RuntimeError("mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        interrupted()
    assert len(sql._writers) == 0
    with pytest.raises(ConflictError), sql.write() as tx:  # the driver's error, translated
        tx.insert_history([entry(item_id, 1)])
    assert len(sql._writers) == 0
    with sql.read() as tx:
        assert [row["seq"] for row in tx.history(item_id)] == [1]
    with sql.write() as tx:
        assert tx.item(item_id) is not None
    assert len(seen) == 2  # both failed ones' connections went back, each taken anew
    assert len(sql._writers) == 1


def test_a_kept_connection_goes_back_to_the_pool_after_keep_for(
    sql: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, item_id = seeded(sql)
    seen = checkouts(sql)
    monkeypatch.setattr(database, "KEEP_FOR", 0.0)
    for _ in range(3):
        with sql.write() as tx:
            tx.item(item_id)
    assert len(seen) == 3


def test_a_connection_kept_while_resting_is_pinged_at_its_next_checkout(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a kept connection goes back to the pool resting since its last use, not
    since its return, so the pool's ping after a rest (``ping_after_idle``) still runs."""
    sql = SqlStore(open_database(postgres_url, ping_after_idle=0.2))
    pings: list[Any] = []
    dialect = sql.engine.dialect
    real_ping = dialect.do_ping

    def ping(connection: Any) -> bool:
        pings.append(connection)
        return real_ping(connection)

    monkeypatch.setattr(dialect, "do_ping", ping)
    monkeypatch.setattr(database, "KEEP_FOR", 0.1)
    try:
        _, item_id = seeded(sql)
        with sql.write() as tx:
            tx.item(item_id)
        assert pings == []
        time.sleep(0.3)  # rests kept past KEEP_FOR and ping_after_idle
        with sql.write() as tx:
            assert tx.item(item_id) is not None
        assert len(pings) == 1
    finally:
        sql.close()


def test_a_forked_child_never_uses_its_parents_kept_connections(
    sql: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(sql)
    with sql.write() as tx:
        parents = driver(tx)
    monkeypatch.setattr(database.os, "getpid", lambda: -1)  # as in a forked child
    seen = checkouts(sql)
    with sql.write() as tx:
        assert driver(tx) is not parents
    assert len(seen) == 1
    assert not is_closed(parents)  # the parent's, left alone
    monkeypatch.undo()
    database._LEFT_IN_PARENT.clear()


def test_a_small_pool_keeps_no_connection(sqlite_url: str) -> None:
    sql = SqlStore(open_database(sqlite_url, pool_size=2, max_overflow=1))
    try:
        _, item_id = seeded(sql)
        with sql.write() as tx:
            tx.item(item_id)
        assert len(sql._writers) == 0
        assert sql.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        sql.close()
