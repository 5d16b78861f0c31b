"""The store port's part in migrations (issue 16), on every store: an item moves onto
another stored version of its workflow, over the version it was read at, and its move is
chained into its history like any step."""

from __future__ import annotations

import pytest

from cmc_workflow.errors import ConflictError
from cmc_workflow.store.port import ItemUpdate, StorePort
from tests.contract.test_store_contract import at, definition, entry, new_item


def test_an_item_moves_onto_another_version_with_its_new_state(store: StorePort) -> None:
    with store.write() as tx:
        old = definition(tx)
        new = definition(tx, content="b" * 64)
        item_id = tx.insert_item(new_item(old))
        tx.insert_history([entry(item_id, 1)])
    with store.write() as tx:
        row = tx.item(item_id, lock=True)
        assert row is not None
        tx.insert_history([entry(item_id, 2, kind="migrate", trigger="migrate", to_state="done")])
        tx.update_item(
            item_id,
            row.version,
            ItemUpdate(state="done", data=row.data, visit=2, seq=2, updated_at=at(5)),
        )
        tx.set_item_definition(item_id, row.version + 1, new)
    with store.read() as tx:
        moved = tx.item(item_id)
        assert moved is not None
        assert (moved.definition_id, moved.state, moved.version) == (new, "done", 2)
        assert [h["kind"] for h in tx.history(item_id)] == ["fire", "migrate"]
        counts = {row.id: live for row, live in tx.definitions_of("wf")}
    assert counts == {old: 0, new: 1}


def test_moving_an_item_over_a_stale_version_is_a_conflict_and_changes_nothing(
    store: StorePort,
) -> None:
    with store.write() as tx:
        old = definition(tx)
        new = definition(tx, content="b" * 64)
        item_id = tx.insert_item(new_item(old))
    with pytest.raises(ConflictError), store.write() as tx:
        tx.set_item_definition(item_id, 7, new)
    with pytest.raises(ConflictError), store.write() as tx:
        tx.set_item_definition(item_id + 100, 1, new)
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert (row.definition_id, row.version) == (old, 1)


def test_a_rolled_back_move_leaves_the_item_on_its_version(store: StorePort) -> None:
    with store.write() as tx:
        old = definition(tx)
        new = definition(tx, content="b" * 64)
        item_id = tx.insert_item(new_item(old))

    def move_then_fail() -> None:
        with store.write() as tx:
            tx.set_item_definition(item_id, 1, new)
            raise RuntimeError("the batch failed after the move")

    with pytest.raises(RuntimeError):
        move_then_fail()
    with store.read() as tx:
        row = tx.item(item_id)
    assert row is not None
    assert row.definition_id == old
