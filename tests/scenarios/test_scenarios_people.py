"""People and plans (issue 13): the assessment record (TRN-2), periodic training of the
operations staff (TRN-7), the appraisal cycle and its incentive plan (STF-4) fed by the
training results (TRN-6), and the public-health emergency plan and outreach (EMG-5).

Each test walks its clause through the public API on the bundled definitions
(``workflows/``, ``policies/``, ``workflows/schedules.yaml``), with the FakeClock at
Fri 2025-09-26 15:00 Asia/Shanghai; the schedule tests drive the engine as the daemon does
(``Engine.run_due()`` at chosen instants). Each test marked ``enforces`` fails when its
element is removed (``cmc-workflow compliance --knockout --only ID``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition import load_paths
from cmc_workflow.errors import FormInvalid, GuardRejected, InvalidTrigger
from cmc_workflow.reports import build_report
from cmc_workflow.schedules import Schedules
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS
from tests.helpers.records import HR, TRAINER, train, train_staff

SH = ZoneInfo("Asia/Shanghai")
OPERATOR = Actor("lin", {"operator"})  # not HR (ma)
AUTHORITY = Actor("gao", {"authority"})
MANAGER = Actor("sun", {"ops_manager"})
ASSISTANT = Actor("xu", {"ops_assistant"})
OTHER_MANAGER = Actor("qian", {"ops_manager"})
SUBJECTS = ["government_service", "quality", "security", "confidentiality"]
PLAN: dict[str, Any] = {
    "title": "突发公共卫生事件防控预案",
    "organization": "馆长任组长，运营方值班经理负责对外告知",
    "resources": "消毒物资、体温检测设备、公告屏与自媒体账号",
    "risk_identification": "传染病疫情、聚集性活动",
    "risk_assessment": "人员密集区域风险高",
    "prevention": "限流、预约入馆、日常消毒",
    "response": "按卫生部门要求闭馆或限流，公告、电话、自媒体同步告知",
    "plan_type": "public_health",
}


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


class Bundle:
    """One engine on every bundled definition for the whole module, with the SLA clocks;
    each schedule test drives one bundled schedule of its own (a schedule counts from the
    moment a database first sees it) and the scenarios start their own items."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        calendar = WorkingCalendar()
        loaded = load_paths([WORKFLOWS, POLICIES])
        assert not loaded.problems, loaded.problems
        self.bundled = {s.id: s for s in Schedules.from_loaded(loaded, calendar).schedules}
        self.schedule: str | None = None
        self.schedules = Schedules([], calendar)
        self.clock = clock
        self.engine = Engine.open(
            url,
            workflows=WORKFLOWS,
            policies=POLICIES,
            clock=clock,
            calendar=calendar,
            extensions=[self.schedules, Clocks(calendar)],
        )
        train_staff(self.engine, OPERATOR, MANAGER, ASSISTANT, OTHER_MANAGER)

    def drive(self, schedule: str) -> Bundle:
        """Run only ``schedule`` from now on (seen first at the clock's instant)."""
        self.schedule = schedule
        self.schedules.replace([self.bundled[schedule]])
        assert self.at(self.clock.now) == []
        return self

    def at(self, when: dt.datetime) -> list[Item]:
        """Run the engine at ``when``: the items the schedule started so far."""
        self.clock.now = when
        self.engine.run_due()
        assert self.schedule is not None
        runs = sorted(self.schedules.runs(self.schedule), key=lambda r: r.due_at)
        return [self.engine.get(r.item_id) for r in runs if r.item_id is not None]

    def notified(self, item_id: int) -> list[str]:
        return [r.name for r in self.engine.outbox(item_id) if r.kind == "notify"]


@pytest.fixture(scope="module")
def shared(module_db_url: str) -> Iterator[Bundle]:
    made = Bundle(module_db_url, FakeClock(local(2025, 9, 26, 15, 0)))
    with made.engine:
        yield made


@pytest.fixture
def bundle(shared: Bundle) -> Bundle:
    shared.clock.now = local(2025, 9, 26, 15, 0)
    shared.schedule = None
    shared.schedules.replace([])
    return shared


# -- TRN-2 training and assessment records live in the system ---------------------------------
@pytest.mark.req("TRN-2")
@pytest.mark.enforces(
    "TRN-2", element="workflows/training.yaml#states.assessment.transitions[0].form.score"
)
@pytest.mark.enforces(
    "TRN-2", element="workflows/training.yaml#states.assessment.transitions[1].form.score"
)
def test_trn_2_no_training_passes_or_fails_without_its_scored_assessment(bundle: Bundle) -> None:
    engine = bundle.engine
    item = engine.start(
        "training",
        actor=TRAINER,
        data={"trainee": "wu", "post": "editor", "course": "post_basics", "reason": "onboarding"},
    )
    with pytest.raises(InvalidTrigger):  # no way to the result but through the assessment
        engine.fire(item.id, "assess", actor=TRAINER, data={"result": "pass", "score": 90})
    engine.fire(item.id, "begin", actor=TRAINER)
    engine.fire(item.id, "finish", actor=TRAINER, data={"hours": 8})
    for result in ("pass", "fail"):
        form = {"result": result, "valid_until": "2026-09-30"} if result == "pass" else {}
        with pytest.raises(FormInvalid) as unscored:
            engine.fire(item.id, "assess", actor=TRAINER, data={"result": result, **form})
        assert [e.field for e in unscored.value.errors] == ["score"]
    assert engine.get(item.id).state == "assessment"
    done = engine.fire(item.id, "assess", actor=TRAINER, data={"result": "fail", "score": 52})
    assert (done.state, done.data["score"], done.data["result"]) == ("failed", 52, "fail")
    # a trainer's own record typed as a look-alike id is still their own (no self-assessment)
    own = engine.start(
        "training",
        actor=TRAINER,
        data={"trainee": "ＨＵ ", "post": "trainer", "course": "post_basics", "reason": "cycle"},
    )
    engine.fire(own.id, "begin", actor=TRAINER)
    engine.fire(own.id, "finish", actor=TRAINER)
    with pytest.raises(PolicyDenied) as self_assessed:
        engine.fire(own.id, "assess", actor=TRAINER, data={"result": "fail", "score": 10})
    assert self_assessed.value.rule == "no_self_assessment"


# -- TRN-7 periodic training of the operations staff -----------------------------------------
@pytest.mark.req("TRN-7")
@pytest.mark.enforces(
    "TRN-7", element="workflows/schedules.yaml#schedules.trn_07_periodic_training"
)
def test_trn_7_the_periodic_training_is_started_every_three_months(
    bundle: Bundle,
) -> None:
    bundle.drive("trn_07_periodic_training")
    assert bundle.at(local(2025, 10, 6, 9, 29)) == []
    items = bundle.at(local(2025, 10, 6, 9, 30, 5))
    assert [(i.workflow, i.state, i.data["scheduled_for"]) for i in items] == [
        ("periodic_training", "scheduled", "2025-10-06T09:30:00+08:00")
    ]
    items = bundle.at(local(2026, 1, 6, 9, 30, 5))
    assert len(items) == 2
    # not held within its month: the operations manager hears of it
    assert "ops_manager" in bundle.notified(items[0].id)


def held(**form: Any) -> dict[str, Any]:
    return {
        "held_on": "2025-09-26",
        "topics": SUBJECTS,
        "attendees": [OPERATOR.id, ASSISTANT.id],
        "hours": 4,
        **form,
    }


@pytest.mark.req("TRN-7")
@pytest.mark.enforces(
    "TRN-7", element="workflows/periodic_training.yaml#states.scheduled.transitions[0].guard"
)
@pytest.mark.enforces(
    "TRN-7",
    element="workflows/periodic_training.yaml#states.scheduled.transitions[0].form.attendees",
)
@pytest.mark.enforces(
    "TRN-7", element="workflows/periodic_training.yaml#states.scheduled.transitions[0].starts"
)
def test_trn_7_a_session_covers_the_four_subjects_records_attendance_and_absentees_catch_up(
    bundle: Bundle,
) -> None:
    engine = bundle.engine
    session = engine.start("periodic_training", actor=TRAINER, data={})
    with pytest.raises(GuardRejected):  # confidentiality left out
        engine.fire(session.id, "hold", actor=TRAINER, data=held(topics=SUBJECTS[:3] * 2))
    with pytest.raises(FormInvalid) as nobody:  # no attendance, no session
        engine.fire(session.id, "hold", actor=TRAINER, data=held(attendees=None))
    assert [e.field for e in nobody.value.errors] == ["attendees"]
    with pytest.raises(GuardRejected):  # a periodic session is held, never dropped
        engine.fire(session.id, "cancel", actor=MANAGER, data={"reason": "忙"})
    done = engine.fire(session.id, "hold", actor=TRAINER, data=held(absentees=["zhao"]))
    assert done.state == "held"
    assert done.data["attendees"] == [OPERATOR.id, ASSISTANT.id]
    [catch_up] = engine.children(session.id)
    assert (catch_up.workflow, catch_up.state, catch_up.data["catch_up_for"]) == (
        "periodic_training",
        "scheduled",
        "zhao",
    )
    with pytest.raises(GuardRejected):  # a catch-up is held with its person
        engine.fire(catch_up.id, "hold", actor=TRAINER, data=held())
    caught = engine.fire(catch_up.id, "hold", actor=TRAINER, data=held(attendees=["zhao"]))
    assert caught.state == "held"


# -- EMG-5 the public-health plan and the outreach ---------------------------------------------
def public_health_plan(engine: Engine) -> Item:
    plan = engine.start("emergency_plans", actor=OPERATOR, data=dict(PLAN))
    engine.fire(plan.id, "submit", actor=OPERATOR)
    return engine.fire(plan.id, "approve", actor=AUTHORITY, data={"opinion": "同意"})


@pytest.mark.req("EMG-5")
@pytest.mark.enforces(
    "EMG-5", element="workflows/schedules.yaml#schedules.emg_05_public_health_plan_check"
)
@pytest.mark.enforces(
    "EMG-5",
    element="policies/public_health.yaml#workflows.public_health_plan_check.requires_record[0]",
)
def test_emg_5_the_quarterly_check_stays_open_until_a_public_health_plan_is_in_force(
    bundle: Bundle,
) -> None:
    engine = bundle.drive("emg_05_public_health_plan_check").engine
    [check] = bundle.at(local(2025, 10, 8, 10, 0, 5))
    assert (check.workflow, check.data["plan_type"]) == (
        "public_health_plan_check",
        "public_health",
    )
    general = engine.start("emergency_plans", actor=OPERATOR, data={**PLAN, "plan_type": "general"})
    engine.fire(general.id, "submit", actor=OPERATOR)
    engine.fire(general.id, "approve", actor=AUTHORITY)
    with pytest.raises(PolicyDenied) as none:  # a general plan is not the public-health plan
        engine.fire(check.id, "confirm", actor=OPERATOR)
    assert none.value.rule == "public_health_plan_in_force"
    check = engine.fire(check.id, "report_missing", actor=OPERATOR, data={"note": "尚未制定"})
    assert check.state == "plan_missing"
    assert {"authority", "ops_manager"} <= set(bundle.notified(check.id))
    with pytest.raises(PolicyDenied):
        engine.fire(check.id, "resolve", actor=OPERATOR)
    drafted = engine.start("emergency_plans", actor=OPERATOR, data=dict(PLAN))
    engine.fire(drafted.id, "submit", actor=OPERATOR)
    with pytest.raises(PolicyDenied):  # submitted is not approved
        engine.fire(check.id, "resolve", actor=OPERATOR)
    engine.fire(drafted.id, "approve", actor=AUTHORITY)
    assert engine.fire(check.id, "resolve", actor=OPERATOR).state == "done"
    # the next quarter's check is confirmed at once
    [_, again] = bundle.at(local(2026, 1, 8, 10, 0, 5))
    assert engine.fire(again.id, "confirm", actor=OPERATOR).state == "done"


@pytest.mark.req("EMG-5")
@pytest.mark.enforces(
    "EMG-5", element="workflows/public_health_outreach.yaml#states.declared.transitions[0].starts"
)
@pytest.mark.enforces(
    "EMG-5",
    element="workflows/public_health_outreach.yaml#states.outreach.transitions[0].children_closed",
)
def test_emg_5_a_declared_emergency_opens_notices_phone_and_self_media_tracked_to_the_end(
    bundle: Bundle,
) -> None:
    engine = bundle.engine
    public_health_plan(engine)
    outreach = engine.start(
        "public_health_outreach",
        actor=OPERATOR,
        data={"event": "流感聚集性疫情", "declared_on": "2025-09-26"},
    )
    assert outreach.state == "outreach"
    assert {"ops_manager", "authority"} <= set(bundle.notified(outreach.id))
    tasks = {t.data["means"]: t for t in engine.children(outreach.id)}
    assert sorted(tasks) == ["notice", "phone", "self_media"]
    lift = {"lifted_on": "2025-10-20", "summary": "告知完成"}
    for means, task in tasks.items():
        with pytest.raises(GuardRejected):  # one means still open
            engine.fire(outreach.id, "lift", actor=OPERATOR, data=lift)
        engine.fire(task.id, "record", actor=ASSISTANT, data={"what": f"{means} 第一次告知"})
        engine.fire(task.id, "complete", actor=MANAGER, data={"summary": "完成", "reached": 300})
    assert [h.trigger for h in engine.history(tasks["phone"].id)] == [None, "record", "complete"]
    assert engine.fire(outreach.id, "lift", actor=OPERATOR, data=lift).state == "closed"


# -- STF-4 appraisal on a cycle with an incentive plan; TRN-6 fed by the assessments -----------
OPENING: dict[str, Any] = {
    "period_from": "2025-04-01",
    "period_to": "2025-09-30",
    "incentive_plan": "优秀：绩效奖励并优先推荐培训；不合格：约谈并安排补训",
}
SCORE: dict[str, Any] = {
    "work_done": 42,
    "sla_kept": 97.5,
    "training_score": 90,
    "total": 91,
    "grade": "excellent",
    "incentive": "绩效奖励",
}


@pytest.mark.req("STF-4")
@pytest.mark.enforces("STF-4", element="workflows/schedules.yaml#schedules.stf_04_staff_appraisal")
@pytest.mark.enforces(
    "STF-4",
    element="workflows/staff_appraisal_cycle.yaml#states.appraising.transitions[0].children_closed",
)
def test_stf_4_every_six_months_each_person_is_appraised_under_the_incentive_plan(
    bundle: Bundle,
) -> None:
    engine = bundle.drive("stf_04_staff_appraisal").engine
    assert bundle.at(local(2026, 1, 10, 8, 59)) == []
    [cycle] = bundle.at(local(2026, 1, 10, 9, 0, 5))
    assert (cycle.workflow, cycle.state) == ("staff_appraisal_cycle", "planning")
    with pytest.raises(FormInvalid) as planless:
        engine.fire(
            cycle.id, "open", actor=HR, data={**OPENING, "incentive_plan": "", "staff": ["x"]}
        )
    assert [e.field for e in planless.value.errors] == ["incentive_plan"]
    cycle = engine.fire(
        cycle.id, "open", actor=HR, data={**OPENING, "staff": [ASSISTANT.id, OPERATOR.id]}
    )
    appraisals = {a.data["appraisee"]: a for a in engine.children(cycle.id)}
    assert sorted(appraisals) == [OPERATOR.id, ASSISTANT.id]
    assert appraisals[ASSISTANT.id].data["cycle"] == cycle.id
    close = {"summary": "本期考核完成"}
    for appraisal in appraisals.values():
        with pytest.raises(GuardRejected):  # an appraisal still open
            engine.fire(cycle.id, "close", actor=HR, data=close)
        engine.fire(appraisal.id, "score", actor=MANAGER, data=SCORE)
        assert engine.fire(appraisal.id, "approve", actor=HR).state == "approved"
    assert engine.fire(cycle.id, "close", actor=HR, data=close).state == "closed"


@pytest.mark.req("STF-4", "TRN-6", "STF-1")
@pytest.mark.enforces(
    "TRN-6", element="policies/appraisal.yaml#workflows.staff_appraisal.requires_record[0]"
)
@pytest.mark.enforces(
    "STF-4", element="policies/appraisal.yaml#workflows.staff_appraisal.forbid_data[0]"
)
def test_trn_6_an_appraisal_is_scored_on_the_persons_assessment_never_by_themselves(
    bundle: Bundle,
) -> None:
    engine = bundle.engine
    period = {"period_from": "2025-04-01", "period_to": "2025-09-30"}
    untrained = engine.start("staff_appraisal", actor=HR, data={"appraisee": "new-hire", **period})
    with pytest.raises(PolicyDenied) as unassessed:
        engine.fire(untrained.id, "score", actor=MANAGER, data=SCORE)
    assert unassessed.value.rule == "appraisee_assessed"
    train(engine, "new-hire", post="ops_assistant", score=78)
    assert engine.fire(untrained.id, "score", actor=MANAGER, data=SCORE).state == "approval"
    # nobody scores their own appraisal, and the scorer does not approve it
    own = engine.start("staff_appraisal", actor=HR, data={"appraisee": MANAGER.id, **period})
    with pytest.raises(PolicyDenied) as self_scored:
        engine.fire(own.id, "score", actor=MANAGER, data=SCORE)
    assert self_scored.value.rule == "no_self_appraisal"
    for look_alike in ("SUN", " sun", "ｓｕｎ"):  # the person as people read ids
        typed = engine.start("staff_appraisal", actor=HR, data={"appraisee": look_alike, **period})
        with pytest.raises(PolicyDenied) as same:
            engine.fire(typed.id, "score", actor=MANAGER, data=SCORE)
        assert same.value.rule == "no_self_appraisal"
    engine.fire(own.id, "score", actor=OTHER_MANAGER, data=SCORE)
    approved = engine.fire(own.id, "approve", actor=HR)
    # growth on file (STF-1): the person's assessments and appraisals, item by item
    assert approved.data["grade"] == "excellent"
    page = engine.query(workflow="staff_appraisal", data={"appraisee": MANAGER.id})
    assert [i.id for i in page.items] == [own.id]


@pytest.mark.req("STF-4", "TRN-6")
def test_stf_4_the_figures_of_the_appraisal_are_computed_from_the_store(bundle: Bundle) -> None:
    engine, feng = bundle.engine, Actor("feng", {"ops_manager"})
    train(engine, feng.id, post="ops_manager", score=86)
    failed = engine.start(
        "training",
        actor=TRAINER,
        data={
            "trainee": "Feng",
            "post": "ops_assistant",
            "course": "post_basics",
            "reason": "cycle",
        },
    )
    engine.fire(failed.id, "begin", actor=TRAINER)
    engine.fire(failed.id, "finish", actor=TRAINER)
    engine.fire(failed.id, "assess", actor=TRAINER, data={"result": "fail", "score": 55})
    outreach = engine.start(
        "public_health_outreach",
        actor=OPERATOR,
        data={"event": "诺如病毒通报", "declared_on": "2025-09-26"},
    )
    first, second, _ = engine.children(outreach.id)
    done = {"summary": "完成", "reached": 120}
    engine.fire(first.id, "complete", actor=feng, data=done)  # within its working day
    bundle.clock.now = local(2025, 9, 30, 10, 0)
    engine.fire(second.id, "complete", actor=feng, data=done)  # two working days late
    since = local(2025, 9, 26, 0, 0)
    report = build_report(engine, since=since, sections=["appraisal"])
    [row] = [r for r in report.rows("appraisal") if r["person"] == "feng"]
    assert row == {
        "person": "feng",
        "steps": 2,
        "items": 2,
        "clocks_met": 1,
        "clocks_breached": 1,
        "sla_kept": 0.5,
        "assessments": 2,
        "passed": 1,
        "failed": 1,
        "mean_score": 70.5,
        "latest_score": 55.0,
    }
    # the engine's own steps (the schedules, the timers) are nobody's work
    assert "system" not in {r["person"] for r in report.rows("appraisal")}


# -- TRN-1 every post has a training plan ------------------------------------------------------
POSTS = ["editor", "reviewer", "channel_lead", "ops_assistant", "ops_manager", "operator"]


def training_plan(engine: Engine, post: str, *, approve: bool = True) -> Item:
    plan = engine.start(
        "training_plan",
        actor=TRAINER,
        data={
            "post": post,
            "post_basics": "岗位职责与流程",
            "operational_skills": "系统操作",
            "operations_maintenance": "平台运维",
        },
    )
    plan = engine.fire(plan.id, "submit", actor=TRAINER)
    return engine.fire(plan.id, "approve", actor=HR) if approve else plan


@pytest.mark.req("TRN-1")
@pytest.mark.enforces(
    "TRN-1", element="workflows/schedules.yaml#schedules.trn_01_training_plan_check"
)
@pytest.mark.enforces(
    "TRN-1",
    element="policies/training_plans.yaml#workflows.training_plan_check.covered_by_records[0]",
)
def test_trn_1_the_quarterly_check_stays_open_until_every_post_has_a_plan_in_force(
    bundle: Bundle,
) -> None:
    engine = bundle.drive("trn_01_training_plan_check").engine
    for post in POSTS:
        training_plan(engine, post)
    pending = training_plan(engine, "integrator", approve=False)
    [check] = bundle.at(local(2025, 10, 7, 10, 0, 5))
    assert check.data["posts"] == [*POSTS, "integrator"]
    with pytest.raises(PolicyDenied) as missing:
        engine.fire(check.id, "confirm", actor=HR)
    assert missing.value.rule == "every_post_has_a_plan"
    assert "integrator" in str(missing.value)
    check = engine.fire(check.id, "report_missing", actor=HR, data={"note": "接入方计划待批"})
    assert "ops_manager" in bundle.notified(check.id)
    with pytest.raises(PolicyDenied):
        engine.fire(check.id, "resolve", actor=HR)
    engine.fire(pending.id, "approve", actor=HR)
    assert engine.fire(check.id, "resolve", actor=HR).state == "done"
    # a check that leaves a post out is refused
    with pytest.raises(PolicyDenied) as fewer:
        engine.start("training_plan_check", actor=HR, data={"posts": POSTS})
    assert fewer.value.rule == "every_operating_post_checked"
