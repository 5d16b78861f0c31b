"""The store contract for an item's facts (what extensions keep about it: the policy's
summary of its history), on every store: written with the item row, read with it, kept
by an update that does not name them, gone with a rolled-back transaction."""

from __future__ import annotations

from typing import Any

import pytest

from cmc_workflow.errors import ConflictError
from cmc_workflow.store.port import ItemUpdate, StorePort
from tests.contract.test_store_contract import T0, at, definition, new_item

FACTS: dict[str, Any] = {
    "policy": {
        "rules": "0123456789abcdef",
        "seen": 3,
        "states": {"distinct": {"first_review": ["zhao", "ｚｈａｏ"]}, "stages": {"done": 1}},
    }
}


def update(facts: dict[str, Any] | None = None, **changes: Any) -> ItemUpdate:
    values: dict[str, Any] = {
        "state": "review",
        "data": {},
        "visit": 2,
        "seq": 2,
        "updated_at": at(1),
        "facts": facts,
        **changes,
    }
    return ItemUpdate(**values)


def test_an_item_has_no_facts_until_some_are_written(store: StorePort) -> None:
    with store.write() as tx:
        item_id = tx.insert_item(new_item(definition(tx)))
        assert tx.item_facts(item_id) is None
    with store.read() as tx:
        assert tx.item_facts(item_id) is None  # not read with the item: asked alone
        assert tx.item(item_id) is not None
        assert tx.item_facts(item_id) is None
        assert tx.item_facts(item_id + 1000) is None


def test_facts_written_with_the_item_read_back_with_it(store: StorePort) -> None:
    with store.write() as tx:
        item_id = tx.insert_item(new_item(definition(tx), facts=FACTS))
        assert tx.item_facts(item_id) == FACTS
    with store.read() as tx:
        assert tx.item(item_id) is not None
        assert tx.item_facts(item_id) == FACTS
    with store.read() as tx:  # asked before (and without) reading the item
        assert tx.item_facts(item_id) == FACTS


def test_an_update_replaces_the_facts_or_keeps_them_when_it_names_none(
    store: StorePort,
) -> None:
    with store.write() as tx:
        item_id = tx.insert_item(new_item(definition(tx), facts=FACTS))
    newer = {"policy": {**FACTS["policy"], "seen": 4}}
    with store.write() as tx:
        tx.item(item_id, lock=True)
        tx.update_item(item_id, 1, update(newer))
        assert tx.item_facts(item_id) == newer  # seen by the transaction that wrote them
    with store.read() as tx:
        assert tx.item_facts(item_id) == newer
    with store.write() as tx:
        tx.update_item(item_id, 2, update(None, state="done"))
    with store.read() as tx:
        row = tx.item(item_id)
        assert row is not None
        assert (row.state, row.version) == ("done", 3)
        assert tx.item_facts(item_id) == newer
    with store.write() as tx:  # the untyped rows the engine wrote before the port
        tx.update_item(
            item_id, 3, {"state": "x", "data": {}, "visit": 3, "seq": 3, "updated_at": at(2)}
        )
    with store.read() as tx:
        assert tx.item_facts(item_id) == newer


def test_facts_written_by_a_failed_command_are_not_kept(store: StorePort) -> None:
    with store.write() as tx:
        item_id = tx.insert_item(new_item(definition(tx), facts=FACTS))

    def failing_command() -> None:
        with store.write() as tx:
            tx.update_item(item_id, 1, update({"policy": {}}))
            raise RuntimeError("the command failed after writing the item")

    with pytest.raises(RuntimeError):
        failing_command()
    with pytest.raises(ConflictError), store.write() as tx:
        tx.update_item(item_id, 7, update({"policy": {}}))  # a stale version
    with store.read() as tx:
        row = tx.item(item_id)
        assert row is not None
        assert row.version == 1
        assert tx.item_facts(item_id) == FACTS


def test_facts_are_copies_of_json_values(store: StorePort) -> None:
    facts: dict[str, Any] = {"policy": {"states": {"a": ["王"]}}, "other": [1, 2.5, None, True]}
    with store.write() as tx:
        item_id = tx.insert_item(new_item(definition(tx), facts=facts, created_at=T0))
    facts["policy"]["states"]["a"].append("changed after the insert")
    with store.read() as tx:
        assert tx.item_facts(item_id) == {
            "policy": {"states": {"a": ["王"]}},
            "other": [1, 2.5, None, True],
        }
