"""Group commit: ``Engine.start_many`` and ``Engine.fire_many`` on SQLite and PostgreSQL.

Reader messages (the bundled ``comments`` workflow) registered by an operations
assistant with the bundled policies, which ask a passed post-basics training record of
the assistant (``posts_trained``, TRN-3): every command of a batch is judged, recorded
and audited as alone; a refused one is audited in the batch's commit and does not undo
the others; the batch is bounded; anything else escaping rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.engine import MAX_BATCH, FireEntry, StartEntry
from cmc_workflow.errors import InputInvalid
from cmc_workflow.extensions import Change, Extension
from cmc_workflow.store import StoreTx
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit, history, items
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS, audit_rows
from tests.helpers.records import TRAINER, TRAINING, TRAINING_PLAN, VALID_UNTIL, train_staff

COMMENTS = [WORKFLOWS / "comments.yaml", WORKFLOWS / "illegal_content_report.yaml"]
BUNDLED_POLICIES = [POLICIES / "roles.yaml", POLICIES / "comments.yaml", POLICIES / "training.yaml"]

ASSISTANT = Actor("li", {"ops_assistant"})
UNTRAINED = Actor("he", {"ops_assistant"})


def message(n: int, **changes: Any) -> dict[str, Any]:
    """Reader message ``n`` as a platform delivers it."""
    return {
        "channel": "wechat",
        "account": "library_official",
        "reader": f"reader_{n}",
        "text": f"第 {n} 条留言：请问国庆期间开放吗？",
        "received_at": "2025-09-26T15:00+08:00",
        **changes,
    }


def open_engine(url: str, clock: FakeClock, *extensions: Extension) -> Engine:
    return Engine.open(
        url,
        workflows=[*COMMENTS, TRAINING, TRAINING_PLAN],
        policies=BUNDLED_POLICIES,
        clock=clock,
        extensions=list(extensions),
    )


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as opened:
        train_staff(opened, ASSISTANT)
        yield opened


def counts(url: str) -> tuple[int, int, int]:
    """Items, history rows and audit records in the database."""
    db = open_database(url)
    try:
        with db.connect() as conn:
            return (
                conn.execute(select(func.count()).select_from(items)).scalar_one(),
                conn.execute(select(func.count()).select_from(history)).scalar_one(),
                conn.execute(select(func.count()).select_from(audit)).scalar_one(),
            )
    finally:
        db.dispose()


def verified(url: str) -> audit_log.Verification:
    db = open_database(url)
    try:
        with db.connect() as conn:
            return audit_log.verify(conn)
    finally:
        db.dispose()


@pytest.mark.req("CMT-1", "SEC-1")
def test_a_burst_of_messages_is_registered_in_one_batch(engine: Engine, db_url: str) -> None:
    before = counts(db_url)

    outcomes = engine.start_many("comments", [message(n) for n in range(5)], actor=ASSISTANT)

    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert all(o.accepted and o.refusal is None for o in outcomes)
    started = [o.item for o in outcomes if o.item is not None]
    assert [i.state for i in started] == ["classify"] * 5
    assert [i.data["reader"] for i in started] == [f"reader_{n}" for n in range(5)]
    for item in started:
        assert engine.get(item.id) == item
        assert [(h.kind, h.to_state, h.actor) for h in engine.history(item.id)] == [
            ("start", "classify", "li")
        ]
        trail = engine.audit_trail(item.id)
        assert [(r["command"], r["outcome"]) for r in trail] == [("start", "accepted")]
    assert counts(db_url) == (before[0] + 5, before[1] + 5, before[2] + 5)
    assert verified(db_url).ok


@pytest.mark.req("CMT-1", "TRN-3", "SEC-1")
def test_a_refused_start_is_audited_and_does_not_undo_the_others(
    engine: Engine, db_url: str
) -> None:
    before = counts(db_url)
    entries: list[StartEntry | dict[str, Any]] = [
        message(1),
        message(2, channel="fax"),  # not a channel: the form refuses it
        StartEntry(message(3), actor=UNTRAINED),  # no training record: the policy refuses
        message(4),
    ]

    outcomes = engine.start_many("comments", entries, actor=ASSISTANT)

    assert [o.accepted for o in outcomes] == [True, False, False, True]
    form, policy = outcomes[1].refusal, outcomes[2].refusal
    assert form is not None
    assert form.error == "FormInvalid"
    assert "channel" in form.message
    assert form.message_zh.startswith("'start' 的表单填写有误：channel：")  # Chinese, per field
    assert policy is not None
    assert (policy.error, policy.rule) == ("PolicyDenied", "posts_trained")
    assert policy.message_zh  # the Chinese reason travels with the refusal
    assert counts(db_url) == (before[0] + 2, before[1] + 2, before[2] + 4)
    refused = audit_rows(db_url, "outcome = 'refused' AND command = 'start'")
    assert [(r.actor, r.rule) for r in refused] == [
        ("li", "FormInvalid"),
        ("he", "posts_trained"),
    ]
    assert verified(db_url).ok


@pytest.mark.req("CMT-1", "CMT-2")
def test_fire_many_judges_each_command_on_the_state_the_previous_left(
    engine: Engine, db_url: str
) -> None:
    first, second = (
        o.item for o in engine.start_many("comments", [message(1), message(2)], actor=ASSISTANT)
    )
    assert first is not None
    assert second is not None
    reply = {"reply": "国庆期间正常开放。"}

    outcomes = engine.fire_many(
        [
            FireEntry(first.id, "classify", ASSISTANT, {"category": "consultation"}),
            FireEntry(first.id, "reply", ASSISTANT, reply),  # sees the classification
            FireEntry(second.id, "reply", ASSISTANT, reply),  # still in classify: refused
            FireEntry(second.id, "classify", ASSISTANT, {"category": "other"}),
            FireEntry(second.id, "close", ASSISTANT, expected_version=1),  # stale
            FireEntry(10**6, "classify", ASSISTANT, {"category": "other"}),  # no such item
        ]
    )

    assert [o.accepted for o in outcomes] == [True, True, False, True, False, False]
    assert outcomes[1].item is not None
    assert outcomes[1].item.state == "answered"
    assert outcomes[3].item is not None
    assert outcomes[3].item.state == "other_open"
    rules = [o.refusal.rule for o in outcomes if o.refusal is not None]
    assert rules == ["InvalidTrigger", "ConflictError", "ItemNotFound"]
    assert outcomes[4].refusal is not None
    assert outcomes[4].refusal.retryable
    assert [h.trigger for h in engine.history(first.id)] == [None, "classify", None, "reply"]
    trail = [(r["trigger"], r["outcome"]) for r in engine.audit_trail(second.id)]
    assert trail == [
        (None, "accepted"),
        ("reply", "refused"),
        ("classify", "accepted"),
        ("close", "refused"),
    ]
    assert verified(db_url).ok


class RefuseOnWrite(Extension):
    """Refuses (after the command wrote its item, history and clock) the start of the
    message whose reader is ``reader``: only the command's savepoint can undo those."""

    def __init__(self, reader: str) -> None:
        self.reader = reader

    def after_change(self, tx: StoreTx, change: Change) -> None:
        if change.kind == "start" and change.data.get("reader") == self.reader:
            raise PolicyDenied(
                "late_refusal", "refused after writing", "写入后拒绝", state=change.final.state
            )


@pytest.mark.req("SEC-1")
def test_a_command_refused_after_it_wrote_leaves_nothing_of_itself(
    db_url: str, clock: FakeClock
) -> None:
    with open_engine(db_url, clock, RefuseOnWrite("reader_2")) as engine:
        train_staff(engine, ASSISTANT)
        before = counts(db_url)

        outcomes = engine.start_many("comments", [message(n) for n in (1, 2, 3)], actor=ASSISTANT)

        assert [o.accepted for o in outcomes] == [True, False, True]
        assert outcomes[1].refusal is not None
        assert outcomes[1].refusal.rule == "late_refusal"
        readers = [o.item.data["reader"] for o in outcomes if o.item is not None]
        assert readers == ["reader_1", "reader_3"]
        # two items with their history; three audit records (two accepted, one refused)
        assert counts(db_url) == (before[0] + 2, before[1] + 2, before[2] + 3)
        for item_id in (o.item.id for o in outcomes if o.item is not None):
            assert len(engine.history(item_id)) == 1
            assert len(list(engine.audit_trail(item_id))) == 1
        assert verified(db_url).ok


class Crash(Extension):
    """Raises a foreign error (not a refusal) in the command of the given reader."""

    def __init__(self, reader: str) -> None:
        self.reader = reader

    def after_change(self, tx: StoreTx, change: Change) -> None:
        if change.data.get("reader") == self.reader:
            raise RuntimeError("the process fails mid-batch")


@pytest.mark.req("SEC-4")
def test_an_error_escaping_mid_batch_leaves_nothing_of_the_batch(
    db_url: str, clock: FakeClock
) -> None:
    with open_engine(db_url, clock, Crash("reader_3")) as engine:
        train_staff(engine, ASSISTANT)
        before = counts(db_url)

        with pytest.raises(RuntimeError, match="mid-batch"):
            engine.start_many(
                "comments",
                [message(1), message(2, channel="fax"), message(3), message(4)],
                actor=ASSISTANT,
            )

        # neither the accepted start before it nor the refusal's audit record stays
        assert counts(db_url) == before
        assert verified(db_url).ok


@pytest.mark.req("SEC-1")
def test_a_batch_over_the_bound_is_refused_whole_and_audited_once(
    engine: Engine, db_url: str
) -> None:
    before = counts(db_url)

    with pytest.raises(InputInvalid) as refused:
        engine.start_many("comments", [message(1)] * (MAX_BATCH + 1), actor=ASSISTANT)
    assert str(MAX_BATCH) in str(refused.value)
    assert refused.value.reason_zh  # in Chinese too
    with pytest.raises(InputInvalid):
        engine.fire_many([FireEntry(1, "classify", ASSISTANT)] * (MAX_BATCH + 1))

    assert counts(db_url) == (before[0], before[1], before[2] + 2)
    rows = audit_rows(db_url, "outcome = 'refused'")
    assert [(r.command, r.rule) for r in rows] == [
        ("start_many", "input_invalid"),
        ("fire_many", "input_invalid"),
    ]


def test_a_batch_at_the_bound_runs_and_an_empty_one_is_nothing(engine: Engine) -> None:
    assert engine.start_many("comments", [], actor=ASSISTANT) == []
    assert engine.fire_many([]) == []
    outcomes = engine.start_many("comments", [message(1)] * MAX_BATCH, actor=ASSISTANT)
    assert len(outcomes) == MAX_BATCH
    assert all(o.accepted for o in outcomes)
    assert outcomes[-1].item is not None
    # a mapping of FireEntry's fields is an entry too
    fired = engine.fire_many(
        [
            {
                "item_id": outcomes[-1].item.id,
                "trigger": "classify",
                "actor": ASSISTANT,
                "data": {"category": "suggestion"},
            }
        ]
    )
    assert fired[0].item is not None
    assert fired[0].item.state == "suggestion_registered"


@pytest.mark.req("TRN-3")
def test_a_record_passed_earlier_in_the_batch_counts_for_the_commands_after_it(
    engine: Engine,
) -> None:
    outcome = engine.start_many("comments", [message(1)], actor=ASSISTANT)[0]
    assert outcome.item is not None
    record = engine.start(
        "training",
        actor=TRAINER,
        data={"trainee": UNTRAINED.id, "post": "ops_assistant", "course": "post_basics"}
        | {"reason": "onboarding"},
    )
    engine.fire(record.id, "begin", actor=TRAINER)
    classify = FireEntry(outcome.item.id, "classify", UNTRAINED, {"category": "other"})
    passed = {"result": "pass", "score": 90, "valid_until": VALID_UNTIL}

    outcomes = engine.fire_many(
        [
            classify,  # no record yet: refused (and the answer kept for the batch)
            FireEntry(record.id, "finish", TRAINER),
            FireEntry(record.id, "assess", TRAINER, passed),  # the record passes
            classify,  # the kept answer was dropped with the record's change
        ]
    )

    assert [o.accepted for o in outcomes] == [False, True, True, True]
    assert outcomes[0].refusal is not None
    assert outcomes[0].refusal.rule == "posts_trained"
    assert outcomes[3].item is not None
    assert outcomes[3].item.state == "other_open"
