"""SLA clocks: deadlines on states, their ladders, pauses, and status computed on read.

Time is controlled with the ``clock`` fixture (Fri 2025-09-26 15:00 Asia/Shanghai); the
calendar is the official one, in which Sun 2025-09-28 is an adjusted working day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.calendar.settings import CalendarSettings
from cmc_workflow.clocks import (
    Clocks,
    compute_deadline,
    step_time,
    subtract_working_time,
    working_time_between,
)
from cmc_workflow.definition.models import DeadlineStep, parse_duration
from cmc_workflow.errors import PolicyDenied
from cmc_workflow.extensions import Change, Extension
from cmc_workflow.language import load_paths
from cmc_workflow.store import Store, Tx
from cmc_workflow.testing import FakeClock

SH = ZoneInfo("Asia/Shanghai")
ASSISTANT = Actor("li", {"ops_assistant"})

CONSULT = """\
id: consult
label: {zh: 咨询, en: Consultation}
implements: [CMT-2]
roles:
  ops_assistant: {zh: 运营助理, en: Operations assistant}
  ops_manager: {zh: 运营管理岗, en: Operations manager}
data:
  urgent: {type: boolean, required: false}
start: {state: open, roles: [ops_assistant]}
states:
  open:
    type: userTask
    label: {zh: 待答复, en: Open}
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: warn}
        - {at: 100%, action: escalate, to: ops_manager}
      pause_in: [waiting]
      runs_in: [drafting]
      implements: [CMT-2]
    transitions:
      - {trigger: reply, target: answered, roles: [ops_assistant]}
      - {trigger: ask_reader, target: waiting, roles: [ops_assistant]}
      - {trigger: draft, target: drafting, roles: [ops_assistant]}
      - {trigger: note, target: open, roles: [ops_assistant]}
      - {trigger: park, target: parked, roles: [ops_assistant]}
  waiting:
    type: userTask
    label: {zh: 等待读者, en: Waiting for the reader}
    transitions:
      - {trigger: reader_replied, target: open, roles: [ops_assistant]}
  drafting:
    type: userTask
    label: {zh: 起草答复, en: Drafting the reply}
    transitions:
      - {trigger: reply, target: answered, roles: [ops_assistant]}
      - {trigger: back, target: open, roles: [ops_assistant]}
  parked:
    type: userTask
    label: {zh: 搁置, en: Parked}
    transitions:
      - {trigger: reopen, target: open, roles: [ops_assistant]}
  answered:
    type: endEvent
    label: {zh: 已答复, en: Answered}
"""

EXPIRING = """\
id: expiring
label: {zh: 限时, en: Expiring}
roles:
  editor: {zh: 编辑, en: Editor}
  system: {zh: 系统, en: System (timers)}
data:
  keep: {type: boolean, required: false}
start: {state: proposed, roles: [editor]}
states:
  proposed:
    type: userTask
    label: {zh: 已提出, en: Proposed}
    deadline:
      within: 3 days
      steps:
        - {before: 1 day, action: notify, to: editor}
        - {at: 100%, action: fire, trigger: expire}
    transitions:
      - {trigger: accept, target: done, roles: [editor]}
      - {trigger: expire, target: expired, roles: [system], guard: "data.keep != true"}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
  expired:
    type: endEvent
    label: {zh: 已过期, en: Expired}
"""


def local(*args: int) -> dt.datetime:
    """A time in Asia/Shanghai."""
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    (folder / "expiring.yaml").write_text(EXPIRING, encoding="utf-8")
    return folder


def open_engine(
    url: str, workflows: Path, clock: FakeClock, clocks: Clocks, *extra: Extension
) -> Engine:
    return Engine.open(url, workflows=workflows, clock=clock, extensions=[clocks, *extra])


@pytest.fixture
def clocks(calendar: WorkingCalendar) -> Clocks:
    return Clocks(calendar)


@pytest.fixture  # on SQLite and PostgreSQL: each runs its own clock statements
def engine(db_url: str, workflows: Path, clock: FakeClock, clocks: Clocks) -> Iterator[Engine]:
    with open_engine(db_url, workflows, clock, clocks) as opened:
        yield opened


def timer_states(clocks: Clocks, item_id: int) -> dict[str, str]:
    return {t.action: t.status for t in clocks.timers(item_id)}


# -- the CMT-2 example, on both stores -------------------------------------------------------
@pytest.mark.req("CMT-2")
def test_friday_consultation_is_due_monday_at_close_of_business(
    db_url: str, workflows: Path, clock: FakeClock, clocks: Clocks, calendar: WorkingCalendar
) -> None:
    with open_engine(db_url, workflows, clock, clocks) as engine:
        item = engine.start("consult", actor=ASSISTANT)
        (view,) = clocks.clocks(item.id)
        timers = {t.action: t for t in clocks.timers(item.id)}

    assert clock.now == local(2025, 9, 26, 15, 0)  # Friday afternoon
    assert view.due_at == local(2025, 9, 29, 17, 30)  # Sun 28 is a working day (调休)
    assert view.rule.startswith("2 working days, receipt day not counted")
    assert view.calendar_version == calendar.version
    assert not view.provisional
    assert view.status == "running"
    # 19.5 working hours in all (Fri 2.5 h, Sun 8.5 h, Mon 8.5 h): half is Sun 16:15
    assert timers["warn"].due_at == local(2025, 9, 28, 16, 15)
    assert timers["escalate"].due_at == view.due_at
    assert timers["breach"].due_at == view.due_at  # implicit: every breach is recorded
    assert {t.status for t in timers.values()} == {"pending"}


@pytest.mark.req("CMT-2")
def test_warning_fires_before_the_deadline_and_the_breach_is_recorded_after(
    db_url: str, workflows: Path, clock: FakeClock, clocks: Clocks
) -> None:
    notified: list[tuple[str, str]] = []
    with open_engine(db_url, workflows, clock, clocks) as engine:
        engine.handlers.set_notifier(lambda role, ctx: notified.append((role, ctx.state)))
        item = engine.start("consult", actor=ASSISTANT)

        clock.now = local(2025, 9, 28, 16, 14)
        assert engine.run_due().extensions == 0
        assert clocks.clocks(item.id)[0].status == "running"

        clock.now = local(2025, 9, 28, 16, 15)
        assert engine.run_due().extensions == 1
        (view,) = clocks.clocks(item.id)
        assert view.status == "warning"
        assert view.warned_at == local(2025, 9, 28, 16, 15)
        assert view.breached_at is None
        assert notified == [("ops_assistant", "open")]  # who the task waits on is reminded

        clock.now = local(2025, 9, 29, 17, 31)
        report = engine.run_due()
        assert report.extensions == 2  # escalate and breach
        assert report.delivered == 1
        (view,) = clocks.clocks(item.id)
        assert view.status == "breached"
        assert view.breached_at == local(2025, 9, 29, 17, 31)
        assert view.escalated_at == local(2025, 9, 29, 17, 31)
        assert notified == [("ops_assistant", "open"), ("ops_manager", "open")]
        rules = [r["rule"] for r in engine.audit_trail(item.id) if r["command"] == "timer"]
        assert rules == ["deadline:open:warn", "deadline:open:escalate", "deadline:open:breach"]

        engine.fire(item.id, "reply", actor=ASSISTANT)  # answered late: stays breached
        (view,) = clocks.clocks(item.id)
        assert view.stopped
        assert view.status == "breached"


@pytest.mark.req("CMT-2")
def test_leaving_the_state_in_time_cancels_its_timers(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.now = local(2025, 9, 29, 10, 0)
    engine.run_due()  # the warning
    engine.fire(item.id, "reply", actor=ASSISTANT)

    (view,) = clocks.clocks(item.id)
    assert view.stopped
    assert view.status == "met"
    assert view.stopped_at == local(2025, 9, 29, 10, 0)
    assert timer_states(clocks, item.id) == {
        "warn": "fired",
        "escalate": "cancelled",
        "breach": "cancelled",
    }
    clock.now = local(2025, 10, 20, 10, 0)
    assert engine.run_due().extensions == 0
    assert clocks.clocks(item.id)[0].status == "met"
    assert [r["rule"] for r in engine.audit_trail(item.id) if r["command"] == "timer"] == [
        "deadline:open:warn"
    ]


def test_arming_and_stopping_a_clock_take_few_statements_on_its_tables(
    db_url: str, workflows: Path, clock: FakeClock, clocks: Clocks
) -> None:
    """The clock's share of a command (issue 12): entering a deadline from nowhere reads
    nothing and writes the clock and its timers; leaving it reads the item's clocks
    once, stops each, and cancels its pending or paused timers. One statement each on
    SQLite; on PostgreSQL one for arming (the clock's INSERT in a CTE of the timers') and
    one for leaving (the read and both UPDATEs as CTEs)."""
    with open_engine(db_url, workflows, clock, clocks) as engine:
        seen: list[str] = []
        sqlite = db_url.startswith("sqlite")
        arm = ["INSERT clocks", "INSERT timers"] if sqlite else ["INSERT clocks, INSERT timers"]
        leave = ["SELECT clocks", "UPDATE clocks", "UPDATE timers"]
        if not sqlite:
            leave = [", ".join(leave)]

        def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if statement.lstrip().startswith("WITH"):  # one statement, several changes
                parts = re.findall(
                    r"\b((?:INSERT INTO|UPDATE|FROM) (?:clocks|timers))\b", statement
                )
                if parts:  # (not a command's appends carried by its item's UPDATE)
                    seen.append(", ".join(parts).replace(" INTO", "").replace("FROM", "SELECT"))
                return
            found = re.match(r'\s*(\w+)\s+(?:.*?\b(?:FROM|INTO)\s+)?"?(\w+)', statement, re.S)
            if found is not None and found.group(2) in ("clocks", "timers"):
                seen.append(f"{found.group(1)} {found.group(2)}")

        event.listen(engine.store.engine, "before_cursor_execute", record)
        try:
            item = engine.start("consult", actor=ASSISTANT)
            assert seen == arm
            seen.clear()
            clock.now = local(2025, 9, 29, 9, 0)
            engine.fire(item.id, "park", actor=ASSISTANT)
            assert seen == leave
            assert set(timer_states(clocks, item.id).values()) == {"cancelled"}
            seen.clear()
            engine.fire(item.id, "reopen", actor=ASSISTANT)  # from a state no clock knows
            assert seen == arm
        finally:
            event.remove(engine.store.engine, "before_cursor_execute", record)
        assert [c.status for c in clocks.clocks(item.id)] == ["met", "running"]


def test_a_timer_of_a_state_already_left_never_fires(
    sqlite_url: str, workflows: Path, clock: FakeClock, clocks: Clocks
) -> None:
    with open_engine(sqlite_url, workflows, clock, clocks) as engine:
        item = engine.start("consult", actor=ASSISTANT)
    # an engine built without the clocks extension (Engine.open always adds it; the
    # constructor does not): the item leaves 'open' and its timers are not cancelled;
    # the visit fence must stop them
    loaded = load_paths([workflows])
    with Engine(Store.open(sqlite_url), loaded.workflows, clock=clock) as other:
        other.fire(item.id, "park", actor=ASSISTANT)
        other.fire(item.id, "reopen", actor=ASSISTANT)  # back in 'open', a new visit
    with open_engine(sqlite_url, workflows, clock, clocks) as engine:
        clock.now = local(2025, 10, 9, 10, 0)
        assert engine.run_due().extensions == 3
        assert set(timer_states(clocks, item.id).values()) == {"stale"}
        assert not [r for r in engine.audit_trail(item.id) if r["command"] == "timer"]
        assert not engine.outbox(item.id)
        assert engine.get(item.id).state == "open"


def test_a_self_loop_keeps_the_clock_running(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.advance(hours=1)
    engine.fire(item.id, "note", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert view.status == "running"
    assert view.due_at == local(2025, 9, 29, 17, 30)
    assert set(timer_states(clocks, item.id).values()) == {"pending"}


# -- pauses and clocks over several states ----------------------------------------------------
@pytest.mark.req("CMT-2")
def test_waiting_for_the_reader_pauses_the_clock_by_the_working_time_it_lasted(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.now = local(2025, 9, 28, 10, 0)  # Sunday, an adjusted working day
    engine.fire(item.id, "ask_reader", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert view.status == "paused"
    assert set(timer_states(clocks, item.id).values()) == {"paused"}

    clock.now = local(2025, 9, 28, 20, 0)  # past the warning time: nothing fires in a pause
    assert engine.run_due().extensions == 0

    clock.now = local(2025, 9, 29, 10, 0)
    engine.fire(item.id, "reader_replied", actor=ASSISTANT)
    # paused Sun 10:00 -> Mon 10:00: 7.5 h + 1 h = 8.5 h of working time
    (view,) = clocks.clocks(item.id)
    assert view.status == "running"
    assert view.due_at == local(2025, 9, 30, 17, 30)
    assert view.at_state == "open"
    timers = {t.action: t for t in clocks.timers(item.id)}
    assert timers["warn"].due_at == local(2025, 9, 29, 16, 15)
    assert timers["warn"].visit == engine.get(item.id).visit
    assert view.detail["pauses"] == [
        {
            "from": local(2025, 9, 28, 10, 0).astimezone(dt.UTC).isoformat(),
            "to": local(2025, 9, 29, 10, 0).astimezone(dt.UTC).isoformat(),
            "in": "waiting",
        }
    ]
    clock.now = local(2025, 9, 29, 16, 15)
    assert engine.run_due().extensions == 1
    assert clocks.clocks(item.id)[0].status == "warning"


def test_an_overdue_clock_stays_breached_through_a_pause(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.now = local(2025, 10, 9, 9, 0)  # long overdue, and no daemon ran
    assert clocks.clocks(item.id)[0].status == "breached"  # computed on read
    engine.fire(item.id, "ask_reader", actor=ASSISTANT)
    clock.now = local(2025, 10, 20, 9, 0)
    engine.fire(item.id, "reader_replied", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert view.status == "breached"
    assert view.breached_at == local(2025, 10, 9, 9, 0)


def test_a_clock_keeps_running_in_its_runs_in_states_and_stops_elsewhere(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.advance(hours=1)
    moved = engine.fire(item.id, "draft", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert (view.status, view.at_state, view.due_at) == (
        "running",
        "drafting",
        local(2025, 9, 29, 17, 30),
    )
    assert {(t.state, t.visit) for t in clocks.timers(item.id)} == {("drafting", moved.visit)}

    clock.now = local(2025, 9, 28, 16, 15)
    assert engine.run_due().extensions == 1  # the warning fires while drafting
    back = engine.fire(item.id, "back", actor=ASSISTANT)
    assert len(clocks.clocks(item.id)) == 1  # the same clock, not a new one
    assert {(t.state, t.visit) for t in clocks.timers(item.id) if t.status == "pending"} == {
        ("open", back.visit)
    }
    engine.fire(item.id, "park", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert (view.stopped, view.status) == (True, "met")
    engine.fire(item.id, "reopen", actor=ASSISTANT)
    first, second = clocks.clocks(item.id)  # re-entering starts a new clock
    assert first.stopped
    assert not second.stopped
    assert second.started_at == local(2025, 9, 28, 16, 15)


def test_a_breach_is_recorded_when_the_item_moves_on_late_without_a_daemon(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("consult", actor=ASSISTANT)
    clock.now = local(2025, 9, 30, 9, 0)
    engine.fire(item.id, "reply", actor=ASSISTANT)
    (view,) = clocks.clocks(item.id)
    assert (view.status, view.breached_at) == ("breached", local(2025, 9, 30, 9, 0))
    (record,) = [r for r in engine.audit_trail(item.id) if r["command"] == "timer"]
    assert record["rule"] == "deadline:open:breach"
    assert "overdue when the item moved on" in record["reason"]


def test_clocks_are_armed_in_the_commands_transaction(
    sqlite_url: str, workflows: Path, clock: FakeClock, clocks: Clocks
) -> None:
    class RefuseAfterwards(Extension):
        def after_change(self, tx: Tx, change: Change) -> None:
            raise PolicyDenied("test-rule", "refused after the clocks wrote")

    with open_engine(sqlite_url, workflows, clock, clocks, RefuseAfterwards()) as engine:
        with pytest.raises(PolicyDenied):
            engine.start("consult", actor=ASSISTANT)
        assert engine.run_due().extensions == 0
        assert clocks.next_due() is None  # nothing armed: it rolled back with the start


# -- fire steps -----------------------------------------------------------------------------
def test_a_fire_step_moves_the_item_and_a_before_step_notifies_first(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    editor = Actor("wang", {"editor"})
    item = engine.start("expiring", actor=editor)
    timers = {t.action: t for t in clocks.timers(item.id)}
    # 3 days from Fri 26: day 3 is Mon 29, a working day: due at its close of business
    assert timers["fire"].due_at == local(2025, 9, 29, 17, 30)
    assert timers["notify"].due_at == local(2025, 9, 28, 17, 30)

    clock.now = local(2025, 9, 28, 18, 0)
    assert engine.run_due().delivered == 1
    clock.now = local(2025, 9, 29, 18, 0)
    engine.run_due()
    moved = engine.get(item.id)
    assert moved.state == "expired"
    assert not moved.is_open
    last = engine.history(item.id)[-1]
    assert (last.kind, last.trigger, last.actor) == ("timer", "expire", "system")
    assert timer_states(clocks, item.id) == {
        "notify": "fired",
        "fire": "fired",
        "breach": "cancelled",  # the item moved on in the same transaction
    }
    # the fire step at 100% acted at its own due time, in time, though polled 30 minutes
    # later (issue 13): the clock is met, not breached
    assert clocks.clocks(item.id)[0].status == "met"


def test_a_fire_step_refused_by_its_guard_is_recorded_as_failed(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    editor = Actor("wang", {"editor"})
    kept = engine.start("expiring", actor=editor, data={"keep": True})
    other = engine.start("expiring", actor=editor)
    clock.now = local(2025, 10, 13, 9, 0)
    engine.run_due()

    assert engine.get(kept.id).state == "proposed"
    failed = next(t for t in clocks.timers(kept.id) if t.action == "fire")
    assert failed.status == "failed"
    assert "condition does not hold" in (failed.error or "")
    outcome = [r["outcome"] for r in engine.audit_trail(kept.id) if r["command"] == "timer"]
    assert outcome == ["accepted", "failed", "accepted"]  # notify, the refused fire, breach
    assert engine.get(other.id).state == "expired"  # the queue was not blocked


# -- years without calendar data --------------------------------------------------------------
CN_2027 = """\
arrangement:
  year: 2027
  notice: 测试用的假安排
  holidays:
    - {date: 2027-01-01, name: 元旦}
    - {date: 2027-01-02, name: 元旦}
    - {date: 2027-01-03, name: 元旦}
    - {date: 2027-01-04, name: 测试用的闭馆}
  working_days: []
"""


def test_a_clock_into_a_year_without_data_is_provisional_until_recomputed(
    sqlite_url: str, workflows: Path, tmp_path: Path
) -> None:
    clock = FakeClock(local(2026, 12, 30, 10, 0))
    clocks = Clocks(WorkingCalendar())
    with open_engine(sqlite_url, workflows, clock, clocks) as engine:
        item = engine.start("consult", actor=ASSISTANT)
        (view,) = clocks.clocks(item.id)
        assert view.provisional
        # the guess: New Year's Day off by the regulation, the weekend, then Monday
        assert view.due_at == local(2027, 1, 4, 17, 30)
        assert [c.id for c in clocks.provisional()] == [view.id]

        folder = tmp_path / "calendars"
        folder.mkdir()
        (folder / "cn-2027.yaml").write_text(CN_2027, encoding="utf-8")
        clocks.set_calendar(WorkingCalendar.from_directory(folder))
        assert clocks.recompute_provisional() == 1
        (view,) = clocks.clocks(item.id)
        assert not view.provisional
        assert view.due_at == local(2027, 1, 5, 17, 30)  # the file closes Monday too
        assert view.calendar_version == clocks.calendar.version
        breach = next(t for t in clocks.timers(item.id) if t.action == "breach")
        assert breach.due_at == view.due_at
        assert clocks.provisional() == []


# -- the arithmetic of ladders ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("within", "due"),
    [
        ("2 working days", local(2025, 9, 29, 17, 30)),
        ("4 working hours", local(2025, 9, 28, 10, 30)),
        ("3 days", local(2025, 9, 29, 17, 30)),
        ("1 week", local(2025, 10, 9, 17, 30)),  # Fri 10-03 is National Day: next working day
        ("1 month", local(2025, 10, 27, 17, 30)),  # Sun 10-26 is a rest day
        ("12 hours", local(2025, 9, 27, 3, 0)),
        ("90 minutes", local(2025, 9, 26, 16, 30)),
    ],
)
def test_each_unit_of_within_counts_by_its_rule(
    calendar: WorkingCalendar, within: str, due: dt.datetime
) -> None:
    deadline = compute_deadline(calendar, local(2025, 9, 26, 15, 0), parse_duration(within))
    assert deadline.due == due


def test_ladder_steps_at_fractions_offsets_and_before_the_due_time(
    calendar: WorkingCalendar,
) -> None:
    start = local(2025, 9, 26, 15, 0)
    within = parse_duration("2 working days")
    due = compute_deadline(calendar, start, within).due

    def at(**step: str) -> dt.datetime:
        return step_time(calendar, DeadlineStep(action="warn", **step), within, start, due)

    assert at(at="0%") == start
    assert at(at="100%") == due
    assert at(at="50%") == local(2025, 9, 28, 16, 15)
    assert at(after="1 working day") == local(2025, 9, 28, 17, 30)
    assert at(before="4 working hours") == local(2025, 9, 29, 13, 30)
    assert at(before="10 working hours") == local(2025, 9, 28, 16, 0)
    assert at(before="1 working day") == local(2025, 9, 28, 17, 30)
    assert at(before="12 hours") == local(2025, 9, 29, 5, 30)
    assert at(before="1 week") == start  # before the clock began: at once


@given(
    st.datetimes(dt.datetime(2024, 12, 20), dt.datetime(2027, 1, 10)),
    st.timedeltas(-dt.timedelta(days=1), dt.timedelta(days=15)),
    st.integers(1, 99),
    st.sampled_from(
        [
            CalendarSettings(),
            CalendarSettings(business_hours=None),
            CalendarSettings(business_hours={"opens": "08:15", "closes": "12:00"}),
            # a timezone that moves its clocks: the walks measure elapsed time
            CalendarSettings(timezone="Europe/Berlin", business_hours=None),
            CalendarSettings(timezone="Europe/Berlin"),
        ]
    ),
)
@settings(deadline=None)  # a calendar is built per example: no timing on a busy machine
def test_a_share_of_working_time_is_that_share_of_the_working_hours_from_the_start(
    naive: dt.datetime, length: dt.timedelta, share: int, chosen: CalendarSettings
) -> None:
    # `at: P%` of a working-time clock walks the days from its start to its due time
    # once: the same instant as counting the working time between them and then adding
    # that share of it to the start
    calendar = WorkingCalendar(chosen)
    start = naive.replace(tzinfo=chosen.tz)
    due = start + length
    step = DeadlineStep(action="warn", at=f"{share}%")
    within = parse_duration("2 working days")
    amount = working_time_between(calendar, start, due) * share / 100
    expected = min(calendar.add_working_hours(start, amount).due, due)
    found = step_time(calendar, step, within, start, due)
    assert (found, found.utcoffset()) == (expected, expected.utcoffset())


def test_working_time_is_counted_only_in_business_hours_of_working_days(
    calendar: WorkingCalendar,
) -> None:
    between = working_time_between(calendar, local(2025, 9, 26, 15, 0), local(2025, 9, 29, 10))
    assert between == dt.timedelta(hours=2.5 + 8.5 + 1)  # Fri, Sun (调休), Mon
    back = subtract_working_time(calendar, local(2025, 9, 29, 10, 0), between)
    assert back == local(2025, 9, 26, 15, 0)
    assert working_time_between(calendar, local(2025, 10, 1, 9), local(2025, 10, 8, 18)) == (
        dt.timedelta(0)
    )


def test_without_business_hours_working_time_is_whole_working_days() -> None:
    calendar = WorkingCalendar(CalendarSettings(business_hours=None))
    between = working_time_between(calendar, local(2025, 9, 26, 12, 0), local(2025, 9, 29, 0))
    assert between == dt.timedelta(hours=12 + 24)  # Fri afternoon and all of Sunday


@pytest.mark.req("CMT-2", "SEC-4")
def test_a_plainly_opened_engine_arms_the_clocks(
    sqlite_url: str, workflows: Path, clock: FakeClock
) -> None:
    # an embedding system that opens the engine without naming extensions must still
    # arm the same clocks a daemon would: they come with every Engine.open
    with Engine.open(sqlite_url, workflows=workflows, clock=clock) as engine:
        (clocks,) = [e for e in engine.extensions if isinstance(e, Clocks)]
        item = engine.start("consult", actor=ASSISTANT)
        (view,) = clocks.clocks(item.id)
        assert view.status == "running"
        assert view.due_at == local(2025, 9, 29, 17, 30)


GATEWAY_LOOP = """
id: loop_clock
label: {zh: 循环, en: Loop}
roles:
  operator: {zh: 运营方, en: Operator}
  system: {zh: 系统, en: System}
start: {state: waiting, roles: [operator]}
states:
  waiting:
    type: userTask
    label: {zh: 等待, en: Waiting}
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: fire, trigger: again}
    transitions:
      - {trigger: again, target: back, roles: [operator]}
      - {trigger: finish, target: done, roles: [operator]}
  back:
    type: exclusiveGateway
    label: {zh: 回到等待, en: Back}
    transitions:
      - {target: waiting, default: true}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def test_leaving_and_coming_back_through_a_gateway_starts_a_new_clock(
    tmp_path: Path, clock: FakeClock
) -> None:
    """docs/time.md: entering the state again starts a new clock, also when one command
    leaves it and returns through a gateway (a cycle such as a plan's drills, EMG-4)."""
    (tmp_path / "loop.yaml").write_text(GATEWAY_LOOP, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine.open(url, workflows=tmp_path / "loop.yaml", clock=clock) as engine:
        item = engine.start("loop_clock", actor=Actor("op", {"operator"}))
        for _day in range(30):  # each fire at half time comes back and re-arms a clock
            clock.advance(days=1)
            engine.run_due()
        fired = [h for h in engine.history(item.id) if h.kind == "timer"]
        assert len(fired) >= 5  # about one per working day; without a new clock: just 1


UNTIL = """
id: agreed
label: {zh: 整改, en: Rectification}
roles:
  operator: {zh: 运营方, en: Operator}
data:
  due_date: {type: date, required: false}
start: {state: working, roles: [operator]}
states:
  working:
    type: userTask
    label: {zh: 整改中, en: Working}
    deadline:
      until: due_date
      steps:
        - {before: 2 days, action: warn}
    transitions:
      - {trigger: finish, target: done, roles: [operator]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


@pytest.mark.req("RPT-2")
def test_a_deadline_until_a_date_of_the_data_is_due_at_the_end_of_that_day(
    tmp_path: Path, clock: FakeClock
) -> None:
    (tmp_path / "until.yaml").write_text(UNTIL, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'u.db'}"
    clocks = Clocks(WorkingCalendar())
    operator = Actor("op", {"operator"})
    with Engine.open(url, workflows=tmp_path / "until.yaml", clock=clock, extensions=[clocks]) as e:
        item = e.start("agreed", actor=operator, data={"due_date": "2025-10-09"})
        (view,) = clocks.clocks(item.id)
        assert view.due_at == dt.datetime(2025, 10, 10, 0, 0, tzinfo=SH)  # end of the 9th
        assert view.within == "until data.due_date"
        assert [t.due_at for t in clocks.timers(item.id) if t.action == "warn"] == [
            dt.datetime(2025, 10, 8, 0, 0, tzinfo=SH)
        ]
        clock.now = dt.datetime(2025, 10, 10, 0, 1, tzinfo=SH)
        e.run_due()
        assert clocks.clocks(item.id)[0].status == "breached"
        # no date, no clock: nothing to be late for
        undated = e.start("agreed", actor=operator)
        assert clocks.clocks(undated.id) == []
