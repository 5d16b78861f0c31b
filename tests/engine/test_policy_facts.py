"""The policy's summary of an item's history, kept on the item row by every command
(docs/policies.md, "Rules that read the history"): on SQLite and PostgreSQL, through the
public API, with the bundled publishing policies.

A command judged by separation of duties or required stages reads the summary with the
item row instead of the item's whole history; the summary always equals a fold of the
history; an item without one (written before it existed) or with one folded under other
rules is judged from its history and gets a fresh one with its next command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.policy.extension import FactsExtension
from cmc_workflow.policy.summary import FACTS_KEY, Summarizer, step_of
from cmc_workflow.store.database import open_database
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.store.tables import items
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    POLICIES,
    PUBLISHING,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    EngineFactory,
    check_invariants,
    ok_handler,
)
from tests.helpers.records import RECORD_WORKFLOWS, train_editors

TO_FIRST_REVIEW: list[tuple[str, Actor, dict[str, Any]]] = [
    ("approve", LEAD, {}),
    ("assign", LEAD, {"assignees": [EDITOR.id], "due_date": "2025-10-10"}),
    ("accept", EDITOR, {}),
    ("submit", EDITOR, {"content": "初稿"}),
]


@pytest.fixture
def engine(engine_factory: EngineFactory) -> Engine:
    engine = engine_factory(
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=[POLICIES / "roles.yaml", POLICIES / "publishing.yaml"],
        handlers={"publish_to_channels": ok_handler},
    )
    train_editors(engine)
    return engine


def summarizer(engine: Engine) -> Summarizer:
    kept = next(e for e in engine.extensions if isinstance(e, FactsExtension))
    return kept.runtime.summarizers["publishing"]


def stored_facts(engine: Engine, item_id: int) -> dict[str, Any] | None:
    with engine.store.read() as tx:
        return tx.item_facts(item_id)


def refolded(engine: Engine, item_id: int) -> dict[str, Any]:
    """The summary folded from the item's whole stored history."""
    folds = summarizer(engine)
    with engine.store.read() as tx:
        steps = [step_of(r) for r in tx.history(item_id)]
    return folds.facts(folds.fold(folds.initial(), steps))


def fire_all(engine: Engine, item: Item, path: list[tuple[str, Actor, dict[str, Any]]]) -> Item:
    for trigger, actor, form in path:
        item = engine.fire(item.id, trigger, actor=actor, data=form)
        assert stored_facts(engine, item.id) == refolded(engine, item.id)
    return item


def set_facts(url: str, item_id: int, facts: dict[str, Any] | None) -> None:
    """Rewrite the item's facts behind the engine's back (an item from an older release,
    a policy changed since, a forged summary)."""
    db = open_database(url)
    try:
        with db.begin() as conn:
            conn.execute(update(items).where(items.c.id == item_id).values(facts=facts))
    finally:
        db.dispose()


@contextmanager
def history_reads(engine: Engine) -> Iterator[list[str]]:
    """The statements that read an item's whole history while the block runs (the
    repeated-command check reads its last row only, with a LIMIT)."""
    store = engine.store
    assert isinstance(store, SqlStore)
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM history" in statement and "LIMIT" not in statement.upper():
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", on_execute)


@pytest.mark.req("PUB-5")
def test_every_command_writes_the_summary_a_fold_of_the_history_gives(
    engine: Engine, db_url: str
) -> None:
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    assert stored_facts(engine, item.id) == refolded(engine, item.id)
    item = fire_all(engine, item, TO_FIRST_REVIEW)
    item = fire_all(
        engine,
        item,
        [
            ("approve", REVIEWER, CHECKLIST),
            ("reject", SECOND_REVIEWER, {"reason": "数据有误"}),  # rework: a new round
            ("submit", EDITOR, {"content": "修改稿", "draft_version": 2}),
            ("approve", SECOND_REVIEWER, CHECKLIST),  # the other reviewer goes first now
            ("approve", REVIEWER, CHECKLIST),
            ("sign", OPS, {}),  # the handler moves it on to published
        ],
    )
    assert item.state == "published"
    facts = stored_facts(engine, item.id)
    assert facts is not None
    kept = facts[FACTS_KEY]
    assert kept["seen"] == len(engine.history(item.id))
    assert kept["states"]["author_does_not_review"]["author"] == ["wang"]
    assert kept["states"]["reviewed_and_signed_off"]["done"] == 3
    assert check_invariants(db_url) == []


@pytest.mark.req("PUB-5")
def test_judged_commands_read_the_summary_not_the_history(engine: Engine) -> None:
    item = fire_all(engine, engine.start("publishing", actor=EDITOR, data=TOPIC), TO_FIRST_REVIEW)
    with history_reads(engine) as reads:
        item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
        with pytest.raises(PolicyDenied) as denied:  # the same reviewer twice in a round
            engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
        assert denied.value.rule == "distinct_reviewers"
        with pytest.raises(PolicyDenied) as denied:  # the author reviewing their own piece
            engine.fire(item.id, "approve", actor=Actor("wang", {"reviewer"}), data=CHECKLIST)
        assert denied.value.rule == "author_does_not_review"
        item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
        item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "published"
    assert reads == []


def test_an_item_without_a_summary_is_judged_from_its_history_then_gets_one(
    engine: Engine, db_url: str
) -> None:
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    item = fire_all(engine, item, [*TO_FIRST_REVIEW, ("approve", REVIEWER, CHECKLIST)])
    set_facts(db_url, item.id, None)  # as every item written before migration 0007
    with history_reads(engine) as reads, pytest.raises(PolicyDenied) as denied:
        engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    assert denied.value.rule == "distinct_reviewers"
    assert reads  # judged from the history
    assert stored_facts(engine, item.id) is None  # a refusal writes nothing to the item
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    assert stored_facts(engine, item.id) == refolded(engine, item.id)
    with history_reads(engine) as reads:
        assert engine.fire(item.id, "sign", actor=OPS).state == "published"
    assert reads == []


def test_a_summary_kept_under_other_rules_or_other_steps_is_not_believed(
    engine: Engine, db_url: str
) -> None:
    """A summary is believed only under the fingerprint of the rules that fold it and at
    the item's number of steps: a forged one that says nobody reviewed yet is believed
    with both (the summary is as trusted as the item row it rides on), and with either
    one wrong the rules judge from the history."""
    item = engine.start("publishing", actor=EDITOR, data=TOPIC)
    item = fire_all(engine, item, [*TO_FIRST_REVIEW, ("approve", REVIEWER, CHECKLIST)])
    honest = stored_facts(engine, item.id)
    assert honest is not None
    seen = honest[FACTS_KEY]["seen"]
    forged = summarizer(engine).facts(summarizer(engine).initial())
    for rules, steps in ((summarizer(engine).fingerprint, seen + 1), ("another", seen)):
        set_facts(
            db_url, item.id, {FACTS_KEY: {**forged[FACTS_KEY], "rules": rules, "seen": steps}}
        )
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
        assert denied.value.rule == "distinct_reviewers"
    set_facts(db_url, item.id, {FACTS_KEY: {**forged[FACTS_KEY], "seen": seen}})
    # the version passed: a second approve by the same person is meant, not a stale repeat
    item = engine.fire(
        item.id, "approve", actor=REVIEWER, data=CHECKLIST, expected_version=item.version
    )
    assert item.state == "signoff"
