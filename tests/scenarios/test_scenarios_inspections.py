"""Scenarios of the periodic duties (INS-1..INS-7, INS-11) and of the annual evaluation
(RPT-2, RPT-3), each walked end to end on the bundled definitions (workflows/, policies/)
with a controlled clock.

The schedules are driven the way the daemon drives them: ``Engine.run_due()`` at chosen
instants of a :class:`FakeClock`, with the bundled ``workflows/schedules.yaml`` read by
``Schedules.from_loaded``. A schedule counts from the moment a database first sees it, so
each test first runs the engine once just before the instant it is about. The expected
instants are those of the official mainland calendar: the first working day of October
2025 is Thursday 10-09 (after the National Day holiday), the last working day of
February 2026 is Saturday 02-28 (an adjusted working day, 调休).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition import load_paths
from cmc_workflow.errors import FormInvalid, GuardRejected, NotPermitted
from cmc_workflow.schedules import Schedule, Schedules
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS
from tests.helpers.records import qualify_account, register_application, train_staff

SH = ZoneInfo("Asia/Shanghai")

AUTHORITY = Actor("gao", {"authority"})
OPERATOR = Actor("ma", {"operator"})
APP7 = Actor("app7-admin", {"integrator"}, {"application": "app-7"})
APP8 = Actor("app8-admin", {"integrator"}, {"application": "app-8"})
ASSISTANT = Actor("xu", {"ops_assistant"})
MANAGER = Actor("sun", {"ops_manager"})
CAST = (OPERATOR, APP7, APP8, ASSISTANT, MANAGER)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@dataclass
class Bundle:
    """One engine on the bundled definitions for the whole module: the scenarios start
    their own items; the schedule tests each drive one bundled schedule (a schedule counts
    from the moment the database first sees it, so each starts at an instant of its own)."""

    engine: Engine
    schedules: Schedules
    clocks: Clocks
    clock: FakeClock
    bundled: dict[str, Schedule]
    records: list[Item] = dataclasses.field(default_factory=list)

    def keep_trained(self) -> None:
        """TRN-3 (policies/training.yaml): the cast holds its posts' basic training. A
        test that runs the engine a year on lets the records expire (TRN-4's cycle):
        the next test trains the cast again."""
        if not self.records or any(self.engine.get(r.id).state != "passed" for r in self.records):
            self.records = train_staff(self.engine, *CAST, valid_until="2027-12-31")

    def drive(self, schedule_id: str, first_seen: dt.datetime) -> Driver:
        self.keep_trained()
        self.schedules.replace([self.bundled[schedule_id]])
        driver = Driver(self, schedule_id)
        assert driver.at(first_seen) == []
        return driver


class Driver:
    """One bundled schedule run by the engine at the instants a test sets, as the daemon
    runs it (``Engine.run_due()``)."""

    def __init__(self, bundle: Bundle, schedule_id: str) -> None:
        self.bundle, self.schedule_id = bundle, schedule_id
        self.engine = bundle.engine

    def at(self, when: dt.datetime) -> list[Item]:
        """Run the engine at ``when``; the items the schedule started so far, oldest first."""
        self.bundle.clock.now = when
        self.engine.run_due()
        runs = sorted(self.bundle.schedules.runs(self.schedule_id), key=lambda r: r.due_at)
        assert {r.status for r in runs} <= {"started"}
        return [self.engine.get(r.item_id) for r in runs if r.item_id is not None]


def open_bundled(url: str, clock: FakeClock, calendar: WorkingCalendar, *extensions: Any) -> Engine:
    return Engine.open(
        url,
        workflows=WORKFLOWS,
        policies=POLICIES,
        clock=clock,
        calendar=calendar,
        extensions=list(extensions),
    )


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture(scope="module")
def bundle(module_db_url: str, calendar: WorkingCalendar) -> Iterator[Bundle]:
    loaded = load_paths([WORKFLOWS, POLICIES])  # what `cmc-workflow run` reads
    assert not loaded.problems, loaded.problems
    bundled = {s.id: s for s in Schedules.from_loaded(loaded, calendar).schedules}
    schedules, clocks = Schedules([], calendar), Clocks(calendar)
    clock = FakeClock(local(2025, 9, 26, 15, 0))
    with open_bundled(module_db_url, clock, calendar, schedules, clocks) as engine:
        # in the register before any test: a test may run alone, or on another worker
        # than the one that would have registered it (APP-1 refuses findings naming an
        # application the register does not hold)
        register_application(engine, "app-7")
        yield Bundle(engine, schedules, clocks, clock, bundled)


@pytest.fixture
def engine(bundle: Bundle) -> Engine:
    bundle.clock.now = local(2025, 9, 26, 15, 0)
    bundle.keep_trained()
    return bundle.engine


def scheduled_for(item: Item) -> dt.datetime:
    return dt.datetime.fromisoformat(item.data["scheduled_for"])


def check_started(items: list[Item], workflow: str, *instants: dt.datetime) -> None:
    assert [(i.workflow, scheduled_for(i)) for i in items] == [(workflow, t) for t in instants]
    assert all(i.created_by.startswith("schedule:ins_") for i in items)


# -- the schedules: each starts its workflow at the expected instant -------------------------
@pytest.mark.req("INS-1")
@pytest.mark.enforces("INS-1", element="workflows/schedules.yaml#schedules.ins_01_daily_patrol")
def test_ins_1_the_daily_patrol_starts_at_nine_every_day_weekends_included(bundle: Bundle) -> None:
    patrol = bundle.drive("ins_01_daily_patrol", local(2025, 9, 26, 8, 0))
    assert patrol.at(local(2025, 9, 26, 8, 59, 59)) == []
    check_started(patrol.at(local(2025, 9, 26, 9, 0, 5)), "system_patrol", local(2025, 9, 26, 9))
    items = patrol.at(local(2025, 9, 27, 9, 0, 5))  # a Saturday: CMC 8.2.5 says every day
    check_started(items, "system_patrol", local(2025, 9, 26, 9), local(2025, 9, 27, 9))
    assert {i.state for i in items} == {"due"}


@pytest.mark.req("INS-2")
@pytest.mark.enforces(
    "INS-2", element="workflows/schedules.yaml#schedules.ins_02_device_inspection"
)
def test_ins_2_the_device_inspection_comes_every_six_months_from_its_anchor(bundle: Bundle) -> None:
    inspection = bundle.drive("ins_02_device_inspection", local(2025, 9, 26, 15, 0))
    assert inspection.at(local(2026, 3, 3, 9, 29)) == []
    check_started(
        inspection.at(local(2026, 3, 3, 9, 30, 1)), "device_inspection", local(2026, 3, 3, 9, 30)
    )
    items = inspection.at(local(2026, 9, 3, 9, 31))
    check_started(items, "device_inspection", local(2026, 3, 3, 9, 30), local(2026, 9, 3, 9, 30))


@pytest.mark.req("INS-2", "RPT-2")
def test_ins_2_faulty_devices_are_tracked_until_repaired(engine: Engine) -> None:
    inspection = engine.start("device_inspection", actor=OPERATOR)
    with pytest.raises(GuardRejected):  # more faulty devices than were checked
        engine.fire(
            inspection.id,
            "record_faults",
            actor=OPERATOR,
            data={"devices_checked": 1, "faulty_devices": ["a", "b"], "repair_by": "2025-10-17"},
        )
    inspection = engine.fire(
        inspection.id,
        "record_faults",
        actor=OPERATOR,
        data={
            "devices_checked": 40,
            "faulty_devices": ["自助借还机 #3 触屏失灵", "数字阅读屏 #7 无法开机"],
            "repair_by": "2025-10-17",
        },
    )
    assert inspection.state == "repairing"
    repairs = engine.children(inspection.id)
    assert [(r.workflow, r.state, r.parent_id) for r in repairs] == [
        ("rectification", "open", inspection.id)
    ] * 2
    assert [r.data["finding"] for r in repairs] == [
        "自助借还机 #3 触屏失灵",
        "数字阅读屏 #7 无法开机",
    ]
    assert {(r.data["source"], r.data["responsible"], r.data["due_date"]) for r in repairs} == {
        ("device_inspection", "operator", "2025-10-17")
    }
    with pytest.raises(GuardRejected, match=f"rectification {repairs[0].id} \\(open\\)"):
        engine.fire(inspection.id, "close", actor=OPERATOR)
    for repair in repairs:
        rectify(engine, repair, OPERATOR)
    assert engine.fire(inspection.id, "close", actor=OPERATOR).state == "done"


@pytest.mark.req("INS-3")
@pytest.mark.enforces("INS-3", element="workflows/schedules.yaml#schedules.ins_03_device_activity")
def test_ins_3_device_activity_weekly_on_monday_due_after_the_national_day_holiday(
    bundle: Bundle,
) -> None:
    activity = bundle.drive("ins_03_device_activity", local(2025, 9, 26, 15, 0))
    check_started(
        activity.at(local(2025, 9, 29, 10, 0, 1)), "device_activity", local(2025, 9, 29, 10)
    )
    items = activity.at(local(2025, 10, 6, 10, 0, 1))  # a Monday inside the holiday
    check_started(items, "device_activity", local(2025, 9, 29, 10))
    # on_day_off: next_working_day — the holiday Monday's statistics come on Thu 10-09
    items = activity.at(local(2025, 10, 9, 10, 0, 1))
    check_started(items, "device_activity", local(2025, 9, 29, 10), local(2025, 10, 9, 10))
    # two working days, the day of receipt not counted: Fri 10-10 and Sat 10-11 (adjusted)
    (clock,) = bundle.clocks.clocks(items[1].id)
    assert clock.due_at == local(2025, 10, 11, 17, 30)
    engine = activity.engine
    with pytest.raises(GuardRejected):  # more active devices than there are
        engine.fire(
            items[1].id,
            "report",
            actor=OPERATOR,
            data={"devices_total": 40, "devices_active": 41},
        )
    done = engine.fire(
        items[1].id,
        "report",
        actor=OPERATOR,
        data={"devices_total": 40, "devices_active": 37, "idle_devices": ["#3", "#9", "#21"]},
    )
    assert (done.state, done.data["idle_devices"]) == ("done", ["#3", "#9", "#21"])


@pytest.mark.req("INS-4")
@pytest.mark.enforces("INS-4", element="workflows/schedules.yaml#schedules.ins_04_monthly_metrics")
def test_ins_4_the_monthly_review_starts_on_the_first_working_day_after_the_holiday(
    bundle: Bundle,
) -> None:
    review = bundle.drive("ins_04_monthly_metrics", local(2025, 9, 26, 15, 0))
    assert review.at(local(2025, 10, 1, 10, 0, 1)) == []  # National Day: not a working day
    check_started(
        review.at(local(2025, 10, 9, 10, 0, 1)), "monthly_metrics_review", local(2025, 10, 9, 10)
    )
    items = review.at(local(2025, 11, 3, 10, 0, 1))  # Sat 11-01 and Sun 11-02 are off
    check_started(items, "monthly_metrics_review", local(2025, 10, 9, 10), local(2025, 11, 3, 10))


def rectify(engine: Engine, item: Item, actor: Actor) -> Item:
    """Work a rectification item from open to verified, as ``actor`` and the authority."""
    item = engine.fire(
        item.id, "start_work", actor=actor, data={"cause": "原因", "measures": "措施"}
    )
    item = engine.fire(item.id, "report_done", actor=actor, data={"actions_taken": "已处理"})
    item = engine.fire(item.id, "verify", actor=AUTHORITY)
    assert (item.state, item.is_open) == ("verified", False)
    return item


@pytest.mark.req("INS-4", "SEC-5")
def test_ins_4_each_finding_becomes_a_rectification_item_and_the_review_waits_for_them(
    engine: Engine,
) -> None:
    review = engine.start("monthly_metrics_review", actor=AUTHORITY)
    review = engine.fire(
        review.id,
        "raise_findings",
        actor=AUTHORITY,
        data={
            "summary": "9月活跃用户未达标",
            "application": "app-7",
            "findings": ["月活跃用户下降 30%", "预约成功率低于 90%"],
            "due_date": "2025-10-31",
        },
    )
    assert review.state == "rectifying"
    assert {(o.kind, o.name) for o in engine.outbox(review.id)} == {
        ("notify", "integrator"),
        ("notify", "operator"),
    }
    active, booking = engine.children(review.id)
    assert (active.data["finding"], booking.data["finding"]) == (
        "月活跃用户下降 30%",
        "预约成功率低于 90%",
    )
    assert {
        (c.data["source"], c.data["responsible"], c.data["application"], c.data["due_date"])
        for c in (active, booking)
    } == {("monthly_metrics", "integrator", "app-7", "2025-10-31")}
    mine = [i.id for i in engine.inbox(APP7) if i.parent_id == review.id]
    assert mine == [active.id, booking.id]
    assert not [i for i in engine.inbox(APP8) if i.parent_id == review.id]

    # the integrator of another application cannot touch them (SEC-5) ...
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(active.id, "start_work", actor=APP8, data={"cause": "x", "measures": "y"})
    assert denied.value.rule == "integrators_own_applications"
    # ... nor the operator, who is not the responsible party
    with pytest.raises(GuardRejected):
        engine.fire(active.id, "start_work", actor=OPERATOR, data={"cause": "x", "measures": "y"})

    # 9.4.2: the integrator analyses and rectifies; the authority sends it back once
    engine.fire(
        active.id,
        "start_work",
        actor=APP7,
        data={"cause": "活动宣传不足", "measures": "十月开展阅读推广"},
    )
    # the work is due by the agreed date: the end of 31 October
    clocks = next(x for x in engine.extensions if isinstance(x, Clocks))
    (working,) = [c for c in clocks.clocks(active.id) if c.state == "in_progress"]
    assert working.due_at == local(2025, 11, 1, 0, 0)
    engine.fire(active.id, "report_done", actor=APP7, data={"actions_taken": "已开展两场活动"})
    back = engine.fire(active.id, "reject", actor=AUTHORITY, data={"reason": "未见数据"})
    assert back.state == "in_progress"
    engine.fire(
        active.id,
        "report_done",
        actor=APP7,
        data={"actions_taken": "月活回升 25%", "evidence": ["report-2025-10.pdf"]},
    )

    # ... or files a reasonable explanation instead (9.4.2 报备)
    engine.fire(booking.id, "explain", actor=APP7, data={"explanation": "系统升级停机三天"})

    with pytest.raises(GuardRejected) as still_open:
        engine.fire(review.id, "close", actor=AUTHORITY)
    assert f"rectification {active.id} (done)" in str(still_open.value)
    assert f"rectification {booking.id} (explanation_review)" in str(still_open.value)
    (close,) = [a for a in engine.allowed(review.id, AUTHORITY) if a.trigger == "close"]
    assert not close.allowed

    assert engine.fire(active.id, "verify", actor=AUTHORITY).state == "verified"
    assert engine.fire(booking.id, "accept_explanation", actor=AUTHORITY).state == "explained"
    closed = engine.fire(review.id, "close", actor=AUTHORITY, data={"conclusion": "整改完成"})
    assert (closed.state, closed.is_open) == ("closed", False)
    steps = [h.trigger for h in engine.history(active.id)]
    assert steps == [None, "start_work", "report_done", "reject", "report_done", "verify"]


@pytest.mark.req("INS-5")
@pytest.mark.enforces(
    "INS-5", element="workflows/schedules.yaml#schedules.ins_05_self_media_statistics"
)
def test_ins_5_statistics_on_the_last_working_day_of_each_month(bundle: Bundle) -> None:
    stats = bundle.drive("ins_05_self_media_statistics", local(2025, 9, 26, 16, 0))
    check_started(
        stats.at(local(2025, 9, 30, 15, 0, 1)), "self_media_statistics", local(2025, 9, 30, 15)
    )
    # no runner from October to February: each missed month-end is caught up (INS: never
    # lost); February 2026 ends on a Saturday that is an adjusted working day (调休)
    items = stats.at(local(2026, 2, 27, 15, 0, 1))
    check_started(
        items,
        "self_media_statistics",
        local(2025, 9, 30, 15),
        local(2025, 10, 31, 15),
        local(2025, 11, 28, 15),  # Sunday 11-30 is off
        local(2025, 12, 31, 15),
        local(2026, 1, 30, 15),  # Saturday 01-31 is off
    )
    runs = sorted(bundle.schedules.runs("ins_05_self_media_statistics"), key=lambda r: r.due_at)
    assert [r.detail["missed"] for r in runs] == [False, True, True, True, True]
    items = stats.at(local(2026, 2, 28, 15, 0, 1))
    assert scheduled_for(items[-1]) == local(2026, 2, 28, 15)


@pytest.mark.req("INS-5")
@pytest.mark.enforces(
    "INS-5",
    element="workflows/inspections/ins_05_self_media_statistics.yaml"
    "#states.collecting.transitions[0].guard",
)
def test_ins_5_each_platform_has_its_followers_and_their_screenshot(engine: Engine) -> None:
    # the followers are a must (应, a guard); the screenshot a should (宜): without it the
    # submission is accepted with a warning (tests/compliance/test_should_levels.py)
    item = engine.start("self_media_statistics", actor=ASSISTANT)
    month: dict[str, Any] = {
        "platforms": ["wechat", "weibo"],
        "followers_wechat": 52310,
        "screenshot_wechat": "stats/2025-09/wechat-followers.png",
        "followers_weibo": 18020,
        "screenshot_weibo": "stats/2025-09/weibo-followers.png",
        "publications": 46,
        "reads": 120400,
    }
    with pytest.raises(GuardRejected):  # weibo is listed without its followers
        engine.fire(item.id, "submit", actor=ASSISTANT, data={**month, "followers_weibo": None})
    with pytest.raises(FormInvalid, match="reads"):
        engine.fire(
            item.id,
            "submit",
            actor=ASSISTANT,
            data={k: v for k, v in month.items() if k != "reads"},
        )
    item = engine.fire(item.id, "submit", actor=ASSISTANT, data=month)
    item = engine.fire(item.id, "return", actor=MANAGER, data={"reason": "阅读量口径不一致"})
    item = engine.fire(item.id, "submit", actor=ASSISTANT, data={**month, "reads": 118000})
    item = engine.fire(item.id, "confirm", actor=MANAGER)
    assert item.state == "done"
    assert (item.data["followers_wechat"], item.data["screenshot_weibo"], item.data["reads"]) == (
        52310,
        "stats/2025-09/weibo-followers.png",
        118000,
    )


@pytest.mark.req("INS-6")
@pytest.mark.enforces(
    "INS-6", element="workflows/schedules.yaml#schedules.ins_06_annual_evaluation"
)
def test_ins_6_the_annual_evaluation_starts_once_a_year(bundle: Bundle) -> None:
    evaluation = bundle.drive("ins_06_annual_evaluation", local(2025, 9, 26, 15, 0))
    check_started(
        evaluation.at(local(2025, 12, 1, 9, 0, 1)), "annual_evaluation", local(2025, 12, 1, 9)
    )
    assert evaluation.at(local(2026, 11, 30, 9, 0))[1:] == []
    items = evaluation.at(local(2026, 12, 1, 9, 0, 1))
    check_started(items, "annual_evaluation", local(2025, 12, 1, 9), local(2026, 12, 1, 9))
    assert {i.state for i in items} == {"self_assessment"}


SELF_ASSESSMENT: dict[str, Any] = {
    "report": "2025 年度运营自评",
    "survey_responses": 1200,
    "satisfaction_rate": 93.5,
    "statistics_confirmed": True,  # the complaint statistics the engine computed (RPT-3)
}


@pytest.mark.req("RPT-3", "INS-6")
def test_rpt_3_satisfaction_and_complaint_figures_feed_the_evaluation(engine: Engine) -> None:
    evaluation = engine.start("annual_evaluation", actor=AUTHORITY)
    # the complaint statistics are computed from the store and confirmed, not typed in
    # (tests/scenarios/test_scenarios_figures.py): unconfirmed, the submission is refused
    with pytest.raises(PolicyDenied) as refused:
        engine.fire(evaluation.id, "submit", actor=OPERATOR, data={"report": "自评"})
    assert refused.value.rule == "complaint_statistics_from_the_store"
    # the survey is a should (SM 6.2 宜): tests/compliance/test_should_levels.py
    with pytest.raises(FormInvalid, match="satisfaction_rate"):
        engine.fire(
            evaluation.id,
            "submit",
            actor=OPERATOR,
            data={**SELF_ASSESSMENT, "satisfaction_rate": 120},
        )
    submitted = engine.fire(evaluation.id, "submit", actor=OPERATOR, data=SELF_ASSESSMENT)
    assert submitted.state == "evaluation"
    assert {k: submitted.data[k] for k in SELF_ASSESSMENT} == SELF_ASSESSMENT
    assert submitted.data["complaint_statistics"]["received"] == 0  # none in this module
    assert ("notify", "authority") in {(o.kind, o.name) for o in engine.outbox(evaluation.id)}
    done = engine.fire(
        evaluation.id, "conclude", actor=AUTHORITY, data={"rating": "good", "summary": "良好"}
    )
    assert (done.state, done.data["rating"], done.data["satisfaction_rate"]) == (
        "done",
        "good",
        93.5,
    )


@pytest.mark.req("RPT-2", "INS-6")
@pytest.mark.enforces(
    "RPT-2",
    element="workflows/inspections/ins_06_annual_evaluation.yaml"
    "#states.rectification.transitions[1].children_closed",
)
def test_rpt_2_the_evaluation_closes_only_when_its_rectification_items_are_closed(
    engine: Engine,
) -> None:
    evaluation = engine.start("annual_evaluation", actor=AUTHORITY)
    engine.fire(evaluation.id, "submit", actor=OPERATOR, data=SELF_ASSESSMENT)
    with pytest.raises(GuardRejected):  # CMC 12.3.2: a failed year is rectified
        engine.fire(
            evaluation.id, "conclude", actor=AUTHORITY, data={"rating": "fail", "summary": "不合格"}
        )
    raised = engine.fire(
        evaluation.id,
        "raise_rectification",
        actor=AUTHORITY,
        data={
            "rating": "fail",
            "summary": "服务公开信息不全，投诉渠道不畅",
            "findings": ["机构与服务信息未在新媒体渠道公开", "未开通网络意见本"],
            "responsible": "operator",
            "due_date": "2026-01-31",
        },
    )
    assert (raised.state, raised.data["rating"]) == ("rectification", "fail")
    with pytest.raises(GuardRejected):  # an integrator's item names its application
        engine.fire(
            evaluation.id,
            "add_items",
            actor=AUTHORITY,
            data={"findings": ["x"], "responsible": "integrator", "due_date": "2026-01-31"},
        )
    engine.fire(
        evaluation.id,
        "add_items",
        actor=AUTHORITY,
        data={
            "findings": ["预约应用高峰期卡顿"],
            "responsible": "integrator",
            "application": "app-7",
            "due_date": "2026-02-28",
        },
    )
    items = engine.children(evaluation.id)
    assert [(i.data["responsible"], i.data.get("application"), i.state) for i in items] == [
        ("operator", None, "open"),
        ("operator", None, "open"),
        ("integrator", "app-7", "open"),
    ]
    assert {i.data["source"] for i in items} == {"annual_evaluation"}
    with pytest.raises(NotPermitted):  # the operator raises nothing on the evaluation
        engine.fire(evaluation.id, "close", actor=OPERATOR)
    rectify(engine, items[0], OPERATOR)
    rectify(engine, items[2], APP7)
    with pytest.raises(GuardRejected, match=f"rectification {items[1].id} \\(open\\)"):
        engine.fire(evaluation.id, "close", actor=AUTHORITY)
    rectify(engine, items[1], OPERATOR)
    closed = engine.fire(evaluation.id, "close", actor=AUTHORITY, data={"conclusion": "已整改"})
    assert (closed.state, closed.is_open) == ("done", False)
    assert all(not i.is_open for i in engine.children(evaluation.id))


@pytest.mark.req("INS-7")
@pytest.mark.enforces("INS-7", element="workflows/schedules.yaml#schedules.ins_07_annual_targets")
def test_ins_7_annual_targets_for_publications_reads_and_followers(
    bundle: Bundle,
) -> None:
    targets = bundle.drive("ins_07_annual_targets", local(2025, 9, 26, 15, 0))
    (item,) = targets.at(local(2026, 1, 5, 9, 0, 1))
    check_started([item], "annual_targets", local(2026, 1, 5, 9))
    engine = targets.engine
    plan = {
        "year": 2026,
        "target_publications": 400,
        "target_reads": 1_500_000,
        "target_followers": 80_000,
        "assessment": "发布量与关注量达标，阅读量未达标",
        # last year's results are computed from the records and confirmed, not typed in
        # (policies/targets.yaml, tests/scenarios/test_scenarios_figures.py)
        "results_confirmed": True,
    }
    with pytest.raises(FormInvalid, match="target_followers"):
        engine.fire(
            item.id,
            "propose",
            actor=MANAGER,
            data={k: v for k, v in plan.items() if k != "target_followers"},
        )
    engine.fire(item.id, "propose", actor=MANAGER, data=plan)
    engine.fire(item.id, "return", actor=AUTHORITY, data={"reason": "阅读量目标偏低"})
    engine.fire(item.id, "propose", actor=MANAGER, data={**plan, "target_reads": 1_800_000})
    adopted = engine.fire(item.id, "approve", actor=AUTHORITY)
    assert adopted.state == "adopted"
    assert [
        adopted.data[k] for k in ("target_publications", "target_reads", "target_followers")
    ] == [
        400,
        1_800_000,
        80_000,
    ]


@pytest.mark.req("INS-11", "PUB-10")
@pytest.mark.enforces(
    "INS-11", element="workflows/schedules.yaml#schedules.ins_11_publishing_cadence"
)
def test_ins_11_the_cadence_check_runs_every_morning_with_its_interval(bundle: Bundle) -> None:
    cadence = bundle.drive("ins_11_publishing_cadence", local(2025, 9, 26, 15, 0))
    assert cadence.at(local(2025, 9, 27, 8, 30, 1)) == []  # Saturday: a day off, skipped
    check_started(
        cadence.at(local(2025, 9, 28, 8, 30, 1)),  # Sunday, an adjusted working day
        "publishing_cadence_check",
        local(2025, 9, 28, 8, 30),
    )
    items = cadence.at(local(2025, 9, 29, 8, 30, 1))
    assert [i.data["interval_days"] for i in items] == [7, 7]
    engine = cadence.engine
    assert engine.fire(items[0].id, "all_regular", actor=ASSISTANT).state == "regular"
    with pytest.raises(GuardRejected):  # seven days is within the interval
        engine.fire(
            items[1].id,
            "raise_alert",
            actor=ASSISTANT,
            data={"accounts": ["fslib-dy"], "days_silent": 7},
        )
    silent = {"accounts": ["fslib-dy", "fslib-wb"], "days_silent": 9}
    # the alert carries the silence the engine's records show (PUB-10): none yet
    with pytest.raises(PolicyDenied) as refused:
        engine.fire(items[1].id, "raise_alert", actor=ASSISTANT, data=silent)
    assert refused.value.rule == "no_silent_account"
    qualify_account(engine, "fslib-dy", platform="douyin", custodian=MANAGER)
    qualify_account(engine, "fslib-wb", platform="weibo", custodian=MANAGER)
    bundle.clock.now = local(2025, 10, 8, 9, 0)  # nine days without a publication
    alert = engine.fire(items[1].id, "raise_alert", actor=ASSISTANT, data=silent)
    assert alert.state == "alerted"
    assert ("notify", "ops_manager") in {(o.kind, o.name) for o in engine.outbox(alert.id)}
    handled = engine.fire(alert.id, "acknowledge", actor=MANAGER, data={"plan": "本周补发两篇"})
    assert handled.state == "resolved"


# -- missed occurrences: caught up or recorded, never lost -----------------------------------------
@pytest.mark.req("INS-1", "INS-2", "INS-3", "INS-4", "INS-5", "INS-6", "INS-7", "INS-11")
def test_a_daemon_down_over_the_national_day_holiday_loses_no_occurrence(
    tmp_path: Path, calendar: WorkingCalendar, bundle: Bundle
) -> None:
    schedules = Schedules(bundle.bundled.values(), calendar)  # every bundled schedule
    since = local(2025, 9, 26, 8, 0)
    clock = FakeClock(since)
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    with open_bundled(url, clock, calendar, schedules) as engine:
        engine.run_due()
        clock.now = local(2025, 10, 10, 12, 0)  # down for two weeks
        engine.run_due()
        assert engine.run_due().extensions == 0  # every occurrence was handled once
        handled = 0
        for schedule in schedules.schedules:
            expected = [o.due for o in schedule.occurrences(since, clock.now, calendar, 100)]
            runs = sorted(schedules.runs(schedule.id), key=lambda r: r.due_at)
            assert [r.due_at for r in runs] == expected, schedule.id
            statuses = [r.status for r in runs]
            if schedule.spec.missed == "catch_up":
                assert set(statuses) <= {"started"}, schedule.id
            else:  # latest: the newest starts, the ones before it are recorded as missed
                assert statuses == ["missed"] * (len(runs) - 1) + ["started"], schedule.id
            for run in runs:
                if run.status == "started":
                    assert run.item_id is not None
                    item = engine.get(run.item_id)
                    assert item.workflow == schedule.spec.workflow
                    assert scheduled_for(item) == run.due_at
                assert run.detail["missed"] is True  # every one is hours late or more
            handled += len(runs)
        by_id = {s.id: len(schedules.runs(s.id)) for s in schedules.schedules}
        assert by_id["ins_01_daily_patrol"] == 15  # 09-26 .. 10-10
        # 08:30 on working days only: 09-26, Sun 09-28, 09-29, 09-30, 10-09, 10-10
        assert by_id["ins_11_publishing_cadence"] == 6
        assert by_id["ins_03_device_activity"] == 2  # Mon 09-29, and Thu 10-09 for Mon 10-06
        assert by_id["ins_04_monthly_metrics"] == 1  # Thu 10-09
        assert by_id["ins_05_self_media_statistics"] == 1  # Tue 09-30
        assert handled == sum(by_id.values())


# -- SUP-2, SUP-3, SUP-4, MON-1: supervision, disclosure and the public-opinion watch ---------
def started_by_schedule(items: list[Item], workflow: str, *instants: dt.datetime) -> None:
    assert [(i.workflow, scheduled_for(i)) for i in items] == [(workflow, t) for t in instants]
    assert all(i.created_by.startswith("schedule:") for i in items)


@pytest.mark.req("SUP-2")
@pytest.mark.enforces("SUP-2", element="workflows/schedules.yaml#schedules.sup_2_return_visits")
@pytest.mark.enforces(
    "SUP-2", element="workflows/supervision_visit.yaml#states.planned.transitions[1].starts"
)
def test_sup_2_return_visits_come_round_monthly_and_findings_raise_rectification(
    bundle: Bundle,
) -> None:
    visits = bundle.drive("sup_2_return_visits", local(2026, 3, 10, 9, 0))
    (visit,) = visits.at(local(2026, 4, 1, 14, 0, 1))
    started_by_schedule([visit], "supervision_visit", local(2026, 4, 1, 14, 0))
    assert (visit.state, visit.data["kind"]) == ("planned", "return_visit")
    engine = bundle.engine
    visit = engine.fire(
        visit.id,
        "record_findings",
        actor=OPERATOR,
        data={
            "reached": 30,
            "report": "回访 30 位读者",
            "findings": ["预约短信未送达", "自助机故障无人处理"],
            "due_date": "2026-04-30",
        },
    )
    assert visit.state == "rectifying"
    items = engine.children(visit.id)
    assert [(c.workflow, c.data["source"], c.data["responsible"]) for c in items] == [
        ("rectification", "supervision_visit", "operator")
    ] * 2
    with pytest.raises(GuardRejected):  # tracked to closure
        engine.fire(visit.id, "close", actor=OPERATOR)
    for item in items:
        item = engine.fire(
            item.id, "start_work", actor=OPERATOR, data={"cause": "原因", "measures": "措施"}
        )
        item = engine.fire(item.id, "report_done", actor=OPERATOR, data={"actions_taken": "已处理"})
        engine.fire(item.id, "verify", actor=AUTHORITY)
    assert engine.fire(visit.id, "close", actor=OPERATOR).state == "done"


DISCLOSED: dict[str, Any] = {
    "organisation": True,
    "services": True,
    "staff_basics": True,
    "complaint_channels": True,
    "where_published": "官网“信息公开”栏目、微信公众号菜单",
}


@pytest.mark.req("SUP-3", "SUP-1")
@pytest.mark.enforces("SUP-3", element="workflows/schedules.yaml#schedules.sup_3_disclosure_review")
@pytest.mark.enforces(
    "SUP-3", element="policies/supervision.yaml#workflows.disclosure_review.attestations[0]"
)
def test_sup_3_the_disclosure_is_reviewed_each_quarter_and_confirmed_part_by_part(
    bundle: Bundle,
) -> None:
    reviews = bundle.drive("sup_3_disclosure_review", local(2026, 5, 11, 9, 0))
    (review,) = reviews.at(local(2026, 7, 6, 10, 0, 1))
    started_by_schedule([review], "disclosure_review", local(2026, 7, 6, 10, 0))
    engine = bundle.engine
    with pytest.raises(PolicyDenied) as refused:  # the complaint channels not confirmed
        engine.fire(
            review.id,
            "confirm",
            actor=OPERATOR,
            data={**DISCLOSED, "complaint_channels": False, "dispute_rules": True},
        )
    assert refused.value.rule == "disclosure_complete"
    done = engine.fire(
        review.id, "confirm", actor=OPERATOR, data={**DISCLOSED, "dispute_rules": True}
    )
    assert done.state == "done"


@pytest.mark.req("SUP-4")
@pytest.mark.enforces(
    "SUP-4", element="policies/supervision.yaml#workflows.disclosure_review.forbid_data[0]"
)
def test_sup_4_a_disclosure_without_the_dispute_rules_is_accepted_with_a_warning(
    engine: Engine,
) -> None:
    review = engine.start("disclosure_review", actor=OPERATOR)
    done = engine.fire(review.id, "confirm", actor=OPERATOR, data=dict(DISCLOSED))
    assert done.state == "done"  # a should never refuses by default
    (record,) = [r for r in engine.audit_trail(review.id) if r["trigger"] == "confirm"]
    (warning,) = record["detail"]["warnings"]
    assert (warning["rule"], warning["level"]) == ("dispute_rules_published", "should")
    assert "SUP-4" in warning["reason"]
    assert "SUP-4" in warning["reason_zh"]


@pytest.mark.req("MON-1", "CMT-6")
@pytest.mark.enforces("MON-1", element="workflows/schedules.yaml#schedules.mon_1_opinion_watch")
@pytest.mark.enforces(
    "MON-1", element="workflows/opinion_watch.yaml#states.watching.transitions[1].starts"
)
@pytest.mark.enforces(
    "MON-1", element="workflows/opinion_watch.yaml#states.watching.transitions[2].starts[1]"
)
def test_mon_1_the_daily_watch_opens_comment_items_and_an_incident_for_a_crisis(
    bundle: Bundle,
) -> None:
    watch = bundle.drive("mon_1_opinion_watch", local(2026, 3, 2, 8, 0))
    (monday,) = watch.at(local(2026, 3, 2, 9, 30, 1))
    monday, tuesday = watch.at(local(2026, 3, 3, 9, 30, 1))
    started_by_schedule(
        [monday, tuesday], "opinion_watch", local(2026, 3, 2, 9, 30), local(2026, 3, 3, 9, 30)
    )
    engine = bundle.engine
    found = {
        "sources": ["微博话题", "抖音评论"],
        "channel": "weibo",
        "seen_at": "2026-03-02T10:15+08:00",
        "findings": ["有人冒充本馆发布虚假招聘信息"],
    }
    engine.fire(monday.id, "report_findings", actor=ASSISTANT, data=dict(found))
    (comment,) = engine.children(monday.id)
    assert (comment.workflow, comment.state, comment.data["channel"]) == (
        "comments",
        "classify",
        "weibo",
    )
    # it is classified and handled there: abuse, reported upward (CMT-6)
    comment = engine.fire(comment.id, "classify", actor=ASSISTANT, data={"category": "abuse"})
    assert comment.state == "abuse_review"
    crisis = {**found, "findings": ["闭馆谣言大量转发"], "summary": "闭馆谣言发酵"}
    engine.fire(tuesday.id, "report_crisis", actor=ASSISTANT, data=crisis)
    kinds = sorted(c.workflow for c in engine.children(tuesday.id))
    assert kinds == ["comments", "opinion_incident"]
    (incident,) = [c for c in engine.children(tuesday.id) if c.workflow == "opinion_incident"]
    incident = engine.fire(
        incident.id,
        "respond",
        actor=MANAGER,
        data={"plan": "舆情应急预案", "response": "发布辟谣声明"},
    )
    assert ("notify", "authority") in [(o.kind, o.name) for o in engine.outbox(incident.id)]
