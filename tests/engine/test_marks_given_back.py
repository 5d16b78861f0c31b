"""The delivery marks a write transaction is given when it begins (issue 12, round 5):
written by its commit (on PostgreSQL carried by the command's item UPDATE), given back
to the engine when it does not commit, so that a later write marks each row, once."""

from __future__ import annotations

import pytest

from cmc_workflow import Engine, Item
from cmc_workflow.errors import ConflictError
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, TOPIC, ok_handler
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING


def assigned(engine: Engine) -> Item:
    """An item whose assignment notified the editor (delivered inline, its mark waits)."""
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    item = engine.fire(item.id, "approve", actor=LEAD)
    form = {"assignees": [EDITOR.id], "due_date": "2099-01-01"}
    item = engine.fire(item.id, "assign", actor=LEAD, data=form)
    assert len(engine._core.marks) == 1
    return item


def editor_notified(engine: Engine, item: Item) -> tuple[object, int]:
    """(Engine.outbox writes the marks that wait first.)"""
    (row,) = [r for r in engine.outbox(item.id) if r.name == "editor"]
    return row.delivered_at, row.attempts


def test_a_write_that_does_not_commit_gives_its_marks_back(db_url: str, clock: FakeClock) -> None:
    with Engine.open(
        db_url, workflows=PUBLISHING, clock=clock, handlers={"publish_to_channels": ok_handler}
    ) as engine:
        item = assigned(engine)

        def failing() -> None:
            with engine._core.write():
                assert len(engine._core.marks) == 0  # given to the transaction
                raise RuntimeError("the write fails before its commit")

        with pytest.raises(RuntimeError):
            failing()
        assert len(engine._core.marks) == 1  # given back
        engine.fire(item.id, "accept", actor=EDITOR)
        assert len(engine._core.marks) == 0
        assert editor_notified(engine, item) == (clock.now, 1)


def test_a_command_lost_to_a_race_leaves_the_mark_to_a_later_write(
    db_url: str, clock: FakeClock
) -> None:
    with Engine.open(
        db_url, workflows=PUBLISHING, clock=clock, handlers={"publish_to_channels": ok_handler}
    ) as engine:
        item = assigned(engine)
        with pytest.raises(ConflictError):
            engine.fire(item.id, "accept", actor=EDITOR, expected_version=item.version - 1)
        engine.fire(item.id, "accept", actor=EDITOR, expected_version=item.version)
        assert len(engine._core.marks) == 0
        assert editor_notified(engine, item) == (clock.now, 1)  # marked once
