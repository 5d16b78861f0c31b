"""Scenarios of SM 5.4, 5.5.2 and 5.6.3: reader comments and messages (CMT-1..CMT-7) and
the periodic suggestion collation (INS-10), walked through the public API.

The bundled definitions are loaded from workflows/ and policies/ (only the files these
scenarios need, so that other workflows being edited do not break them). Time is the
``clock`` fixture, Fri 2025-09-26 15:00 Asia/Shanghai, on the official calendar in which
Sun 2025-09-28 and Sat 2025-10-11 are adjusted working days and 2025-10-01..08 are off;
business hours are the default 09:00-17:30.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from cmc_workflow import Actor, Engine, HistoryEntry, Item, PolicyDenied
from cmc_workflow.clocks import Clocks, ClockView
from cmc_workflow.errors import FormInvalid, GuardRejected, InvalidTrigger, NotPermitted
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES as BUNDLED_POLICIES
from tests.helpers import WORKFLOWS

SH = ZoneInfo("Asia/Shanghai")
COMMENTS = WORKFLOWS / "comments.yaml"
ILLEGAL = WORKFLOWS / "illegal_content_report.yaml"
COLLATION = WORKFLOWS / "inspections" / "ins_10_suggestion_collation.yaml"
SCHEDULES = WORKFLOWS / "schedules.yaml"
POLICIES = [BUNDLED_POLICIES / "roles.yaml", BUNDLED_POLICIES / "comments.yaml"]

ASSISTANT = Actor("li", {"ops_assistant"})
OTHER_ASSISTANT = Actor("he", {"ops_assistant"})
MANAGER = Actor("sun", {"ops_manager"})
AUTHORITY = Actor("gao", {"authority"})

MESSAGE: dict[str, Any] = {
    "channel": "wechat",
    "account": "library_official",
    "reader": "reader_0926",
    "text": "请问国庆期间少儿馆开放吗？",
    "received_at": "2025-09-26T15:00+08:00",
}


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A time in Asia/Shanghai."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def open_engine(
    url: str, clock: FakeClock, clocks: Clocks, *workflows: Path, policies: bool = True
) -> Engine:
    return Engine.open(
        url,
        workflows=[COMMENTS, ILLEGAL, COLLATION, *workflows],
        policies=POLICIES if policies else None,
        clock=clock,
        extensions=[clocks],
    )


@pytest.fixture
def engine(db_url: str, clock: FakeClock, clocks: Clocks) -> Iterator[Engine]:
    with open_engine(db_url, clock, clocks) as opened:
        yield opened


def receive(engine: Engine, category: str | None, **data: Any) -> Item:
    """Register a reader's message now; classify it at once unless ``category`` is None."""
    item = engine.start("comments", actor=ASSISTANT, data={**MESSAGE, **data})
    if category is None:
        return item
    return engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": category})


def clock_of(clocks: Clocks, item_id: int, state: str) -> ClockView:
    """The (latest) clock an item started in ``state``."""
    return [c for c in clocks.clocks(item_id) if c.state == state][-1]


def timer_rules(engine: Engine, item_id: int) -> list[str]:
    return [r["rule"] for r in engine.audit_trail(item_id) if r["command"] == "timer"]


def replies(engine: Engine, item_id: int) -> list[HistoryEntry]:
    return [h for h in engine.history(item_id) if h.trigger == "reply"]


# -- CMT-1 classification ----------------------------------------------------------------------
@pytest.mark.req("CMT-1", "SEC-3")
@pytest.mark.enforces(
    "CMT-1", element="workflows/comments.yaml#states.classify.transitions[0].form.category"
)
@pytest.mark.parametrize(
    ("category", "state"),
    [
        ("consultation", "consultation"),
        ("complaint", "complaint_received"),
        ("suggestion", "suggestion_registered"),
        ("other", "other_open"),
        ("abuse", "abuse_review"),
    ],
)
def test_cmt_1_every_message_is_classified_then_routed_by_its_category(
    engine: Engine, category: str, state: str
) -> None:
    item = receive(engine, None)
    assert item.state == "classify"
    assert [a.trigger for a in engine.allowed(item.id, ASSISTANT) if a.allowed] == ["classify"]
    with pytest.raises(FormInvalid):  # no category, or one outside the five
        engine.fire(item.id, "classify", actor=ASSISTANT, data={})
    with pytest.raises(FormInvalid):
        engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": "praise"})

    item = engine.fire(item.id, "classify", actor=ASSISTANT, data={"category": category})

    assert item.state == state
    assert item.data["category"] == category
    steps = [(h.kind, h.trigger, h.to_state, h.actor) for h in engine.history(item.id)]
    assert steps == [
        ("start", None, "classify", "li"),
        ("fire", "classify", "route", "li"),
        ("route", None, state, "system"),
    ]
    # the reader's handle and text are personal information (SEC-3)
    fields = engine.workflow("comments").definition.data
    assert {name for name, f in fields.items() if f.personal} == {"reader", "text"}


# -- SUP-1 complaint intake by every published channel -----------------------------------------
@pytest.mark.req("SUP-1", "CMT-1")
@pytest.mark.enforces("SUP-1", element="workflows/comments.yaml#data.channel")
def test_sup_1_a_message_from_any_published_channel_enters_with_its_channel(
    db_url: str, clock: FakeClock, clocks: Clocks
) -> None:
    # opened here, not by the fixture: a definition without the channel is refused at load
    with open_engine(db_url, clock, clocks) as engine:
        for channel in ("phone", "email", "web_form", "mini_client", "weibo"):
            item = engine.start(
                "comments", actor=ASSISTANT, data={**MESSAGE, "channel": channel, "account": None}
            )
            assert (item.state, item.data["channel"]) == ("classify", channel)
        anonymous = {k: v for k, v in MESSAGE.items() if k != "channel"}
        with pytest.raises(FormInvalid, match="channel"):  # where it came from is required
            engine.start("comments", actor=ASSISTANT, data=anonymous)
        with pytest.raises(FormInvalid, match="channel"):  # one of the published channels
            engine.start("comments", actor=ASSISTANT, data={**MESSAGE, "channel": "fax"})
        # a complaint by telephone follows the complaint procedure like any other
        call = engine.start(
            "comments",
            actor=ASSISTANT,
            data={**MESSAGE, "channel": "phone", "text": "借书证办理等待太久"},
        )
        call = engine.fire(call.id, "classify", actor=ASSISTANT, data={"category": "complaint"})
        assert call.state == "complaint_received"
        # an illegal message sent by e-mail is reported upward with its channel
        mail = engine.start("comments", actor=ASSISTANT, data={**MESSAGE, "channel": "email"})
        mail = engine.fire(mail.id, "classify", actor=ASSISTANT, data={"category": "abuse"})
        engine.fire(mail.id, "report_illegal", actor=ASSISTANT, data={"summary": "涉嫌违法"})
        (report,) = engine.children(mail.id)
        assert report.data["channel"] == "email"


# -- CMT-2 consultations -----------------------------------------------------------------------
@pytest.mark.req("CMT-2")
@pytest.mark.enforces("CMT-2", element="workflows/comments.yaml#states.classify.deadline")
def test_cmt_2_consultation_received_friday_is_due_end_of_monday_warned_before_then_breached(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    notified: list[tuple[str, str]] = []
    engine.handlers.set_notifier(lambda role, ctx: notified.append((role, ctx.state)))
    assert clock.now == local(2025, 9, 26, 15, 0)  # Friday afternoon
    item = receive(engine, "consultation")

    view = clock_of(clocks, item.id, "classify")
    assert view.at_state == "consultation"
    assert view.started_at == local(2025, 9, 26, 15, 0)
    # Fri is the day of receipt (not counted), Sat is off, Sun 28 is an adjusted working
    # day (1), Mon 29 the second: due at Monday's close of business
    assert view.due_at == local(2025, 9, 29, 17, 30)
    assert view.rule.startswith("2 working days, receipt day not counted")
    assert not view.provisional
    assert view.status == "running"
    timers = {t.action: t.due_at for t in clocks.timers(item.id)}
    assert timers == {
        "warn": local(2025, 9, 29, 13, 30),  # 4 working hours before the due time
        "breach": local(2025, 9, 29, 17, 30),
        "escalate": local(2025, 9, 29, 17, 30),
    }

    clock.now = local(2025, 9, 29, 13, 29)
    assert engine.run_due().extensions == 0
    assert clock_of(clocks, item.id, "classify").status == "running"

    clock.now = local(2025, 9, 29, 13, 30)
    assert engine.run_due().extensions == 1
    view = clock_of(clocks, item.id, "classify")
    assert view.status == "warning"
    assert view.warned_at == local(2025, 9, 29, 13, 30)
    assert view.breached_at is None
    assert notified == [("ops_assistant", "consultation")]

    clock.now = local(2025, 9, 29, 17, 31)  # nobody answered
    assert engine.run_due().extensions == 2
    view = clock_of(clocks, item.id, "classify")
    assert view.status == "breached"
    assert view.breached_at == local(2025, 9, 29, 17, 31)
    assert view.escalated_at == local(2025, 9, 29, 17, 31)
    assert notified[1:] == [("ops_manager", "consultation")]
    assert timer_rules(engine, item.id) == [
        "deadline:classify:warn",
        "deadline:classify:breach",
        "deadline:classify:escalate",
    ]

    clock.now = local(2025, 9, 30, 9, 0)
    item = engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": "开放，时间如下……"})
    assert item.state == "answered"
    assert not item.is_open
    view = clock_of(clocks, item.id, "classify")
    assert view.stopped
    assert view.status == "breached"  # answered late stays late


@pytest.mark.req("CMT-2")
def test_cmt_2_a_message_registered_late_is_due_two_working_days_after_it_arrived(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    clock.now = local(2025, 9, 29, 9, 0)  # imported on Monday morning ...
    item = receive(engine, "consultation", received_at="2025-09-26T15:00+08:00")  # ... of Fri
    view = clock_of(clocks, item.id, "classify")
    assert view.started_at == local(2025, 9, 26, 15, 0)
    assert view.due_at == local(2025, 9, 29, 17, 30)  # not Wednesday
    later = receive(engine, "consultation", received_at="2025-09-30T09:00+08:00")
    assert clock_of(clocks, later.id, "classify").started_at == clock.now  # no future start


@pytest.mark.req("CMT-2")
def test_cmt_2_waiting_for_the_reader_pauses_the_clock_and_moves_the_due_time(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = receive(engine, "consultation")
    clock.now = local(2025, 9, 28, 10, 0)  # Sunday, an adjusted working day
    item = engine.fire(
        item.id, "ask_reader", actor=ASSISTANT, data={"question": "请问是哪一个分馆？"}
    )
    assert item.state == "waiting_for_reader"
    assert clock_of(clocks, item.id, "classify").status == "paused"

    clock.now = local(2025, 9, 29, 17, 31)  # past the original due time: nothing fires
    assert engine.run_due().extensions == 0
    assert clock_of(clocks, item.id, "classify").status == "paused"

    clock.now = local(2025, 9, 29, 10, 0)
    item = engine.fire(item.id, "reader_answered", actor=ASSISTANT, data={"answer": "禅城总馆"})
    assert item.state == "consultation"
    # paused Sun 10:00 -> Mon 10:00: 7.5 h + 1 h = 8.5 working hours, so Mon 17:30 moves
    # on by 8.5 working hours to Tue 17:30, and the warning from Mon 13:30 to Tue 13:30
    view = clock_of(clocks, item.id, "classify")
    assert view.status == "running"
    assert view.due_at == local(2025, 9, 30, 17, 30)
    timers = {t.action: t.due_at for t in clocks.timers(item.id)}
    assert timers["warn"] == local(2025, 9, 30, 13, 30)
    assert timers["breach"] == local(2025, 9, 30, 17, 30)

    clock.now = local(2025, 9, 29, 17, 31)
    assert engine.run_due().extensions == 0  # the old due time passes without a breach

    clock.now = local(2025, 9, 30, 11, 0)
    item = engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": "禅城总馆正常开放。"})
    view = clock_of(clocks, item.id, "classify")
    assert (view.stopped, view.status, view.breached_at) == (True, "met", None)
    assert timer_rules(engine, item.id) == []


# -- CMT-3 complaints ---------------------------------------------------------------------------
@pytest.mark.req("CMT-3")
@pytest.mark.enforces(
    "CMT-3", element="workflows/comments.yaml#states.complaint_resolving.deadline"
)
def test_cmt_3_complaint_is_acknowledged_investigated_resolved_replied_and_closed_on_deadlines(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = receive(engine, "complaint", text="借阅处工作人员态度差")
    assert item.state == "complaint_received"
    assert clock_of(clocks, item.id, "classify").status == "met"  # classified in time
    # the steps cannot be skipped
    with pytest.raises(InvalidTrigger):
        engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": "已处理"})
    # acknowledge within 1 working day: Sun 28 is a working day
    assert clock_of(clocks, item.id, "complaint_received").due_at == local(2025, 9, 28, 17, 30)

    clock.now = local(2025, 9, 28, 9, 30)
    item = engine.fire(item.id, "acknowledge", actor=ASSISTANT, data={"handler": "li"})
    assert clock_of(clocks, item.id, "complaint_received").status == "met"
    # investigate within 5 working days: Mon 29, Tue 30, (National Day), Thu 10-09,
    # Fri 10-10, Sat 10-11 (an adjusted working day)
    assert clock_of(clocks, item.id, "complaint_investigating").due_at == local(
        2025, 10, 11, 17, 30
    )

    clock.now = local(2025, 10, 9, 10, 0)
    item = engine.fire(
        item.id, "investigate", actor=ASSISTANT, data={"findings": "属实", "department": "借阅部"}
    )
    # resolve within 3 working days: Fri 10, Sat 11, Mon 13
    resolving = clock_of(clocks, item.id, "complaint_resolving")
    assert resolving.due_at == local(2025, 10, 13, 17, 30)
    with pytest.raises(NotPermitted):  # the resolution is the manager's
        engine.fire(item.id, "resolve", actor=ASSISTANT, data={"resolution": "批评教育"})

    clock.now = local(2025, 10, 14, 10, 0)  # a day late, and no daemon ran
    item = engine.fire(item.id, "resolve", actor=MANAGER, data={"resolution": "批评教育、致歉"})
    resolving = clock_of(clocks, item.id, "complaint_resolving")
    assert (resolving.status, resolving.breached_at) == ("breached", local(2025, 10, 14, 10, 0))
    assert clock_of(clocks, item.id, "complaint_replying").due_at == local(2025, 10, 15, 17, 30)

    clock.now = local(2025, 10, 14, 11, 0)
    item = engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": "您好，经核实……"})
    assert item.state == "complaint_closing"
    assert clock_of(clocks, item.id, "complaint_closing").due_at == local(2025, 10, 16, 17, 30)
    with pytest.raises(FormInvalid):  # the complainant's satisfaction is recorded (RPT-3)
        engine.fire(item.id, "close", actor=MANAGER, data={})

    clock.now = local(2025, 10, 15, 9, 0)
    item = engine.fire(item.id, "close", actor=MANAGER, data={"satisfaction": "satisfied"})
    assert item.state == "complaint_closed"
    assert not item.is_open
    ladder = [(c.state, c.status) for c in clocks.clocks(item.id)]
    assert ladder == [
        ("classify", "met"),
        ("complaint_received", "met"),
        ("complaint_investigating", "met"),
        ("complaint_resolving", "breached"),
        ("complaint_replying", "met"),
        ("complaint_closing", "met"),
    ]
    assert [h.trigger for h in engine.history(item.id) if h.kind == "fire"] == [
        "classify",
        "acknowledge",
        "investigate",
        "resolve",
        "reply",
        "close",
    ]


# -- CMT-4 suggestions and INS-10 collation ---------------------------------------------------
@pytest.mark.req("CMT-4")
def test_cmt_4_a_suggestion_is_registered_and_waits_for_the_collation(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = receive(engine, "suggestion", text="建议延长自习室开放时间")
    assert item.state == "suggestion_registered"
    assert item.is_open
    assert item.id in [i.id for i in engine.inbox(ASSISTANT)]
    item = engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": "感谢您的建议，已登记。"})
    assert item.state == "suggestion_registered"  # thanking the reader keeps it registered
    with pytest.raises(NotPermitted):  # only the collation batch gathers it
        engine.fire(item.id, "collate", actor=MANAGER, data={"batch": 1})
    clock.now = local(2025, 12, 31, 17, 0)
    engine.run_due()
    assert engine.get(item.id).state == "suggestion_registered"  # no deadline to miss
    assert [c.state for c in clocks.clocks(item.id)] == ["classify"]


@pytest.mark.req("INS-10", "CMT-4")
@pytest.mark.enforces(
    "INS-10", element="workflows/schedules.yaml#schedules.ins_10_suggestion_collation"
)
@pytest.mark.enforces(
    "CMT-4",
    element="workflows/inspections/ins_10_suggestion_collation.yaml"
    "#states.gather.transitions[0].collects",
)
def test_ins_10_the_weekly_batch_gathers_only_the_registered_suggestions(
    tmp_path: Path, clock: FakeClock, clocks: Clocks
) -> None:
    # the bundled weekly schedule of INS-10, alone (the other schedules start workflows
    # these scenarios do not load)
    bundled = yaml.safe_load(SCHEDULES.read_text(encoding="utf-8"))
    entry = bundled["schedules"]["ins_10_suggestion_collation"]
    assert entry["cron"] == "0 15 * * fri"
    one = {"kind": "schedules", "timezone": bundled["timezone"]}
    one["schedules"] = {"ins_10_suggestion_collation": entry}
    schedule_file = tmp_path / "schedules.yaml"
    schedule_file.write_text(yaml.safe_dump(one, allow_unicode=True), encoding="utf-8")

    clock.now = local(2025, 9, 26, 14, 0)
    url = f"sqlite:///{tmp_path / 'comments.db'}"
    with open_engine(url, clock, clocks, schedule_file) as engine:
        assert engine.run_due().extensions == 0  # the schedule counts from now
        first = receive(engine, "suggestion", text="建议增加英文绘本")
        second = receive(engine, "suggestion", text="建议周一也开放")
        unclassified = receive(engine, None, text="建议……")
        consultation = receive(engine, "consultation")
        collated = {first.id, second.id}

        clock.now = local(2025, 9, 26, 15, 0)  # Friday 15:00: the occurrence
        assert engine.run_due().extensions == 1
        (batch,) = [i for i in engine.inbox(ASSISTANT) if i.workflow == "suggestion_collation"]
        assert batch.state == "collating"
        assert batch.created_by == "schedule:ins_10_suggestion_collation"
        assert batch.data["suggestions"] == 2
        assert batch.data["scheduled_for"].startswith("2025-09-26T15:00:00+08:00")
        for item_id in collated:
            item = engine.get(item_id)
            assert (item.state, item.data["batch"], item.is_open) == (
                "suggestion_collated",
                batch.id,
                False,
            )
            (last,) = engine.history(item_id)[-1:]
            assert (last.kind, last.trigger, last.actor) == (
                "collect",
                "collate",
                "schedule:ins_10_suggestion_collation",
            )
        assert engine.get(unclassified.id).state == "classify"
        assert engine.get(consultation.id).state == "consultation"

        # the one classified later goes into the next batch, the others never again
        engine.fire(unclassified.id, "classify", actor=ASSISTANT, data={"category": "suggestion"})
        later = engine.start("suggestion_collation", actor=ASSISTANT)
        assert later.data["suggestions"] == 1
        assert engine.get(unclassified.id).data["batch"] == later.id
        assert {engine.get(i).data["batch"] for i in collated} == {batch.id}
        empty = engine.start("suggestion_collation", actor=ASSISTANT)
        assert empty.data["suggestions"] == 0

        with pytest.raises(GuardRejected):  # a batch with suggestions is collated
            engine.fire(batch.id, "close_empty", actor=ASSISTANT)
        assert engine.fire(empty.id, "close_empty", actor=ASSISTANT).state == "done"
        engine.fire(batch.id, "submit", actor=ASSISTANT, data={"summary": "两条：绘本、开放时间"})
        done = engine.fire(batch.id, "conclude", actor=MANAGER, data={"decisions": "采购绘本"})
        assert done.state == "done"


# -- CMT-5 other messages -----------------------------------------------------------------------
@pytest.mark.req("CMT-5")
def test_cmt_5_other_message_has_no_deadline_and_ends_only_when_closed(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = receive(engine, "other", text="馆里的猫好可爱")
    assert item.state == "other_open"
    assert [(c.state, c.stopped) for c in clocks.clocks(item.id)] == [("classify", True)]

    for text in ("谢谢关注！", "欢迎常来。"):
        item = engine.fire(item.id, "reply", actor=ASSISTANT, data={"reply": text})
        assert (item.state, item.is_open) == ("other_open", True)

    clock.now = local(2026, 3, 1, 10, 0)  # months later: no SLA, nothing due, still open
    assert engine.run_due().extensions == 0
    item = engine.get(item.id)
    assert (item.state, item.is_open) == ("other_open", True)
    assert [c.state for c in clocks.clocks(item.id)] == ["classify"]

    item = engine.fire(item.id, "close", actor=ASSISTANT)
    assert (item.state, item.is_open) == ("closed", False)
    assert item.closed_at == local(2026, 3, 1, 10, 0)


@pytest.mark.req("CMT-5")
@pytest.mark.enforces("CMT-5", element="workflows/comments.yaml#states.other_open.transitions[1]")
def test_cmt_5_the_only_way_an_other_message_ends_is_an_explicit_close(
    db_url: str, clock: FakeClock, clocks: Clocks
) -> None:
    # opened here, not by the fixture: without its close, the definition of an "other"
    # message is refused when it loads (a state nothing leaves), which this test counts
    with open_engine(db_url, clock, clocks) as engine:
        item = receive(engine, "other", text="随便说说")
        spec = engine.workflow("comments").definition.states["other_open"]
        assert spec.deadline is None  # no clock can move or end it
        leaving = [t.trigger for t in spec.transitions if t.target != "other_open"]
        assert leaving == ["close"]
        clock.now = local(2027, 1, 4, 10, 0)
        engine.run_due()
        assert engine.get(item.id).is_open
        closed = engine.fire(item.id, "close", actor=OTHER_ASSISTANT, data={"note": "无需答复"})
        assert (closed.state, closed.is_open) == ("closed", False)
        assert engine.history(item.id)[-1].actor == OTHER_ASSISTANT.id


# -- CMT-6 abuse --------------------------------------------------------------------------------
@pytest.mark.req("CMT-6")
@pytest.mark.enforces(
    "CMT-6", element="workflows/comments.yaml#states.abuse_review.transitions[0].form.kind"
)
def test_cmt_6_spam_is_deleted_and_blocking_a_user_is_for_the_manager(engine: Engine) -> None:
    spam = receive(engine, "abuse", text="加微信领免费资料")
    with pytest.raises(FormInvalid, match="kind"):  # deleted as spam, ads or trolling
        engine.fire(spam.id, "delete_comment", actor=ASSISTANT, data={})
    spam = engine.fire(spam.id, "delete_comment", actor=ASSISTANT, data={"kind": "advertising"})
    assert (spam.state, spam.is_open) == ("abuse_handled", False)

    troll = receive(engine, "abuse", text="……")
    with pytest.raises(NotPermitted):
        engine.fire(troll.id, "block_user", actor=ASSISTANT, data={"kind": "trolling"})
    troll = engine.fire(troll.id, "block_user", actor=MANAGER, data={"kind": "trolling"})
    assert troll.state == "abuse_handled"
    assert [h.actor for h in engine.history(troll.id) if h.trigger == "block_user"] == ["sun"]


@pytest.mark.req("CMT-6")
@pytest.mark.enforces(
    "CMT-6", element="workflows/comments.yaml#states.abuse_review.transitions[2].starts"
)
@pytest.mark.enforces(
    "CMT-6",
    element="workflows/comments.yaml#states.illegal_reported.transitions[0].children_closed",
)
def test_cmt_6_illegal_content_is_reported_upward_as_a_tracked_child_item(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    comment = receive(engine, "abuse", text="违法内容示例", reader="bad_actor")
    # the assistant files the report; they also hold the authority's role
    reporter = Actor("li", {"ops_assistant", "authority"})
    comment = engine.fire(
        comment.id, "report_illegal", actor=reporter, data={"summary": "涉嫌违法信息"}
    )
    assert comment.state == "illegal_reported"

    (report,) = engine.children(comment.id)
    assert report.workflow == "illegal_content_report"
    assert report.parent_id == comment.id
    assert report.state == "reported"
    assert report.created_by == "li"
    assert dict(report.data) == {
        "comment": comment.id,
        "channel": "wechat",
        "account": "library_official",
        "reader": "bad_actor",
        "content": "违法内容示例",
        "summary": "涉嫌违法信息",
    }
    # the authority acknowledges within 1 working day (Sun 28 is a working day)
    assert clock_of(clocks, report.id, "reported").due_at == local(2025, 9, 28, 17, 30)

    with pytest.raises(GuardRejected, match="illegal_content_report"):
        engine.fire(comment.id, "close", actor=ASSISTANT)  # the report is still open
    with pytest.raises(PolicyDenied) as refused:  # the report leaves the reporter's hands
        engine.fire(report.id, "acknowledge", actor=reporter)
    assert refused.value.rule == "reporter_does_not_acknowledge"
    with pytest.raises(NotPermitted):
        engine.fire(report.id, "acknowledge", actor=MANAGER)

    clock.now = local(2025, 9, 28, 10, 0)
    report = engine.fire(report.id, "acknowledge", actor=AUTHORITY, data={"reference": "FS-001"})
    assert report.state == "handling"
    with pytest.raises(GuardRejected):
        engine.fire(comment.id, "close", actor=ASSISTANT)
    report = engine.fire(report.id, "close", actor=AUTHORITY, data={"outcome": "已移交公安"})
    assert (report.state, report.is_open) == ("closed", False)

    comment = engine.fire(comment.id, "close", actor=ASSISTANT)
    assert (comment.state, comment.is_open) == ("abuse_handled", False)
    assert clock_of(clocks, report.id, "reported").status == "met"


# -- CMT-7 replies ------------------------------------------------------------------------------
@pytest.mark.req("CMT-7")
def test_cmt_7_replies_record_who_replied_and_when(engine: Engine, clock: FakeClock) -> None:
    consultation = receive(engine, "consultation")
    other = receive(engine, "other")

    clock.now = local(2025, 9, 28, 9, 45)
    engine.fire(other.id, "reply", actor=OTHER_ASSISTANT, data={"reply": "您好！"})
    clock.now = local(2025, 9, 29, 10, 5)
    engine.fire(consultation.id, "reply", actor=ASSISTANT, data={"reply": "开放时间为……"})
    engine.fire(other.id, "reply", actor=ASSISTANT, data={"reply": "再次感谢。"})

    (answer,) = replies(engine, consultation.id)
    assert (answer.actor, answer.at, answer.roles) == (
        "li",
        local(2025, 9, 29, 10, 5),
        ("ops_assistant",),
    )
    assert answer.form == {"reply": "开放时间为……"}
    received = engine.history(consultation.id)[0]
    assert answer.at - received.at == dt.timedelta(days=2, hours=19, minutes=5)

    first, second = replies(engine, other.id)
    assert (first.actor, first.at) == ("he", local(2025, 9, 28, 9, 45))
    assert (second.actor, second.at) == ("li", local(2025, 9, 29, 10, 5))

    # every way of answering a reader is the trigger `reply`, with the text in its form
    wf = engine.workflow("comments").definition
    answering = {
        (name, t.trigger)
        for name, state in wf.states.items()
        for t in state.transitions
        if "reply" in (t.form or {})
    }
    assert answering == {
        ("consultation", "reply"),
        ("waiting_for_reader", "reply"),  # CMT-2: a consultation ends only with an answer
        ("complaint_replying", "reply"),
        ("suggestion_registered", "reply"),
        ("other_open", "reply"),
    }
