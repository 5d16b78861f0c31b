"""Periodic schedules: occurrence arithmetic, located problems, and once-only starts.

Occurrences follow the working-day calendar where the rule says so ("last working day of
the month"), never drift ("every 6 months" counts from the anchor), are created once
across runners (a unique key), and are caught up or recorded as missed, never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from cmc_workflow import Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.errors import DefinitionError, PolicyDenied
from cmc_workflow.extensions import Change, Command, Extension
from cmc_workflow.language import load_paths
from cmc_workflow.located import load_located
from cmc_workflow.runner.wakeups import ScheduleTrigger, Wakeups
from cmc_workflow.schedules import Schedule, Schedules, ScheduleSpec, load_schedules_doc
from cmc_workflow.store import Tx
from cmc_workflow.store import timers as sql
from cmc_workflow.testing import FakeClock
from tests.helpers import ROOT, WORKFLOWS
from tests.helpers.chinese import assert_reads_in_chinese
from tests.helpers.processes import wait_until

SH = ZoneInfo("Asia/Shanghai")

PATROL = """\
id: patrol
label: {zh: 系统巡检, en: System patrol}
implements: [INS-1]
roles:
  system: {zh: 系统, en: System}
  operator: {zh: 运营方, en: Operator}
data:
  scheduled_for: {type: datetime, required: false}
  scope: {type: string, required: false}
start: {state: due, roles: [system, operator]}
states:
  due:
    type: userTask
    label: {zh: 待巡检, en: Due}
    transitions:
      - {trigger: done, target: done, roles: [operator]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def schedule(calendar: WorkingCalendar, **spec: object) -> Schedule:
    values = {"workflow": "patrol", **spec}
    return Schedule("s", ScheduleSpec.model_validate(values), "Asia/Shanghai", "<test>")


def dues(s: Schedule, calendar: WorkingCalendar, after: dt.datetime, n: int) -> list[dt.datetime]:
    return [o.due for o in s.occurrences(after, local(2100, 1, 1), calendar, n)]


# -- occurrence arithmetic ---------------------------------------------------------------------
@pytest.mark.req("INS-3", "INS-11")
def test_cron_on_a_day_off_runs_is_skipped_or_moves_to_the_next_working_day(
    calendar: WorkingCalendar,
) -> None:
    """National Day 2025: Oct 1-8 off, Sat Oct 11 an adjusted working day."""
    after = local(2025, 9, 29, 12)
    weekly = {"cron": "0 10 * * mon"}
    assert dues(schedule(calendar, **weekly), calendar, after, 2) == [
        local(2025, 10, 6, 10),  # a holiday Monday, run anyway (the default)
        local(2025, 10, 13, 10),
    ]
    moved = schedule(calendar, **weekly, on_day_off="next_working_day")
    assert dues(moved, calendar, after, 2) == [local(2025, 10, 9, 10), local(2025, 10, 13, 10)]
    daily = {"cron": "30 8 * * *"}
    assert dues(schedule(calendar, **daily, on_day_off="skip"), calendar, after, 4) == [
        local(2025, 9, 30, 8, 30),
        local(2025, 10, 9, 8, 30),
        local(2025, 10, 10, 8, 30),
        local(2025, 10, 11, 8, 30),  # a Saturday that is a working day
    ]
    # the holiday's seven daily occurrences merge into one on the next working day
    assert dues(schedule(calendar, **daily, on_day_off="next_working_day"), calendar, after, 3) == [
        local(2025, 9, 30, 8, 30),
        local(2025, 10, 9, 8, 30),
        local(2025, 10, 10, 8, 30),
    ]


@pytest.mark.req("INS-2")
def test_every_6_months_counts_from_the_anchor_without_drift(calendar: WorkingCalendar) -> None:
    s = schedule(calendar, every="6 months", **{"from": dt.date(2025, 8, 31)}, at="09:30")
    assert dues(s, calendar, local(2025, 1, 1), 4) == [
        local(2025, 8, 31, 9, 30),
        local(2026, 2, 28, 9, 30),  # clamped to the end of February ...
        local(2026, 8, 31, 9, 30),  # ... and back to the 31st: no drift
        local(2027, 2, 28, 9, 30),
    ]
    assert dues(s, calendar, local(2026, 2, 28, 9, 30), 1) == [local(2026, 8, 31, 9, 30)]
    assert dues(s, calendar, local(2031, 3, 1), 1) == [local(2031, 8, 31, 9, 30)]


def test_every_n_weeks_and_days_from_an_anchor(calendar: WorkingCalendar) -> None:
    weeks = schedule(calendar, every="2 weeks", **{"from": dt.date(2025, 9, 1)})
    assert dues(weeks, calendar, local(2025, 9, 10), 2) == [
        local(2025, 9, 15, 9, 0),
        local(2025, 9, 29, 9, 0),
    ]
    days = schedule(calendar, every="3 days", **{"from": dt.date(2025, 9, 1)}, at="23:00")
    assert dues(days, calendar, local(2025, 9, 1, 23, 0), 2) == [
        local(2025, 9, 4, 23, 0),
        local(2025, 9, 7, 23, 0),
    ]


@pytest.mark.req("INS-4", "INS-5")
def test_last_working_day_of_the_month_respects_holidays(calendar: WorkingCalendar) -> None:
    s = schedule(calendar, monthly="last_working_day", at="16:00")
    assert dues(s, calendar, local(2025, 1, 1), 2) == [
        local(2025, 1, 27, 16, 0),  # the Spring Festival holiday starts on the 28th
        local(2025, 2, 28, 16, 0),
    ]
    assert dues(s, calendar, local(2025, 9, 1), 2) == [
        local(2025, 9, 30, 16, 0),
        local(2025, 10, 31, 16, 0),
    ]
    assert dues(s, calendar, local(2026, 2, 1), 1) == [local(2026, 2, 28, 16, 0)]  # a Saturday 调休
    first = schedule(calendar, monthly="first_working_day")
    assert dues(first, calendar, local(2025, 9, 30, 12, 0), 1) == [local(2025, 10, 9, 9, 0)]


def test_a_month_in_a_year_without_data_is_provisional(calendar: WorkingCalendar) -> None:
    s = schedule(calendar, monthly="last_working_day")
    (occurrence,) = s.occurrences(local(2026, 12, 31, 12), local(2027, 2, 1), calendar, 5)
    assert occurrence.due == local(2027, 1, 29, 9, 0)
    assert occurrence.provisional


def test_cron_runs_in_the_schedules_timezone(calendar: WorkingCalendar) -> None:
    s = schedule(calendar, cron="0 9 * * mon-fri")
    assert dues(s, calendar, local(2025, 9, 26, 9, 0), 2) == [
        local(2025, 9, 29, 9, 0),
        local(2025, 9, 30, 9, 0),
    ]


# -- located problems -----------------------------------------------------------------------
def problems(text: str) -> list[tuple[int, int, str]]:
    doc, found = load_located(text, "schedules.yaml")
    assert not found
    _model, found = load_schedules_doc(doc)
    assert_reads_in_chinese(found)
    return [(p.line, p.column, p.code) for p in found]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("cron: '0 9 1 */6 *'", [(4, 11, "E-CRON-PITFALL")]),
        ("cron: '0 9 * * 1-5'", [(4, 11, "E-CRON-PITFALL")]),
        ("cron: '0 9 31 * *'", [(4, 11, "E-CRON-PITFALL")]),
        ("cron: '0 9 last * fri'", [(4, 11, "E-CRON-PITFALL")]),
        ("cron: '0 25 * * *'", [(4, 11, "E-CRON-SYNTAX")]),
        ("cron: '0 9 * *'", [(4, 11, "E-CRON-SYNTAX")]),
        ("every: 6 months", [(3, 3, "E-SCHEDULE-EVERY")]),
        ("every: 2 working days\n    from: 2025-01-01", [(4, 12, "E-SCHEDULE-EVERY")]),
        ("monthly: last_working_day\n    from: 2025-01-01", [(5, 5, "E-MISPLACED-KEY")]),
        ("cron: '0 9 * * *'\n    at: '10:00'", [(5, 5, "E-MISPLACED-KEY")]),
        ("monthly: last_working_day\n    on_day_off: skip", [(5, 5, "E-MISPLACED-KEY")]),
        ("cron: '0 9 * * *'\n    on_day_off: later", [(5, 17, "E-BAD-VALUE")]),
        (
            "monthly: last_working_day\n    every: 1 month\n    from: 2025-01-01",
            [(3, 3, "E-SCHEDULE-TRIGGER")],
        ),
        ("role: system", [(3, 3, "E-SCHEDULE-TRIGGER")]),
        ("monthly: last_working_day\n    at: '9:00'", [(5, 9, "E-BAD-VALUE")]),
        ("monthly: last_working_day\n    timezone: Mars/Base", [(5, 15, "E-BAD-VALUE")]),
        ("monthly: someday", [(4, 14, "E-BAD-VALUE")]),
        ("monthly: last_working_day\n    grace: 2 working hours", [(5, 12, "E-BAD-VALUE")]),
        ("monthly: last_working_day\n    mised: record", [(5, 5, "E-UNKNOWN-KEY")]),
    ],
)
def test_schedule_file_problems_are_located(
    body: str, expected: list[tuple[int, int, str]]
) -> None:
    text = f"kind: schedules\nschedules:\n  patrol:\n    {body}\n    workflow: patrol\n"
    assert problems(text) == expected


def write_set(tmp_path: Path, schedules: str) -> Path:
    folder = tmp_path / "defs"
    folder.mkdir(exist_ok=True)
    (folder / "patrol.yaml").write_text(PATROL, encoding="utf-8")
    (folder / "schedules.yaml").write_text(schedules, encoding="utf-8")
    return folder


def test_schedules_are_checked_against_the_workflows_they_start(
    tmp_path: Path, calendar: WorkingCalendar
) -> None:
    folder = write_set(
        tmp_path,
        """\
kind: schedules
schedules:
  a:
    workflow: nowhere
    cron: '0 9 * * *'
  b:
    workflow: patrol
    cron: '0 9 * * *'
    role: auditor
  c:
    workflow: patrol
    cron: '0 9 * * *'
    data: {scope: 3, extra: x}
  d:
    workflow: patrol
    cron: '0 9 * * *'
    occurrence_field: scope
""",
    )
    loaded = load_paths([folder])  # what `cmc-workflow validate` and Engine.open report
    with pytest.raises(DefinitionError) as caught:
        Schedules.from_loaded(loaded, calendar)
    assert sorted((p.line, p.column, p.code) for p in loaded.problems) == [
        (p.line, p.column, p.code) for p in caught.value.problems
    ]
    assert [(p.line, p.column, p.code) for p in caught.value.problems] == [
        (4, 15, "E-UNKNOWN-WORKFLOW"),
        (9, 11, "E-SCHEDULE-ROLE"),
        (13, 19, "E-SCHEDULE-DATA"),  # scope: 3 is not text
        (13, 29, "E-SCHEDULE-DATA"),  # extra: is no field of the workflow
        (17, 23, "E-SCHEDULE-DATA"),  # not a datetime field
    ]


def test_the_bundled_schedules_cover_every_periodic_duty(calendar: WorkingCalendar) -> None:
    loaded = load_paths([WORKFLOWS, ROOT / "policies"])
    assert not loaded.problems, loaded.problems
    schedules = Schedules.from_loaded(loaded, calendar).schedules
    cited = {req for s in schedules for req in s.spec.implements}
    assert {f"INS-{n}" for n in range(1, 12)} <= cited
    for s in schedules:
        assert s.next_after(local(2025, 9, 26, 15), calendar) is not None, s.id
    assert (ROOT / "workflows" / "schedules.yaml").is_file()


# -- running occurrences -----------------------------------------------------------------------
SCHEDULES = """\
kind: schedules
schedules:
  daily:
    workflow: patrol
    cron: '0 9 * * *'
    missed: {missed}
    occurrence_field: scheduled_for
    data: {{scope: all systems}}
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(2025, 9, 26, 8, 0))


def open_engine(
    url: str, folder: Path, clock: FakeClock, calendar: WorkingCalendar, *extra: Extension
) -> tuple[Engine, Schedules]:
    loaded = load_paths([folder])
    schedules = Schedules.from_loaded(loaded, calendar)
    engine = Engine.open(url, workflows=folder, clock=clock, extensions=[schedules, *extra])
    return engine, schedules


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_set(tmp_path, SCHEDULES.format(missed="catch_up"))


@pytest.fixture
def pair(
    db_url: str, folder: Path, clock: FakeClock, calendar: WorkingCalendar
) -> Iterator[tuple[Engine, Engine, Schedules]]:
    """Two runners on one database."""
    first, schedules = open_engine(db_url, folder, clock, calendar)
    second, _ = open_engine(db_url, folder, clock, calendar)
    with first, second:
        yield first, second, schedules


def started(schedules: Schedules) -> list[tuple[dt.datetime, str, int | None]]:
    return sorted((r.due_at, r.status, r.item_id) for r in schedules.runs("daily"))


@pytest.mark.req("INS-1")
def test_each_occurrence_starts_one_item_whatever_the_number_of_runners(
    pair: tuple[Engine, Engine, Schedules], clock: FakeClock
) -> None:
    first, second, schedules = pair
    assert first.run_due().extensions == 0  # first seen at 08:00: nothing is due yet
    clock.now = local(2025, 9, 26, 9, 0, 5)
    assert first.run_due().extensions + second.run_due().extensions == 1
    clock.now = local(2025, 9, 27, 9, 0, 1)
    assert second.run_due().extensions + first.run_due().extensions == 1
    runs = started(schedules)
    assert [(due, status) for due, status, _ in runs] == [
        (local(2025, 9, 26, 9, 0), "started"),
        (local(2025, 9, 27, 9, 0), "started"),
    ]
    item_id = runs[0][2]
    assert item_id is not None
    item = first.get(item_id)
    assert (item.workflow, item.state, item.created_by) == ("patrol", "due", "schedule:daily")
    assert item.data == {
        "scope": "all systems",
        "scheduled_for": local(2025, 9, 26, 9, 0).isoformat(),
    }


@pytest.mark.parametrize(
    ("missed", "statuses"),
    [
        ("catch_up", ["started", "started", "started"]),
        ("latest", ["missed", "missed", "started"]),
        ("record", ["missed", "missed", "missed"]),
    ],
)
def test_occurrences_missed_while_no_daemon_ran_are_caught_up_or_recorded(
    tmp_path: Path,
    clock: FakeClock,
    calendar: WorkingCalendar,
    missed: str,
    statuses: list[str],
) -> None:
    folder = write_set(tmp_path, SCHEDULES.format(missed=missed))
    engine, schedules = open_engine(f"sqlite:///{tmp_path / 'm.db'}", folder, clock, calendar)
    with engine:
        engine.run_due()
        clock.now = local(2025, 9, 28, 12, 0)  # the daemon was down for three occurrences
        assert engine.run_due().extensions == 3
        runs = started(schedules)
        assert [due for due, _, _ in runs] == [local(2025, 9, d, 9, 0) for d in (26, 27, 28)]
        assert [status for _, status, _ in runs] == statuses
        assert all((item is not None) == (s == "started") for _, s, item in runs)
        missed_detail = [r.detail for r in schedules.runs("daily") if r.status == "missed"]
        assert all(d["missed"] and d["policy"] == missed for d in missed_detail)
        assert engine.run_due().extensions == 0  # handled once
        (status,) = schedules.status(clock.now)
        assert status.next_due == local(2025, 9, 29, 9, 0)
        assert status.last_due == local(2025, 9, 28, 9, 0)


def test_a_refused_start_is_recorded_as_failed(
    tmp_path: Path, folder: Path, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    class Closed(Extension):
        def check(self, command: Command, tx: Tx) -> None:
            raise PolicyDenied("closed", "the center is closed")

    engine, schedules = open_engine(
        f"sqlite:///{tmp_path / 'f.db'}", folder, clock, calendar, Closed()
    )
    with engine:
        engine.run_due()
        clock.now = local(2025, 9, 26, 9, 1)
        engine.run_due()
        ((_, status, item),) = started(schedules)
        assert (status, item) == ("failed", None)
        (run,) = schedules.runs("daily")
        assert "the center is closed" in run.detail["error"]


def test_a_claim_taken_over_before_the_start_commits_starts_nothing(
    tmp_path: Path, folder: Path, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    """The occurrence's claim goes with the start to the runtime: when another runner
    took the occurrence over meanwhile, the start is refused in its own transaction, so
    the occurrence is started once (by the other runner), never twice."""

    class Thief(Extension):
        """Another runner's takeover, landing inside the start's transaction."""

        def after_change(self, tx: Tx, change: Change) -> None:
            if change.kind == "start":
                far = local(2030, 1, 1)
                assert tx.reclaim_stale_runs(far, "thief", far)

    engine, schedules = open_engine(
        f"sqlite:///{tmp_path / 'l.db'}", folder, clock, calendar, Thief()
    )
    with engine, capture_logs() as logs:
        engine.run_due()
        clock.now = local(2025, 9, 26, 9, 1)
        assert engine.run_due().extensions == 1
        ((_, status, item),) = started(schedules)
        assert (status, item) == ("claimed", None)  # the start rolled back, the claim too
        with engine.store.read() as tx:
            assert tx.open_items([("patrol", "due")]) == []
    assert [e["event"] for e in logs if e["event"].startswith("occurrence_")] == [
        "occurrence_claim_lost"
    ]


def test_an_occurrence_whose_runner_died_is_taken_over(
    tmp_path: Path, folder: Path, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    engine, schedules = open_engine(f"sqlite:///{tmp_path / 't.db'}", folder, clock, calendar)
    with engine:
        engine.run_due()
        due = local(2025, 9, 26, 9, 0)
        with engine.store.write() as tx:  # a runner claimed it, then died before starting
            tx.insert_run("daily", due, sql.CLAIMED, due, runner="dead", claimed_until=due)
            tx.advance_cursor("daily", due, due)
        clock.now = local(2025, 9, 26, 9, 1)
        assert engine.run_due().extensions == 1
        ((when, status, item),) = started(schedules)
        assert (when, status) == (due, "started")
        assert item is not None
        assert engine.run_due().extensions == 0


# -- APScheduler as this process's clock -----------------------------------------------------------
def test_the_process_clock_wakes_at_each_schedules_own_occurrences(
    calendar: WorkingCalendar,
) -> None:
    s = schedule(calendar, every="6 months", **{"from": dt.date(2025, 8, 31)}, at="09:30")
    trigger = ScheduleTrigger(s, lambda: calendar)
    first = trigger.get_next_fire_time(None, local(2025, 9, 1))
    assert first == local(2026, 2, 28, 9, 30)
    assert trigger.get_next_fire_time(first, local(2026, 2, 28, 9, 30)) == local(2026, 8, 31, 9, 30)
    woken: list[str] = []
    clock = Wakeups(woken.append, poll_interval=60, reload_interval=None)
    clock.set_schedules([s], lambda: calendar)
    clock.wake_at(local(2030, 1, 1))
    assert sorted(job for job, _ in clock.jobs()) == ["poll", "schedule:s", "wake"]
    clock.set_schedules([], lambda: calendar)
    clock.wake_at(None)
    assert [job for job, _ in clock.jobs()] == ["poll"]
    clock.start()
    clock.wake_at(local(2000, 1, 1))  # a past wake-up runs at once
    try:
        wait_until(lambda: woken, "the past wake-up to run", every=0.02)
    finally:
        clock.shutdown()
    assert woken[:1] == ["wake"]
