"""Scenarios of risk emergency plans, drills and hot-event notices (CMC 9.3, 10.2): EMG-1..4
and the emergency drill (INS-9).

Each test walks one clause end to end through the public API, on the bundled
``workflows/emergency_plans.yaml``, ``workflows/hot_event_notice.yaml`` and
``workflows/inspections/ins_09_emergency_drill.yaml`` with the bundled policies
(``policies/roles.yaml``, ``policies/emergency.yaml``), on SQLite and PostgreSQL, with the
FakeClock of ``cmc_workflow.testing`` (Fri 2025-09-26 15:00 Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.errors import FormInvalid, GuardRejected, NotPermitted
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS

PLANS = WORKFLOWS / "emergency_plans.yaml"
HOT_EVENTS = WORKFLOWS / "hot_event_notice.yaml"
DRILL = WORKFLOWS / "inspections" / "ins_09_emergency_drill.yaml"
POLICY_FILES = [POLICIES / "roles.yaml", POLICIES / "emergency.yaml"]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

OPERATOR = Actor("li", {"operator"})
AUTHORITY = Actor("gao", {"authority"})
INTEGRATOR = Actor("chen", {"integrator"}, {"application": "app-7"})
OTHER_INTEGRATOR = Actor("wu", {"integrator"}, {"application": "app-9"})

PLAN: dict[str, Any] = {
    "title": "预约系统宕机应急预案",
    "organization": "运营方值班经理任总指挥，接入方技术负责人任现场负责人",
    "resources": "备用服务器两台，7×24 值班电话",
    "risk_identification": "数据库故障、网络中断、流量突增",
    "risk_assessment": "预约中断影响当日全部到馆读者，等级：重大",
    "prevention": "每日巡检，月度容量评估",
    "response": "30 分钟内切换备用系统并公告，2 小时内恢复",
}
PARTS = [
    "organization",
    "resources",
    "risk_identification",
    "risk_assessment",
    "prevention",
    "response",
]
RECORD: dict[str, Any] = {
    "drill_date": "2026-04-10",
    "scenario": "数据库主库宕机",
    "participants": ["li", "chen", "zhou"],
    "findings": "切换用时 25 分钟，公告模板需更新",
}
NOTICE: dict[str, Any] = {
    "application": "app-7",
    "event": "国庆文化惠民政策发布",
    "expected_at": "2025-09-30T09:00+08:00",
    "expected_volume": 50000,
    "answers": ["惠民券每人限领一次", "预约开放时间为每日 9:00"],
}


def open_engine(url: str, clock: FakeClock, plans: Path = PLANS) -> Engine:
    return Engine.open(
        url, workflows=[plans, HOT_EVENTS, DRILL], policies=POLICY_FILES, clock=clock
    )


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with open_engine(db_url, clock) as opened:
        yield opened


def notified(engine: Engine, item_id: int) -> list[tuple[str, str]]:
    """The notifications queued for an item: (role, the state it reached), in order."""
    return [(r.name, r.payload["state"]) for r in engine.outbox(item_id) if r.kind == "notify"]


def submitted(engine: Engine) -> Item:
    item = engine.start("emergency_plans", actor=OPERATOR, data=PLAN)
    return engine.fire(item.id, "submit", actor=OPERATOR)


def in_force(engine: Engine) -> Item:
    item = submitted(engine)
    return engine.fire(item.id, "approve", actor=AUTHORITY, data={"opinion": "同意实施"})


@pytest.mark.req("EMG-1")
@pytest.mark.enforces("EMG-1", element="workflows/emergency_plans.yaml#data.risk_assessment")
@pytest.mark.enforces("EMG-1", element="workflows/emergency_plans.yaml#data.response")
def test_emg_1_the_operator_drafts_a_plan_with_every_part(engine: Engine) -> None:
    with pytest.raises(FormInvalid) as incomplete:
        engine.start("emergency_plans", actor=OPERATOR, data={"title": PLAN["title"]})
    assert [e.field for e in incomplete.value.errors] == PARTS
    with pytest.raises(FormInvalid) as blank:
        engine.start("emergency_plans", actor=OPERATOR, data={**PLAN, "prevention": ""})
    assert [e.field for e in blank.value.errors] == ["prevention"]
    with pytest.raises(NotPermitted):
        engine.start("emergency_plans", actor=AUTHORITY, data=PLAN)

    item = engine.start("emergency_plans", actor=OPERATOR, data=PLAN)
    assert item.state == "drafting"
    item = engine.fire(
        item.id,
        "edit",
        actor=OPERATOR,
        data={"response": "15 分钟内切换备用系统", "fallback": "启用纸质登记"},
    )
    assert item.data["response"] == "15 分钟内切换备用系统"
    with pytest.raises(FormInvalid) as blanked:  # an edit cannot empty a required part
        engine.fire(item.id, "edit", actor=OPERATOR, data={"organization": ""})
    assert [e.field for e in blanked.value.errors] == ["organization"]
    assert {k: item.data[k] for k in PARTS} == {
        **{k: PLAN[k] for k in PARTS},
        "response": "15 分钟内切换备用系统",
    }


@pytest.mark.req("EMG-2")
@pytest.mark.enforces(
    "EMG-2", element="policies/emergency.yaml#workflows.emergency_plans.permissions"
)
def test_emg_2_only_the_authority_puts_a_plan_in_force(engine: Engine) -> None:
    item = submitted(engine)
    assert item.state == "review"
    assert notified(engine, item.id) == [("authority", "review")]

    with pytest.raises(NotPermitted) as refused:
        engine.fire(item.id, "approve", actor=OPERATOR)
    assert "authority" in str(refused.value)
    approve = next(a for a in engine.allowed(item.id, OPERATOR) if a.trigger == "approve")
    assert (approve.allowed, approve.rules) == (False, ("NotPermitted",))
    last = engine.audit_trail(item.id)[-1]
    assert (last["actor"], last["outcome"], last["rule"]) == (
        OPERATOR.id,
        "refused",
        "NotPermitted",
    )
    assert engine.get(item.id).state == "review"

    with pytest.raises(FormInvalid):  # a rejection gives its reason
        engine.fire(item.id, "reject", actor=AUTHORITY, data={})
    item = engine.fire(
        item.id, "reject", actor=AUTHORITY, data={"reason": "缺少与接入方的联络机制"}
    )
    assert item.state == "drafting"
    assert notified(engine, item.id)[-1] == ("operator", "drafting")
    assert engine.history(item.id)[-1].form == {"reason": "缺少与接入方的联络机制"}

    item = engine.fire(
        item.id,
        "edit",
        actor=OPERATOR,
        data={"organization": PLAN["organization"] + "；联络表见附件"},
    )
    item = engine.fire(item.id, "submit", actor=OPERATOR, data={"note": "已补充联络机制"})
    item = engine.fire(item.id, "approve", actor=AUTHORITY, data={"opinion": "同意实施"})
    assert item.state == "in_force"
    assert notified(engine, item.id)[-1] == ("operator", "in_force")
    approvals = [h for h in engine.history(item.id) if h.trigger == "approve"]
    assert [(h.actor, h.roles) for h in approvals] == [(AUTHORITY.id, ("authority",))]


@pytest.mark.req("EMG-2")
def test_emg_2_the_approval_stays_with_the_authority_when_the_workflow_grows(
    tmp_path: Path, clock: FakeClock
) -> None:
    """policies/emergency.yaml pins approve/reject to the authority: a workflow file that
    lets the operator approve too still refuses the operator, naming the rule."""
    text = PLANS.read_text(encoding="utf-8")
    widened = text.replace(
        "        target: in_force\n        roles: [authority]\n",
        "        target: in_force\n        roles: [authority, operator]\n",
    )
    assert widened != text
    (tmp_path / "emergency_plans.yaml").write_text(widened, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    with open_engine(url, clock, tmp_path / "emergency_plans.yaml") as engine:
        item = submitted(engine)
        with pytest.raises(PolicyDenied) as refused:
            engine.fire(item.id, "approve", actor=OPERATOR)
        assert refused.value.rule == "permissions"
        assert engine.fire(item.id, "approve", actor=AUTHORITY).state == "in_force"


@pytest.mark.req("EMG-2")
def test_emg_2_a_revised_plan_is_approved_again_and_a_plan_can_be_retired(
    engine: Engine,
) -> None:
    item = in_force(engine)
    item = engine.fire(item.id, "revise", actor=OPERATOR, data={"reason": "组织机构调整"})
    assert item.state == "drafting"
    assert notified(engine, item.id)[-1] == ("authority", "drafting")
    item = engine.fire(item.id, "submit", actor=OPERATOR)
    with pytest.raises(NotPermitted):
        engine.fire(item.id, "approve", actor=OPERATOR)
    item = engine.fire(item.id, "approve", actor=AUTHORITY)
    assert item.state == "in_force"
    item = engine.fire(item.id, "retire", actor=AUTHORITY, data={"reason": "系统下线"})
    assert (item.state, item.is_open) == ("retired", False)


@pytest.mark.req("EMG-3", "SEC-5")
@pytest.mark.enforces(
    "EMG-3", element="policies/emergency.yaml#workflows.hot_event_notice.forbid_data[0]"
)
def test_emg_3_an_integrator_notifies_a_hot_event_in_advance_with_prepared_answers(
    engine: Engine, clock: FakeClock
) -> None:
    with pytest.raises(FormInvalid) as unprepared:
        engine.start("hot_event_notice", actor=INTEGRATOR, data={**NOTICE, "answers": []})
    assert [e.field for e in unprepared.value.errors] == ["answers"]
    with pytest.raises(PolicyDenied) as late:
        engine.start(
            "hot_event_notice",
            actor=INTEGRATOR,
            data={**NOTICE, "expected_at": "2025-09-26T09:00+08:00"},  # this morning
        )
    assert late.value.rule == "hot_event_notified_in_advance"
    with pytest.raises(NotPermitted):
        engine.start("hot_event_notice", actor=OPERATOR, data=NOTICE)

    item = engine.start("hot_event_notice", actor=INTEGRATOR, data=NOTICE)
    assert item.state == "acknowledging"
    assert notified(engine, item.id) == [
        ("authority", "acknowledging"),
        ("operator", "acknowledging"),
    ]
    with pytest.raises(NotPermitted):
        engine.fire(item.id, "acknowledge", actor=OPERATOR)

    item = engine.fire(
        item.id, "request_changes", actor=AUTHORITY, data={"reason": "补充退款问题口径"}
    )
    assert item.state == "revising"
    with pytest.raises(PolicyDenied) as foreign:
        engine.fire(item.id, "resubmit", actor=OTHER_INTEGRATOR, data={"answers": ["x"]})
    assert foreign.value.rule == "integrators_own_applications"
    answers = [*NOTICE["answers"], "惠民券不可退款"]
    item = engine.fire(item.id, "resubmit", actor=INTEGRATOR, data={"answers": answers})
    assert item.state == "acknowledging"

    # not acknowledged by half a working day (Mon 09:45 after a Sunday of 调休): reminded
    clock.now = dt.datetime(2025, 9, 28, 12, 0, tzinfo=SHANGHAI)
    engine.run_due()
    assert notified(engine, item.id)[-1] == ("authority", "acknowledging")
    item = engine.fire(item.id, "acknowledge", actor=AUTHORITY, data={"note": "已通知运维扩容"})
    assert item.state == "prepared"
    assert notified(engine, item.id)[-2:] == [("integrator", "prepared"), ("operator", "prepared")]
    assert item.data["answers"] == answers

    clock.now = dt.datetime(2025, 10, 1, 10, 0, tzinfo=SHANGHAI)  # after the event
    item = engine.fire(item.id, "close", actor=INTEGRATOR, data={"actual_volume": 62000})
    assert item.state == "closed"


@pytest.mark.req("EMG-4", "INS-9")
@pytest.mark.enforces("EMG-4", element="workflows/emergency_plans.yaml#states.in_force.deadline")
def test_emg_4_a_plan_in_force_opens_a_drill_after_six_months(
    engine: Engine, clock: FakeClock
) -> None:
    plan = in_force(engine)  # Fri 2025-09-26 15:00
    visit = plan.visit

    clock.now = dt.datetime(2026, 3, 20, 10, 0, tzinfo=SHANGHAI)  # not yet 6 months
    engine.run_due()
    assert engine.children(plan.id) == []

    clock.now = dt.datetime(2026, 3, 27, 10, 0, tzinfo=SHANGHAI)  # 6 months and a day on
    engine.run_due()
    (drill,) = engine.children(plan.id)
    assert (drill.workflow, drill.state, drill.parent_id, drill.created_by) == (
        "emergency_drill",
        "planned",
        plan.id,
        "system",
    )
    assert dict(drill.data) == {"plan": plan.id, "plan_title": PLAN["title"]}
    plan = engine.get(plan.id)
    assert (plan.state, plan.visit > visit) == ("in_force", True)
    fired = [h for h in engine.history(plan.id) if h.kind == "timer"]
    assert [(h.trigger, h.actor) for h in fired] == [("schedule_drill", "system")]
    assert notified(engine, plan.id)[-1] == ("operator", "in_force")

    # the drill is held and recorded (INS-9)
    with pytest.raises(FormInvalid) as unrecorded:
        engine.fire(
            drill.id,
            "record",
            actor=OPERATOR,
            data={"drill_date": "2026-04-10", "scenario": "数据库主库宕机"},
        )
    assert [e.field for e in unrecorded.value.errors] == ["participants", "findings"]
    drill = engine.fire(drill.id, "record", actor=OPERATOR, data=RECORD)
    assert drill.state == "review"
    assert notified(engine, drill.id) == [("authority", "review")]
    assert engine.fire(drill.id, "accept", actor=AUTHORITY).state == "done"

    # a retired plan drills no more
    engine.fire(plan.id, "retire", actor=OPERATOR, data={"reason": "系统下线"})
    clock.now = dt.datetime(2027, 4, 1, 10, 0, tzinfo=SHANGHAI)
    engine.run_due()
    assert len(engine.children(plan.id)) == 1


@pytest.mark.req("EMG-4", "INS-9")
def test_emg_4_each_drill_opened_starts_the_next_six_month_cycle(
    engine: Engine, clock: FakeClock
) -> None:
    plan = in_force(engine)  # Fri 2025-09-26 15:00
    clock.now = dt.datetime(2026, 3, 27, 10, 0, tzinfo=SHANGHAI)  # the first drill
    engine.run_due()
    assert len(engine.children(plan.id)) == 1

    # 7 months after the plan came in force, the new cycle is not overdue
    clock.now = dt.datetime(2026, 4, 28, 10, 0, tzinfo=SHANGHAI)
    engine.run_due()
    rules = {r["rule"] for r in engine.audit_trail(plan.id)}
    assert "deadline:in_force:breach" not in rules
    assert ("authority", "in_force") not in notified(engine, plan.id)

    # six months after the first drill was opened (Sun 09-27, so Mon 09-28), the next one
    clock.now = dt.datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI)
    engine.run_due()
    assert len(engine.children(plan.id)) == 1
    clock.now = dt.datetime(2026, 9, 29, 10, 0, tzinfo=SHANGHAI)
    engine.run_due()
    assert [d.state for d in engine.children(plan.id)] == ["planned", "planned"]

    # a drill opened by hand restarts the cycle as well
    clock.now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    plan = engine.fire(plan.id, "schedule_drill", actor=OPERATOR)
    clock.now = dt.datetime(2027, 4, 6, 10, 0, tzinfo=SHANGHAI)  # past the old cycle's end
    engine.run_due()
    assert len(engine.children(plan.id)) == 3
    clock.now = dt.datetime(2027, 6, 2, 10, 0, tzinfo=SHANGHAI)  # 6 months after the hand
    engine.run_due()
    assert len(engine.children(plan.id)) == 4


@pytest.mark.req("INS-9", "EMG-4")
def test_ins_9_a_drill_is_recorded_with_its_plan_and_reviewed_by_the_authority(
    engine: Engine, clock: FakeClock
) -> None:
    plan = in_force(engine)
    clock.advance(days=30)
    plan = engine.fire(plan.id, "schedule_drill", actor=OPERATOR)  # a drill now, by hand
    assert plan.state == "in_force"
    (linked,) = engine.children(plan.id)
    assert (linked.created_by, linked.data["plan"]) == (OPERATOR.id, plan.id)
    with pytest.raises(NotPermitted):
        engine.fire(plan.id, "schedule_drill", actor=AUTHORITY)

    # a drill opened without a plan names the plan in its record
    drill = engine.start("emergency_drill", actor=OPERATOR)
    with pytest.raises(GuardRejected):
        engine.fire(drill.id, "record", actor=OPERATOR, data=RECORD)
    drill = engine.fire(
        drill.id, "record", actor=OPERATOR, data={**RECORD, "plan_title": "机房断电应急预案"}
    )
    with pytest.raises(NotPermitted):
        engine.fire(drill.id, "accept", actor=OPERATOR)
    drill = engine.fire(drill.id, "redo", actor=AUTHORITY, data={"reason": "参演人员不足"})
    assert drill.state == "planned"

    # not held within the month: the authority is alerted
    clock.advance(days=32)
    engine.run_due()
    assert ("authority", "planned") in notified(engine, drill.id)
    drill = engine.fire(
        drill.id, "record", actor=OPERATOR, data={**RECORD, "participants": ["li", "zhou", "chen"]}
    )
    assert engine.fire(drill.id, "accept", actor=AUTHORITY).state == "done"
    assert [h.trigger for h in engine.history(drill.id) if h.kind == "fire"] == [
        "record",
        "redo",
        "record",
        "accept",
    ]
    assert engine.history(drill.id)[-2].form["participants"] == ["li", "zhou", "chen"]
