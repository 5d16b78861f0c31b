"""The record keys the store writes itself on SQLite (migration 0016 dropped 0015's
triggers on ``items`` there; PostgreSQL keeps its trigger): every write of an item of a
workflow with a registered pair keys it as 0015's triggers did — single commands, a
batch's kept items and UPDATEs, savepoints rolled back — and a pair registered by another
store is seen by this one's next write (issue 12, round 7)."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import event, text

from cmc_workflow.store import schema
from cmc_workflow.store.port import ItemUpdate
from cmc_workflow.store.repository import SqlStore, SqlTx
from tests.contract.test_records_query import (
    FIELDS,
    PAIRS,
    T0,
    TYPED,
    _insert,
)

TRAINEE = ("training", "trainee")


def _revision_0015() -> ModuleType:
    path = schema.MIGRATIONS / "versions" / "0015_record_keys.py"
    spec = importlib.util.spec_from_file_location("_test_migration_0015", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keys(store: SqlStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item_id, field, workflow_id, key FROM record_keys ORDER BY 1, 2")
        )
        return [tuple(r) for r in rows]


def _keys_by_triggers(store: SqlStore) -> list[tuple[Any, ...]]:
    """SQLite: the keys 0015's triggers compute for every item as it is now (in a
    transaction rolled back: the store's keys and schema stay as they were)."""
    with store.engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(text("DELETE FROM record_keys"))
            for statement in _revision_0015()._SQLITE:
                conn.execute(text(statement))
            conn.execute(text("UPDATE items SET data = data"))
            rows = conn.execute(
                text("SELECT item_id, field, workflow_id, key FROM record_keys ORDER BY 1, 2")
            )
            return [tuple(r) for r in rows]
        finally:
            tx.rollback()


@pytest.fixture(params=["fast", "core"])
def sqlite_store(request: pytest.FixtureRequest, sqlite_url: str) -> Any:
    opened = SqlStore.open(sqlite_url)
    store = opened if request.param == "fast" else SqlStore(opened.engine, fast=False)
    try:
        yield store
    finally:
        store.close()


def _item_triggers(store: SqlStore) -> list[str]:
    with store.engine.connect() as conn:
        found = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'")
        )
        return list(found.scalars())


def test_no_trigger_on_items_is_left_on_sqlite(sqlite_store: SqlStore) -> None:
    assert _item_triggers(sqlite_store) == []


def _batch(tx: SqlTx) -> None:
    """Keep the transaction's appends as a batch does (on the fast path: new items and
    item UPDATEs kept too)."""
    tx.defer_appends()


@pytest.mark.parametrize("batch", [False, True])
def test_the_store_keys_every_typed_value_as_the_triggers_did(
    sqlite_store: SqlStore, batch: bool
) -> None:
    """Inserted, updated (retyped, renamed, removed), in a batch or one at a time, in a
    workflow with a pair and one without: the keys equal 0015's triggers' for the rows."""
    with sqlite_store.write() as tx:
        assert tx.key_records(PAIRS)
    with sqlite_store.write() as tx:
        if batch:
            _batch(tx)
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        for n, typed in enumerate(TYPED):
            for workflow in ("training", "other", "unpaired"):
                data = dict.fromkeys(FIELDS, typed) if typed is not None else {}
                _insert(tx, definition, workflow, "passed", {**data, "n": n})
        for item_id in range(1, 3 * len(TYPED) + 1, 4):  # a quarter of them changed
            typed = TYPED[(item_id * 7) % len(TYPED)]
            data = {"person": typed} if item_id % 8 == 1 else {"the.person": typed, "x": 1}
            tx.update_item(item_id, 1, ItemUpdate("passed", data, 1, 2, T0))
        if batch:  # a kept item's keys wait for its row; a read of the records writes both
            tx.records("training", ["passed"], "person", "wang")
            tx.update_item(2, 1, ItemUpdate("expired", {"person": "li"}, 1, 2, T0))
    keys = _keys(sqlite_store)
    assert keys == _keys_by_triggers(sqlite_store)
    assert {k[2] for k in keys} == {"training", "other"}
    assert len(keys) > 50


def test_a_batchs_keys_roll_back_with_its_savepoint(sqlite_store: SqlStore) -> None:
    with sqlite_store.write() as tx:
        tx.key_records([TRAINEE])
    with sqlite_store.write() as tx:
        _batch(tx)
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang"})

        def refused() -> None:
            with tx.savepoint():
                _insert(tx, definition, "training", "passed", {"trainee": "li"})
                tx.update_item(1, 1, ItemUpdate("passed", {"trainee": "zhao"}, 1, 2, T0))
                raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            refused()
        _insert(tx, definition, "unpaired", "passed", {"trainee": "li"})
        _insert(tx, definition, "training", "passed", {"trainee": "Li"})
    assert _keys(sqlite_store) == [
        (1, "trainee", "training", "wang"),
        (3, "trainee", "training", None),
    ]
    assert _keys(sqlite_store) == _keys_by_triggers(sqlite_store)


@pytest.mark.parametrize("batch", [False, True])
def test_a_pair_registered_by_another_store_keys_this_ones_next_write(
    sqlite_url: str, batch: bool
) -> None:
    """No process-wide memory of "no pair": whether an item's workflow has one is read in
    the writing transaction (on the item's read or INSERT, or once per batch)."""
    mine, other = SqlStore.open(sqlite_url), SqlStore.open(sqlite_url)
    try:
        with mine.write() as tx:
            definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
            _insert(tx, definition, "training", "passed", {"trainee": "wang"})
            _insert(tx, definition, "training", "passed", {"trainee": "li"})
            assert tx.item(1) is not None
            tx.update_item(1, 1, ItemUpdate("passed", {"trainee": "wang", "n": 1}, 1, 2, T0))
        assert _keys(mine) == []
        with other.write() as tx:
            assert tx.key_records([TRAINEE]) == [TRAINEE]
        assert _keys(mine) == [(1, "trainee", "training", "wang"), (2, "trainee", "training", "li")]
        with mine.write() as tx:
            if batch:
                _batch(tx)
            assert tx.item(1) is not None
            tx.update_item(1, 2, ItemUpdate("passed", {"trainee": "zhao"}, 1, 3, T0))
            tx.update_item(2, 1, ItemUpdate("passed", {"trainee": "Zhou"}, 1, 2, T0))  # unread
            _insert(tx, definition, "training", "passed", {"trainee": 17})
        assert _keys(mine) == [
            (1, "trainee", "training", "zhao"),
            (2, "trainee", "training", None),
            (3, "trainee", "training", "17"),
        ]
    finally:
        mine.close()
        other.close()


def test_a_pair_registered_in_the_transaction_keys_its_later_writes(
    sqlite_store: SqlStore,
) -> None:
    """What the transaction read of its items' pairs before it registered one is not
    trusted after."""
    with sqlite_store.write() as tx:
        definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        _insert(tx, definition, "training", "passed", {"trainee": "wang"})
        assert tx.item(1) is not None
        assert tx.key_records([TRAINEE]) == [TRAINEE]
        tx.update_item(1, 1, ItemUpdate("passed", {"trainee": "li"}, 1, 2, T0))
    assert _keys(sqlite_store) == [(1, "trainee", "training", "li")]


def test_a_write_of_an_item_without_a_pair_makes_no_statement_more(sqlite_url: str) -> None:
    """A single command's INSERT and its read-then-UPDATE of an item whose workflow has no
    pair run only their own statements (the answer rides on them)."""
    store = SqlStore.open(sqlite_url)
    seen: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(statement)

    try:
        with store.write() as tx:
            tx.key_records([TRAINEE])
            definition = tx.insert_definition("training", "a" * 64, 1, "t.yaml", "id: t", T0).id
        event.listen(store.engine, "before_cursor_execute", count)
        with store.write() as tx:
            _insert(tx, definition, "comments", "new", {"trainee": "wang"})
        with store.write() as tx:
            assert tx.item(1) is not None
            tx.update_item(1, 1, ItemUpdate("open", {"trainee": "li"}, 1, 2, T0))
        event.remove(store.engine, "before_cursor_execute", count)
        assert not any("record_keys" in s for s in seen)
        assert len([s for s in seen if "items" in s]) == 3
        assert _keys(store) == []
    finally:
        store.close()
