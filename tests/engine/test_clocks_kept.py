"""The SLA clocks keep the answers of their deadline arithmetic for the same calendar,
deadline and instants: the messages of a batch all start at the batch's one ``now``, so
the working-day arithmetic of their due time and of their ladder's steps is done once
per batch, not once per message (docs/performance.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.calendar.settings import CalendarSettings
from cmc_workflow.clocks import Clocks
from cmc_workflow.clocks import extension as clocks_extension
from cmc_workflow.clocks.deadlines import compute_deadline, span, step_time
from cmc_workflow.testing import FakeClock
from tests.engine.test_clocks import ASSISTANT, CONSULT, local, open_engine


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    return folder


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls of the clocks' arithmetic function ``name`` (still the real one)."""
    real: Callable[..., Any] = getattr(clocks_extension, name)
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(clocks_extension, name, counted)
    return calls


def test_a_batch_counts_its_deadline_once(
    monkeypatch: pytest.MonkeyPatch, db_url: str, workflows: Path, clock: FakeClock
) -> None:
    clocks = Clocks(WorkingCalendar())
    deadlines = counting(monkeypatch, "compute_deadline")
    steps = counting(monkeypatch, "step_time")
    with open_engine(db_url, workflows, clock, clocks) as engine:
        outcomes = engine.start_many("consult", [{}] * 10, actor=ASSISTANT)
        items = [o.item for o in outcomes if o.item is not None]
        views = [clocks.clocks(item.id)[0] for item in items]
        ladders = [sorted((t.action, t.due_at) for t in clocks.timers(i.id)) for i in items]

    assert len(items) == 10
    assert len(deadlines) == 1
    # the ladder's two steps: one counted, the one at 100 % is the due time itself (no
    # arithmetic, nothing kept under the start of every clock)
    assert len(steps) == 1
    assert {v.due_at for v in views} == {local(2025, 9, 29, 17, 30)}
    assert all(ladder == ladders[0] for ladder in ladders)


def test_another_time_or_calendar_is_counted_again(
    db_url: str, workflows: Path, clock: FakeClock
) -> None:
    clocks = Clocks(WorkingCalendar())
    with open_engine(db_url, workflows, clock, clocks) as engine:
        first = engine.start("consult", actor=ASSISTANT)
        clock.advance(hours=1)  # Friday 16:00
        later = engine.start("consult", actor=ASSISTANT)
        clocks.set_calendar(WorkingCalendar(CalendarSettings(business_hours=None)))
        whole_days = engine.start("consult", actor=ASSISTANT)
        due = {item.id: clocks.clocks(item.id)[0].due_at for item in (first, later, whole_days)}
        warned = {
            item.id: next(t.due_at for t in clocks.timers(item.id) if t.action == "warn")
            for item in (first, later)
        }

    assert due[first.id] == due[later.id] == local(2025, 9, 29, 17, 30)
    assert warned[first.id] != warned[later.id]  # half of a shorter span
    assert due[whole_days.id] == local(2025, 9, 30, 0, 0)  # end of Monday, no hours


RECEIPT = """\
id: receipt
label: {zh: 留言, en: Message}
roles:
  ops_assistant: {zh: 运营助理, en: Operations assistant}
data:
  received_at: {type: datetime, label: {zh: 收到时间, en: Received at}}
start: {state: open, roles: [ops_assistant]}
states:
  open:
    type: userTask
    label: {zh: 待答复, en: Open}
    deadline:
      within: 2 working days
      counts_from: received_at
      steps:
        - {before: 4 working hours, action: warn}
        - {at: 50%, action: notify, to: ops_assistant}
    transitions:
      - {trigger: reply, target: answered, roles: [ops_assistant]}
  answered:
    type: endEvent
    label: {zh: 已答复, en: Answered}
"""


@pytest.mark.parametrize("after_hours", [False, True])
def test_messages_received_the_same_day_share_the_arithmetic_of_their_day(
    tmp_path: Path, sqlite_url: str, clock: FakeClock, after_hours: bool
) -> None:
    """Due times of day-counted periods are kept by the day of receipt (and whether it
    came after close of business); each clock keeps its own start, and every due time
    and step equals the arithmetic done afresh."""
    folder = tmp_path / "receipt"
    folder.mkdir()
    (folder / "receipt.yaml").write_text(RECEIPT, encoding="utf-8")
    calendar = WorkingCalendar(CalendarSettings(after_hours_counts_next_day=after_hours))
    clocks = Clocks(calendar)
    clock.now = local(2025, 9, 29, 20, 0)  # Monday evening
    received = [
        local(2025, 9, 29, 8, 0),  # before opening
        local(2025, 9, 29, 9, 30),
        local(2025, 9, 29, 16, 0),
        local(2025, 9, 29, 17, 45),  # after close of business
        local(2025, 9, 28, 11, 0),  # Sunday 28: a working day (调休)
        local(2025, 9, 27, 11, 0),  # Saturday: a rest day
    ]
    entries = [{"received_at": at.isoformat()} for at in received]
    with open_engine(sqlite_url, folder, clock, clocks) as engine:
        outcomes = engine.start_many("receipt", entries, actor=ASSISTANT)
        items = [o.item for o in outcomes if o.item is not None]
        views = [clocks.clocks(item.id)[0] for item in items]
        ladders = [sorted((t.action, t.due_at) for t in clocks.timers(item.id)) for item in items]
        spec = engine.workflow("receipt").state("open").deadline

    assert spec is not None
    assert spec.within is not None
    fresh = WorkingCalendar(CalendarSettings(after_hours_counts_next_day=after_hours))
    for at, view, ladder in zip(received, views, ladders, strict=True):
        expected = compute_deadline(fresh, at, spec.within)
        assert view.started_at == at
        assert view.due_at == expected.due
        assert view.rule == expected.rule
        steps = [step_time(fresh, s, span(spec), at, expected.due) for s in spec.steps]
        assert ladder == sorted(
            [("warn", steps[0]), ("notify", steps[1]), ("breach", expected.due)]
        )
    # the day decides: the early and late receipts of Monday are due alike (unless the
    # late one counts from the next working day)
    assert views[0].due_at == views[1].due_at == views[2].due_at
    assert (views[3].due_at != views[2].due_at) is after_hours


def test_every_clock_records_its_deadline_as_the_arithmetic_done_afresh_would(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    """The record of a clock's deadline but its start, and its ``before:`` steps' times,
    are kept per due time: each clock's detail still equals ``Deadline.as_record`` of
    its own deadline, key for key and in order (the JSON written)."""
    folder = tmp_path / "receipt"
    folder.mkdir()
    (folder / "receipt.yaml").write_text(RECEIPT, encoding="utf-8")
    calendar = WorkingCalendar()
    clocks = Clocks(calendar)
    clock.now = local(2025, 9, 29, 20, 0)
    received = [local(2025, 9, 29, 8, 0), local(2025, 9, 29, 9, 30), local(2025, 9, 26, 15, 0)]
    entries = [{"received_at": at.isoformat()} for at in received]
    with open_engine(sqlite_url, folder, clock, clocks) as engine:
        outcomes = engine.start_many("receipt", entries, actor=ASSISTANT)
        spec = engine.workflow("receipt").state("open").deadline
        with engine.store.read() as tx:
            rows = [tx.clocks_of(o.item.id)[0] for o in outcomes if o.item is not None]
    assert spec is not None
    assert spec.within is not None
    for at, row in zip(received, rows, strict=True):
        record = compute_deadline(WorkingCalendar(), at, spec.within).as_record()
        assert list(row.detail["deadline"].items()) == list(record.items())


BERLIN = """\
id: berlin
label: {zh: 留言, en: Message}
roles:
  ops_assistant: {zh: 运营助理, en: Operations assistant}
start: {state: open, roles: [ops_assistant]}
states:
  open:
    type: userTask
    label: {zh: 待答复, en: Open}
    deadline:
      within: 24 hours
      steps:
        - {before: 90 minutes, action: warn}
    transitions:
      - {trigger: reply, target: answered, roles: [ops_assistant]}
  answered:
    type: endEvent
    label: {zh: 已答复, en: Answered}
"""


def test_two_clocks_due_at_the_same_wall_time_an_hour_apart_keep_their_own_times(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    """Europe/Berlin turns its clocks back at 03:00 on 2026-10-25: 02:30 comes twice. Two
    clocks due at the two 02:30s compare equal as datetimes of one zone (Python ignores
    ``fold`` then), but are an hour apart: what is kept per due time tells them apart,
    so each one's record is its own, and its warning what the arithmetic done afresh
    gives."""
    folder = tmp_path / "berlin"
    folder.mkdir()
    (folder / "berlin.yaml").write_text(BERLIN, encoding="utf-8")
    clocks = Clocks(WorkingCalendar(CalendarSettings(timezone="Europe/Berlin")))
    utc = dt.UTC
    with open_engine(sqlite_url, folder, clock, clocks) as engine:
        clock.now = dt.datetime(2026, 10, 24, 0, 30, tzinfo=utc)
        first = engine.start("berlin", actor=ASSISTANT)
        clock.now = dt.datetime(2026, 10, 24, 1, 30, tzinfo=utc)
        second = engine.start("berlin", actor=ASSISTANT)
        with engine.store.read() as tx:
            rows = [tx.clocks_of(item.id)[0] for item in (first, second)]
        warned = [clocks.timers(item.id)[0].due_at for item in (first, second)]
        spec = engine.workflow("berlin").state("open").deadline
    assert spec is not None
    assert [r.due_at for r in rows] == [
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=utc),
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=utc),
    ]
    assert [r.detail["deadline"]["due"] for r in rows] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
    ]
    fresh = WorkingCalendar(CalendarSettings(timezone="Europe/Berlin"))
    assert spec.within is not None
    expected = []
    for row in rows:
        due = compute_deadline(fresh, row.started_at, spec.within).due  # in Berlin's zone
        expected += [step_time(fresh, step, span(spec), row.started_at, due) for step in spec.steps]
    assert warned == expected


def test_clocks_started_at_the_two_equal_wall_times_of_a_night_are_due_an_hour_apart(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    """An engine clock in Europe/Berlin gives 02:30 twice on 2026-10-25 (``fold`` 0, then
    1): equal as datetimes of one zone, an hour apart. A deadline counted in elapsed time
    is kept per start instant, not per equal datetime: each clock is due 24 hours after
    its own start."""
    folder = tmp_path / "berlin"
    folder.mkdir()
    (folder / "berlin.yaml").write_text(BERLIN, encoding="utf-8")
    berlin = ZoneInfo("Europe/Berlin")
    clocks = Clocks(WorkingCalendar(CalendarSettings(timezone="Europe/Berlin")))
    starts = [dt.datetime(2026, 10, 25, 2, 30, fold=fold, tzinfo=berlin) for fold in (0, 1)]
    assert starts[0] == starts[1]
    with open_engine(sqlite_url, folder, clock, clocks) as engine:
        items = []
        for at in starts:
            clock.now = at
            items.append(engine.start("berlin", actor=ASSISTANT))
        due = [clocks.clocks(item.id)[0].due_at for item in items]
    assert due == [at.astimezone(dt.UTC) + dt.timedelta(hours=24) for at in starts]
