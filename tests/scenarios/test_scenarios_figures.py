"""Facts computed from the store, confirmed by people (issue 13, part 3): the complaint
statistics of the annual self-assessment (RPT-3) and the yearly self-media results of the
annual targets (INS-7) are computed from the engine's own records, recorded with the step
and put in front of the person, who confirms them; a figure typed in that differs is
refused (``confirm_figures`` rules of policies/evaluation.yaml and policies/targets.yaml).

Each scenario walks real items on SQLite (and PostgreSQL when configured) with a
controlled clock: complaints registered, handled and closed (one of them late), pieces
published to accounts, monthly statistics confirmed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.clocks import Clocks
from cmc_workflow.reports import build_report
from cmc_workflow.testing import FakeClock
from tests.engine.test_rules_publishing import Channels, published
from tests.helpers import POLICIES, WORKFLOWS, EngineFactory
from tests.helpers.records import RECORD_WORKFLOWS, qualify_account, train_editors, train_staff

SH = ZoneInfo("Asia/Shanghai")
INSPECTIONS = WORKFLOWS / "inspections"
ASSISTANT = Actor("xu", {"ops_assistant"})
MANAGER = Actor("sun", {"ops_manager"})
AUTHORITY = Actor("gao", {"authority"})
OPERATOR = Actor("ma", {"operator"})


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def refused(rule: str, excinfo: pytest.ExceptionInfo[PolicyDenied]) -> PolicyDenied:
    denied = excinfo.value
    assert denied.rule == rule, (denied.rule, denied.reason_en)
    assert denied.reason_zh
    return denied


# -- RPT-3: the complaint statistics of the self-assessment -----------------------------------
@pytest.fixture
def evaluation_engine(engine_factory: EngineFactory, clocks: Clocks) -> Engine:
    engine = engine_factory(
        workflows=[
            WORKFLOWS / "comments.yaml",
            WORKFLOWS / "illegal_content_report.yaml",
            INSPECTIONS / "ins_10_suggestion_collation.yaml",
            INSPECTIONS / "ins_06_annual_evaluation.yaml",
            WORKFLOWS / "rectification.yaml",
            *RECORD_WORKFLOWS,
        ],
        policies=[POLICIES / n for n in ("roles.yaml", "evaluation.yaml", "training.yaml")],
        extensions=[clocks],
    )
    train_staff(engine, ASSISTANT, MANAGER, OPERATOR, valid_until="2027-12-31")
    return engine


def complaint(engine: Engine, clock: FakeClock, received: dt.datetime, **data: Any) -> Item:
    """A complaint registered and classified at ``received``."""
    clock.now = received
    message = {
        "channel": "wechat",
        "reader": "reader_1",
        "text": "借阅处工作人员态度差",
        "received_at": received.isoformat(),
        **data,
    }
    item = engine.start("comments", actor=ASSISTANT, data=message)
    return engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": "complaint"})


def close(engine: Engine, clock: FakeClock, item: Item, *, hours: float = 2) -> Item:
    """Handle a complaint through the procedure, each step ``hours`` after the last."""
    steps: list[tuple[str, Actor, dict[str, Any]]] = [
        ("acknowledge", ASSISTANT, {"handler": "李"}),
        ("investigate", ASSISTANT, {"findings": "属实"}),
        ("resolve", MANAGER, {"resolution": "批评教育"}),
        ("reply", ASSISTANT, {"reply": "已处理，感谢监督"}),
        ("close", MANAGER, {"satisfaction": "satisfied"}),
    ]
    for trigger, actor, form in steps:
        clock.now += dt.timedelta(hours=hours)
        item = engine.fire(item.id, trigger, actor=actor, data=form)
    assert item.state == "complaint_closed"
    return item


@pytest.mark.req("RPT-3", "INS-6")
@pytest.mark.enforces(
    "RPT-3",
    element="policies/evaluation.yaml#workflows.annual_evaluation.confirm_figures[0]",
)
def test_rpt_3_complaint_statistics_are_computed_from_the_store_and_confirmed(
    evaluation_engine: Engine, clock: FakeClock
) -> None:
    engine = evaluation_engine
    # three complaints in the year before the evaluation, one of them closed late (its
    # resolving step took more than its 3 working days), one still open; one from the
    # year before that does not count; and a consultation, counted per category only
    old = complaint(engine, clock, local(2024, 11, 20, 10, 0))
    close(engine, clock, old)
    first = complaint(engine, clock, local(2025, 3, 3, 10, 0), channel="weibo")
    close(engine, clock, first)
    late = complaint(engine, clock, local(2025, 6, 2, 10, 0))
    close(engine, clock, late, hours=48)
    complaint(engine, clock, local(2025, 6, 20, 10, 0))
    clock.now = local(2025, 7, 1, 10, 0)
    question = engine.start(
        "comments",
        actor=ASSISTANT,
        data={
            "channel": "wechat",
            "reader": "r",
            "text": "几点开门？",
            "received_at": "2025-07-01T10:00+08:00",
        },
    )
    engine.fire(question.id, "classify", actor=ASSISTANT, data={"category": "consultation"})

    clock.now = local(2025, 12, 1, 9, 0)
    evaluation = engine.start(
        "annual_evaluation", actor=AUTHORITY, data={"scheduled_for": "2025-12-01T09:00+08:00"}
    )
    clock.now = local(2025, 12, 2, 10, 0)
    assessment = {"report": "2025 年度运营自评", "survey_responses": 800, "satisfaction_rate": 95}
    # not confirmed: refused, and the refusal puts the computed figures in front of them
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(evaluation.id, "submit", actor=OPERATOR, data=assessment)
    denied = refused("complaint_statistics_from_the_store", excinfo)
    assert "received: 3; closed: 2; open: 1; closed_in_time: 1; closed_late: 1" in denied.reason_en
    assert "by_month: 2025-03 1, 2025-06 2" in denied.reason_en
    assert "by_channel: wechat 2, weibo 1" in denied.reason_en
    assert "messages_by_category: complaint 3, consultation 1" in denied.reason_en
    assert "请核对并确认按系统记录计算的数据" in denied.reason_zh
    # a count typed in that differs from the store's is refused, whatever is confirmed
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(
            evaluation.id,
            "submit",
            actor=OPERATOR,
            data={**assessment, "statistics_confirmed": True, "complaints_received": 14},
        )
    typed = refused("complaint_statistics_from_the_store", excinfo)
    assert typed.reason_en.startswith("complaints_received 14 typed, 3 in the store")
    assert engine.get(evaluation.id).state == "self_assessment"
    # confirmed (a matching typed count is accepted): the engine records the figures
    submitted = engine.fire(
        evaluation.id,
        "submit",
        actor=OPERATOR,
        data={**assessment, "statistics_confirmed": True, "complaints_resolved": 2},
    )
    assert submitted.state == "evaluation"
    stats = submitted.data["complaint_statistics"]
    assert stats["period"] == "2024-12-01..2025-12-01"
    assert (stats["received"], stats["closed"], stats["closed_late"]) == (3, 2, 1)
    assert stats["by_satisfaction"] == {"satisfied": 2}
    assert stats["median_hours_to_close"] == 125  # (10 h + 240 h) / 2
    (step,) = [h for h in engine.history(evaluation.id) if h.trigger == "submit"]
    assert step.form["complaint_statistics"] == stats  # in the step the history keeps
    # the same figures in the report, over the same period
    report = build_report(
        engine,
        sections=["complaints"],
        since=local(2024, 12, 1),
        until=local(2025, 12, 1),
    )
    rows = {(r["dimension"], r["key"]): r["value"] for r in report.rows("complaints")}
    assert rows[("total", "received")] == 3
    assert rows[("total", "closed_late")] == 1
    assert rows[("month", "2025-06")] == 2


@pytest.mark.req("RPT-3")
def test_rpt_3_zero_complaints_are_confirmed_too(
    evaluation_engine: Engine, clock: FakeClock
) -> None:
    engine = evaluation_engine
    evaluation = engine.start("annual_evaluation", actor=AUTHORITY)
    with pytest.raises(PolicyDenied) as excinfo:  # nothing received is still a figure
        engine.fire(evaluation.id, "submit", actor=OPERATOR, data={"report": "自评"})
    assert "received: 0" in refused("complaint_statistics_from_the_store", excinfo).reason_en
    item = engine.fire(
        evaluation.id,
        "submit",
        actor=OPERATOR,
        data={"report": "自评", "statistics_confirmed": True},
    )
    assert item.data["complaint_statistics"]["received"] == 0
    # the figures are the engine's to write: no person types data.complaint_statistics
    assert "complaint_statistics" not in engine.workflow("annual_evaluation").definition.data


# -- INS-7: the yearly self-media results ----------------------------------------------------
@pytest.fixture
def targets_engine(engine_factory: EngineFactory, clocks: Clocks) -> Engine:
    from tests.helpers import PUBLISHING

    engine = engine_factory(
        workflows=[
            PUBLISHING,
            *RECORD_WORKFLOWS,
            INSPECTIONS / "ins_05_self_media_statistics.yaml",
            INSPECTIONS / "ins_07_annual_targets.yaml",
        ],
        policies=[
            POLICIES / n
            for n in ("roles.yaml", "publishing.yaml", "accounts.yaml", "statistics.yaml")
        ]
        + [POLICIES / "targets.yaml"],
        handlers={"publish_to_channels": Channels()},
        extensions=[clocks],
    )
    train_editors(engine)
    return engine


def monthly(engine: Engine, month: str, followers: int, reads: int, publications: int) -> Item:
    item = engine.start(
        "self_media_statistics",
        actor=ASSISTANT,
        data={"scheduled_for": f"{month}-28T15:00+08:00"},
    )
    figures = {
        "platforms": ["wechat"],
        "followers_wechat": followers,
        "screenshot_wechat": f"stats/{month}.png",
        "publications": publications,
        "reads": reads,
    }
    engine.fire(item.id, "submit", actor=ASSISTANT, data=figures)
    return engine.fire(item.id, "confirm", actor=MANAGER)


TARGETS = {
    "year": 2026,
    "target_publications": 3,
    "target_reads": 50_000,
    "target_followers": 60_000,
}


@pytest.mark.req("INS-7")
@pytest.mark.enforces(
    "INS-7", element="policies/targets.yaml#workflows.annual_targets.confirm_figures[0]"
)
def test_ins_7_the_years_results_are_computed_from_the_records_and_confirmed(
    targets_engine: Engine, clock: FakeClock
) -> None:
    engine = targets_engine
    # the first year: nothing recorded, nothing to assess, no confirmation asked
    clock.now = local(2025, 1, 6, 9, 0)
    first = engine.start(
        "annual_targets", actor=MANAGER, data={"scheduled_for": "2025-01-06T09:00+08:00"}
    )
    engine.fire(first.id, "propose", actor=MANAGER, data={**TARGETS, "year": 2025})
    engine.fire(first.id, "approve", actor=AUTHORITY)
    # the year: two pieces to the WeChat account, one to both; two confirmed months
    clock.now = local(2025, 8, 1, 10, 0)
    qualify_account(engine, "fslib-wechat")
    qualify_account(engine, "fslib-weibo", platform="weibo")
    clock.now = local(2025, 9, 1, 10, 0)
    published(engine, channels=["wechat"], accounts=["fslib-wechat"])
    published(engine, channels=["wechat", "weibo"], accounts=["fslib-wechat", "fslib-weibo"])
    monthly(engine, "2025-08", followers=51_000, reads=20_000, publications=1)
    monthly(engine, "2025-09", followers=52_310, reads=31_000, publications=4)

    clock.now = local(2026, 1, 5, 9, 0)
    item = engine.start(
        "annual_targets", actor=MANAGER, data={"scheduled_for": "2026-01-05T09:00+08:00"}
    )
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "propose", actor=MANAGER, data=TARGETS)
    shown = refused("year_results_from_the_store", excinfo).reason_en
    assert "publications: 2; publications_by_account: fslib-wechat 2, fslib-weibo 1" in shown
    assert "publications_reported_monthly: 5; reads: 51000" in shown
    assert "followers: 52310; target_publications: 3" in shown
    # typed last year's figures that differ from the records: refused
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(
            item.id,
            "propose",
            actor=MANAGER,
            data={**TARGETS, "results_confirmed": True, "last_publications": 5},
        )
    assert refused("year_results_from_the_store", excinfo).reason_en.startswith(
        "last_publications 5 typed, 2 in the store"
    )
    proposed = engine.fire(
        item.id,
        "propose",
        actor=MANAGER,
        data={**TARGETS, "results_confirmed": True, "assessment": "发布量未达标"},
    )
    results = proposed.data["year_results"]
    assert results["period"] == "2025"
    assert (results["publications"], results["reads"], results["followers"]) == (2, 51_000, 52_310)
    assert results["followers_by_platform"] == {"wechat": 52_310}
    assert results["months_reported"] == ["2025-08", "2025-09"]
    assert (results["met_publications"], results["met_reads"], results["met_followers"]) == (
        False,
        True,
        False,
    )
    report = build_report(engine, sections=["self_media_year"], now=local(2026, 1, 5, 9, 0))
    rows = {(r["dimension"], r["key"]): r["value"] for r in report.rows("self_media_year")}
    assert rows[("account", "fslib-wechat")] == 2
    assert rows[("total", "reads")] == 51_000


@pytest.mark.req("INS-7")
def test_ins_7_a_second_publishing_workflow_counts_in_the_years_results(
    engine_factory: EngineFactory, clocks: Clocks, clock: FakeClock, tmp_path: Path
) -> None:
    """A center that copies the publishing workflow as ``short_video`` confirms, and the
    report shows, the publications of both (every loaded workflow that publishes)."""
    from tests.helpers import EDITOR, PUBLISHING, TOPIC, publishing_copy, walk

    video, guard = publishing_copy(tmp_path, "short_video")
    engine = engine_factory(
        workflows=[
            PUBLISHING,
            video,
            *RECORD_WORKFLOWS,
            INSPECTIONS / "ins_05_self_media_statistics.yaml",
            INSPECTIONS / "ins_07_annual_targets.yaml",
        ],
        policies=[
            POLICIES / n
            for n in ("roles.yaml", "publishing.yaml", "accounts.yaml", "statistics.yaml")
        ]
        + [POLICIES / "targets.yaml", guard],
        handlers={"publish_to_channels": Channels()},
        extensions=[clocks],
    )
    train_editors(engine)
    clock.now = local(2025, 9, 1, 10, 0)
    published(engine, channels=["pc"])
    clip = engine.start("short_video", actor=EDITOR, data={**TOPIC, "channels": ["app"]})
    assert walk(engine, clip, "published").workflow == "short_video"

    clock.now = local(2026, 1, 5, 9, 0)
    item = engine.start(
        "annual_targets", actor=MANAGER, data={"scheduled_for": "2026-01-05T09:00+08:00"}
    )
    with pytest.raises(PolicyDenied) as excinfo:
        engine.fire(item.id, "propose", actor=MANAGER, data=TARGETS)
    shown = refused("year_results_from_the_store", excinfo).reason_en
    assert "publications: 2; " in shown
    assert "publications_by_channel: app 1, pc 1" in shown
    proposed = engine.fire(
        item.id, "propose", actor=MANAGER, data={**TARGETS, "results_confirmed": True}
    )
    assert proposed.data["year_results"]["publications"] == 2
    report = build_report(engine, sections=["self_media_year"], now=clock.now)
    rows = {(r.dimension, r.key): r.value for r in report.self_media_year}
    assert rows[("total", "publications")] == 2
