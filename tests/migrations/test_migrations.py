"""Alembic migrations: the migrated schema equals the table models on every store, a fresh
SQLite file is migrated on open, an out-of-date database is refused until upgraded, and
the migrations go down to nothing and up again without losing what they keep."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from cmc_workflow import Engine
from cmc_workflow.errors import SchemaOutOfDate, StoreError
from cmc_workflow.store import Store, schema
from cmc_workflow.store.database import open_database
from cmc_workflow.store.port import ItemUpdate, NewItem
from cmc_workflow.store.tables import metadata
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, TOPIC, check_invariants
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING
from tests.helpers.databases import PG_ENV, postgres_admin_url, postgres_database
from tests.helpers.processes import CAP

FIRST = "0001"
TABLES = set(metadata.tables)


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty throw-away PostgreSQL database (no schema at all), dropped afterwards."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with postgres_database(admin_url, "cmc_mig") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("fresh_postgres")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Not the shared copy of a migrated file: a fresh SQLite file, which the test's
    ``Store.open`` migrates, or PostgreSQL (migrated once per run by ``schema.upgrade``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cmc.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_the_migrated_schema_equals_the_models(db_url: str) -> None:
    store = Store.open(db_url)  # migrates the fresh SQLite file; PostgreSQL is migrated
    try:
        assert schema.current_revision(store.engine) == schema.head_revision()
        assert schema.drift(store.engine) == []
    finally:
        store.close()


def test_a_fresh_sqlite_file_is_migrated_on_open(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "new" / "cmc.db"
    path.parent.mkdir()
    with Engine.open(f"sqlite:///{path}", workflows=PUBLISHING, clock=clock) as engine:
        assert engine.start("publishing", actor=EDITOR, data=TOPIC).id == 1
        assert schema.current_revision(engine.store.engine) == schema.head_revision()
    assert path.exists()


def test_runners_opening_one_fresh_sqlite_file_at_once_migrate_it_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_and_start() -> None:
        barrier.wait()
        try:
            with Engine.open(url, workflows=PUBLISHING, clock=clock) as engine:
                engine.start("publishing", actor=EDITOR, data=TOPIC)
        except BaseException as exc:  # collected and judged by the test
            errors.append(exc)

    threads = [threading.Thread(target=open_and_start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CAP)
    assert errors == []
    database = open_database(url)
    try:
        assert schema.drift(database) == []
        with database.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM items")).scalar_one() == 4
            # each bundled workflow registered once, however many runners raced
            registered = "SELECT count(*), count(DISTINCT workflow_id) FROM definitions"
            total, distinct = conn.execute(text(registered)).one()
            assert total == distinct
    finally:
        database.dispose()


@pytest.mark.postgres
def test_runners_migrating_one_fresh_postgres_database_at_once_all_succeed(
    fresh_postgres: str,
) -> None:
    """Several runners started with migrate=True on one new database: one migrates, the
    others wait for it and find the schema at head (an advisory lock serializes them)."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate() -> None:
        database = open_database(fresh_postgres)
        try:
            barrier.wait()
            schema.upgrade(database)
        except BaseException as exc:  # collected and judged by the test
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=migrate, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CAP)
    assert not any(t.is_alive() for t in threads), "a migrating runner hangs (lock wait)"
    assert errors == []
    database = open_database(fresh_postgres)
    try:
        assert schema.drift(database) == []
    finally:
        database.dispose()


def test_connections_racing_to_put_a_fresh_file_in_wal_mode_all_succeed(
    tmp_path: Path,
) -> None:
    """Converting a fresh file to WAL needs an exclusive lock; two connections racing for
    it get 'database is locked' at once (SQLite's deadlock avoidance skips the busy
    timeout). Seen in about 4% of rounds of 8 threads before the store retried it."""
    failures: list[str] = []
    for round_ in range(100):
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        barrier = threading.Barrier(8)

        def connect(url: str = url, barrier: threading.Barrier = barrier) -> None:
            database = open_database(url)
            barrier.wait()
            try:
                with database.connect() as conn:
                    mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
                    if mode != "wal":
                        failures.append(f"journal mode {mode}")
            except Exception as exc:  # collected and judged below
                failures.append(str(exc))
            finally:
                database.dispose()

        threads = [threading.Thread(target=connect) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=CAP)
    assert failures == []


def test_an_empty_database_is_refused_unless_migrated(empty_url: str, clock: FakeClock) -> None:
    options: dict[str, Any] = {"workflows": PUBLISHING, "clock": clock}
    if empty_url.startswith("sqlite"):  # a fresh file is migrated unless told not to
        with pytest.raises(SchemaOutOfDate):
            Engine.open(empty_url, migrate=False, **options)
    else:
        with pytest.raises(SchemaOutOfDate) as caught:
            Engine.open(empty_url, **options)
        assert "cmc-workflow db upgrade" in str(caught.value)
        assert isinstance(caught.value, StoreError)
    database = open_database(empty_url)
    try:
        assert not set(inspect(database).get_table_names()) & TABLES  # nothing was created
    finally:
        database.dispose()
    with Engine.open(empty_url, migrate=True, **options) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        assert engine.get(item.id).state == "proposed"
        assert schema.drift(engine.store.engine) == []


def _fill_first_revision(url: str) -> None:
    """Rows as revision 0001 stored them, written with plain SQL."""
    at = dt.datetime(2025, 9, 1, 8, 0)
    database = open_database(url)
    try:
        with database.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO definitions (workflow_id, revision, version_label, "
                    "content_hash, source_file, source_text, loaded_at) "
                    "VALUES ('publishing', 1, 1, 'h', 'p.yaml', :source, :at)"
                ),
                {"source": PUBLISHING.read_text(encoding="utf-8"), "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO items (workflow_id, definition_id, state, data, visit, seq, "
                    "version, created_at, created_by, updated_at) VALUES ('publishing', 1, "
                    "'proposed', :data, 1, 1, 1, :at, 'wang', :at)"
                ),
                {"data": '{"title": "t", "outline": "o", "channels": ["pc"]}', "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO history (item_id, seq, at, kind, to_state, visit, actor, "
                    "roles, form) VALUES (1, 1, :at, 'start', 'proposed', 1, 'wang', "
                    "'[\"editor\"]', '{}')"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO audit (at, actor, roles, command, workflow_id, item_id, "
                    "outcome, detail) VALUES (:at, 'wang', '[\"editor\"]', 'start', "
                    "'publishing', 1, 'accepted', '{}')"
                ),
                {"at": at},
            )
    finally:
        database.dispose()


def test_an_old_database_is_refused_then_upgraded_keeping_its_rows(
    empty_url: str, clock: FakeClock
) -> None:
    database = open_database(empty_url)
    try:
        schema.upgrade(database, FIRST)
    finally:
        database.dispose()
    _fill_first_revision(empty_url)
    with pytest.raises(SchemaOutOfDate) as caught:
        Engine.open(empty_url, workflows=PUBLISHING, clock=clock)
    assert FIRST in str(caught.value)
    assert schema.head_revision() in str(caught.value)

    with Engine.open(empty_url, workflows=PUBLISHING, clock=clock, migrate=True) as engine:
        old = engine.get(1)
        assert (old.state, old.revision, old.created_by) == ("proposed", 1, "wang")
        assert [a["command"] for a in engine.audit_trail(1)] == ["start"]
        item = engine.fire(old.id, "edit", actor=LEAD, data={"title": "new"})
        assert item.version == 2
        assert schema.drift(engine.store.engine) == []
    assert check_invariants(empty_url) == []


def test_migrations_go_down_to_base_and_up_again(empty_url: str) -> None:
    database = open_database(empty_url)
    try:
        schema.upgrade(database)
        assert set(inspect(database).get_table_names()) >= TABLES
        schema.downgrade(database, FIRST)
        assert schema.current_revision(database) == FIRST
        schema.downgrade(database)
        assert schema.current_revision(database) is None
        assert not set(inspect(database).get_table_names()) & TABLES
        schema.upgrade(database)
        assert schema.current_revision(database) == schema.head_revision()
        assert schema.drift(database) == []
    finally:
        database.dispose()


def test_records_written_before_0015_are_keyed_when_their_pair_is_registered(
    empty_url: str,
) -> None:
    """0015 adds the record keys (empty) and their triggers; registering a pair keys the
    records written before it, and a downgrade to 0014 leaves items writable."""
    at = dt.datetime(2025, 9, 1, 8, 0)
    database = open_database(empty_url)
    try:
        schema.upgrade(database, "0014")
        with database.begin() as conn:
            _training_definition(conn, at)
            for trainee in ("wang", "Li", "zhao"):
                _passed_record(conn, f'{{"trainee": "{trainee}", "post": "editor"}}', at)
        schema.upgrade(database)
        with database.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM record_keys")).scalar() == 0
    finally:
        database.dispose()
    store = Store.open(empty_url)
    try:
        with store.write() as tx:
            assert tx.key_records([("training", "trainee")]) == [("training", "trainee")]
        with store.read() as tx:
            assert [r["trainee"] for r in tx.records("training", ["passed"], "trainee", "LI")] == [
                "Li"
            ]
            assert tx.records("training", ["passed"], "trainee", "wang") == [
                {"trainee": "wang", "post": "editor"}
            ]
        with store.engine.connect() as conn:
            keys = conn.execute(text("SELECT item_id, key FROM record_keys ORDER BY 1")).all()
            assert [tuple(k) for k in keys] == [(1, "wang"), (2, None), (3, "zhao")]
    finally:
        store.close()
    database = open_database(empty_url)
    try:
        schema.downgrade(database, "0014")
        assert not {"record_keys", "record_fields"} & set(inspect(database).get_table_names())
        with database.begin() as conn:  # no trigger left behind
            conn.execute(text("UPDATE items SET data = data, version = 2 WHERE id = 1"))
        schema.upgrade(database)
        assert schema.drift(database) == []
    finally:
        database.dispose()


def _training_definition(conn: Any, at: dt.datetime) -> None:
    """Revision 1 of a ``training`` workflow, written with plain SQL."""
    conn.execute(
        text(
            "INSERT INTO definitions (workflow_id, revision, version_label, "
            "content_hash, source_file, source_text, loaded_at) "
            "VALUES ('training', 1, 1, 'h', 't.yaml', 'id: training', :at)"
        ),
        {"at": at},
    )


def _passed_record(conn: Any, data: str, at: dt.datetime) -> None:
    """A passed training record of revision 1 holding ``data`` (JSON text)."""
    conn.execute(
        text(
            "INSERT INTO items (workflow_id, definition_id, state, data, visit, "
            "seq, version, created_at, created_by, updated_at) VALUES "
            "('training', 1, 'passed', :data, 1, 1, 1, :at, 'hr', :at)"
        ),
        {"data": data, "at": at},
    )


def _item_triggers(database: Any) -> list[str]:
    """The triggers on ``items`` (SQLite's catalogue, PostgreSQL's)."""
    if database.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'"
    else:
        query = (
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
        )
    with database.connect() as conn:
        return sorted(conn.execute(text(query)).scalars())


def test_0016_leaves_the_keys_to_the_store_on_sqlite_and_keeps_them(empty_url: str) -> None:
    """A database at 0015 with keyed records: 0016 drops the SQLite triggers (PostgreSQL
    keeps its own), the keys written stay, the store keys what it writes next; down to
    0015 the triggers key again."""
    at = dt.datetime(2025, 9, 1, 8, 0)
    database = open_database(empty_url)
    sqlite = database.dialect.name == "sqlite"
    try:
        schema.upgrade(database, "0015")
        with database.begin() as conn:
            _training_definition(conn, at)
            conn.execute(text("INSERT INTO record_fields VALUES ('training', 'trainee')"))
            _passed_record(conn, '{"trainee": "wang"}', at)
        triggers = _item_triggers(database)
        assert triggers == (
            ["record_keys_insert", "record_keys_update"] if sqlite else ["record_keys_kept"]
        )
        schema.upgrade(database)
        assert _item_triggers(database) == ([] if sqlite else triggers)
        assert schema.drift(database) == []
    finally:
        database.dispose()
    now = at.replace(tzinfo=dt.UTC)
    store = Store.open(empty_url)
    try:
        with store.write() as tx:
            assert tx.unkeyed_records([("training", "trainee")]) == []
            item = tx.item(1)
            assert item is not None
            tx.update_item(1, 1, ItemUpdate("passed", {"trainee": "li"}, 1, 2, now))
            tx.insert_item(
                NewItem("training", 1, "passed", {"trainee": "zhao"}, 1, 1, 1, now, "hr", now)
            )
        with store.read() as tx:
            assert tx.records("training", ["passed"], "trainee", "LI") == [{"trainee": "li"}]
        with store.engine.connect() as conn:
            keys = conn.execute(text("SELECT item_id, key FROM record_keys ORDER BY 1")).all()
            assert [tuple(k) for k in keys] == [(1, "li"), (2, "zhao")]
    finally:
        store.close()
    database = open_database(empty_url)
    try:
        schema.downgrade(database, "0015")
        assert _item_triggers(database) == triggers
        with database.begin() as conn:
            conn.execute(
                text('UPDATE items SET data = \'{"trainee": "zhou"}\', version = 3 WHERE id = 1')
            )
            keys = conn.execute(text("SELECT item_id, key FROM record_keys ORDER BY 1")).all()
            assert [tuple(k) for k in keys] == [(1, "zhou"), (2, "zhao")]
    finally:
        database.dispose()
