"""The store's driver-level statements (``cmc_workflow.store.fast``) behave as SQLAlchemy's
execution does where callers can tell: listeners see every statement, driver errors come
as SQLAlchemy's classes (the store's translation to ConflictError holds), and a statement
that would need SQLAlchemy to fill in a default is refused when it is built."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, event, insert, select

from cmc_workflow.errors import ConflictError
from cmc_workflow.store import repository
from cmc_workflow.store.fast import Conversions, Prepared, Statements
from cmc_workflow.store.port import ClockRow, HistoryEntry, ItemUpdate, values_of
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import clocks, history
from tests.contract.test_store_contract import T0, at, clock, new_item, seeded, timer


def entry(item_id: int, seq: int) -> HistoryEntry:
    return HistoryEntry(
        item_id=item_id,
        seq=seq,
        at=T0,
        kind="fire",
        trigger="go",
        from_state="draft",
        to_state="done",
        visit=2,
        actor="wang",
        roles=["editor"],
        form={"note": "好"},
    )


def armed(item_id: int, due: dt.datetime) -> dict[str, Any]:
    """A timer to arm with a clock (its ``clock_id`` is the new clock's)."""
    values = values_of(timer(item_id, None, due))
    del values["clock_id"]
    return values


def test_listeners_see_the_statements_of_the_fast_path(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    seen: list[str] = []
    event.listen(sql.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with sql.read() as tx:
        assert tx.item(item_id) is not None
    assert any(s.lstrip().upper().startswith("SELECT") and "items" in s for s in seen)


def test_listeners_of_the_connection_and_of_every_engine_see_them_too(sql: SqlStore) -> None:
    """Where a listener is registered decides nothing: on the connection of the
    transaction, on the store's engine, on the Engine class (every engine), each sees the
    fast path's statements (and BEGIN IMMEDIATE on SQLite) as SQLAlchemy's execution
    would show them, in the same order; removed, none does."""
    _, item_id = seeded(sql)
    seen: list[tuple[str, str]] = []

    def listener(where: str) -> Any:
        def heard(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            # the class's listener hears every engine of the process: another test's
            # engine still closing in a thread of this worker is not this store's
            if conn.engine is sql.engine:
                seen.append((where, " ".join(statement.split())[:6]))

        return heard

    on_engine, on_class = listener("engine"), listener("class")
    event.listen(sql.engine, "before_cursor_execute", on_engine)
    event.listen(Engine, "before_cursor_execute", on_class)
    try:
        with sql.write() as tx:
            on_connection = listener("connection")
            event.listen(tx.conn, "before_cursor_execute", on_connection)
            try:
                assert tx.item(item_id) is not None
            finally:
                event.remove(tx.conn, "before_cursor_execute", on_connection)
            assert tx.item(item_id) is not None
    finally:
        event.remove(Engine, "before_cursor_execute", on_class)
        event.remove(sql.engine, "before_cursor_execute", on_engine)
    statements = [text for _where, text in seen]
    first_read = statements.index("SELECT")
    # the first read: every listener; the second: the engine's and the class's only
    assert sorted(where for where, text in seen[first_read : first_read + 3]) == [
        "class",
        "connection",
        "engine",
    ]
    assert sorted(where for where, _text in seen[first_read + 3 :]) == ["class", "engine"]
    if sql.sqlite:  # BEGIN IMMEDIATE on the driver's cursor: the engine's and the class's
        assert sorted(where for where, _text in seen[:first_read]) == ["class", "engine"]
    seen.clear()
    with sql.read() as tx:
        assert tx.item(item_id) is not None
    assert seen == []


def test_an_update_is_prepared_for_the_keys_it_sets(sql: SqlStore) -> None:
    """``Statements.setting``: an UPDATE prepared for the plain keys of the values given
    (``b_...`` bind its WHERE clause), once per key set and order; other keys, another
    statement; past what it keeps, prepared again alike."""
    statements = Statements(sql.engine.dialect)
    update_item = repository._UPDATE_ITEM
    values = {"b_id": 1, "b_version": 1, "state": "done", "version": 2}
    prepared = statements.setting(update_item, values)
    assert prepared is statements(update_item, ["state", "version"])
    assert statements.setting(update_item, dict(values)) is prepared
    other = statements.setting(update_item, {**values, "visit": 2})
    assert other is statements(update_item, ["state", "version", "visit"])
    assert "visit" in other.sql
    assert "visit" not in prepared.sql
    reordered = statements.setting(update_item, {"version": 2, "state": "x", "b_id": 1})
    assert reordered is statements(update_item, ["version", "state"])
    for n in range(300):  # more key sets than it keeps
        statements.setting(update_item, {"b_id": 1, "b_version": 1, f"k{n}": n})
    assert statements.setting(update_item, values) is prepared  # (the prepared stay kept)


def test_a_driver_error_is_translated_as_before(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    with sql.write() as tx:
        tx.insert_history([entry(item_id, 1)])
    with pytest.raises(ConflictError), sql.write() as tx:  # (item, seq) taken: a lost race
        tx.insert_history([entry(item_id, 1)])
    with sql.read() as tx:
        assert [h["seq"] for h in tx.history(item_id)] == [1]


def test_a_statement_that_needs_defaults_filled_in_is_refused(sql: SqlStore) -> None:
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer, default=0)
    )
    with pytest.raises(ValueError, match="defaults"):
        Prepared(insert(table), sql.engine.dialect, ["id"])
    Prepared(insert(table), sql.engine.dialect, ["id", "n"])  # given: nothing to fill in
    with pytest.raises(ValueError, match="IN list"):
        Prepared(select(table).where(table.c.n.in_([1, 2])), sql.engine.dialect)


def test_times_and_json_read_back_as_sqlalchemy_gives_them(sql: SqlStore) -> None:
    _, item_id = seeded(sql)
    with sql.write() as tx:
        tx.insert_history([entry(item_id, 1)])
    with sql.read() as tx:
        (fast,) = tx.history(item_id)
    core = SqlStore(sql.engine, fast=False)
    with core.read() as tx:
        (slow,) = tx.history(item_id)
    assert fast == slow
    assert fast["at"] == T0  # aware UTC, as written
    assert fast["at"].utcoffset() == dt.timedelta(0)
    assert fast["form"] == {"note": "好"}


def test_a_kept_datetime_converts_as_afresh(sql: SqlStore) -> None:
    """A time's processor keeps the datetimes it converted last (a batch binds the same
    few objects thousands of times): the same object answers the same, an equal or another
    object is converted afresh, and whatever it keeps, every answer is SQLAlchemy's own."""
    dialect = sql.engine.dialect
    process = Conversions(dialect).bind(history.c.at.type)
    plain = history.c.at.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert plain is not None
    times = [T0 + dt.timedelta(seconds=n) for n in range(100)]
    for _round in range(3):
        for when in [*times[:10], *times]:  # the first ten again and again, past what it keeps
            assert process(when) == plain(when)
    east = dt.timezone(dt.timedelta(hours=8))
    other = dt.datetime(2026, 12, 2, 20, 0, tzinfo=east)
    same_instant = other.astimezone(dt.UTC)  # equal, not the same object
    assert process(other) == plain(other) == process(same_instant) == plain(same_instant)
    assert process(None) is plain(None) is None


def test_items_read_ahead_are_taken_once_and_dropped_by_a_write(sql: SqlStore) -> None:
    """``items_ahead`` (a ``fire_many`` batch, SQLite): each item read ahead is what a
    read of its own gives, taken once; an item written before its read is read afresh."""
    definition_id, first = seeded(sql)
    with sql.write() as tx:
        second = tx.insert_item(new_item(definition_id))
    with sql.read() as tx:
        alone = {i: tx.item(i) for i in (first, second)}
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(sql.engine, "before_cursor_execute", on_execute)
    with sql.write() as tx:
        tx.items_ahead([first, second, first, 10**9])  # a missing id reads as missing
        assert tx.item(first) == alone[first]
        update = ItemUpdate(state="done", data={"t": 1}, visit=2, seq=2, updated_at=at(5))
        tx.update_item(second, 1, update)  # before its own read: the row ahead is stale
        again = tx.item(second)
        assert again is not None
        assert (again.state, again.version) == ("done", 2)
        assert tx.item(10**9) is None
    event.remove(sql.engine, "before_cursor_execute", on_execute)
    selects = [s for s in seen if s.startswith("SELECT")]
    if sql.sqlite:
        assert len([s for s in selects if " IN (" in s]) == 1
        assert len(selects) == 3  # ahead, then the written item and the missing one afresh
    else:  # PostgreSQL reads (and locks) each item when asked
        assert not [s for s in selects if " IN (" in s]


@pytest.mark.parametrize("count", [1, 9, 11, 501])
def test_rows_read_ahead_are_those_read_one_by_one(sql: SqlStore, count: int) -> None:
    """The IN lists of a read ahead run prepared on the driver's cursor, padded to a few
    fixed lengths (1, 10, 100, 500; 501 items take two chunks): each item, and each
    item's running and paused clocks, read back as SQLAlchemy's execution reads them one
    by one."""
    definition_id, first = seeded(sql)
    with sql.write() as tx:
        ids = [first, *(tx.insert_item(new_item(definition_id)) for _ in range(count - 1))]
        for n, item_id in enumerate(ids):
            if n % 3 != 2:  # some items have no clock
                tx.insert_clock(clock(item_id, due_at=at(n), detail={"n": n}))
            if n % 3 == 0:  # and some two, one of them paused
                tx.insert_clock(clock(item_id, status="paused", paused_at=at(n)))
    slow = SqlStore(sql.engine, fast=False)
    with slow.read() as tx:
        alone = {i: (tx.item(i), tx.active_clocks(i)) for i in ids}
    with sql.write() as tx:
        tx.items_ahead(ids)
        tx.clocks_ahead(ids)
        ahead = {i: (tx.item(i), tx.active_clocks(i)) for i in ids}
    assert ahead == alone
    assert (
        sum(len(clocks) for _item, clocks in alone.values())
        == count - count // 3 + (count + 2) // 3
    )


def test_begin_runs_on_the_driver_and_a_busy_database_is_a_conflict(
    sqlite_url: str,
) -> None:
    """SQLite's ``BEGIN IMMEDIATE`` runs on the driver's cursor: listeners see it, and
    when another connection holds the write lock the driver's "database is locked" comes
    as SQLAlchemy's OperationalError, which the store translates to a conflict."""
    store = SqlStore.open(sqlite_url)
    try:
        seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        with store.write():
            pass
        with store.read():
            pass
        assert seen[:2] == ["BEGIN IMMEDIATE", "BEGIN"]
        # every connection a write may take gives up at once: the one the store keeps
        # between its writes (store.database.KeptConnections) and the pool's
        with store.write() as tx:
            tx.conn.exec_driver_sql("PRAGMA busy_timeout=0")
        with store.engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        other = sqlite3.connect(store.engine.url.database or "", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(ConflictError, match="locked"), store.write():
                pass
            other.execute("ROLLBACK")
        finally:
            other.close()
        with store.write():  # the lock released, the pooled connection writes again
            pass
    finally:
        store.close()


def test_a_pyformat_statement_is_numbered_as_psycopg_would_send_it() -> None:
    """PostgreSQL: the SQL runs on psycopg's raw cursor with ``$n`` placeholders, numbered
    once when prepared: a name used twice takes one number, ``%%`` reads as ``%``, an
    escaped bind name is given its own name back, and the values follow the numbers."""
    from sqlalchemy import bindparam, literal_column, or_
    from sqlalchemy.dialects.postgresql import psycopg

    dialect = psycopg.dialect()
    statement = select(history.c.seq).where(
        history.c.actor.like(literal_column("'w%'")),
        or_(history.c.item_id == bindparam("b id"), history.c.seq == bindparam("b id")),
        history.c.kind == bindparam("b_kind"),
    )
    prepared = Prepared(statement, dialect)
    assert prepared._raw is not None
    assert prepared.sql == prepared._raw.decode()
    assert "LIKE 'w%'" in prepared.sql
    assert "%(" not in prepared.sql
    assert prepared.sql.count("$1") == 2
    assert "$2" in prepared.sql
    assert "$3" not in prepared.sql
    assert list(prepared._parameters({"b id": 7, "b_kind": "fire"})) == [7, "fire"]


def test_postgres_statements_share_the_connections_raw_cursor(postgres_url: str) -> None:
    """PostgreSQL: a transaction's statements run on one raw cursor, kept with the pooled
    connection across transactions; one closed after an error is made anew. (Two writes:
    the store keeps its writers' and its readers' connections apart.)"""
    import psycopg

    sql = SqlStore.open(postgres_url)
    try:
        _, item_id = seeded(sql)
        cursors: list[Any] = []
        event.listen(sql.engine, "before_cursor_execute", lambda *a: cursors.append(a[1]))
        with sql.write() as tx:
            tx.insert_history([entry(item_id, 1)])
            assert tx.item(item_id) is not None
        with sql.write() as tx:
            assert [h["seq"] for h in tx.history(item_id)] == [1]
        assert len(cursors) >= 3
        assert type(cursors[0]) is psycopg.RawCursor
        assert all(c is cursors[0] for c in cursors)
        cursors[0].close()  # as after a failed statement
        with pytest.raises(ConflictError), sql.write() as tx:
            tx.insert_history([entry(item_id, 1)])
        with sql.read() as tx:
            assert [h["seq"] for h in tx.history(item_id)] == [1]
        assert cursors[-1] is not cursors[0]
        assert not cursors[-1].closed
    finally:
        sql.close()


def test_a_clock_starts_on_sqlite_with_its_id_from_the_cursor_and_no_empty_columns(
    sql: SqlStore,
) -> None:
    """SQLite's fast path starts a clock with a plain INSERT (the cursor's ``lastrowid``,
    no ``RETURNING`` row to read back) and binds neither the clock's nor its timers'
    columns that a start leaves empty; PostgreSQL writes both in one statement."""
    _, item_id = seeded(sql)
    seen: list[str] = []
    listener = lambda *a: seen.append(" ".join(a[2].split()))  # noqa: E731
    event.listen(sql.engine, "before_cursor_execute", listener)
    try:
        with sql.write() as tx:
            clock_id = tx.start_clock(clock(item_id), [armed(item_id, at(1))])
    finally:
        event.remove(sql.engine, "before_cursor_execute", listener)
    written = [s for s in seen if s.startswith(("INSERT", "WITH"))]
    if sql.engine.dialect.name == "sqlite":
        assert [s.split()[2] for s in written] == ["clocks", "timers"]
        assert not any("RETURNING" in s for s in written)
        for column in ("paused_at", "breached_at", "outcome", "done_at", "runner", "error"):
            assert not any(column in s for s in written), column
    else:
        assert len(written) == 1
    with sql.read() as tx:
        assert [t.clock_id for t in tx.timers_of(item_id)] == [clock_id]
        assert [c.id for c in tx.clocks_of(item_id)] == [clock_id]


def test_a_read_of_many_rows_decodes_each_as_a_read_of_one(sql: SqlStore) -> None:
    """A read of many rows keeps each stored time it converted for the rest of the read
    (a batch's clocks share their due and warn times): its rows are those of
    SQLAlchemy's execution and of :meth:`Prepared._row` alone, by name and in the
    statement's order (``ordered``, how a read ahead builds its ``ClockRow``); and no
    two rows share a dict or list, equal stored JSON texts included."""
    _, item_id = seeded(sql)
    with sql.write() as tx:
        for n in range(6):
            tx.insert_clock(
                clock(
                    item_id,
                    due_at=at(n % 2),  # two due times, each thrice
                    warn_at=None if n % 3 else at(-1),
                    paused_at=at(7) if n == 4 else None,
                    detail={"steps": [{"at": "100%"}], "pauses": []},  # all alike
                )
            )
    statement = select(clocks).order_by(clocks.c.id)
    prepared = Prepared(statement, sql.engine.dialect)
    with sql.engine.connect() as conn:
        slow = [dict(row._mapping) for row in conn.execute(statement)]
        slow_ordered = [list(row) for row in conn.execute(statement)]
        raw = prepared._all(conn, {})
        rows = prepared.rows(conn, {})
        ordered = prepared.ordered(conn, {})
    assert len(rows) == 6
    assert rows == slow == [prepared._row(row) for row in raw]
    assert ordered == slow_ordered
    assert [clock_row(row) for row in ordered] == [clock_row(row) for row in slow_ordered]
    for read in (rows, [dict(enumerate(row)) for row in ordered]):
        shared = [
            id(value) for row in read for value in row.values() if isinstance(value, dict | list)
        ]
        assert len(shared) == len(set(shared)) == 6  # each row's own detail
    if sql.sqlite:  # a stored time's text converted once a read: the same datetime
        assert rows[0]["warn_at"] is rows[3]["warn_at"]
        assert (
            ordered[1][clocks.c.keys().index("due_at")]
            is ordered[5][clocks.c.keys().index("due_at")]
        )


def clock_row(row: list[Any]) -> ClockRow:
    """A ``ClockRow`` of a row of every column of ``clocks`` (in the table's order)."""
    by_name = dict(zip(clocks.c.keys(), row, strict=True))
    return ClockRow(**{name: by_name[name] for name in ClockRow.__slots__})
