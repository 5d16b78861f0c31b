"""The bundled rules closed where people could get round them (issue "No way around the
rules"): TRN-3 for every post, CMT-2's consultation clock, EMG-2's separation of duties.

Each test reproduces, through the public API on every bundled definition (``workflows/``,
``policies/``, what ``cmc-workflow run`` loads) and a controlled clock (Fri 2025-09-26
15:00 Asia/Shanghai), what the bundled rules used to accept, and shows it refused with
the rule named in English and Chinese.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import FormInvalid, InvalidTrigger
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    OPS,
    POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    UNGUARDED_PUBLISHING,
    WORKFLOWS,
    ok_handler,
    walk,
)
from tests.helpers.records import TRAINING, register_application, train, train_editors, train_staff

ASSISTANT = Actor("li", {"ops_assistant"})
UNTRAINED_ASSISTANT = Actor("he", {"ops_assistant"})
OPERATOR = Actor("ma", {"operator"})
INTEGRATOR = Actor("chen", {"integrator"}, {"application": "app-7"})
AUTHORITY = Actor("gao", {"authority"})

MESSAGE: dict[str, Any] = {
    "channel": "wechat",
    "reader": "reader_0926",
    "text": "请问国庆期间少儿馆开放吗？",
    "received_at": "2025-09-26T15:00+08:00",
}
FAULT: dict[str, Any] = {
    "application": "app-7",
    "system_name": "预约系统",
    "symptom": "预约提交后一直转圈，数据未写入",
}


@pytest.fixture
def engine_options(clocks: Clocks) -> dict[str, Any]:
    return {
        "workflows": WORKFLOWS,
        "policies": POLICIES,
        "handlers": {"publish_to_channels": ok_handler},
        "extensions": [clocks],
    }


def refused(exc: pytest.ExceptionInfo[PolicyDenied], rule: str, *words: str) -> None:
    """The refusal names ``rule`` and explains itself in both languages."""
    assert exc.value.rule == rule
    assert exc.value.reason_en
    assert exc.value.reason_zh
    for word in words:
        assert word in exc.value.reason_en + exc.value.reason_zh


# -- TRN-3: every post, not only editors -------------------------------------------------------
@pytest.mark.req("TRN-3", "PUB-5", "PUB-6")
@pytest.mark.enforces("TRN-3", element="policies/training.yaml#requires_record[0]")
def test_trn_3_untrained_reviewers_and_an_untrained_sign_off_are_refused(engine: Engine) -> None:
    train_editors(engine)
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    item = walk(engine, item, "first_review")

    # an untrained reviewer did the first review: refused, the item stays where it is
    with pytest.raises(PolicyDenied) as first:
        engine.fire(item.id, "approve", actor=REVIEWER, data=dict(CHECKLIST))
    refused(first, "posts_trained", "zhao", "Reviewer", "审核人", "post_basics")
    assert engine.get(item.id).state == "first_review"
    (approve,) = [a for a in engine.allowed(item.id, REVIEWER) if a.trigger == "approve"]
    assert (approve.allowed, approve.rules) == (False, ("posts_trained",))

    # a record of another post or of another course does not count
    train(engine, REVIEWER.id, post="editor")
    train(engine, REVIEWER.id, post="reviewer", course="operational_skills")
    with pytest.raises(PolicyDenied) as other_post:
        engine.fire(item.id, "approve", actor=REVIEWER, data=dict(CHECKLIST))
    refused(other_post, "posts_trained")

    train_staff(engine, REVIEWER)
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=dict(CHECKLIST))
    # the second review by an untrained reviewer: refused as well
    with pytest.raises(PolicyDenied) as second:
        engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=dict(CHECKLIST))
    refused(second, "posts_trained", "qian")
    train_staff(engine, SECOND_REVIEWER)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=dict(CHECKLIST))

    # an untrained operations manager signed off: refused; an assistant's record of the
    # manager does not make them a trained manager
    train(engine, OPS.id, post="ops_assistant")
    with pytest.raises(PolicyDenied) as signoff:
        engine.fire(item.id, "sign", actor=OPS)
    refused(signoff, "posts_trained", "sun", "Operations manager", "运营管理岗")
    train_staff(engine, OPS)
    assert engine.fire(item.id, "sign", actor=OPS).state == "published"


@pytest.mark.req("TRN-3", "CMT-7")
def test_trn_3_an_untrained_ops_assistant_does_not_answer_a_reader(engine: Engine) -> None:
    with pytest.raises(PolicyDenied) as register:
        engine.start("comments", actor=UNTRAINED_ASSISTANT, data=dict(MESSAGE))
    refused(register, "posts_trained", "he", "运营助理岗")

    train_staff(engine, ASSISTANT)
    item = engine.start("comments", actor=ASSISTANT, data=dict(MESSAGE))
    item = engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": "consultation"})
    with pytest.raises(PolicyDenied) as reply:
        engine.fire(item.id, "reply", actor=UNTRAINED_ASSISTANT, data={"reply": "开放"})
    refused(reply, "posts_trained", "he")
    assert engine.get(item.id).state == "consultation"

    # an operations manager's own post training covers the assistant's work of the post
    train_staff(engine, OPS)
    answered = engine.fire(item.id, "reply", actor=OPS, data={"reply": "国庆期间正常开放"})
    assert answered.state == "answered"


@pytest.mark.req("TRN-3", "FLT-1", "EMG-1")
def test_trn_3_untrained_operators_and_integrators_do_not_act(engine: Engine) -> None:
    register_application(engine, "app-7")
    with pytest.raises(PolicyDenied) as fault:
        engine.start("faults", actor=OPERATOR, data=dict(FAULT))
    refused(fault, "posts_trained", "ma", "Platform operator", "运营方")
    with pytest.raises(PolicyDenied) as plan:
        engine.start("emergency_plans", actor=OPERATOR, data=_plan())
    refused(plan, "posts_trained", "ma")

    train_staff(engine, OPERATOR)
    item = engine.start("faults", actor=OPERATOR, data=dict(FAULT))
    acknowledge = {"responsible": "integrator", "assessment": "接口超时"}
    with pytest.raises(PolicyDenied) as integrator:
        engine.fire(item.id, "acknowledge", actor=INTEGRATOR, data=acknowledge)
    refused(integrator, "posts_trained", "chen", "Integrator", "接入方")

    # a record that lapsed no longer counts
    train(engine, INTEGRATOR.id, post="integrator", valid_until="2025-09-25")
    with pytest.raises(PolicyDenied):
        engine.fire(item.id, "acknowledge", actor=INTEGRATOR, data=acknowledge)
    train_staff(engine, INTEGRATOR)
    assert engine.fire(item.id, "acknowledge", actor=INTEGRATOR, data=acknowledge).state


@pytest.mark.req("TRN-3")
def test_trn_3_acting_as_the_authority_needs_no_post_training(engine: Engine) -> None:
    """Acting through a role the rule does not track (the supervising authority) needs no
    post training: an operator who is also the authority may retire a plan as authority."""
    train_staff(engine, OPERATOR)
    plan = engine.start("emergency_plans", actor=OPERATOR, data=_plan())
    plan = engine.fire(plan.id, "submit", actor=OPERATOR)
    assert engine.fire(plan.id, "approve", actor=AUTHORITY).state == "in_force"
    both = Actor("zhu", {"operator", "authority"})
    assert engine.fire(plan.id, "retire", actor=both, data={"reason": "x"}).state == "retired"


def _plan(**data: Any) -> dict[str, Any]:
    return {
        "title": "预约系统宕机应急预案",
        "organization": "运营方值班经理任总指挥",
        "resources": "备用服务器两台",
        "risk_identification": "数据库故障",
        "risk_assessment": "等级：重大",
        "prevention": "每日巡检",
        "response": "30 分钟内切换备用系统",
        **data,
    }


POSTS_RULE = """\
kind: policy
id: case
label: {zh: 例, en: Case}
requires_record:
  - id: trained
    roles: [reviewer, ghost]
    post_field: position
    workflow: training
    states: [passed, nowhere]
    field: trainee
    where: data.level == 'basic'
"""


@pytest.mark.req("TRN-3")
def test_trn_3_a_posts_rule_is_checked_when_it_loads_every_problem_at_its_place(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.yaml").write_text(POSTS_RULE, encoding="utf-8")
    found = load_paths([UNGUARDED_PUBLISHING, TRAINING, tmp_path / "p.yaml"]).problems
    lines = POSTS_RULE.splitlines()
    placed = sorted((p.code, lines[p.line - 1].strip().split(":")[0]) for p in found)
    assert placed == [
        ("E-POLICY-FIELD", "post_field"),
        ("E-POLICY-FIELD", "where"),
        ("E-UNKNOWN-ROLE", "roles"),
        ("E-UNKNOWN-STATE", "states"),
    ], found

    good = POSTS_RULE.replace("ghost", "ops_manager").replace("position", "post")
    good = good.replace(", nowhere", "").replace("level == 'basic'", "course == 'post_basics'")
    (tmp_path / "p.yaml").write_text(good, encoding="utf-8")
    assert load_paths([UNGUARDED_PUBLISHING, TRAINING, tmp_path / "p.yaml"]).problems == []
    # the records' workflow must be loaded; the rule id is unique across files
    found = load_paths([UNGUARDED_PUBLISHING, tmp_path / "p.yaml"]).problems
    assert [p.code for p in found] == ["E-POLICY-UNKNOWN-WORKFLOW"], found
    (tmp_path / "q.yaml").write_text(good.replace("id: case", "id: other"), encoding="utf-8")
    found = load_paths(
        [UNGUARDED_PUBLISHING, TRAINING, tmp_path / "p.yaml", tmp_path / "q.yaml"]
    ).problems
    assert [p.code for p in found] == ["E-POLICY-DUPLICATE"], found


# -- EMG-2: separation of duties on emergency plans --------------------------------------------
@pytest.mark.req("EMG-2")
@pytest.mark.enforces(
    "EMG-2", element="policies/emergency.yaml#workflows.emergency_plans.distinct_actors[0]"
)
def test_emg_2_whoever_drafted_or_submitted_a_plan_does_not_approve_it(engine: Engine) -> None:
    both = Actor("zhu", {"operator", "authority"})  # an operator who also holds authority
    train_staff(engine, both, OPERATOR)

    plan = engine.start("emergency_plans", actor=both, data=_plan())
    plan = engine.fire(plan.id, "submit", actor=both)
    (approve,) = [a for a in engine.allowed(plan.id, both) if a.trigger == "approve"]
    assert (approve.allowed, approve.rules) == (False, ("emergency_plan_author_does_not_approve",))
    with pytest.raises(PolicyDenied) as own:
        engine.fire(plan.id, "approve", actor=both)
    refused(own, "emergency_plan_author_does_not_approve", "CMC 9.3.3", "审批")
    assert engine.get(plan.id).state == "review"

    # a rejection and a resubmission by someone else do not clear the drafter
    engine.fire(plan.id, "reject", actor=AUTHORITY, data={"reason": "资源保障不足"})
    engine.fire(plan.id, "edit", actor=OPERATOR, data={"resources": "备用服务器四台"})
    engine.fire(plan.id, "submit", actor=OPERATOR)
    with pytest.raises(PolicyDenied) as again:
        engine.fire(plan.id, "approve", actor=both)
    assert again.value.rule == "emergency_plan_author_does_not_approve"

    # another person of the authority approves it
    assert engine.fire(plan.id, "approve", actor=AUTHORITY).state == "in_force"

    # whoever revises the plan in force does not approve the revision either
    other = Actor("qin", {"operator", "authority"})
    train_staff(engine, other)
    engine.fire(plan.id, "revise", actor=other, data={"reason": "机房搬迁"})
    engine.fire(plan.id, "submit", actor=OPERATOR)
    with pytest.raises(PolicyDenied) as reviser:
        engine.fire(plan.id, "approve", actor=other)
    assert reviser.value.rule == "emergency_plan_author_does_not_approve"
    assert engine.fire(plan.id, "approve", actor=AUTHORITY).state == "in_force"


@pytest.mark.req("EMG-3")
@pytest.mark.enforces(
    "EMG-3", element="policies/emergency.yaml#workflows.hot_event_notice.distinct_actors[0]"
)
def test_emg_3_whoever_notified_a_hot_event_does_not_acknowledge_it(engine: Engine) -> None:
    both = Actor("zhu", {"integrator", "authority"}, {"application": "app-7"})
    train_staff(engine, both, INTEGRATOR)
    register_application(engine, "app-7")
    notice = {
        "application": "app-7",
        "event": "国庆文化惠民政策发布",
        "expected_at": "2025-09-30T09:00+08:00",
        "expected_volume": 50000,
        "answers": ["惠民券每人限领一次"],
    }
    item = engine.start("hot_event_notice", actor=both, data=notice)
    (acknowledge,) = [a for a in engine.allowed(item.id, both) if a.trigger == "acknowledge"]
    assert (acknowledge.allowed, acknowledge.rules) == (
        False,
        ("hot_event_notifier_does_not_acknowledge",),
    )
    with pytest.raises(PolicyDenied) as own:
        engine.fire(item.id, "acknowledge", actor=both, data={"note": "已确认"})
    refused(own, "hot_event_notifier_does_not_acknowledge", "CMC 9.3.2", "确认")
    assert engine.get(item.id).state == "acknowledging"

    # sent back and resubmitted by the same person: still not theirs to acknowledge
    engine.fire(item.id, "request_changes", actor=AUTHORITY, data={"reason": "补充口径"})
    engine.fire(item.id, "resubmit", actor=both, data={"answers": ["惠民券不可退款"]})
    with pytest.raises(PolicyDenied) as again:
        engine.fire(item.id, "acknowledge", actor=both, data={"note": "已确认"})
    assert again.value.rule == "hot_event_notifier_does_not_acknowledge"
    assert engine.fire(item.id, "acknowledge", actor=AUTHORITY, data={"note": "已确认"}).state == (
        "prepared"
    )


@pytest.mark.req("INS-9", "EMG-4")
@pytest.mark.enforces(
    "INS-9", element="policies/emergency.yaml#workflows.emergency_drill.distinct_actors[0]"
)
def test_ins_9_whoever_recorded_a_drill_does_not_accept_it(engine: Engine) -> None:
    both = Actor("zhu", {"operator", "authority"})
    train_staff(engine, both)
    record = {
        "plan_title": "机房断电应急预案",
        "drill_date": "2025-09-25",
        "scenario": "主机房市电中断",
        "participants": ["zhu", "ma"],
        "findings": "备用电源切换 40 秒",
    }
    drill = engine.start("emergency_drill", actor=both)
    drill = engine.fire(drill.id, "record", actor=both, data=record)
    with pytest.raises(PolicyDenied) as own:
        engine.fire(drill.id, "accept", actor=both)
    refused(own, "drill_recorder_does_not_accept", "CMC 10.2.1", "验收")
    assert engine.fire(drill.id, "accept", actor=AUTHORITY).state == "done"


# -- CMT-2: the consultation clock ends only with an answer --------------------------------------
@pytest.mark.req("CMT-2", "CMT-7")
def test_cmt_2_a_consultation_never_closes_met_without_an_answer(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    train_staff(engine, ASSISTANT)
    item = engine.start("comments", actor=ASSISTANT, data=dict(MESSAGE))
    item = engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": "consultation"})
    item = engine.fire(item.id, "ask_reader", actor=ASSISTANT, data={"question": "哪一个分馆？"})

    # closing after asking the reader used to stop the clock "met" with no answer given
    with pytest.raises(InvalidTrigger) as closing:
        engine.fire(item.id, "close", actor=ASSISTANT, data={"note": "读者未回复"})
    assert "close" in str(closing.value)
    assert engine.get(item.id).state == "waiting_for_reader"
    (view,) = [c for c in clocks.clocks(item.id) if c.state == "classify"]
    assert view.status == "paused"
    assert [a.trigger for a in engine.allowed(item.id, ASSISTANT)] == ["reader_answered", "reply"]

    # the reader does not come back: the consultation ends with an answer all the same
    clock.advance(hours=2)
    answered = engine.fire(
        item.id, "reply", actor=ASSISTANT, data={"reply": "请告知分馆名称，我们再为您查询。"}
    )
    assert answered.state == "answered"
    (view,) = [c for c in clocks.clocks(item.id) if c.state == "classify"]
    assert (view.stopped, view.status) == (True, "met")
    assert [h.trigger for h in engine.history(item.id) if h.trigger == "reply"] == ["reply"]


@pytest.mark.req("CMT-2")
def test_cmt_2_a_message_is_registered_with_the_time_it_arrived(engine: Engine) -> None:
    """A message typed in on Monday without its arrival time used to be timed from Monday;
    every channel timestamps its messages, so the time it arrived is required."""
    train_staff(engine, ASSISTANT)
    late = {k: v for k, v in MESSAGE.items() if k != "received_at"}
    with pytest.raises(FormInvalid) as missing:
        engine.start("comments", actor=ASSISTANT, data=late)
    assert [e.field for e in missing.value.errors] == ["received_at"]
    with pytest.raises(FormInvalid) as naive:
        engine.start("comments", actor=ASSISTANT, data={**late, "received_at": "2025-09-26T15:00"})
    assert [e.field for e in naive.value.errors] == ["received_at"]
    item = engine.start("comments", actor=ASSISTANT, data=dict(MESSAGE))
    assert item.data["received_at"].startswith("2025-09-26T15:00")


@pytest.mark.req("TRN-3", "FLT-3")
def test_trn_3_an_actor_of_two_posts_needs_the_training_of_one_they_act_through(
    engine: Engine,
) -> None:
    """fix is open to integrators and operators: whoever holds both acts through either,
    so one of the two records is enough; an integrator alone needs the integrator's."""
    train_staff(engine, OPERATOR, INTEGRATOR)
    register_application(engine, "app-7")
    item = engine.start("faults", actor=OPERATOR, data=dict(FAULT))
    item = engine.fire(
        item.id,
        "acknowledge",
        actor=INTEGRATOR,
        data={"responsible": "integrator", "assessment": "接口超时"},
    )
    assert item.state == "fixing"
    newcomer = Actor("wu", {"integrator"}, {"application": "app-7"})
    train(engine, newcomer.id, post="operator")  # a record of a post they do not act as
    with pytest.raises(PolicyDenied) as alone:
        engine.fire(item.id, "fix", actor=newcomer, data={"fix": "调整连接池"})
    refused(alone, "posts_trained", "wu", "Integrator")
    both = Actor("wu", {"integrator", "operator"}, {"application": "app-7"})
    fixed = engine.fire(item.id, "fix", actor=both, data={"fix": "调整连接池"})
    assert fixed.state == "analysis"
