"""The driver-level statements (``cmc_workflow.store.fast``) convert values as SQLAlchemy
does: every bind and result processor of the store's column types gives SQLAlchemy's
answer on edge values, and a statement sends the driver the very parameters SQLAlchemy's
execution sends, in the statement's order, constants included; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite

from cmc_workflow.store.fast import Conversions, Prepared
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import JSONDocument, UTCDateTime, history, items, metadata
from tests.contract.test_store_contract import T0, seeded

EAST = dt.timezone(dt.timedelta(hours=8))
WEST = dt.timezone(dt.timedelta(hours=-5, minutes=-30))

TIMES: list[Any] = [
    None,
    T0,
    T0.replace(microsecond=0),  # no fraction: still written with six digits
    T0.replace(microsecond=1),
    T0.replace(microsecond=999_999),
    dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.UTC),  # years below 1000 keep four digits
    dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 2, 20, 0, 0, 5, tzinfo=EAST),  # another zone: converted to UTC
    dt.datetime(2026, 12, 2, 20, 0, tzinfo=WEST),
    dt.datetime(2026, 12, 2, 20, 0, tzinfo=dt.timezone(dt.timedelta(0))),  # UTC, not dt.UTC
    dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=dt.UTC),
]
"""Times bound to a ``UTCDateTime`` column, each as the engine might pass it."""

REFUSED: list[Any] = [
    dt.datetime(2026, 12, 2, 20, 0),  # naive: refused by the type
    dt.date(2026, 12, 2),  # a date is not a time
    "2026-12-02 20:00:00",
]

JSONS: list[Any] = [
    None,
    {},
    [],
    {"title": "好", "n": 1, "x": 1.5, "ok": True, "none": None, "list": [1, "a", {"b": []}]},
    "text",
    0,
    -7,
    2.25,
    True,
    False,
]


def sqlalchemy_bind(type_: Any, engine: Engine) -> Any:
    """SQLAlchemy's bind processor of ``type_`` (identity when it has none)."""
    processor = type_.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    return processor if processor is not None else (lambda value: value)


def sqlalchemy_result(type_: Any, engine: Engine) -> Any:
    """SQLAlchemy's result processor of ``type_`` (identity when it has none)."""
    processor = type_.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
    return processor if processor is not None else (lambda value: value)


def answer(process: Any, value: Any) -> Any:
    """What ``process`` makes of ``value``: its value (psycopg's JSON wrapper by the
    document it wraps), or the class of what it raised."""
    try:
        done = process(value)
    except Exception as exc:  # the refusal is part of the answer
        return type(exc)
    return (type(done), done.obj) if hasattr(done, "obj") else (type(done), done)


def test_a_time_binds_as_sqlalchemy_binds_it(sql: SqlStore) -> None:
    ours = Conversions(sql.engine.dialect).bind(UTCDateTime())
    theirs = sqlalchemy_bind(UTCDateTime(), sql.engine)
    assert ours is not None
    for value in [*TIMES, *REFUSED]:
        for _again in range(2):  # converted, then answered from what it kept
            assert answer(ours, value) == answer(theirs, value), value


def test_a_stored_time_reads_back_as_sqlalchemy_reads_it(sql: SqlStore) -> None:
    conversions = Conversions(sql.engine.dialect)
    ours = conversions.result(UTCDateTime())
    theirs = sqlalchemy_result(UTCDateTime(), sql.engine)
    assert ours is not None
    written = sqlalchemy_bind(UTCDateTime(), sql.engine)
    for value in TIMES:
        stored = written(value)
        got = ours(stored)
        assert got == theirs(stored)
        assert got is None or got.tzinfo is dt.UTC
    if sql.sqlite:  # text written by others: a date alone, no fraction, a T
        for text in ["2026-12-02", "2026-12-02 20:00:00", "2026-12-02T20:00:00.000001"]:
            assert answer(ours, text) == answer(theirs, text)


@pytest.mark.parametrize("type_", [JSONDocument(), Boolean(), Integer(), Date(), DateTime()])
def test_the_other_types_convert_as_sqlalchemy_converts_them(sql: SqlStore, type_: Any) -> None:
    conversions = Conversions(sql.engine.dialect)
    values = {
        "JSONDocument": JSONS,
        "Boolean": [None, True, False],
        "Integer": [None, 0, 1, -(2**40)],
        "Date": [None, dt.date(1, 1, 1), dt.date(2026, 12, 2)],
        "DateTime": [None, dt.datetime(2026, 12, 2, 20, 0), dt.datetime(2026, 12, 2, 20, 0, 1, 5)],
    }[type(type_).__name__]
    bind = conversions.bind(type_) or (lambda value: value)
    result = conversions.result(type_) or (lambda value: value)
    sa_bind = sqlalchemy_bind(type_, sql.engine)
    sa_result = sqlalchemy_result(type_, sql.engine)
    for value in values:
        assert answer(bind, value) == answer(sa_bind, value), value
        if sql.sqlite:  # SQLite's stored form is what the bind gives (PostgreSQL: the driver's)
            stored = sa_bind(value)
            assert answer(result, stored) == answer(sa_result, stored), value


def test_every_column_of_the_tables_reads_as_sqlalchemy_reads_it(sql: SqlStore) -> None:
    """One statement per table, read on both paths: the same mapping for every row."""
    seeded(sql)
    core = SqlStore(sql.engine, fast=False)
    assert sql.fast is not None
    for table in metadata.sorted_tables:
        # (PostgreSQL decodes a float by the type code the cursor reports, which a
        # prepared statement does not have: its statements select no floats)
        columns = [c for c in table.columns if sql.sqlite or not isinstance(c.type, Float)]
        statement = select(*columns).order_by(*table.primary_key.columns)
        with sql.read() as fast_tx:
            ours = sql.fast(statement).rows(fast_tx._conn, {})
        with core.read() as core_tx:
            theirs = [dict(row._mapping) for row in core_tx._conn.execute(statement)]
        assert ours == theirs, table.name


def sent(engine: Engine, run: Any) -> list[Any]:
    """The parameters each statement ``run`` executes sends to the driver."""
    seen: list[Any] = []

    def on_execute(_conn: Any, _cursor: Any, sql_text: str, parameters: Any, *_: Any) -> None:
        if not sql_text.lstrip().upper().startswith("BEGIN"):
            seen.append(normalized(parameters))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return seen


def normalized(parameters: Any) -> Any:
    """Parameters compared by value: a sequence as a list, psycopg's JSON by its document."""
    if isinstance(parameters, dict):
        return {k: normalized(v) for k, v in parameters.items()}
    if isinstance(parameters, list | tuple):
        return [normalized(v) for v in parameters]
    return ("json", parameters.obj) if hasattr(parameters, "obj") else parameters


def test_a_statement_sends_the_parameters_sqlalchemy_sends(sql: SqlStore) -> None:
    """Values and constants mixed (a literal between two bound values, a None, a value
    bound twice): the driver gets SQLAlchemy's parameters, in the statement's order."""
    _definition_id, item_id = seeded(sql)
    statement = (
        update(items)
        .where(items.c.id == bindparam("b_id"))
        .where(items.c.state == "draft")  # a constant between the values
        .where(items.c.version == bindparam("b_version"))
        .where(items.c.created_at <= bindparam("b_at"))  # one value bound twice
        .where(items.c.updated_at <= bindparam("b_at"))
        .values(
            state=bindparam("state"),
            data=bindparam("data"),
            closed_at=None,
            updated_at=bindparam("updated_at"),
            history_head="h" * 64,
        )
        .returning(items.c.version, items.c.updated_at, items.c.data)
    )
    values = {
        "b_id": item_id,
        "b_version": 1,
        "b_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        "state": "draft",
        "data": {"title": "好", "n": [1, None]},
        "updated_at": dt.datetime(2026, 12, 2, 20, 0, tzinfo=EAST),
    }
    keys = ["state", "data", "updated_at"]
    prepared = Prepared(statement, sql.engine.dialect, keys)
    results: list[Any] = []

    def through_sqlalchemy() -> None:
        with sql.engine.begin() as conn:
            results.append(dict(conn.execute(statement, values).one()._mapping))
            conn.rollback()

    def on_the_cursor() -> None:
        with sql.engine.begin() as conn:
            results.append(prepared.first(conn, values))
            conn.rollback()

    expected = sent(sql.engine, through_sqlalchemy)
    if prepared._raw is not None:  # psycopg's numbered SQL: the same values, by number
        expected = [[named[n] for n in prepared.order] for named in expected]
    assert sent(sql.engine, on_the_cursor) == expected
    assert results[0] == results[1]
    assert results[0]["updated_at"] == values["updated_at"]


@pytest.mark.parametrize("kind", ["history insert", "update with constants"])
def test_an_executemany_binds_each_row_as_a_single_run_binds_it(sql: SqlStore, kind: str) -> None:
    """``run_many`` binds its rows in one loop (issue 12, round 7): each row's parameters
    are those :meth:`Prepared._parameters` gives it alone (times converted, JSON encoded,
    constants in their places)."""
    rows: list[dict[str, Any]]
    if kind == "history insert":
        keys = [c.name for c in history.columns if c.name != "id"]
        statement: Any = insert(history)
        rows = [
            {
                **dict.fromkeys(keys),
                "item_id": n,
                "at": T0 + dt.timedelta(seconds=n),
                "form": {"n": n, "好": [n]},
                "roles": ["r"],
            }
            for n in range(3)
        ]
    else:
        keys = ["state", "data", "updated_at"]
        statement = (
            update(items)
            .where(items.c.id == bindparam("b_id"))
            .where(items.c.state == "draft")
            .values(
                state=bindparam("state"),
                data=bindparam("data"),
                closed_at=None,
                updated_at=bindparam("updated_at"),
            )
        )
        rows = [
            {"b_id": n, "state": "s", "data": {"n": n}, "updated_at": T0.astimezone(EAST)}
            for n in range(3)
        ]
    prepared = Prepared(statement, sql.engine.dialect, keys)
    many = prepared._parameters_many(rows)
    alone = [prepared._parameters(row) for row in rows]
    assert normalized(many) == normalized(alone)
    assert [type(p) for p in many] == [type(p) for p in alone]


def test_a_statement_without_values_sends_none_and_reads_its_row(sql: SqlStore) -> None:
    seeded(sql)
    prepared = Prepared(select(items.c.id, items.c.created_at), sql.engine.dialect)
    with sql.engine.connect() as conn:
        (row,) = prepared.rows(conn, {})
    assert row["created_at"] == T0


def test_the_sqlite_text_is_sqlalchemys_storage_format() -> None:
    """The one step for SQLite's times holds only for ``DATETIME``'s default format:
    the format the store relies on is still SQLAlchemy's."""
    dialect = sqlite.dialect()
    impl = UTCDateTime().dialect_impl(dialect).impl
    assert impl._storage_format == (
        "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
    )
    conversions = Conversions(dialect)  # every time column shares one (and what it keeps)
    assert conversions.bind(history.c.at.type) is conversions.bind(items.c.updated_at.type)
