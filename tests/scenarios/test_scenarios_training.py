"""Staff training and assessment (CMC 8.1, TRN-1..6) walked end to end on the bundled
``workflows/training.yaml`` and ``workflows/training_plan.yaml`` with the bundled policies,
through the public API and a controlled clock (Fri 2025-09-26 15:00 Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cmc_workflow import Engine, Item, PolicyDenied
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import FormInvalid, GuardRejected, NotPermitted
from cmc_workflow.reports import build_report
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, OTHER_EDITOR, POLICIES, PUBLISHING, TOPIC, ok_handler
from tests.helpers.records import HR, RECORD_WORKFLOWS, TRAINER, train

POLICY_FILES = [POLICIES / f"{name}.yaml" for name in ("roles", "publishing", "training")]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
PLAN: dict[str, Any] = {
    "post": "editor",
    "title": "编辑岗培训计划",
    "post_basics": "岗位职责、选题与审核流程、发布规范",
    "operational_skills": "采编系统、智能终端、简单故障排除",
    "operations_maintenance": "平台运营与维护",
    "trainees": [EDITOR.id, OTHER_EDITOR.id],
}
ASSIGN = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}


@pytest.fixture
def url(db_url: str) -> str:
    return db_url


@pytest.fixture
def engine_options(clocks: Clocks) -> dict[str, Any]:
    return {
        "workflows": [PUBLISHING, *RECORD_WORKFLOWS],
        "policies": POLICY_FILES,
        "handlers": {"publish_to_channels": ok_handler},
        "extensions": [clocks],
    }


def selected(engine: Engine) -> Item:
    """A topic in the library, waiting to be assigned."""
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    return engine.fire(item.id, "approve", actor=LEAD)


def record(engine: Engine, person: str, **data: Any) -> Item:
    """A training item of ``person`` taken to assessment."""
    values = {"trainee": person, "post": "editor", "course": "post_basics", "reason": "onboarding"}
    item = engine.start("training", actor=TRAINER, data={**values, **data})
    engine.fire(item.id, "begin", actor=TRAINER, data={"provider": "internal"})
    return engine.fire(item.id, "finish", actor=TRAINER, data={"hours": 16})


# -- TRN-1 a training plan per post ------------------------------------------------------------
@pytest.mark.req("TRN-1")
def test_trn_1_a_posts_plan_names_the_three_trainings_and_its_approval_starts_them(
    engine: Engine,
) -> None:
    without = {k: v for k, v in PLAN.items() if k != "operations_maintenance"}
    with pytest.raises(FormInvalid, match="operations_maintenance"):
        engine.start("training_plan", actor=TRAINER, data=without)
    plan = engine.start("training_plan", actor=TRAINER, data=dict(PLAN))
    plan = engine.fire(plan.id, "submit", actor=TRAINER)
    assert plan.state == "approval"
    with pytest.raises(NotPermitted):  # human resources approves
        engine.fire(plan.id, "approve", actor=TRAINER)
    assert engine.children(plan.id) == []
    plan = engine.fire(plan.id, "approve", actor=HR)
    assert plan.state == "in_force"
    started = {(c.data["trainee"], c.data["course"]) for c in engine.children(plan.id)}
    assert started == {
        (person, course)
        for person in (EDITOR.id, OTHER_EDITOR.id)
        for course in ("post_basics", "operational_skills", "operations_maintenance")
    }
    for child in engine.children(plan.id):
        assert (child.state, child.data["post"], child.data["reason"]) == (
            "planned",
            "editor",
            "onboarding",
        )
        assert child.parent_id == plan.id
    engine.fire(plan.id, "add_trainees", actor=TRAINER, data={"new_trainees": ["wu"]})
    assert len(engine.children(plan.id)) == 9
    # whoever drafted a plan does not approve it
    own = engine.start("training_plan", actor=HR, data=dict(PLAN))
    own = engine.fire(own.id, "submit", actor=HR)
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(own.id, "approve", actor=HR)
    assert denied.value.rule == "plan_author_does_not_approve"


# -- TRN-2 training and assessment records ------------------------------------------------------
@pytest.mark.req("TRN-2")
def test_trn_2_training_and_its_assessment_are_recorded_step_by_step(
    engine: Engine, clock: FakeClock
) -> None:
    item = record(engine, EDITOR.id)
    assert item.state == "assessment"
    with pytest.raises(FormInvalid, match="valid_until"):  # a pass says how long it counts
        engine.fire(item.id, "assess", actor=TRAINER, data={"result": "pass", "score": 88})
    with pytest.raises(GuardRejected):  # no result, no assessment
        engine.fire(item.id, "assess", actor=TRAINER, data={"score": 88})
    clock.advance(days=3)
    passed = engine.fire(
        item.id,
        "assess",
        actor=TRAINER,
        data={"result": "pass", "score": 88, "valid_until": "2026-09-30", "comment": "熟练"},
    )
    assert passed.state == "passed"
    assert passed.is_open  # the record rests while it counts
    assert {k: passed.data[k] for k in ("score", "result", "valid_until")} == {
        "score": 88,
        "result": "pass",
        "valid_until": "2026-09-30",
    }
    trail = [(h.trigger, h.actor, h.to_state) for h in engine.history(item.id)]
    assert trail == [
        (None, TRAINER.id, "planned"),
        ("begin", TRAINER.id, "training"),
        ("finish", TRAINER.id, "assessment"),
        ("assess", TRAINER.id, "passed"),
    ]
    assert engine.history(item.id)[-1].at == clock.now
    assert engine.history(item.id)[2].form == {"hours": 16}
    failed = record(engine, OTHER_EDITOR.id)
    failed = engine.fire(failed.id, "assess", actor=TRAINER, data={"result": "fail", "score": 41})
    assert (failed.state, failed.is_open, failed.data["score"]) == ("failed", False, 41)
    # nobody assesses their own training
    own = record(engine, TRAINER.id, post="trainer")
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(
            own.id,
            "assess",
            actor=TRAINER,
            data={"result": "pass", "score": 100, "valid_until": "2026-09-30"},
        )
    assert denied.value.rule == "no_self_assessment"


# -- TRN-3 nobody takes up a post without its basic training ------------------------------------
@pytest.mark.req("TRN-3")
def test_trn_3_an_editor_is_assigned_only_with_a_passed_unexpired_post_basics_record(
    engine: Engine, clock: FakeClock
) -> None:
    item = selected(engine)
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(item.id, "assign", actor=LEAD, data=ASSIGN)
    assert denied.value.rule == "assignees_trained"
    assert denied.value.reason_en.startswith("wang: no record found")
    assert "wang：无相应记录" in denied.value.reason_zh
    # a record of another course or post, or one still in training, does not count
    train(engine, EDITOR.id, course="operational_skills")
    train(engine, EDITOR.id, post="reviewer")
    record(engine, EDITOR.id)
    with pytest.raises(PolicyDenied, match="assignees_trained"):
        engine.fire(item.id, "assign", actor=LEAD, data=ASSIGN)
    # a passed record whose validity ends today counts; tomorrow it does not
    train(engine, EDITOR.id, valid_until="2025-09-27")
    assigned = engine.fire(item.id, "assign", actor=LEAD, data=ASSIGN)
    assert assigned.state == "assigned"
    clock.now = dt.datetime(2025, 9, 28, 0, 0, 1, tzinfo=SHANGHAI)  # Sunday: the 27th passed
    later = selected(engine)
    with pytest.raises(PolicyDenied, match="assignees_trained"):
        engine.fire(later.id, "assign", actor=LEAD, data=ASSIGN)
    with pytest.raises(PolicyDenied) as denied:  # nor may they take up the first one now
        engine.fire(assigned.id, "accept", actor=EDITOR)
    assert denied.value.rule == "acceptor_trained"
    train(engine, EDITOR.id)
    assert engine.fire(assigned.id, "accept", actor=EDITOR).state == "drafting"
    assert engine.fire(later.id, "assign", actor=LEAD, data=ASSIGN).state == "assigned"
    # nor is the work handed on to an untrained editor
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(later.id, "reassign", actor=LEAD, data={**ASSIGN, "assignees": ["zhou"]})
    assert denied.value.rule == "assignees_trained"
    assert denied.value.reason_en.startswith("zhou: no record found")


# -- TRN-4 re-training on a cycle and on a change -----------------------------------------------
@pytest.mark.req("TRN-4")
@pytest.mark.enforces("TRN-4", element="workflows/training.yaml#states.passed.deadline")
@pytest.mark.enforces(
    "TRN-4", element="workflows/training.yaml#states.passed.transitions[1].starts"
)
def test_trn_4_retraining_starts_on_the_cycle_and_when_skills_or_business_change(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    changed = train(engine, OTHER_EDITOR.id, course="operational_skills")
    # a change of skills retires a record at once and starts a new one
    with pytest.raises(FormInvalid, match="change"):
        engine.fire(changed.id, "change_skills", actor=TRAINER)
    gone = engine.fire(changed.id, "change_skills", actor=HR, data={"change": "新采编系统上线"})
    assert gone.state == "superseded"
    (new,) = engine.children(changed.id)
    assert (new.data["course"], new.data["reason"]) == ("operational_skills", "skills_change")
    # the cycle: 12 months on (Mon 2026-09-28 17:30, the 26th being a Saturday), the record
    # expires; its fire step is judged at its own due time, so the clock is met
    cycled = train(engine, EDITOR.id, valid_until="2026-12-31")
    clock.now = dt.datetime(2026, 9, 28, 18, 0, tzinfo=SHANGHAI)
    engine.run_due()
    expired = engine.get(cycled.id)
    assert (expired.state, expired.is_open) == ("expired", False)
    last = engine.history(cycled.id)[-1]
    assert (last.kind, last.trigger, last.actor) == ("timer", "cycle_due", "system")
    cycle = [c for c in clocks.clocks(cycled.id) if c.state == "passed"]
    assert [(c.status, c.breached_at) for c in cycle] == [("met", None)]  # not a breach
    (again,) = engine.children(cycled.id)
    assert (again.state, again.data) == (
        "planned",
        {"trainee": EDITOR.id, "post": "editor", "course": "post_basics", "reason": "cycle"},
    )
    item = selected(engine)  # the expired record no longer counts, its date notwithstanding
    with pytest.raises(PolicyDenied, match="assignees_trained"):  # a due date not yet passed
        engine.fire(item.id, "assign", actor=LEAD, data={**ASSIGN, "due_date": "2026-10-10"})
    # a change on the plan re-trains the post's current staff in the course concerned
    plan = engine.start("training_plan", actor=TRAINER, data=dict(PLAN))
    plan = engine.fire(engine.fire(plan.id, "submit", actor=TRAINER).id, "approve", actor=HR)
    before = len(engine.children(plan.id))
    engine.fire(
        plan.id,
        "change",
        actor=TRAINER,
        data={"course": "post_basics", "change": "发布规范修订", "trainees": ["wang", "wu"]},
    )
    retrained = engine.children(plan.id)[before:]
    assert [(c.data["trainee"], c.data["course"], c.data["reason"]) for c in retrained] == [
        ("wang", "post_basics", "skills_change"),
        ("wu", "post_basics", "skills_change"),
    ]
    assert engine.get(plan.id).data["trainees"] == ["wang", "wu"]


# -- TRN-5 certified staff against the 50% floor ------------------------------------------------
def certified_ratio(engine: Engine, now: dt.datetime) -> tuple[int, int]:
    """(certified, staff) as the report's TRN-5 section counts them."""
    (figure,) = build_report(engine, sections=["certification"], now=now).certification
    return figure.certified, figure.staff


@pytest.mark.req("TRN-5")
def test_trn_5_the_records_say_who_holds_a_valid_certificate(
    engine: Engine, url: str, clock: FakeClock
) -> None:
    train(engine, "wang", certificate="出版专业技术人员职业资格（初级）")
    train(engine, "wang", course="operational_skills")  # one person, counted once
    train(engine, "qian", certificate="网络编辑员（四级）", valid_until="2027-06-30")
    train(engine, "zhou")  # passed, but no certificate
    li = train(engine, "li", certificate="网络编辑员（四级）", valid_until="2025-09-30")
    record(engine, "zhao", certificate="计算机等级证书（二级）")  # held, but not yet passed
    assert certified_ratio(engine, clock.now) == (3, 5)  # wang, qian, li: 60% meets the floor
    clock.now = dt.datetime(2025, 10, 1, 9, 0, tzinfo=SHANGHAI)  # li's certificate lapsed
    assert certified_ratio(engine, clock.now) == (2, 5)  # 40%: below the 50% floor
    gained = record(engine, "zhou", course="operational_skills")
    engine.fire(
        gained.id,
        "assess",
        actor=TRAINER,
        data={
            "result": "pass",
            "score": 92,
            "valid_until": "2027-09-30",
            "certificate": "智能终端操作员（中级）",
        },
    )
    assert certified_ratio(engine, clock.now) == (3, 5)  # certificate gained at assessment
    engine.fire(li.id, "leave_post", actor=HR, data={"leave_reason": "调离"})
    assert certified_ratio(engine, clock.now) == (3, 4)  # li (lapsed) left: no longer staff


# -- TRN-6 assessment results feed the staff evaluation -----------------------------------------
@pytest.mark.req("TRN-6")
def test_trn_6_every_assessment_result_reaches_the_staff_evaluation(engine: Engine) -> None:
    passed = train(engine, EDITOR.id, score=86)
    failed = record(engine, OTHER_EDITOR.id)
    failed = engine.fire(failed.id, "assess", actor=TRAINER, data={"result": "fail", "score": 52})
    for item, result, score in [(passed, "pass", 86), (failed, "fail", 52)]:
        assert (item.data["result"], item.data["score"]) == (result, score)
        assessment = engine.history(item.id)[-1]
        assert (assessment.trigger, assessment.form["score"]) == ("assess", score)
        notes = [(o.kind, o.name) for o in engine.outbox(item.id)]
        assert ("notify", "hr") in notes  # human resources keeps the evaluation
