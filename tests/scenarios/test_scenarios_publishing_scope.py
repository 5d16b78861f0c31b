"""Scenarios of the publishing clauses that scope people by channel and version the draft
(issue 13): topics routed to, and judged by, the lead of their channel (PUB-1, PUB-2);
drafts pushed to, and reviewed by, the reviewers whose review authority covers their
channel (PUB-5); a resubmission after a rejection is a new, higher draft version (PUB-4);
per-channel variants written with the draft and reviewed with it (PUB-7, 宜); a piece
carries its content type and series (PRM-1).

Each walk-around a person could try through the public API is a case here: a lead of
another channel, a reviewer outside their authority, a resubmission that keeps the old
version number, a lead who drops or widens the channel the staff register gives them.
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
from cmc_workflow.errors import GuardRejected, IdentityRefused, NotPermitted
from cmc_workflow.reports import build_report
from cmc_workflow.schedules import Schedules
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.staff.roster import parse_scope
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    OPS,
    POLICIES,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    WORKFLOWS,
    EngineFactory,
    ok_handler,
)
from tests.helpers.records import RECORD_WORKFLOWS, train_editors

SH = ZoneInfo("Asia/Shanghai")
DAILY = WORKFLOWS / "daily_topic_report.yaml"
CAMPAIGN = WORKFLOWS / "campaign.yaml"
START = dt.datetime(2025, 9, 26, 15, 0, tzinfo=SH)

WEB_LEAD = Actor("li", {"channel_lead"}, {"channel": "pc"})
APP_LEAD = Actor("he", {"channel_lead"}, {"channel": "app"})
WEIBO_LEAD = Actor("ma", {"channel_lead"}, {"channel": "weibo,douyin"})
WEB_REVIEWER = Actor("zhao", {"reviewer"}, {"channel": "pc,wap"})
WEB_SECOND = Actor("qian", {"reviewer"}, {"channel": "pc"})
WEIBO_REVIEWER = Actor("feng", {"reviewer"}, {"channel": "weibo"})


@pytest.fixture(scope="module")
def module_engine(module_db_url: str) -> Iterator[Engine]:
    with Engine.open(
        module_db_url,
        workflows=[PUBLISHING, CAMPAIGN, *RECORD_WORKFLOWS],
        policies=PUBLISHING_POLICIES,
        clock=FakeClock(START),
        handlers={"publish_to_channels": ok_handler},
        identity=None,
    ) as engine:
        train_editors(engine)
        yield engine


@pytest.fixture
def engine(module_engine: Engine) -> Engine:
    return module_engine


def web_topic(engine: Engine, **data: Any) -> Item:
    """A topic for the library's website (pc); TOPIC goes to pc and app."""
    return engine.start("publishing", actor=EDITOR, data={**TOPIC, "channels": ["pc"], **data})


def drafting(engine: Engine, item: Item, lead: Actor = WEB_LEAD) -> Item:
    item = engine.fire(item.id, "approve", actor=lead)
    form = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
    item = engine.fire(item.id, "assign", actor=lead, data=form)
    return engine.fire(item.id, "accept", actor=EDITOR)


# -- PUB-1, PUB-2: the lead of the topic's channel ----------------------------------------------
@pytest.mark.req("PUB-1")
@pytest.mark.enforces("PUB-1", element="policies/publishing.yaml#workflows.publishing.scoping[0]")
@pytest.mark.enforces("PUB-2", element="policies/publishing.yaml#workflows.publishing.scoping[0]")
def test_pub_1_2_a_topic_goes_to_and_is_judged_by_the_lead_of_its_channel(
    engine: Engine,
) -> None:
    item = web_topic(engine)
    # routed to the lead of the channel concerned, not to any lead (PUB-1)
    assert item.id in [i.id for i in engine.inbox(WEB_LEAD)]
    assert item.id not in [i.id for i in engine.inbox(WEIBO_LEAD)]
    # a lead acts only on the channels they lead (PUB-2): every step of theirs is refused
    for trigger, form in [
        ("edit", {"title": "改标题"}),
        ("approve", {}),
        ("return", {"reason": "不是我的频道"}),
        ("delete", {"reason": "不是我的频道"}),
    ]:
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(item.id, trigger, actor=WEIBO_LEAD, data=form)
        assert denied.value.rule == "leads_own_channels"
        assert "频道负责人" in denied.value.reason_zh
    verdict = {a.trigger: a for a in engine.allowed(item.id, WEIBO_LEAD)}
    assert "leads_own_channels" in verdict["approve"].rules
    # a topic for two channels is the business of either channel's lead
    both = engine.start("publishing", actor=EDITOR, data={**TOPIC, "channels": ["pc", "weibo"]})
    assert engine.fire(both.id, "edit", actor=WEIBO_LEAD, data={"title": "两频道"}).state == (
        "proposed"
    )
    item = engine.fire(item.id, "approve", actor=WEB_LEAD)
    with pytest.raises(PolicyDenied):  # assignment, too, is the channel's lead's
        engine.fire(
            item.id,
            "assign",
            actor=APP_LEAD,
            data={"assignees": [EDITOR.id], "due_date": "2025-10-10"},
        )


# -- PUB-5: review authority ----------------------------------------------------------------------
@pytest.mark.req("PUB-5")
@pytest.mark.enforces("PUB-5", element="policies/publishing.yaml#workflows.publishing.scoping[1]")
def test_pub_5_a_draft_goes_to_and_is_reviewed_by_reviewers_with_authority_for_its_channel(
    engine: Engine,
) -> None:
    item = drafting(engine, web_topic(engine))
    item = engine.fire(item.id, "submit", actor=EDITOR, data={"content": "正文"})
    assert item.state == "first_review"
    # pushed to the reviewers whose authority covers the channel, not to the others
    assert item.id in [i.id for i in engine.inbox(WEB_REVIEWER)]
    assert item.id not in [i.id for i in engine.inbox(WEIBO_REVIEWER)]
    for trigger, form in [("approve", CHECKLIST), ("reject", {"reason": "越权"})]:
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(item.id, trigger, actor=WEIBO_REVIEWER, data=form)
        assert denied.value.rule == "review_authority"
    item = engine.fire(item.id, "approve", actor=WEB_REVIEWER, data=CHECKLIST)
    with pytest.raises(PolicyDenied) as denied:  # the second review too
        engine.fire(item.id, "approve", actor=WEIBO_REVIEWER, data=CHECKLIST)
    assert denied.value.rule == "review_authority"
    item = engine.fire(item.id, "approve", actor=WEB_SECOND, data=CHECKLIST)
    assert item.state == "signoff"
    # outside the review stages the rule does not speak: a reviewer of another channel
    # may still report a suspected error on the published piece (PUB-11)
    item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "published"
    item = engine.fire(item.id, "report_error", actor=WEIBO_REVIEWER, data={"description": "错字"})
    assert item.state == "correction"


def test_an_actor_without_a_channel_reaches_every_channel_as_the_register_reads_a_scope(
    engine: Engine,
) -> None:
    """A lead or reviewer whose post names no channel (the chief editor) covers them all,
    as the register reads such a scope; with the register as identity source the channel
    cannot be dropped (next test)."""
    chief = Actor("chief", {"channel_lead", "reviewer"})
    item = web_topic(engine)
    assert engine.fire(item.id, "approve", actor=chief).state == "selected"


# -- PUB-4: versioned drafting --------------------------------------------------------------------
@pytest.mark.req("PUB-4")
@pytest.mark.enforces(
    "PUB-4", element="policies/publishing.yaml#workflows.publishing.forbid_data[5]"
)
def test_pub_4_a_resubmission_after_a_rejection_is_a_higher_draft_version(
    engine: Engine,
) -> None:
    item = drafting(engine, web_topic(engine))
    item = engine.fire(item.id, "submit", actor=EDITOR, data={"content": "第一稿"})
    item = engine.fire(item.id, "reject", actor=WEB_REVIEWER, data={"reason": "数据需核实"})
    assert item.state == "drafting"
    for form in [
        {"content": "第二稿"},  # no version
        {"content": "第二稿", "draft_version": 1},  # the first draft's number
    ]:
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(item.id, "submit", actor=EDITOR, data=form)
        assert denied.value.rule == "resubmission_is_a_new_version"
        assert "版本" in denied.value.reason_zh
    item = engine.fire(
        item.id, "submit", actor=EDITOR, data={"content": "第二稿", "draft_version": 2}
    )
    item = engine.fire(item.id, "reject", actor=WEB_REVIEWER, data={"reason": "再核实"})
    with pytest.raises(PolicyDenied):  # the same number again is no new version
        engine.fire(item.id, "submit", actor=EDITOR, data={"content": "第三稿", "draft_version": 2})
    item = engine.fire(
        item.id, "submit", actor=EDITOR, data={"content": "第三稿", "draft_version": 3}
    )
    drafts = [
        (h.form["content"], h.form.get("draft_version"))
        for h in engine.history(item.id)
        if h.trigger == "submit"
    ]
    assert drafts == [("第一稿", None), ("第二稿", 2), ("第三稿", 3)]  # the history keeps all


# -- PUB-7 (宜): per-channel variants, reviewed with the piece ------------------------------------
@pytest.mark.req("PUB-7")
def test_pub_7_per_channel_variants_are_part_of_the_reviewed_piece(engine: Engine) -> None:
    item = drafting(engine, web_topic(engine, channels=["pc", "app"]), lead=WEB_LEAD)
    form = {"content": "正文", "variant_app": "APP 版：短标题《夜读》"}
    item = engine.fire(item.id, "submit", actor=EDITOR, data=form)
    assert item.data["variant_app"] == "APP 版：短标题《夜读》"
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    reviews = [h.from_state for h in engine.history(item.id) if h.trigger == "approve"]
    assert reviews[-2:] == ["first_review", "second_review"]  # reviewed with the piece
    assert item.state == "signoff"
    assert item.data["variant_app"]
    # a variant for a channel the piece does not go to is a should (宜): accepted, warned
    other = drafting(engine, web_topic(engine))
    other = engine.fire(
        other.id, "submit", actor=EDITOR, data={"content": "正文", "variant_weibo": "微博版"}
    )
    assert other.state == "first_review"


# -- PRM-1: content type and series ---------------------------------------------------------------
@pytest.mark.req("PRM-1")
@pytest.mark.enforces(
    "PRM-1", element="policies/publishing.yaml#workflows.publishing.forbid_data[6]"
)
def test_prm_1_a_piece_carries_its_content_type_and_series(engine: Engine) -> None:
    untyped = {k: v for k, v in TOPIC.items() if k != "content_type"}
    with pytest.raises(PolicyDenied) as denied:
        engine.start("publishing", actor=EDITOR, data=untyped)
    assert denied.value.rule == "piece_carries_its_content_type"
    assert "内容类型" in denied.value.reason_zh
    item = drafting(engine, web_topic(engine))
    form = {"content": "正文", "content_type": "collection_reveal", "series": "古籍里的佛山"}
    item = engine.fire(item.id, "submit", actor=EDITOR, data=form)
    assert (item.data["content_type"], item.data["series"]) == ("collection_reveal", "古籍里的佛山")


# -- with the staff register as the identity source ---------------------------------------------
@pytest.mark.req("PUB-2", "SEC-6")
def test_a_lead_cannot_drop_or_widen_the_channels_the_register_gives_them(
    db_url: str, clock: FakeClock, engine_factory: EngineFactory
) -> None:
    store = Store.open(db_url)
    try:
        register = Register(store, clock=clock)
        day = dt.date(2025, 9, 1)
        for name, person, post, scope in [
            ("王芳", "wang", "editor", {}),
            ("马丽", "ma", "channel_lead", {"channels": ["weibo", "douyin"]}),
            ("总编", "chief", "channel_lead", {}),
            ("严审", "yan", "reviewer", {"review_stages": ["second_review"]}),
        ]:
            entry = PersonEntry(name, person, education="bachelor", experience_years=5)
            register.add(Actor("hr1"), entry, [PostEntry(post, scope, day)])
    finally:
        store.close()
    engine = engine_factory(
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=PUBLISHING_POLICIES,
        handlers={"publish_to_channels": ok_handler},
    )
    web = engine.start("publishing", actor=EDITOR, data={**TOPIC, "channels": ["pc"]})
    weibo = engine.start("publishing", actor=EDITOR, data={**TOPIC, "channels": ["weibo"]})
    lead = Actor("ma", {"channel_lead"})  # claims no channel: the register gives two
    assert [i.id for i in engine.inbox(lead)] == [weibo.id]
    with pytest.raises(PolicyDenied) as denied:  # dropping the attribute does not widen
        engine.fire(web.id, "approve", actor=lead)
    assert denied.value.rule == "leads_own_channels"
    with pytest.raises(IdentityRefused) as refused:  # claiming a channel not led
        engine.fire(web.id, "approve", actor=Actor("ma", {"channel_lead"}, {"channel": "pc"}))
    assert refused.value.rule == "attribute_not_held"
    with pytest.raises(IdentityRefused):  # nor smuggled in beside one that is
        engine.fire(web.id, "approve", actor=Actor("ma", {"channel_lead"}, {"channel": "weibo,pc"}))
    assert engine.fire(weibo.id, "approve", actor=lead).state == "selected"
    # a lead whose post names no channel leads them all (the register's reading)
    assert engine.fire(web.id, "approve", actor=Actor("chief", {"channel_lead"})).state == (
        "selected"
    )
    # review authority per stage from the post's scope (审核环节): a second reviewer may
    # not claim the first review
    with pytest.raises(IdentityRefused) as refused:
        engine.allowed(
            weibo.id, Actor("yan", {"reviewer"}, {"review_stage": "first_review,second_review"})
        )
    assert refused.value.rule == "attribute_not_held"
    scope, problem = parse_scope("审核环节:first_review,second_review;内容类型:activity_preview")
    assert problem is None
    assert scope == {
        "review_stages": ["first_review", "second_review"],
        "content_types": ["activity_preview"],
    }


# -- PUB-1: topics reported each day ------------------------------------------------------------
@pytest.mark.req("PUB-1")
@pytest.mark.enforces(
    "PUB-1", element="workflows/schedules.yaml#schedules.pub_01_daily_topic_report"
)
@pytest.mark.enforces(
    "PUB-1", element="policies/topic_report.yaml#workflows.daily_topic_report.scoping[0]"
)
def test_pub_1_each_working_day_opens_a_topic_report_that_goes_to_the_leads_concerned(
    db_url: str,
) -> None:
    calendar = WorkingCalendar()
    loaded = load_paths([WORKFLOWS, POLICIES])
    (daily,) = [
        s
        for s in Schedules.from_loaded(loaded, calendar).schedules
        if s.id == "pub_01_daily_topic_report"
    ]
    schedules, clocks = Schedules([daily], calendar), Clocks(calendar)
    clock = FakeClock(dt.datetime(2025, 9, 26, 8, 0, tzinfo=SH))  # a Friday
    with Engine.open(
        db_url,
        workflows=[PUBLISHING, DAILY, *RECORD_WORKFLOWS],
        policies=[*PUBLISHING_POLICIES, POLICIES / "topic_report.yaml"],
        clock=clock,
        calendar=calendar,
        extensions=[schedules, clocks],
        handlers={"publish_to_channels": ok_handler},
        identity=None,
    ) as engine:

        def reports() -> list[Item]:
            runs = sorted(schedules.runs(daily.id), key=lambda r: r.due_at)
            return [engine.get(r.item_id) for r in runs if r.item_id is not None]

        engine.run_due()
        assert reports() == []
        clock.now = dt.datetime(2025, 9, 26, 9, 0, 5, tzinfo=SH)
        engine.run_due()
        (friday,) = reports()
        assert (friday.workflow, friday.state) == ("daily_topic_report", "reporting")
        # not reported by noon: escalated to the channel leads (the clock forces it)
        clock.now = dt.datetime(2025, 9, 26, 15, 0, tzinfo=SH)
        engine.run_due()
        (status,) = [c for c in clocks.clocks(friday.id) if c.state == "reporting"]
        assert status.escalated_at is not None
        # Saturday opens none; Sunday 2025-09-28 is a working day (调休) and opens one
        clock.now = dt.datetime(2025, 9, 27, 9, 0, 5, tzinfo=SH)
        engine.run_due()
        assert len(reports()) == 1
        clock.now = dt.datetime(2025, 9, 28, 9, 0, 5, tzinfo=SH)
        engine.run_due()
        assert len(reports()) == 2
        with pytest.raises(NotPermitted):  # nobody but an editor reports (the workflow)
            engine.fire(friday.id, "report", actor=WEB_LEAD, data={"topics": ["x"]})
        report = engine.fire(
            friday.id,
            "report",
            actor=EDITOR,
            data={"topics": ["图书馆之夜", "古籍修复"], "channels": ["pc"]},
        )
        assert report.state == "lead_review"
        # routed to the lead of the channel concerned, not to any lead
        assert report.id in [i.id for i in engine.inbox(WEB_LEAD)]
        assert report.id not in [i.id for i in engine.inbox(WEIBO_LEAD)]
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(report.id, "acknowledge", actor=WEIBO_LEAD)
        assert denied.value.rule == "daily_report_to_channel_leads"
        assert engine.fire(report.id, "acknowledge", actor=WEB_LEAD).state == "done"


@pytest.mark.req("PRM-1")
def test_prm_1_the_report_counts_content_types_and_series_per_account_and_month(
    engine: Engine,
) -> None:
    item = drafting(engine, web_topic(engine, channels=["pc", "app"]))
    form = {"content": "正文", "content_type": "activity_preview", "series": "图书馆之夜"}
    item = engine.fire(item.id, "submit", actor=EDITOR, data=form)
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    assert engine.fire(item.id, "sign", actor=OPS).state == "published"
    report = build_report(engine, sections=["content_types"])
    rows = [r for r in report.content_types if r.series == "图书馆之夜"]
    assert [(r.month, r.account, r.content_type, r.publications) for r in rows] == [
        ("2025-09", "channel:app", "activity_preview", 1),
        ("2025-09", "channel:pc", "activity_preview", 1),
    ]
    assert report.rows("content_types")[0].keys() == {
        "month",
        "account",
        "content_type",
        "series",
        "publications",
    }


@pytest.mark.req("PUB-5")
@pytest.mark.enforces("PUB-5", element="policies/publishing.yaml#workflows.publishing.scoping[2]")
@pytest.mark.enforces("PUB-5", element="policies/publishing.yaml#workflows.publishing.scoping[3]")
def test_pub_5_review_authority_by_content_type_and_by_stage(engine: Engine) -> None:
    previews_only = Actor("yan", {"reviewer"}, {"content_type": "activity_preview"})
    first_only = Actor("lu", {"reviewer"}, {"review_stage": "first_review"})
    item = drafting(engine, web_topic(engine))
    form = {"content": "正文", "content_type": "collection_reveal", "series": "古籍"}
    item = engine.fire(item.id, "submit", actor=EDITOR, data=form)
    # a reviewer of activity previews neither gets nor reviews a collection reveal
    assert item.id not in [i.id for i in engine.inbox(previews_only)]
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(item.id, "approve", actor=previews_only, data=CHECKLIST)
    assert denied.value.rule == "review_authority_by_content_type"
    # a first reviewer reviews at the first stage ...
    assert item.id in [i.id for i in engine.inbox(first_only)]
    item = engine.fire(item.id, "approve", actor=first_only, data=CHECKLIST)
    # ... and not at the second, whatever else they may do
    assert item.id not in [i.id for i in engine.inbox(first_only)]
    other_first = Actor("tan", {"reviewer"}, {"review_stage": "first_review"})
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(item.id, "approve", actor=other_first, data=CHECKLIST)
    assert denied.value.rule == "review_authority_by_stage"
    assert "审核环节" in denied.value.reason_zh
    second = Actor("bai", {"reviewer"}, {"review_stage": "first_review,second_review"})
    assert engine.fire(item.id, "approve", actor=second, data=CHECKLIST).state == "signoff"


# -- PRM-2 (should/may): a campaign with its dates and its pieces ---------------------------------
@pytest.mark.req("PRM-2")
def test_prm_2_a_campaign_item_holds_its_dates_and_links_its_pieces(engine: Engine) -> None:
    integrator = Actor("app7", {"integrator"}, {"application": "app-7"})
    operator = Actor("yun", {"operator"})
    campaign = engine.start(
        "campaign",
        actor=integrator,
        data={
            "title": "中秋猜灯谜",
            "kind": "festival",
            "application": "app-7",
            "starts_on": "2025-10-01",
            "ends_on": "2025-09-30",  # ends before it starts
        },
    )
    with pytest.raises(GuardRejected):
        engine.fire(campaign.id, "launch", actor=operator)
    other = Actor("app9", {"integrator"}, {"application": "app-9"})
    with pytest.raises(PolicyDenied) as denied:  # another integrator's campaign (SEC-5)
        engine.fire(campaign.id, "cancel", actor=other, data={"reason": "x"})
    assert denied.value.rule == "integrators_own_applications"
    campaign = engine.start(
        "campaign",
        actor=integrator,
        data={
            "title": "中秋猜灯谜",
            "kind": "festival",
            "application": "app-7",
            "starts_on": "2025-10-01",
            "ends_on": "2025-10-08",
        },
    )
    campaign = engine.fire(campaign.id, "launch", actor=operator)
    piece = web_topic(engine, campaign=str(campaign.id), content_type="activity_preview")
    campaign = engine.fire(
        campaign.id, "link_pieces", actor=operator, data={"pieces": [str(piece.id)]}
    )
    assert (campaign.state, campaign.data["pieces"]) == ("running", [str(piece.id)])
    closed = engine.fire(campaign.id, "close", actor=operator, data={"summary": "参与 1200 人"})
    assert closed.state == "closed"
