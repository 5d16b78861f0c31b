"""Identities as people read them, and no double steps (issue "No way around the rules",
observations 4 and 5), through the public API on every store.

- ``Wang``, ``wang `` and ``ｗａｎｇ`` are one person, ``wang``: separation of duties, the
  assignee lists and the stored history see one id.
- Ids no person can read (blank, control or zero-width characters, not text, too long)
  and the engine's own id and role ``system`` are refused by a named rule, and the refusal
  is audited with the raw id escaped.
- A repeated click on a trigger that exists in the next stage too (``approve`` in both
  reviews) is refused as stale unless the caller says which version they saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.cli import main
from cmc_workflow.errors import ConflictError, FormInvalid, IdentityRefused
from cmc_workflow.model import SYSTEM, engine_actor, normal_id
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.tables import audit, history
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    UNGUARDED_PUBLISHING,
    WORKFLOWS,
    EngineFactory,
    ok_handler,
)
from tests.helpers.records import RECORD_WORKFLOWS, train, train_editors


@pytest.fixture
def engine(engine_factory: EngineFactory) -> Engine:
    """The bundled publishing workflow with its policies (and the records they read)."""
    engine = engine_factory(
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=PUBLISHING_POLICIES,
        handlers={"publish_to_channels": ok_handler},
    )
    train_editors(engine)
    return engine


@pytest.fixture
def bare(engine_factory: EngineFactory) -> Engine:
    """The publishing workflow alone, without policies: only the engine stands between a
    repeated click and the next stage."""
    return engine_factory(
        workflows=[UNGUARDED_PUBLISHING], handlers={"publish_to_channels": ok_handler}
    )


def to_first_review(engine: Engine, author: Actor = EDITOR) -> Item:
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    item = engine.fire(item.id, "approve", actor=LEAD)
    assignment = {"assignees": [author.id], "due_date": "2025-10-10"}
    item = engine.fire(item.id, "assign", actor=LEAD, data=assignment)
    item = engine.fire(item.id, "accept", actor=author)
    return engine.fire(item.id, "submit", actor=author, data={"content": "正文"})


def last_refusal(engine: Engine, item_id: int | None = None) -> dict[str, Any]:
    """The newest refused audit record (of ``item_id``, or of any item), read from the
    audit table itself; the whole log still verifies."""
    with engine.store.read() as tx:
        query = select(audit).where(audit.c.outcome == "refused")
        if item_id is not None:
            query = query.where(audit.c.item_id == item_id)
        rows = tx.conn.execute(query.order_by(audit.c.id)).all()
        assert audit_log.verify(tx.conn).ok
    assert rows, "no refused record"
    return dict(rows[-1]._mapping)


# -- one person, however the id is typed ----------------------------------------------------
LOOK_ALIKES = ["Wang", "wang ", "ｗａｎｇ", " WANG\u3000", "Ｗang"]


def test_an_id_is_read_as_a_person_reads_it() -> None:
    assert {normal_id(v) for v in LOOK_ALIKES} == {"wang"}
    assert normal_id("Zhao  Li") == "zhao li"
    assert normal_id("王 小明") == "王 小明"


@pytest.mark.req("PUB-5", "SEC-1")
@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_a_look_alike_id_is_the_author_and_may_not_review(engine: Engine, look_alike: str) -> None:
    item = to_first_review(engine)  # drafted and submitted by wang
    with pytest.raises(PolicyDenied) as raised:
        engine.fire(item.id, "approve", actor=Actor(look_alike, {"reviewer"}), data=CHECKLIST)
    assert raised.value.rule == "author_does_not_review"
    assert raised.value.reason_en.startswith("wang already acted as the author")
    assert engine.get(item.id).state == "first_review"
    record = last_refusal(engine, item.id)
    assert (record["actor"], record["rule"]) == ("wang", "author_does_not_review")


@pytest.mark.req("PUB-5")
@pytest.mark.parametrize("look_alike", ["ZHAO", "Zhao ", "ｚｈａｏ"])
def test_a_look_alike_first_reviewer_may_not_do_the_second_review(
    engine: Engine, look_alike: str
) -> None:
    item = engine.fire(to_first_review(engine).id, "approve", actor=REVIEWER, data=CHECKLIST)
    with pytest.raises(PolicyDenied) as raised:
        engine.fire(
            item.id,
            "approve",
            actor=Actor(look_alike, {"reviewer"}),
            data=CHECKLIST,
            expected_version=item.version,
        )
    assert raised.value.rule == "distinct_reviewers"
    assert engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST).state == (
        "signoff"
    )


@pytest.mark.req("PUB-5")
def test_a_history_written_before_ids_were_normalised_still_names_the_person(
    engine: Engine,
) -> None:
    item = to_first_review(engine)
    with engine.store.write() as tx:  # as an older release stored what the caller typed
        tx.conn.execute(
            update(history)
            .where(history.c.item_id == item.id, history.c.actor == "wang")
            .values(actor="Ｗang ")
        )
    assert {h.actor for h in engine.history(item.id)} == {"Ｗang ", "li"}
    with pytest.raises(PolicyDenied) as raised:
        engine.fire(item.id, "approve", actor=Actor("wang", {"reviewer"}), data=CHECKLIST)
    assert raised.value.rule == "author_does_not_review"


@pytest.mark.req("PUB-3")
def test_an_assignee_list_names_people_as_they_read(engine: Engine) -> None:
    item = engine.start("publishing", actor=Actor("ＷＡＮＧ", {"editor"}), data=dict(TOPIC))
    assert item.created_by == "wang"
    item = engine.fire(item.id, "approve", actor=LEAD)
    assignment = {"assignees": ["Wang ", "ZHOU"], "due_date": "2025-10-10"}
    item = engine.fire(item.id, "assign", actor=LEAD, data=assignment)
    assert item.data["assignees"] == ["wang", "zhou"]
    assert [i.id for i in engine.inbox(Actor("WANG", {"editor"}))] == [item.id]
    item = engine.fire(item.id, "accept", actor=Actor("wang", {"editor"}))
    assert item.state == "drafting"
    assert [h.actor for h in engine.history(item.id)] == ["wang", "li", "li", "wang"]
    assert {a["actor"] for a in engine.audit_trail(item.id)} == {"wang", "li"}


@pytest.mark.req("TRN-3")
def test_a_record_typed_with_other_case_or_width_names_the_same_person(
    engine: Engine,
) -> None:
    """HR types the trainee as ``Ｍａ Ｌｉ``-style text; the person signs in as ``ma li``:
    the training record is theirs (and a record of someone else is not)."""
    train(engine, "ＬＩＵ Ｆｅｉ ")  # full width, capitals, a trailing space
    train(engine, "zhou_fei")
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    item = engine.fire(item.id, "approve", actor=LEAD)
    assignment = {"assignees": ["liu fei"], "due_date": "2025-10-10"}
    item = engine.fire(item.id, "assign", actor=LEAD, data=assignment)
    assert engine.fire(item.id, "accept", actor=Actor("Liu Fei", {"editor"})).state == "drafting"
    other = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    other = engine.fire(other.id, "approve", actor=LEAD)
    with pytest.raises(PolicyDenied) as untrained:
        engine.fire(
            other.id,
            "assign",
            actor=LEAD,
            data={"assignees": ["liu fan"], "due_date": "2025-10-10"},
        )
    assert untrained.value.rule == "assignees_trained"


def test_an_unreadable_id_in_an_assignee_list_is_a_form_error(engine: Engine) -> None:
    item = engine.fire(
        engine.start("publishing", actor=EDITOR, data=dict(TOPIC)).id, "approve", actor=LEAD
    )
    with pytest.raises(FormInvalid) as raised:
        engine.fire(
            item.id,
            "assign",
            actor=LEAD,
            data={"assignees": ["wang", "zhao\u200b"], "due_date": "2025-10-10"},
        )
    assert [e.field for e in raised.value.errors] == ["assignees[1]"]
    assert "U+200B" in raised.value.errors[0].message
    assert "不可见字符" in raised.value.errors[0].message_zh
    assert engine.get(item.id).state == "selected"


# -- ids nobody can read, and the engine's own ----------------------------------------------
UNREADABLE: list[tuple[object, str, str]] = [
    # (id, rule, how the audit record shows it)
    ("   ", "actor_id_invalid", "   "),
    ("\t", "actor_id_invalid", "\\t"),
    ("zhao\u200b", "actor_id_invalid", "zhao\\u200b"),
    ("\ufeffwang", "actor_id_invalid", "\\ufeffwang"),
    ("\u2060", "actor_id_invalid", "\\u2060"),
    ("wa\x00ng", "actor_id_invalid", "wa\\x00ng"),
    ("wa\udcffng", "actor_id_invalid", "wa\\udcffng"),
    (42, "actor_id_invalid", "42"),
    ("x" * 129, "actor_id_invalid", "x" * 128),
    ("system", "actor_id_reserved", "system"),
    (" SYSTEM ", "actor_id_reserved", " SYSTEM "),
    ("ｓｙｓｔｅｍ", "actor_id_reserved", "ｓｙｓｔｅｍ"),
]


@pytest.mark.req("SEC-1")
@pytest.mark.parametrize(("raw", "rule", "shown"), UNREADABLE)
def test_an_unreadable_or_reserved_id_is_refused_and_audited(
    engine: Engine, raw: object, rule: str, shown: str
) -> None:
    item = engine.fire(to_first_review(engine).id, "approve", actor=REVIEWER, data=CHECKLIST)
    caller = Actor(raw, {"reviewer"})  # type: ignore[arg-type]  # a caller's bad input
    with pytest.raises(IdentityRefused) as raised:
        engine.fire(item.id, "approve", actor=caller, data=CHECKLIST)
    assert raised.value.rule == rule
    assert raised.value.reason_en
    assert raised.value.reason_zh
    assert engine.get(item.id).state == "second_review"
    record = last_refusal(engine, item.id)
    assert (record["actor"], record["rule"], record["command"]) == (shown, rule, "fire")
    assert record["detail"]["reason_zh"] == raised.value.reason_zh
    if shown != raw:
        changed = record["detail"].get("escaped", []) + record["detail"].get("truncated", [])
        assert "actor" in changed
    # the same identity is refused by start, allowed and inbox too, and audited
    with pytest.raises(IdentityRefused):
        engine.start("publishing", actor=Actor(raw, {"editor"}), data=dict(TOPIC))  # type: ignore[arg-type]
    assert (last_refusal(engine)["command"], last_refusal(engine)["actor"]) == ("start", shown)
    with pytest.raises(IdentityRefused):
        engine.allowed(item.id, caller)
    with pytest.raises(IdentityRefused):
        engine.inbox(caller)
    assert last_refusal(engine)["command"] == "inbox"


@pytest.mark.req("SEC-1")
def test_a_caller_may_not_claim_the_engines_role(db_url: str, clock: FakeClock) -> None:
    """``collate`` is the suggestion collation's own step (roles: [system]); a caller who
    claims the role must not gather a suggestion into a batch that does not exist."""
    reader = Actor("li", {"ops_assistant"})
    loaded = [WORKFLOWS / "comments.yaml", WORKFLOWS / "illegal_content_report.yaml"]
    with Engine.open(db_url, workflows=loaded, clock=clock) as engine:
        data = {
            "channel": "wechat",
            "reader": "读者甲",
            "text": "建议延长开放时间",
            "received_at": clock().isoformat(),
        }
        item = engine.start("comments", actor=reader, data=data)
        item = engine.fire(item.id, "classify", actor=reader, data={"category": "suggestion"})
        state = item.state
        assert state == "suggestion_registered"
        for caller in (Actor("li", {"ops_assistant", "system"}), Actor("li", {"system"})):
            with pytest.raises(IdentityRefused) as raised:
                engine.fire(item.id, "collate", actor=caller, data={"batch": 999})
            assert raised.value.rule == "role_reserved"
            assert "系统保留" in raised.value.reason_zh
        assert engine.get(item.id).state == state
        assert last_refusal(engine, item.id)["rule"] == "role_reserved"
        with pytest.raises(IdentityRefused) as raised:
            engine.fire(item.id, "reply", actor="li")  # type: ignore[arg-type]
        assert raised.value.rule == "actor_invalid"


def test_the_engine_still_acts_as_itself(engine: Engine) -> None:
    """Engine-made actors (the timers' ``system``, the scheduler's ``schedule:...``) keep
    the reserved id and role; the schedules start items through the public ``start``."""
    assert SYSTEM.id == "system"
    assert "system" in SYSTEM.roles
    scheduler = engine_actor("schedule:ins_11", {"system", "editor"})
    item = engine.start("publishing", actor=scheduler, data=dict(TOPIC))
    assert item.created_by == "schedule:ins_11"


# -- no double steps (observation 5) --------------------------------------------------------
@pytest.mark.req("PUB-5")
def test_a_repeated_first_review_click_is_refused_in_every_round(bare: Engine) -> None:
    """100 rounds: the first reviewer's approval goes through, the same click again is
    refused as stale (it would be the second review), the second reviewer's command passes."""
    item = to_first_review(bare)
    for _round in range(100):
        item = bare.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
        assert item.state == "second_review"
        with pytest.raises(ConflictError) as raised:
            bare.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
        assert raised.value.rule == "repeated_command"
        assert raised.value.retryable is False  # the same call again is the same repeat
        assert "请刷新事项" in raised.value.reason_zh
        assert bare.get(item.id).state == "second_review"
        item = bare.fire(item.id, "reject", actor=SECOND_REVIEWER, data={"reason": "再改改"})
        item = bare.fire(item.id, "submit", actor=EDITOR, data={"content": "正文"})
    item = bare.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    item = bare.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    assert item.state == "signoff"
    reviews = [h for h in bare.history(item.id) if h.trigger == "approve" and h.kind == "fire"]
    assert len(reviews) == 1 + 101 + 1  # the lead's, 101 first reviews, one second review
    refusals = [a for a in bare.audit_trail(item.id) if a["outcome"] == "refused"]
    assert len(refusals) == 100
    assert {a["rule"] for a in refusals} == {"repeated_command"}


def test_a_repeat_with_the_version_seen_is_judged_by_that_version(bare: Engine) -> None:
    item = bare.fire(to_first_review(bare).id, "approve", actor=REVIEWER, data=CHECKLIST)
    with pytest.raises(ConflictError):  # the version before the first click: stale
        bare.fire(
            item.id,
            "approve",
            actor=REVIEWER,
            data=CHECKLIST,
            expected_version=item.version - 1,
        )
    # whoever saw the second review and means it passes the version (no policy here
    # forbids one person both reviews; the bundled distinct_reviewers rule does)
    again = bare.fire(
        item.id, "approve", actor=REVIEWER, data=CHECKLIST, expected_version=item.version
    )
    assert again.state == "signoff"
    assert bare.fire(again.id, "sign", actor=OPS).state == "published"


def test_the_same_trigger_with_a_new_form_or_by_someone_else_is_no_repeat(bare: Engine) -> None:
    item = bare.fire(to_first_review(bare).id, "approve", actor=REVIEWER, data=CHECKLIST)
    with pytest.raises(ConflictError):  # the same person, look-alike id, same form
        bare.fire(item.id, "approve", actor=Actor("ZHAO ", {"reviewer"}), data=CHECKLIST)
    other_form = {**CHECKLIST, "comment": "复审也看过了"}
    assert bare.fire(item.id, "approve", actor=REVIEWER, data=other_form).state == "signoff"


def test_the_cli_refuses_a_repeated_click_until_the_version_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no policies/ folder here: only the engine's own check
    runner = CliRunner()
    common = ["--db", f"sqlite:///{tmp_path / 'cmc.db'}", "--workflows", str(UNGUARDED_PUBLISHING)]
    lead = ["--actor", "li", "--role", "channel_lead"]
    editor = ["--actor", "wang", "--role", "editor"]
    reviewer = ["--actor", "zhao", "--role", "reviewer"]

    def run(*args: str) -> Result:
        return runner.invoke(main, [*args, *common])

    assert run("start", "publishing", *editor, "--data", json.dumps(TOPIC)).exit_code == 0
    assert run("fire", "1", "approve", *lead).exit_code == 0
    assignment = json.dumps({"assignees": ["Wang"], "due_date": "2025-10-10"})
    assert run("fire", "1", "assign", *lead, "--data", assignment).exit_code == 0
    assert run("fire", "1", "accept", "--actor", "WANG", "--role", "editor").exit_code == 0
    assert run("fire", "1", "submit", *editor, "--data", '{"content": "正文"}').exit_code == 0
    review = ["fire", "1", "approve", *reviewer, "--data", json.dumps(CHECKLIST)]
    assert run(*review).exit_code == 0
    again = run(*review)
    assert again.exit_code == 2
    assert "refused (repeated_command)" in again.stderr
    assert "已拒绝（repeated_command）" in again.stderr
    shown = run("show", "1", "--json")
    assert json.loads(shown.stdout)["state"] == "second_review"
    version = str(json.loads(shown.stdout)["version"])
    on_purpose = run(*review, "--expected-version", version, "--json")
    assert on_purpose.exit_code == 0, on_purpose.output
    assert json.loads(on_purpose.stdout)["state"] == "signoff"
