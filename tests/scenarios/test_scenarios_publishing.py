"""Scenarios of editorial publishing, one per requirement PUB-1..PUB-12, each walking its
clause end to end through the public API on the bundled publishing workflow and the
bundled policies that judge it (review stages, sign-off, separation of duties, trained
editors TRN-3, qualified accounts ACC-2), with a controlled clock.

Several clauses are also covered piecemeal by the policy and engine tests; these read as
the clause does, from the topic proposal to the archive or the retraction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, HandlerContext, Item, PolicyDenied
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import FormInvalid, GuardRejected, InvalidTrigger, NotPermitted
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
    WORKFLOWS,
)
from tests.helpers.records import RECORD_WORKFLOWS, qualify_account, train_editors

SH = ZoneInfo("Asia/Shanghai")
CADENCE = WORKFLOWS / "inspections" / "ins_11_publishing_cadence.yaml"
ASSISTANT = Actor("xu", {"ops_assistant"})


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


class Channels:
    """The publish_to_channels handler: records what went out where."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []

    def __call__(self, ctx: HandlerContext) -> None:
        channels = tuple(ctx.data["channels"])
        self.sent.append((ctx.item_id, channels, tuple(ctx.data.get("accounts") or ())))

    def of(self, item_id: int) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        return [(channels, accounts) for i, channels, accounts in self.sent if i == item_id]


@dataclass
class Desk:
    """One engine for the module (each scenario starts its own items): the bundled
    publishing workflow with the records its policies read, and the cadence check."""

    engine: Engine
    channels: Channels
    clocks: Clocks
    clock: FakeClock


START = local(2025, 9, 26, 15, 0)


@pytest.fixture(scope="module")
def desk(module_db_url: str) -> Iterator[Desk]:
    channels, clocks, clock = Channels(), Clocks(WorkingCalendar()), FakeClock(START)
    with Engine.open(
        module_db_url,
        workflows=[PUBLISHING, *RECORD_WORKFLOWS, CADENCE],
        policies=PUBLISHING_POLICIES,
        clock=clock,
        handlers={"publish_to_channels": channels},
        extensions=[clocks],
    ) as engine:
        train_editors(engine)  # TRN-3: only trained editors are assigned the work
        yield Desk(engine, channels, clocks, clock)


@pytest.fixture
def clock(desk: Desk) -> FakeClock:
    desk.clock.now = START
    return desk.clock


@pytest.fixture
def engine(desk: Desk, clock: FakeClock) -> Engine:
    return desk.engine


@pytest.fixture
def channels(desk: Desk) -> Channels:
    return desk.channels


@pytest.fixture
def clocks(desk: Desk) -> Clocks:
    return desk.clocks


def propose(engine: Engine, **data: Any) -> Item:
    return engine.start("publishing", actor=EDITOR, data={**TOPIC, **data})


def to(engine: Engine, item: Item, state: str, author: Actor = EDITOR) -> Item:
    """Move ``item`` along the usual path until it rests in ``state``."""
    path: list[tuple[str, str, Actor, dict[str, Any]]] = [
        ("proposed", "approve", LEAD, {}),
        ("selected", "assign", LEAD, {"assignees": [author.id], "due_date": "2025-10-10"}),
        ("assigned", "accept", author, {}),
        ("drafting", "submit", author, {"content": "正文"}),
        ("first_review", "approve", REVIEWER, CHECKLIST),
        ("second_review", "approve", SECOND_REVIEWER, CHECKLIST),
        ("signoff", "sign", OPS, {}),
    ]
    for at, trigger, actor, form in path:
        if item.state == state:
            return item
        assert item.state == at, (item.state, at)
        item = engine.fire(item.id, trigger, actor=actor, data=form)
    assert item.state == state, item.state
    return item


def triggers(engine: Engine, item_id: int) -> list[str | None]:
    return [h.trigger for h in engine.history(item_id)]


# -- PUB-1 topic proposal -------------------------------------------------------------------------
@pytest.mark.req("PUB-1")
def test_pub_1_an_editor_files_a_topic_with_its_angle_materials_and_channels(
    engine: Engine,
) -> None:
    with pytest.raises(FormInvalid, match="channels"):
        engine.start("publishing", actor=EDITOR, data={"title": "图书馆之夜", "outline": "提纲"})
    with pytest.raises(NotPermitted):
        engine.start("publishing", actor=REVIEWER, data=dict(TOPIC))
    item = propose(engine, materials=["https://example.org/photos/night.zip", "采访提纲.docx"])
    assert (item.state, item.created_by) == ("proposed", EDITOR.id)
    fields = ("title", "outline", "channels", "content_type", "materials")
    assert {k: item.data[k] for k in fields} == {
        **TOPIC,
        "materials": ["https://example.org/photos/night.zip", "采访提纲.docx"],
    }
    assert item.id in [i.id for i in engine.inbox(LEAD)]  # waiting on the channel lead


# -- PUB-2 topic selection ------------------------------------------------------------------------
@pytest.mark.req("PUB-2")
def test_pub_2_the_channel_lead_edits_approves_returns_or_deletes_a_proposal(
    engine: Engine,
) -> None:
    chosen = propose(engine)
    with pytest.raises(NotPermitted):  # the editor does not select their own topic
        engine.fire(chosen.id, "approve", actor=EDITOR)
    chosen = engine.fire(chosen.id, "edit", actor=LEAD, data={"title": "图书馆之夜·秋"})
    chosen = engine.fire(chosen.id, "approve", actor=LEAD)
    assert (chosen.state, chosen.data["title"]) == ("selected", "图书馆之夜·秋")

    returned = engine.fire(propose(engine).id, "return", actor=LEAD, data={"reason": "角度重复"})
    assert returned.state == "returned"
    again = engine.fire(returned.id, "resubmit", actor=EDITOR, data={"outline": "从读者视角写"})
    assert (again.state, again.data["outline"]) == ("proposed", "从读者视角写")

    deleted = engine.fire(propose(engine).id, "delete", actor=LEAD, data={"reason": "不合时宜"})
    assert (deleted.state, deleted.is_open) == ("deleted", False)
    with pytest.raises(InvalidTrigger):  # a deleted topic stays deleted
        engine.fire(deleted.id, "approve", actor=LEAD)


# -- PUB-3 assignment -----------------------------------------------------------------------------
@pytest.mark.req("PUB-3")
def test_pub_3_an_assignment_names_editors_and_a_due_date_and_shows_who_since_when_overdue(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.fire(propose(engine).id, "approve", actor=LEAD)
    item = engine.fire(
        item.id,
        "assign",
        actor=LEAD,
        data={"assignees": [EDITOR.id, OTHER_EDITOR.id], "due_date": "2025-10-10"},
    )
    assert (item.state, item.data["assignees"], item.data["due_date"]) == (
        "assigned",
        [EDITOR.id, OTHER_EDITOR.id],
        "2025-10-10",
    )
    lin = Actor("lin", {"editor"})
    assert item.id in [i.id for i in engine.inbox(OTHER_EDITOR)]
    assert item.id not in [i.id for i in engine.inbox(lin)]
    with pytest.raises(PolicyDenied) as denied:  # only an editor it is assigned to takes it
        engine.fire(item.id, "accept", actor=lin)
    assert denied.value.rule == "only_assignees_take_up_the_work"
    item = engine.fire(item.id, "accept", actor=OTHER_EDITOR)
    # who has it, and since when
    last = engine.history(item.id)[-1]
    assert (last.trigger, last.actor, last.to_state, last.at) == (
        "accept",
        OTHER_EDITOR.id,
        "drafting",
        clock.now,
    )
    (drafting,) = [c for c in clocks.clocks(item.id) if c.state == "drafting"]
    assert drafting.started_at == clock.now
    # due by the end of the due date given at the assignment (PUB-3)
    assert drafting.due_at == local(2025, 10, 11, 0, 0)
    assert drafting.status == "running"
    clock.now = local(2025, 10, 11, 0, 1)
    engine.run_due()
    (drafting,) = [c for c in clocks.clocks(item.id) if c.state == "drafting"]
    assert (drafting.status, drafting.overdue) == ("breached", True)
    assert drafting.escalated_at is not None
    assert ("notify", "channel_lead") in {(o.kind, o.name) for o in engine.outbox(item.id)}


# -- PUB-4 drafting -------------------------------------------------------------------------------
@pytest.mark.req("PUB-4")
def test_pub_4_resubmission_after_rejection_keeps_the_history(engine: Engine) -> None:
    item = to(engine, propose(engine), "drafting")
    item = engine.fire(
        item.id, "submit", actor=EDITOR, data={"content": "第一稿", "version_note": "v1"}
    )
    item = engine.fire(item.id, "reject", actor=REVIEWER, data={"reason": "数据需核实"})
    assert item.state == "drafting"
    item = engine.fire(
        item.id,
        "submit",
        actor=EDITOR,
        data={"content": "第二稿", "version_note": "v2 核实数据", "draft_version": 2},
    )
    assert (item.state, item.data["content"]) == ("first_review", "第二稿")
    history = engine.history(item.id)
    drafts = [(h.form["content"], h.form["version_note"]) for h in history if h.trigger == "submit"]
    assert drafts == [("第一稿", "v1"), ("第二稿", "v2 核实数据")]
    (rejection,) = [h for h in history if h.trigger == "reject"]
    assert (rejection.actor, rejection.form["reason"], rejection.to_state) == (
        REVIEWER.id,
        "数据需核实",
        "drafting",
    )
    assert [h.seq for h in history] == list(range(1, len(history) + 1))


# -- PUB-5 review stages --------------------------------------------------------------------------
@pytest.mark.req("PUB-5")
@pytest.mark.enforces(
    "PUB-5", element="policies/publishing.yaml#workflows.publishing.attestations[0]"
)
@pytest.mark.enforces(
    "PUB-5", element="policies/publishing.yaml#workflows.publishing.distinct_actors[1]"
)
@pytest.mark.enforces(
    "PUB-6", element="policies/publishing.yaml#workflows.publishing.required_stages[0]"
)
def test_pub_5_a_first_and_a_second_review_with_the_checklist_come_before_sign_off(
    engine: Engine,
) -> None:
    wu = Actor("wu", {"editor", "reviewer"})
    train_editors(engine, wu.id)
    item = to(engine, propose(engine), "first_review", author=wu)
    with pytest.raises(InvalidTrigger):  # no sign-off straight from the first review
        engine.fire(item.id, "sign", actor=OPS)
    with pytest.raises(PolicyDenied) as denied:  # the author never reviews
        engine.fire(item.id, "approve", actor=wu, data=CHECKLIST)
    assert denied.value.rule == "author_does_not_review"
    with pytest.raises(PolicyDenied) as denied:  # every item of SM 5.3.2 is attested
        engine.fire(
            item.id, "approve", actor=REVIEWER, data={**CHECKLIST, "copyright_cleared": False}
        )
    assert denied.value.rule == "review_checklist"
    assert "素材版权清晰" in denied.value.reason_zh
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    with pytest.raises(PolicyDenied) as denied:  # the second review is someone else's
        engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    assert denied.value.rule == "distinct_reviewers"
    item = engine.fire(item.id, "reject", actor=SECOND_REVIEWER, data={"reason": "标题有歧义"})
    assert item.state == "drafting"  # a rejection returns the draft to drafting ...
    item = engine.fire(item.id, "submit", actor=wu, data={"content": "修改稿", "draft_version": 2})
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)  # ... both again
    assert item.state == "signoff"
    reviews = [
        h
        for h in engine.history(item.id)
        if h.trigger == "approve" and h.from_state in ("first_review", "second_review")
    ]
    assert [(h.from_state, h.actor) for h in reviews] == [
        ("first_review", REVIEWER.id),
        ("first_review", SECOND_REVIEWER.id),
        ("second_review", REVIEWER.id),
    ]
    assert all(h.form[k] is True for h in reviews for k in CHECKLIST)


# -- PUB-6 sign-off -------------------------------------------------------------------------------
@pytest.mark.req("PUB-6")
def test_pub_6_publication_requires_the_operations_managers_sign_off(
    engine: Engine, channels: Channels
) -> None:
    item = to(engine, propose(engine), "signoff")
    for someone in (LEAD, REVIEWER, EDITOR):
        with pytest.raises(NotPermitted):
            engine.fire(item.id, "sign", actor=someone)
    assert channels.of(item.id) == []  # nothing went out before the sign-off
    item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "published"
    (signed,) = [h for h in engine.history(item.id) if h.trigger == "sign"]
    assert (signed.actor, signed.roles) == (OPS.id, ("ops_manager",))
    assert len(channels.of(item.id)) == 1


# -- PUB-7 multichannel publishing -----------------------------------------------------------------
@pytest.mark.req("PUB-7", "ACC-2")
def test_pub_7_signed_off_content_goes_out_to_every_channel_and_account(
    engine: Engine, channels: Channels
) -> None:
    everywhere = ["pc", "wap", "app", "wechat", "wechat_channels", "weibo", "douyin"]
    # each self-media channel goes out through an operating account of its own (ACC-2)
    accounts = ["fslib-wechat", "fslib-channels", "fslib-weibo", "fslib-douyin"]
    for account, platform in zip(accounts, everywhere[3:], strict=True):
        qualify_account(engine, account, platform=platform)
    item = propose(engine, channels=everywhere, accounts=accounts)
    item = to(engine, item, "signoff")
    item = engine.fire(item.id, "sign", actor=OPS)
    assert item.state == "release"  # the accounts' custodian releases it to them
    assert channels.of(item.id) == []
    item = engine.fire(item.id, "release", actor=OPS)
    assert item.state == "published"
    assert channels.of(item.id) == [(tuple(everywhere), tuple(accounts))]
    (run,) = [o for o in engine.outbox(item.id) if o.kind != "notify"]
    assert (run.name, run.delivered_at is not None) == ("publish_to_channels", True)


# -- PUB-8 reposting ------------------------------------------------------------------------------
@pytest.mark.req("PUB-8")
def test_pub_8_a_repost_names_its_source_and_author_and_is_authorised_and_verified(
    engine: Engine,
) -> None:
    item = to(engine, propose(engine, repost=True), "drafting")
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(item.id, "submit", actor=EDITOR, data={"content": "转载正文"})
    assert denied.value.rule == "repost_names_its_source"
    item = engine.fire(
        item.id,
        "submit",
        actor=EDITOR,
        data={"content": "转载正文", "source": "佛山日报", "original_author": "陈记者"},
    )
    for unchecked in ("repost_authorized", "truthful"):
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(item.id, "approve", actor=REVIEWER, data={**CHECKLIST, unchecked: False})
        assert denied.value.rule == "review_checklist"
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)
    assert (item.state, item.data["source"], item.data["original_author"]) == (
        "second_review",
        "佛山日报",
        "陈记者",
    )


# -- PUB-9 archive --------------------------------------------------------------------------------
@pytest.mark.req("PUB-9")
def test_pub_9_published_items_are_classified_and_archived(engine: Engine) -> None:
    item = engine.fire(to(engine, propose(engine), "signoff").id, "sign", actor=OPS)
    with pytest.raises(FormInvalid, match="category"):
        engine.fire(item.id, "archive", actor=EDITOR)
    item = engine.fire(item.id, "archive", actor=EDITOR, data={"category": "活动预告"})
    assert (item.state, item.is_open, item.data["category"]) == ("archived", False, "活动预告")
    assert triggers(engine, item.id)[-2:] == ["done", "archive"]


# -- PUB-10 publishing cadence --------------------------------------------------------------------
@pytest.mark.req("PUB-10", "INS-11")
def test_pub_10_silent_account_raises_an_alert(engine: Engine) -> None:
    check = engine.start("publishing_cadence_check", actor=ASSISTANT, data={"interval_days": 7})
    silent = {"accounts": ["fslib-weibo"], "days_silent": 6}
    with pytest.raises(GuardRejected):  # six days is within the configured interval
        engine.fire(check.id, "raise_alert", actor=ASSISTANT, data=silent)
    alert = engine.fire(
        check.id, "raise_alert", actor=ASSISTANT, data={**silent, "days_silent": 12}
    )
    assert (alert.state, alert.data["accounts"]) == ("alerted", ["fslib-weibo"])
    assert ("notify", "ops_manager") in {(o.kind, o.name) for o in engine.outbox(alert.id)}
    assert alert.id in [i.id for i in engine.inbox(OPS)]
    with pytest.raises(NotPermitted):  # the manager, not the assistant, takes the alert
        engine.fire(alert.id, "acknowledge", actor=ASSISTANT, data={"plan": "x"})
    done = engine.fire(alert.id, "acknowledge", actor=OPS, data={"plan": "本周内恢复每周两更"})
    assert (done.state, done.is_open) == ("resolved", False)


# -- PUB-11 correction and retraction --------------------------------------------------------------
@pytest.mark.req("PUB-11")
def test_pub_11_a_suspected_error_is_verified_then_corrected_or_retracted_and_the_trail_kept(
    engine: Engine, channels: Channels
) -> None:
    item = engine.fire(to(engine, propose(engine), "signoff").id, "sign", actor=OPS)
    item = engine.fire(item.id, "report_error", actor=REVIEWER, data={"description": "日期写错"})
    assert item.state == "correction"
    with pytest.raises(FormInvalid, match="department"):  # verified with whom?
        engine.fire(item.id, "correct", actor=OPS, data={"correction": "改为10月9日"})
    item = engine.fire(
        item.id,
        "correct",
        actor=OPS,
        data={"department": "活动推广部", "correction": "活动日期改为10月9日"},
    )
    assert item.state == "correcting"  # a correction is content (PUB-11): written again,
    item = engine.fire(item.id, "submit", actor=EDITOR, data={"content": "活动日期10月9日"})
    item = engine.fire(item.id, "approve", actor=REVIEWER, data=CHECKLIST)  # reviewed twice
    item = engine.fire(item.id, "approve", actor=SECOND_REVIEWER, data=CHECKLIST)
    item = engine.fire(item.id, "sign", actor=OPS)  # and signed off
    assert item.state == "published"  # corrected and out again
    assert len(channels.of(item.id)) == 2
    item = engine.fire(item.id, "report_error", actor=EDITOR, data={"description": "图片侵权"})
    item = engine.fire(
        item.id, "retract", actor=OPS, data={"department": "法务", "reason": "图片未获授权"}
    )
    assert (item.state, item.is_open) == ("retracted", False)
    trail = [(h.kind, h.trigger, h.actor) for h in engine.history(item.id) if h.kind != "route"]
    assert trail[-9:] == [
        ("fire", "report_error", REVIEWER.id),
        ("fire", "correct", OPS.id),
        ("fire", "submit", EDITOR.id),
        ("fire", "approve", REVIEWER.id),
        ("fire", "approve", SECOND_REVIEWER.id),
        ("fire", "sign", OPS.id),
        ("handler", "done", "system"),  # republished
        ("fire", "report_error", EDITOR.id),
        ("fire", "retract", OPS.id),
    ]
    kept = [(h.trigger, h.form) for h in engine.history(item.id) if h.trigger != "route"]
    assert ("correct", {"department": "活动推广部", "correction": "活动日期改为10月9日"}) in kept
    assert ("retract", {"department": "法务", "reason": "图片未获授权"}) in kept


# -- PUB-12 non-profit ----------------------------------------------------------------------------
@pytest.mark.req("PUB-12")
def test_pub_12_a_publication_that_declares_monetization_is_refused(engine: Engine) -> None:
    with pytest.raises(PolicyDenied) as denied:
        propose(engine, monetization=True)
    assert denied.value.rule == "no_monetization"
    assert "SM 4.3" in denied.value.reason_en
    assert propose(engine, monetization=False).state == "proposed"
