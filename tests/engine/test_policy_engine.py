"""The policies enforced by the engine: every command judged, refusals named and audited.

Scenarios walk the bundled publishing workflow (and small workflows written here) through
the public API with the bundled policies loaded by ``Engine.open(..., policies=...)``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.cli.audit import export_lines
from cmc_workflow.errors import DefinitionError, FormInvalid
from cmc_workflow.policy import Masker
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    OTHER_EDITOR,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    ok_handler,
    walk,
)
from tests.helpers.records import (
    RECORD_WORKFLOWS,
    TRAINER,
    qualify_account,
    train,
    train_editors,
)

POLICIES = PUBLISHING_POLICIES


def open_engine(
    url: str, clock: FakeClock, *workflows: Path, policies: list[Path] | None = None
) -> Engine:
    """The bundled publishing workflow and policies (with the workflows whose records they
    read), plus ``workflows`` and ``policies``."""
    return Engine.open(
        url,
        workflows=[PUBLISHING, *RECORD_WORKFLOWS, *workflows],
        policies=[*POLICIES, *(policies or [])],
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
    )


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as engine:
        train_editors(engine)
        yield engine


def to_first_review(engine: Engine, author: Actor = EDITOR) -> Item:
    """A fresh item assigned to, accepted and submitted by ``author``."""
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    item = engine.fire(item.id, "approve", actor=LEAD)
    item = engine.fire(
        item.id, "assign", actor=LEAD, data={"assignees": [author.id], "due_date": "2025-10-10"}
    )
    item = engine.fire(item.id, "accept", actor=author)
    return engine.fire(item.id, "submit", actor=author, data={"content": "正文"})


def refused(engine: Engine, item_id: int, trigger: str, actor: Actor, **form: Any) -> PolicyDenied:
    with pytest.raises(PolicyDenied) as raised:
        engine.fire(item_id, trigger, actor=actor, data=form)
    return raised.value


def rules_of(engine: Engine, item_id: int, actor: Actor, trigger: str) -> tuple[str, ...]:
    entry = next(a for a in engine.allowed(item_id, actor) if a.trigger == trigger)
    assert entry.allowed == (not entry.rules)
    return entry.rules


# -- separation of duties (PUB-5) ---------------------------------------------------------


@pytest.mark.req("PUB-5")
def test_an_author_who_is_also_a_reviewer_cannot_first_review_their_draft(
    engine: Engine,
) -> None:
    wu = Actor("wu", {"editor", "reviewer"})
    train(engine, wu.id)
    item = to_first_review(engine, author=wu)
    denial = refused(engine, item.id, "approve", wu, **CHECKLIST)
    assert denial.rule == "author_does_not_review"
    assert denial.reason_en == (
        "wu already acted as the author of this item; the first reviewer must be someone else"
    )
    assert denial.reason_zh == "wu 已担任本事项的撰稿人，初审人须由他人担任"
    assert engine.get(item.id).state == "first_review"
    assert rules_of(engine, item.id, wu, "approve") == ("author_does_not_review",)
    assert rules_of(engine, item.id, REVIEWER, "approve") == ()
    assert engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST).state == "second_review"


@pytest.mark.req("PUB-5")
def test_the_same_person_cannot_do_both_reviews(engine: Engine) -> None:
    item = engine.fire(to_first_review(engine).id, "approve", actor=REVIEWER, data=CHECKLIST)
    denial = refused(engine, item.id, "approve", REVIEWER, **CHECKLIST)
    assert denial.rule == "distinct_reviewers"
    assert "复审人须由他人担任" in denial.reason_zh
    assert rules_of(engine, item.id, REVIEWER, "approve") == ("distinct_reviewers",)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    assert engine.fire(item.id, "sign", actor=OPS).state == "published"


@pytest.mark.req("PUB-5")
def test_reviewers_may_swap_in_a_new_round_but_the_author_never_reviews(
    engine: Engine, clock: FakeClock
) -> None:
    wu = Actor("wu", {"editor", "reviewer"})
    train(engine, wu.id)
    item = to_first_review(engine, author=wu)
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "reject", actor=SECOND_REVIEWER, data={"reason": "来源不清"})
    assert item.state == "drafting"
    item = engine.fire(
        item.id, "submit", actor=OTHER_EDITOR, data={"content": "第二稿", "draft_version": 2}
    )
    # a new round: last round's second reviewer may do the first review now...
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    # ...and last round's first reviewer the second one
    assert rules_of(engine, item.id, REVIEWER, "approve") == ()
    # but whoever wrote the item never reviews it ("within: item")
    assert rules_of(engine, item.id, wu, "approve") == ("author_does_not_review",)
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    assert engine.fire(item.id, "sign", actor=OPS).state == "published"


@pytest.mark.req("PUB-5")
def test_the_review_checklist_must_be_confirmed_in_full(engine: Engine) -> None:
    item = to_first_review(engine)
    denial = refused(
        engine, item.id, "approve", REVIEWER, **{**CHECKLIST, "repost_authorized": False}
    )
    assert denial.rule == "review_checklist"
    assert "转载已授权" in denial.reason_zh
    assert "Repost authorised" in denial.reason_en
    unchecked = dict.fromkeys(CHECKLIST, False)
    assert refused(engine, item.id, "approve", REVIEWER, **unchecked).rule == "review_checklist"
    # allowed() asks before the form exists: the checklist is judged when fired
    assert rules_of(engine, item.id, REVIEWER, "approve") == ()


@pytest.mark.req("PUB-5", "SEC-1")
def test_a_denial_is_audited_with_actor_rule_and_time(
    engine: Engine, db_url: str, clock: FakeClock
) -> None:
    item = engine.fire(to_first_review(engine).id, "approve", actor=REVIEWER, data=CHECKLIST)
    clock.advance(minutes=7)
    refused(engine, item.id, "approve", REVIEWER, **CHECKLIST)
    record = [a for a in engine.audit_trail(item.id) if a["outcome"] == "refused"][-1]
    assert record["actor"] == REVIEWER.id
    assert record["rule"] == "distinct_reviewers"
    assert record["at"] == clock.now
    assert record["trigger"] == "approve"
    assert record["command"] == "fire"
    assert "must be someone else" in record["reason"]
    assert record["detail"]["state"] == "second_review"
    with engine.store.read() as tx:
        assert audit_log.verify(tx.conn).ok


@pytest.mark.req("PUB-12", "SEC-1")
@pytest.mark.enforces(
    "PUB-12", element="policies/publishing.yaml#workflows.publishing.forbid_data[4]"
)
def test_a_publication_declaring_monetization_is_refused(engine: Engine, clock: FakeClock) -> None:
    with pytest.raises(PolicyDenied) as raised:
        engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": True})
    assert raised.value.rule == "no_monetization"
    assert "盈利" in raised.value.reason_zh
    with engine.store.read() as tx:
        records = [
            dict(r._mapping)
            for r in tx.conn.execute(select(audit).where(audit.c.outcome == "refused"))
        ]
    assert [(r["actor"], r["command"], r["rule"], r["at"]) for r in records] == [
        (EDITOR.id, "start", "no_monetization", clock.now)
    ]
    assert engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": False})


@pytest.mark.req("PUB-8")
@pytest.mark.enforces(
    "PUB-8", element="policies/publishing.yaml#workflows.publishing.forbid_data[1]"
)
def test_a_repost_names_its_source_and_original_author(engine: Engine) -> None:
    item = engine.start("publishing", actor=EDITOR, data={**TOPIC, "repost": True})
    item = walk(engine, item, "drafting")
    assert rules_of(engine, item.id, EDITOR, "submit") == ()  # the source comes with the form
    denial = refused(engine, item.id, "submit", EDITOR, content="转载", source="佛山日报")
    assert denial.rule == "repost_names_its_source"
    assert denial.reason_zh == "转载稿件须注明来源和原作者（CMC 7.2.1）"
    form = {"content": "转载", "source": "佛山日报", "original_author": "陈记者"}
    assert engine.fire(item.id, "submit", actor=EDITOR, data=form).state == "first_review"


@pytest.mark.req("PUB-5", "PUB-6")
def test_signing_off_needs_both_reviews_behind_it(engine: Engine) -> None:
    item = walk(engine, engine.start("publishing", actor=EDITOR, data=dict(TOPIC)), "signoff")
    assert rules_of(engine, item.id, OPS, "sign") == ()
    item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "published"
    # a confirmed error starts a new round (PUB-11): the correction is reviewed and signed
    # off again before it re-enters publishing
    item = engine.fire(item.id, "report_error", actor=LEAD, data={"description": "错字"})
    item = engine.fire(
        item.id, "correct", actor=OPS, data={"department": "编辑部", "correction": "改正"}
    )
    assert item.state == "correcting"
    item = engine.fire(item.id, "submit", actor=EDITOR, data={"content": "改正稿"})
    assert walk(engine, item, "published").state == "published"


# -- several rules, inheritance ------------------------------------------------------------

EXTRA_POLICY = """\
kind: policy
id: extra
label: {zh: 附加, en: Extra}
roles:
  chief_editor:
    label: {zh: 主编, en: Chief editor}
    inherits: [editor, reviewer]
workflows:
  publishing:
    steps:
      sign: {state: signoff, trigger: sign, label: {zh: 签发人, en: signing manager}}
    forbid_data:
      - id: no_unchecked_reposts
        steps: [sign]
        when: data.repost == true and not data.materials
        reason: {zh: 转载须附素材, en: a repost must list its materials}
"""


@pytest.fixture
def extra_policy(tmp_path: Path) -> Path:
    path = tmp_path / "extra_policy.yaml"
    path.write_text(EXTRA_POLICY, encoding="utf-8")
    return path


@pytest.mark.req("PUB-5", "PUB-8")
def test_allowed_lists_every_rule_that_refuses(
    tmp_path: Path, clock: FakeClock, extra_policy: Path
) -> None:
    with open_engine(f"sqlite:///{tmp_path / 'x.db'}", clock, policies=[extra_policy]) as engine:
        train_editors(engine)
        wang = Actor(EDITOR.id, {"editor", "ops_manager"})
        item = engine.start("publishing", actor=wang, data={**TOPIC, "repost": True})
        item = walk(engine, item, "drafting")
        form = {"content": "转载", "source": "佛山日报", "original_author": "陈记者"}
        item = walk(engine, engine.fire(item.id, "submit", actor=EDITOR, data=form), "signoff")
        assert rules_of(engine, item.id, wang, "sign") == (
            "no_unchecked_reposts",
            "author_does_not_review",
        )
        entry = next(a for a in engine.allowed(item.id, wang) if a.trigger == "sign")
        assert "a repost must list its materials" in entry.reasons[0]
        assert refused(engine, item.id, "sign", wang).rule == "no_unchecked_reposts"
        assert rules_of(engine, item.id, OPS, "sign") == ("no_unchecked_reposts",)


@pytest.mark.req("PUB-5")
def test_a_role_inherits_the_roles_it_names(
    tmp_path: Path, clock: FakeClock, extra_policy: Path
) -> None:
    chen = Actor("chen", {"chief_editor"})
    with open_engine(f"sqlite:///{tmp_path / 'x.db'}", clock, policies=[extra_policy]) as engine:
        train_editors(engine)
        own = engine.start("publishing", actor=chen, data=dict(TOPIC))
        assert own.created_by == "chen"
        item = to_first_review(engine)
        assert rules_of(engine, item.id, chen, "approve") == ()
        item = engine.fire(item.id, "approve", actor=chen, data=CHECKLIST)
        assert item.state == "second_review"
        assert engine.history(item.id)[-1].roles == ("reviewer",)


# -- re-review after an edit ---------------------------------------------------------------

ARTICLE = """\
id: article
label: {zh: 稿件, en: Article}
roles:
  editor: {zh: 编辑, en: Editor}
  reviewer: {zh: 审核人, en: Reviewer}
  ops_manager: {zh: 运营管理岗, en: Operations manager}
data:
  title: {type: string}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 撰稿, en: Draft}
    transitions:
      - {trigger: submit, target: review, roles: [editor]}
  review:
    type: userTask
    label: {zh: 审核, en: Review}
    transitions:
      - {trigger: approve, target: signoff, roles: [reviewer]}
      - {trigger: reject, target: draft, roles: [reviewer]}
  signoff:
    type: userTask
    label: {zh: 签发, en: Sign-off}
    transitions:
      - trigger: touch_up
        target: signoff
        roles: [ops_manager]
        form:
          title: {type: string, required: false}
          note: {type: text, required: false}
      - {trigger: sign, target: done, roles: [ops_manager]}
      - {trigger: reject, target: draft, roles: [ops_manager]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""

ARTICLE_POLICY = """\
kind: policy
id: article
label: {{zh: 稿件, en: Article}}
workflows:
  article:
    rework: [draft]
    invalidate_approvals_on_edit: [{fields}]
    steps:
      reviewed: {{state: review, trigger: approve, label: {{zh: 审核人, en: reviewer}}}}
      signed: {{state: signoff, trigger: sign, label: {{zh: 签发人, en: signing manager}}}}
    required_stages:
      - {{id: reviewed_then_signed, enter: done, stages: [reviewed, signed]}}
"""


@pytest.mark.parametrize("invalidate", [True, False], ids=["invalidating", "not-invalidating"])
@pytest.mark.req("PUB-5")
def test_an_edit_after_the_approval_requires_a_new_review(
    tmp_path: Path, clock: FakeClock, invalidate: bool
) -> None:
    workflow = tmp_path / "article.yaml"
    workflow.write_text(ARTICLE, encoding="utf-8")
    policy = tmp_path / "article_policy.yaml"
    policy.write_text(ARTICLE_POLICY.format(fields="title" if invalidate else ""), encoding="utf-8")
    with open_engine(f"sqlite:///{tmp_path / 'x.db'}", clock, workflow, policies=[policy]) as e:
        untouched = e.start("article", actor=EDITOR, data={"title": "甲"})
        for trigger, actor in [("submit", EDITOR), ("approve", REVIEWER)]:
            untouched = e.fire(untouched.id, trigger, actor=actor)
        edited = e.start("article", actor=EDITOR, data={"title": "乙"})
        for trigger, actor in [("submit", EDITOR), ("approve", REVIEWER)]:
            edited = e.fire(edited.id, trigger, actor=actor)
        e.fire(untouched.id, "touch_up", actor=OPS, data={"note": "排版"})  # no edit field
        e.fire(edited.id, "touch_up", actor=OPS, data={"title": "乙（改）"})
        assert e.fire(untouched.id, "sign", actor=OPS).state == "done"
        if not invalidate:
            assert e.fire(edited.id, "sign", actor=OPS).state == "done"
            return
        denial = refused(e, edited.id, "sign", OPS)
        assert denial.rule == "reviewed_then_signed"
        assert "invalidated" in denial.reason_en
        assert "须重新审核" in denial.reason_zh
        assert rules_of(e, edited.id, OPS, "sign") == ("reviewed_then_signed",)
        edited = e.fire(edited.id, "reject", actor=OPS)
        for trigger, actor in [("submit", EDITOR), ("approve", REVIEWER), ("sign", OPS)]:
            edited = e.fire(edited.id, trigger, actor=actor)
        assert edited.state == "done"


# -- prerequisites from another workflow ---------------------------------------------------


@pytest.mark.req("TRN-3")
@pytest.mark.enforces(
    "TRN-3", element="policies/publishing.yaml#workflows.publishing.requires_record[0]"
)
def test_nobody_is_assigned_without_the_post_basics_training(db_url: str, clock: FakeClock) -> None:
    with open_engine(db_url, clock) as engine:
        item = engine.fire(
            engine.start("publishing", actor=EDITOR, data=dict(TOPIC)).id, "approve", actor=LEAD
        )
        assignment = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
        assert rules_of(engine, item.id, LEAD, "assign") == ()  # the people come with the form
        denial = refused(engine, item.id, "assign", LEAD, **assignment)
        assert denial.rule == "assignees_trained"
        assert denial.reason_en.startswith("wang: no record found")
        train(engine, EDITOR.id, course="operational_skills")  # another course
        train(engine, EDITOR.id, post="reviewer")  # another post
        failed = engine.start(
            "training",
            actor=TRAINER,
            data={
                "trainee": EDITOR.id,
                "post": "editor",
                "course": "post_basics",
                "reason": "onboarding",
            },
        )
        for trigger in ("begin", "finish"):
            engine.fire(failed.id, trigger, actor=TRAINER)
        engine.fire(failed.id, "assess", actor=TRAINER, data={"result": "fail", "score": 40})
        assert refused(engine, item.id, "assign", LEAD, **assignment).rule == "assignees_trained"
        train(engine, EDITOR.id)
        item = engine.fire(item.id, "assign", actor=LEAD, data=assignment)
        assert "acceptor_trained" in rules_of(engine, item.id, OTHER_EDITOR, "accept")
        assert engine.fire(item.id, "accept", actor=EDITOR).state == "drafting"


@pytest.mark.req("PUB-3")
@pytest.mark.enforces(
    "PUB-3", element="policies/publishing.yaml#workflows.publishing.forbid_data[0]"
)
def test_only_an_assigned_editor_takes_up_the_task(db_url: str, clock: FakeClock) -> None:
    with open_engine(db_url, clock) as engine:
        train_editors(engine)
        item = engine.fire(
            engine.start("publishing", actor=EDITOR, data=dict(TOPIC)).id, "approve", actor=LEAD
        )
        assignment = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
        item = engine.fire(item.id, "assign", actor=LEAD, data=assignment)
        # a trained editor the task is not assigned to may not take it
        assert rules_of(engine, item.id, OTHER_EDITOR, "accept") == (
            "only_assignees_take_up_the_work",
        )
        denial = refused(engine, item.id, "accept", OTHER_EDITOR)
        assert denial.rule == "only_assignees_take_up_the_work"
        assert "只有被指派的编辑" in denial.reason_zh
        assert engine.fire(item.id, "accept", actor=EDITOR).state == "drafting"


@pytest.mark.req("ACC-2")
@pytest.mark.enforces(
    "ACC-2", element="policies/publishing.yaml#workflows.publishing.requires_record[2]"
)
def test_publishing_to_an_account_whose_qualification_expired_is_refused(
    db_url: str, clock: FakeClock
) -> None:
    with open_engine(db_url, clock) as engine:
        train_editors(engine)
        qualify_account(engine, "fslib-wx", qualified_until="2025-09-30")
        topic = {**TOPIC, "accounts": ["fslib-wx"]}
        first = walk(engine, engine.start("publishing", actor=EDITOR, data=topic), "signoff")
        second = walk(engine, engine.start("publishing", actor=EDITOR, data=topic), "signoff")
        assert engine.fire(first.id, "sign", actor=OPS).state == "release"
        assert engine.fire(first.id, "release", actor=OPS).state == "published"
        assert engine.fire(second.id, "sign", actor=OPS).state == "release"
        clock.now = dt.datetime(2025, 9, 30, 16, 30, tzinfo=dt.UTC)  # Oct 1st in Shanghai
        denial = refused(engine, second.id, "release", OPS)
        assert denial.rule == "account_qualified"
        assert "fslib-wx" in denial.reason_en


# -- scoping (SEC-5) -----------------------------------------------------------------------

REQUESTS = """\
id: app_requests
label: {zh: 应用事务, en: Application requests}
roles:
  operator: {zh: 运营方, en: Operator}
  integrator: {zh: 接入方, en: Integrator}
data:
  application: {type: string}
  summary: {type: text}
start: {state: open, roles: [operator, integrator]}
states:
  open:
    type: userTask
    label: {zh: 处理中, en: Open}
    transitions:
      - trigger: respond
        target: closed
        roles: [integrator, operator]
        form:
          answer: {type: text}
  closed: {type: endEvent, label: {zh: 已办结, en: Closed}}
"""


@pytest.mark.req("SEC-5")
def test_integrators_act_only_on_their_own_applications(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "app_requests.yaml").write_text(REQUESTS, encoding="utf-8")
    app7 = Actor("app7-admin", {"integrator"}, {"application": "app-7"})
    operator = Actor("op", {"operator"})
    both = Actor("op-int", {"operator", "integrator"}, {"application": "app-7"})
    anonymous = Actor("ghost", {"integrator"})
    with open_engine(db_url, clock, tmp_path / "app_requests.yaml") as engine:
        with pytest.raises(PolicyDenied) as raised:
            engine.start("app_requests", actor=app7, data={"application": "app-8", "summary": "x"})
        assert raised.value.rule == "integrators_own_applications"
        assert "接入方只能处理本方应用" in raised.value.reason_zh
        mine = engine.start(
            "app_requests", actor=app7, data={"application": "app-7", "summary": "故障"}
        )
        theirs = engine.start(
            "app_requests", actor=operator, data={"application": "app-8", "summary": "咨询"}
        )
        assert [i.id for i in engine.inbox(app7)] == [mine.id]
        assert [i.id for i in engine.inbox(operator)] == [mine.id, theirs.id]
        assert [i.id for i in engine.inbox(both)] == [mine.id, theirs.id]
        assert rules_of(engine, theirs.id, app7, "respond") == ("integrators_own_applications",)
        assert rules_of(engine, theirs.id, anonymous, "respond") == (
            "integrators_own_applications",
        )
        denial = refused(engine, theirs.id, "respond", app7, answer="不归我管")
        assert denial.rule == "integrators_own_applications"
        assert engine.fire(mine.id, "respond", actor=app7, data={"answer": "已修复"}).state == (
            "closed"
        )
        assert engine.fire(theirs.id, "respond", actor=both, data={"answer": "已转"}).state == (
            "closed"
        )


def test_a_broken_policy_stops_the_engine_from_opening(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: policy\nid: bad\nlabel: {zh: 坏, en: Bad}\nworkflows:\n  publishing:\n"
        "    permissions:\n      signoff: {sign: [editor]}\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as raised:
        Engine.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            workflows=[PUBLISHING, *RECORD_WORKFLOWS],
            policies=[*POLICIES, bad],
        )
    assert raised.value.codes == ["E-POLICY-WIDENS"]
    assert not (tmp_path / "x.db").exists()


# -- personal data (SEC-3) -----------------------------------------------------------------

READERS = """\
id: reader_messages
label: {zh: 读者留言, en: Reader messages}
roles:
  ops_assistant: {zh: 运营助理岗, en: Operations assistant}
data:
  phone: {type: integer, personal: true, label: {zh: 联系电话, en: Phone}}
  name: {type: string, personal: true}
  text: {type: text}
start: {state: open, roles: [ops_assistant]}
states:
  open:
    type: userTask
    label: {zh: 待回复, en: Open}
    transitions:
      - trigger: reply
        target: closed
        roles: [ops_assistant]
        form:
          answer: {type: text}
  closed: {type: endEvent, label: {zh: 已回复, en: Replied}}
"""


@pytest.mark.req("SEC-3", "SEC-2")
def test_the_audit_export_masks_personal_data(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "readers.yaml").write_text(READERS, encoding="utf-8")
    desk = Actor("desk", {"ops_assistant"})
    with open_engine(db_url, clock, tmp_path / "readers.yaml") as engine:
        with pytest.raises(FormInvalid, match="138-0013-8000"):
            engine.start(
                "reader_messages",
                actor=desk,
                data={"phone": "138-0013-8000", "name": "张三丰", "text": "开放时间？"},
            )
        item = engine.start(
            "reader_messages",
            actor=desk,
            data={"phone": 13800138000, "name": "张三丰", "text": "开放时间？"},
        )
        with pytest.raises(FormInvalid, match="not a field"):
            engine.fire(item.id, "reply", actor=desk, data={"answer": "x", "张三丰": 1})
        with structlog.testing.capture_logs() as logged, pytest.raises(FormInvalid):
            engine.start(
                "reader_messages",
                actor=desk,
                data={"phone": "1380-013", "name": "李四", "text": "?"},
            )
        refusals = [e for e in logged if e["event"] == "command_refused"]
        assert len(refusals) == 1
        assert "1380-013" not in str(refusals[0])
        assert "phone: ***" in refusals[0]["reason"]
        out = io.StringIO()
        with engine.store.read() as tx:
            masker = Masker.for_workflows([engine.workflow("reader_messages").definition])
            count = export_lines(tx, out, masker)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 4
    text = out.getvalue()
    assert "138-0013-8000" not in text
    assert "1380-013" not in text
    assert "张三丰" not in text
    assert "phone: ***" in lines[0]["reason"]
    assert "phone\uff1a***" in lines[0]["detail"]["reason_zh"]  # the Chinese quotes it too
    assert lines[0]["detail"]["fields"]["phone"] == "***"
    assert {"id", "at", "actor", "rule", "outcome", "hash", "prev_hash", "chain"} <= set(lines[0])
