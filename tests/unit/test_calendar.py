"""Tests of cmc_workflow.calendar: official data, admin files, the receipt rule, arithmetic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cmc_workflow.calendar import (
    BusinessHours,
    CalendarSettings,
    DayAnswer,
    DaySource,
    OfficialTable,
    WorkingCalendar,
    add_months,
    load_calendar_dir,
    parse_calendar_file,
)
from cmc_workflow.calendar.official import OfficialDay
from cmc_workflow.errors import CalendarError, DefinitionError
from tests.helpers.chinese import assert_reads_in_chinese

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]

# A made-up 2027 arrangement (the real one is not published in chinesecalendar 1.11).
CN_2027 = """\
arrangement:
  year: 2027
  notice: made-up arrangement for tests
  holidays:
    - {date: 2027-01-01, name: 元旦}
    - {date: 2027-01-02, name: 元旦}
    - {date: 2027-01-03, name: 元旦}
  working_days:
    - {date: 2027-02-20, name: 春节调休}
"""


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> dt.datetime:
    """An aware Asia/Shanghai datetime."""
    return dt.datetime(year, month, day, hour, minute, sec, tzinfo=SH)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- official data ------------------------------------------------------------------------


@pytest.mark.parametrize("day", [dt.date(2025, 9, 28), dt.date(2026, 2, 14), dt.date(2026, 2, 28)])
def test_adjusted_weekend_working_days_are_working(cal: WorkingCalendar, day: dt.date) -> None:
    answer = cal.is_working_day(day)
    assert day.weekday() >= 5
    assert answer.working
    assert answer
    assert answer.source is DaySource.OFFICIAL
    assert not answer.provisional


@pytest.mark.parametrize("day", [dt.date(2025, 10, d) for d in range(1, 9)])
def test_national_day_2025_is_off(cal: WorkingCalendar, day: dt.date) -> None:
    answer = cal.is_working_day(day)
    assert not answer.working
    assert not answer
    assert answer.name is not None
    assert not cal.is_working(day)


def test_official_table_agrees_with_chinese_calendar_on_every_covered_day() -> None:
    table = OfficialTable()
    assert table.years == range(2004, 2027)
    day = dt.date(2004, 1, 1)
    while day.year <= 2026:
        official = table.day(day)
        assert official is not None
        assert official.working == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_year_without_data_is_provisional_not_an_error(cal: WorkingCalendar) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 1, 1))
    answer = cal.is_working_day(dt.date(2027, 1, 6))  # a Wednesday: the weekday rule
    assert answer.working
    assert answer.provisional
    assert answer.source is DaySource.PROVISIONAL
    assert answer.guessed_years == frozenset({2027})
    new_year = cal.is_working_day(dt.date(2027, 1, 1))  # a Friday, but a statutory holiday
    assert not new_year.working
    assert new_year.provisional
    assert new_year.name == "New Year's Day"
    status = cal.status([2025, 2027])
    assert status[2025].source is DaySource.OFFICIAL
    assert status[2027].source is DaySource.PROVISIONAL
    assert not status[2027].official_available


def test_day_answers_are_cached(cal: WorkingCalendar) -> None:
    first = cal.is_working_day(dt.date(2025, 5, 5))
    assert cal.is_working_day(dt.date(2025, 5, 5)) is first


def test_short_deadline_asks_only_a_few_days() -> None:
    class CountingTable(OfficialTable):
        calls = 0

        def day(self, day: dt.date) -> OfficialDay | None:
            CountingTable.calls += 1
            return super().day(day)

    cal = WorkingCalendar(official=CountingTable())
    cal.add_working_days(at(2025, 9, 26, 15), 2)
    assert CountingTable.calls == 3  # Sat 27, Sun 28, Mon 29
    cal.add_working_days(at(2025, 9, 26, 16), 2)
    assert CountingTable.calls == 3  # answered from the cache


def test_is_working_day_takes_an_aware_datetime_in_local_time(cal: WorkingCalendar) -> None:
    # 2025-09-27 17:00 UTC is Sunday 28 01:00 in Shanghai: an adjusted working day.
    assert cal.is_working_day(dt.datetime(2025, 9, 27, 17, tzinfo=dt.UTC)).day == dt.date(
        2025, 9, 28
    )
    assert cal.is_working(dt.datetime(2025, 9, 27, 17, tzinfo=dt.UTC))


# --- the consultation SLA: 2 working days (CMT-2) -------------------------------------------


@pytest.mark.req("CMT-2")
def test_friday_consultation_is_due_monday_at_close_of_business(cal: WorkingCalendar) -> None:
    # Receipt day Fri 26 not counted; Sat 27 off; Sun 28 adjusted working day (day 1);
    # Mon 29 (day 2).
    deadline = cal.add_working_days(at(2025, 9, 26, 15), 2)
    assert deadline.due == at(2025, 9, 29, 17, 30)
    assert deadline.due.tzinfo == SH
    assert not deadline.provisional
    assert deadline.guessed_years == frozenset()
    assert deadline.calendar_version == cal.version
    assert deadline.rule == (
        "2 working days, receipt day not counted, ends at close of business 17:30 Asia/Shanghai"
    )
    assert cal.working_days_between(dt.date(2025, 9, 26), deadline.due.date()).value == 2


@pytest.mark.req("CMT-2")
def test_without_business_hours_the_period_ends_at_midnight() -> None:
    cal = WorkingCalendar(CalendarSettings(business_hours=None))
    deadline = cal.add_working_days(at(2025, 9, 26, 15), 2)
    assert deadline.due == at(2025, 9, 30, 0, 0)  # the end (24:00) of Mon 2025-09-29
    assert "24:00" in deadline.rule
    assert not deadline.is_late(at(2025, 9, 29, 23, 59, 59))
    assert deadline.is_late(at(2025, 9, 30, 0, 0, 1))


@pytest.mark.req("CMT-2")
def test_utc_input_gives_the_same_local_deadline(cal: WorkingCalendar) -> None:
    deadline = cal.add_working_days(dt.datetime(2025, 9, 26, 7, tzinfo=dt.UTC), 2)
    assert deadline.due == at(2025, 9, 29, 17, 30)
    assert deadline.start == at(2025, 9, 26, 15)


@pytest.mark.req("CMT-2")
@pytest.mark.parametrize(
    ("received", "counts_next_day", "due"),
    [
        # after close of business on a Friday
        (at(2025, 9, 26, 18), False, at(2025, 9, 29, 17, 30)),
        (at(2025, 9, 26, 18), True, at(2025, 9, 30, 17, 30)),
        # exactly at close counts as after hours
        (at(2025, 9, 26, 17, 30), True, at(2025, 9, 30, 17, 30)),
        (at(2025, 9, 26, 17, 29), True, at(2025, 9, 29, 17, 30)),
        # on a rest day (Sat 27)
        (at(2025, 9, 27, 10), False, at(2025, 9, 29, 17, 30)),
        (at(2025, 9, 27, 10), True, at(2025, 9, 30, 17, 30)),
        # before opening on a working day: still that day
        (at(2025, 9, 29, 7), True, at(2025, 10, 9, 17, 30)),
        # on a public holiday: with the rule, counted from Thu Oct 9
        (at(2025, 10, 3, 11), False, at(2025, 10, 10, 17, 30)),
        (at(2025, 10, 3, 11), True, at(2025, 10, 11, 17, 30)),
    ],
)
def test_receipt_rule(received: dt.datetime, counts_next_day: bool, due: dt.datetime) -> None:
    cal = WorkingCalendar(CalendarSettings(after_hours_counts_next_day=counts_next_day))
    deadline = cal.add_working_days(received, 2)
    assert deadline.due == due
    assert ("counts as the next working day" in deadline.rule) is counts_next_day


@pytest.mark.req("CMT-2")
def test_rest_day_receipt_without_business_hours() -> None:
    settings = CalendarSettings(business_hours=None, after_hours_counts_next_day=True)
    deadline = WorkingCalendar(settings).add_working_days(at(2025, 9, 27, 23), 2)
    # Sat 27 counts as Sun 28 (not counted); day 1 Mon 29, day 2 Tue 30; end = Oct 1 00:00.
    assert deadline.due == at(2025, 10, 1, 0, 0)
    # Without business hours there is no "after close": a late weekday receipt stays.
    assert WorkingCalendar(settings).add_working_days(at(2025, 9, 26, 23), 2).due == at(2025, 9, 30)


@pytest.mark.req("CMT-2")
def test_deadline_across_national_day(cal: WorkingCalendar) -> None:
    # Tue 30 Sep: day 1 is Thu Oct 9, day 2 Fri Oct 10.
    assert cal.add_working_days(at(2025, 9, 30, 10), 2).due == at(2025, 10, 10, 17, 30)


@pytest.mark.req("CMT-2")
def test_deadline_into_2027_is_provisional_without_a_file(tmp_path: Path) -> None:
    cal = WorkingCalendar.from_directory(tmp_path / "calendars")
    deadline = cal.add_working_days(at(2026, 12, 30, 10), 2)
    # day 1 Thu 2026-12-31 (official); Fri 2027-01-01 is New Year's Day by the regulation
    # (known without the year's notice), the weekend by the weekday rule: day 2 Mon 01-04
    assert deadline.due == at(2027, 1, 4, 17, 30)
    assert deadline.provisional
    assert deadline.guessed_years == frozenset({2027})
    record = deadline.as_record()
    assert record["provisional"] is True
    assert "adjusted working weekends unknown" in str(record["assumed"])
    assert "调休安排未知" in str(record["assumed_zh"])
    assert cal.status([2027])[2027].source is DaySource.PROVISIONAL


@pytest.mark.req("CMT-2")
def test_deadline_into_2027_is_exact_with_an_admin_file(tmp_path: Path) -> None:
    path = write(tmp_path / "calendars", "cn-2027.yaml", CN_2027)
    cal = WorkingCalendar.from_directory(tmp_path / "calendars")
    deadline = cal.add_working_days(at(2026, 12, 30, 10), 2)
    assert deadline.due == at(2027, 1, 4, 17, 30)  # Jan 1–3 off in the file
    assert not deadline.provisional
    status = cal.status([2026, 2027])
    assert status[2026].source is DaySource.OFFICIAL
    assert status[2027].source is DaySource.ADMIN_FILE
    assert status[2027].file == str(path)
    answer = cal.is_working_day(dt.date(2027, 2, 20))  # a Saturday made a working day
    assert answer.working
    assert answer.source is DaySource.ADMIN_FILE
    assert answer.file == str(path)
    assert cal.version != WorkingCalendar().version


def test_deadline_record_is_json_ready(cal: WorkingCalendar) -> None:
    record = cal.add_working_days(at(2025, 9, 26, 15), 2).as_record()
    assert json.loads(json.dumps(record))["due"] == "2025-09-29T17:30:00+08:00"


# --- admin files: arrangement precedence and local overrides --------------------------------


def test_local_closure_moves_a_deadline(tmp_path: Path) -> None:
    write(tmp_path, "local.yaml", "local:\n  closures:\n    - {date: 2025-09-29, name: 检修}\n")
    cal = WorkingCalendar.from_directory(tmp_path)
    assert cal.add_working_days(at(2025, 9, 26, 15), 2).due == at(2025, 9, 30, 17, 30)
    answer = cal.is_working_day(dt.date(2025, 9, 29))
    assert (answer.working, answer.source, answer.name) == (False, DaySource.ADMIN_FILE, "检修")
    assert cal.status([2025])[2025].override_files == (str(tmp_path / "local.yaml"),)
    assert cal.status([2025])[2025].source is DaySource.OFFICIAL


def test_local_working_day_on_a_holiday(tmp_path: Path) -> None:
    write(tmp_path, "local.yaml", "local:\n  working_days:\n    - {date: 2025-10-08, name: 开放}\n")
    cal = WorkingCalendar.from_directory(tmp_path)
    assert cal.add_working_days(at(2025, 9, 30, 10), 2).due == at(2025, 10, 9, 17, 30)


def test_local_day_in_a_provisional_year_is_exact_for_that_day(tmp_path: Path) -> None:
    write(tmp_path, "local.yaml", "local:\n  closures:\n    - {date: 2028-03-01, name: 闭馆}\n")
    cal = WorkingCalendar.from_directory(tmp_path)
    assert not cal.is_working_day(dt.date(2028, 3, 1)).provisional
    assert cal.is_working_day(dt.date(2028, 3, 2)).provisional
    assert cal.status([2028])[2028].source is DaySource.PROVISIONAL


def test_admin_arrangement_takes_precedence_over_the_package(tmp_path: Path) -> None:
    text = (
        "arrangement:\n  year: 2025\n  notice: corrected\n  holidays:\n"
        "    - {date: 2025-01-01, name: 元旦}\n"
    )
    write(tmp_path, "cn-2025.yaml", text)
    cal = WorkingCalendar.from_directory(tmp_path)
    status = cal.year_status(2025)
    assert (status.source, status.official_available) == (DaySource.ADMIN_FILE, True)
    assert cal.is_working(dt.date(2025, 10, 1))  # not a holiday in this (odd) file


def test_example_and_readme_are_not_loaded_and_the_example_is_valid() -> None:
    folder = REPO / "calendars"
    for cal_file in load_calendar_dir(folder):
        assert cal_file.file.endswith((".yaml", ".yml"))
    example = folder / "example-local-closures.yaml.example"
    parsed = parse_calendar_file(example.read_text(encoding="utf-8"), str(example))
    assert parsed.data.local is not None
    assert parsed.data.local.closures


def test_missing_directory_gives_the_official_calendar(tmp_path: Path) -> None:
    assert load_calendar_dir(tmp_path / "nope") == ()


# --- bad files: every problem with file, line, column, code and hint ------------------------


def problems_of(text: str, file: str = "calendars/bad.yaml") -> list[tuple[int, int, str]]:
    with pytest.raises(DefinitionError) as info:
        parse_calendar_file(text, file)
    for problem in info.value.problems:
        assert problem.file == file
        assert problem.hint
    assert_reads_in_chinese(info.value.problems)
    return [(p.line, p.column, p.code) for p in info.value.problems]


ARR = "arrangement:\n  year: 2027\n  notice: n\n  holidays:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            ARR + "    - {date: 2027-02-30, name: x}\n",
            [(5, 14, "E-CALENDAR-DATE")],
            id="not-a-real-date",
        ),
        pytest.param(
            ARR + "    - {date: 2027/01/01, name: x}\n",
            [(5, 14, "E-CALENDAR-DATE")],
            id="date-format",
        ),
        pytest.param(
            ARR + "    - {date: '2027-01-01 10:00', name: x}\n",
            [(5, 14, "E-CALENDAR-DATE")],
            id="date-with-time",
        ),
        pytest.param(
            ARR + "    - {date: 2027-01-01, name: a}\n    - {date: 2027-01-01, name: b}\n",
            [(6, 14, "E-CALENDAR-DUPLICATE-DATE")],
            id="duplicate-date",
        ),
        pytest.param(
            "arrangement:\n  year: 2027\n  year: 2028\n  notice: n\n  holidays:\n"
            "    - {date: 2027-01-01, name: a}\n",
            [(3, 3, "E-CALENDAR-DUPLICATE-KEY")],
            id="duplicate-key",
        ),
        pytest.param(
            "arrangement:\n  year: 2027\n  notice: n\n  holiday:\n"
            "    - {date: 2027-01-01, name: a}\n",
            [(1, 1, "E-CALENDAR-MISSING-KEY"), (4, 3, "E-CALENDAR-UNKNOWN-KEY")],
            id="unknown-key",
        ),
        pytest.param(
            ARR + "    - {date: 2027-02-20, name: a}\n  working_days:\n"
            "    - {date: 2027-02-20, name: b}\n",
            [(7, 14, "E-CALENDAR-CONFLICT")],
            id="holiday-and-working-day",
        ),
        pytest.param(
            "local:\n  closures:\n    - {date: 2025-09-29, name: a}\n  working_days:\n"
            "    - {date: 2025-09-29, name: b}\n",
            [(5, 14, "E-CALENDAR-CONFLICT")],
            id="closure-and-extra-working-day",
        ),
        pytest.param(
            ARR + "    - {date: 2026-12-31, name: a}\n",
            [(5, 14, "E-CALENDAR-OUTSIDE-YEAR")],
            id="outside-year",
        ),
        pytest.param(
            ARR + "    - {date: 2027-01-01, name: a}\n  working_days:\n"
            "    - {date: 2027-01-04, name: b}\n",
            [(7, 14, "E-CALENDAR-NOT-WEEKEND")],
            id="working-day-on-a-weekday",
        ),
        pytest.param(
            "arrangement:\n  year: '2027'\n  notice: n\n  holidays:\n"
            "    - {date: 2027-01-01, name: a}\n",
            [(2, 9, "E-CALENDAR-TYPE")],
            id="year-as-text",
        ),
        pytest.param(
            "arrangement:\n  year: 2027\n  notice: n\n  holidays: []\n",
            [(4, 13, "E-CALENDAR-EMPTY")],
            id="no-holidays",
        ),
        pytest.param(
            "local: !!python/object:os.system {}\n", [(1, 8, "E-CALENDAR-TAG")], id="python-tag"
        ),
        pytest.param(
            "local:\n  closures:\n    - &a {date: 2025-09-29, name: a}\n    - *a\n",
            [(3, 7, "E-CALENDAR-TAG")],
            id="alias",
        ),
        pytest.param("local:\n  closures: [\n", [(3, 1, "E-CALENDAR-YAML")], id="yaml-syntax"),
        pytest.param("# nothing here\n", [(1, 1, "E-CALENDAR-EMPTY")], id="empty"),
        pytest.param("- 2027-01-01\n", [(1, 1, "E-CALENDAR-TYPE")], id="not-a-mapping"),
    ],
)
def test_bad_calendar_file(text: str, expected: list[tuple[int, int, str]]) -> None:
    assert problems_of(text) == expected


def test_unknown_key_hint_suggests_the_right_one() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_calendar_file("local:\n  closure: []\n", "x.yaml")
    (problem,) = info.value.problems
    assert problem.code == "E-CALENDAR-UNKNOWN-KEY"
    assert "did you mean 'closures'?" in problem.hint
    assert str(problem).startswith("x.yaml:2:3: E-CALENDAR-UNKNOWN-KEY")


def test_all_problems_of_a_file_are_reported_together() -> None:
    text = ARR + "    - {date: 2027-13-01, name: a}\n    - {date: 2027-01-01, nme: b}\n"
    assert problems_of(text) == [
        (5, 14, "E-CALENDAR-DATE"),
        (6, 7, "E-CALENDAR-MISSING-KEY"),
        (6, 26, "E-CALENDAR-UNKNOWN-KEY"),
    ]


def test_problems_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", CN_2027 + "local:\n  closures:\n    - {date: 2027-03-15, name: a}\n")
    write(
        tmp_path, "b.yml", CN_2027 + "local:\n  working_days:\n    - {date: 2027-03-15, name: b}\n"
    )
    write(tmp_path, "c.yaml", "local:\n  closures:\n    - {date: 2027-03-15, name: c}\n")
    write(tmp_path, "d.yaml.example", "not: [valid")
    with pytest.raises(DefinitionError) as info:
        WorkingCalendar.from_directory(tmp_path)
    found = [(Path(p.file).name, p.line, p.column, p.code) for p in info.value.problems]
    assert found == [
        ("b.yml", 2, 9, "E-CALENDAR-YEAR-TWICE"),
        ("b.yml", 12, 14, "E-CALENDAR-CONFLICT"),
        ("c.yaml", 3, 14, "E-CALENDAR-DUPLICATE-DATE"),
    ]


def test_bad_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "cn-2027.yaml", "arrangement: {year: 2027}\n")
    with pytest.raises(DefinitionError) as info:
        load_calendar_dir(tmp_path)
    assert {p.file for p in info.value.problems} == {str(path)}
    assert info.value.codes == ["E-CALENDAR-MISSING-KEY", "E-CALENDAR-MISSING-KEY"]


def test_yaml_11_oddities_stay_text() -> None:
    text = "local:\n  closures:\n    - {date: 2025-09-29, name: no}\n"
    parsed = parse_calendar_file(text, "x.yaml")
    assert parsed.data.local is not None
    assert parsed.data.local.closures[0].name == "no"


# --- navigation and counting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "last"),
    [
        (2025, 1, dt.date(2025, 1, 27)),  # Spring Festival from Tue Jan 28
        (2025, 9, dt.date(2025, 9, 30)),
        (2025, 10, dt.date(2025, 10, 31)),
        (2025, 12, dt.date(2025, 12, 31)),
        (2026, 2, dt.date(2026, 2, 28)),  # a Saturday, adjusted working day
        (2026, 5, dt.date(2026, 5, 29)),
        (2026, 9, dt.date(2026, 9, 30)),
    ],
)
def test_last_working_day_of_month(
    cal: WorkingCalendar, year: int, month: int, last: dt.date
) -> None:
    answer = cal.last_working_day_of_month(year, month)
    assert answer.value == last
    assert not answer.provisional


def test_last_working_day_of_a_guessed_month_is_provisional(cal: WorkingCalendar) -> None:
    answer = cal.last_working_day_of_month(2027, 7)  # Sat 31 -> Fri 30 by the weekday rule
    assert answer.value == dt.date(2027, 7, 30)
    assert answer.provisional
    assert answer.guessed_years == frozenset({2027})


def test_next_and_previous_working_day(cal: WorkingCalendar) -> None:
    assert cal.next_working_day(dt.date(2025, 9, 26)).value == dt.date(2025, 9, 28)
    assert cal.next_working_day(dt.date(2025, 9, 30)).value == dt.date(2025, 10, 9)
    assert cal.previous_working_day(dt.date(2025, 10, 9)).value == dt.date(2025, 9, 30)
    assert cal.next_working_day(dt.date(2026, 12, 31)).provisional


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(dt.date(2025, 9, 26), dt.date(2025, 9, 29)).value == 2
    assert cal.working_days_between(dt.date(2025, 9, 29), dt.date(2025, 9, 26)).value == -2
    assert cal.working_days_between(dt.date(2025, 9, 30), dt.date(2025, 10, 8)).value == 0
    assert cal.working_days_between(dt.date(2025, 1, 1), dt.date(2025, 12, 31)).value == 248
    across = cal.working_days_between(dt.date(2026, 12, 30), dt.date(2027, 1, 4))
    # 12-31 and Mon 01-04; Fri 01-01 is New Year's Day by the regulation, known already
    assert (across.value, across.provisional) == (2, True)


# --- other durations -----------------------------------------------------------------------


def test_add_working_hours(cal: WorkingCalendar) -> None:
    # Fri 15:00–17:30 gives 2.5 h; Sat off; Sun 28 is a working day: 1.5 h more.
    assert cal.add_working_hours(at(2025, 9, 26, 15), 4).due == at(2025, 9, 28, 10, 30)
    assert cal.add_working_hours(at(2025, 9, 29, 9), 8.5).due == at(2025, 9, 29, 17, 30)
    assert cal.add_working_hours(at(2025, 9, 29, 18), dt.timedelta(hours=1)).due == at(
        2025, 9, 30, 10
    )
    assert cal.add_working_hours(at(2025, 9, 29, 7), 0).due == at(2025, 9, 29, 9)
    deadline = cal.add_working_hours(at(2025, 9, 30, 17), 1)  # crosses National Day
    assert deadline.due == at(2025, 10, 9, 9, 30)
    assert deadline.rule.startswith("1 hour working time, counted within 09:00–17:30")


def test_add_working_hours_without_business_hours() -> None:
    cal = WorkingCalendar(CalendarSettings(business_hours=None))
    # Fri 15:00–24:00 gives 9 h; Sat off; Sun from 00:00: 15 h more.
    assert cal.add_working_hours(at(2025, 9, 26, 15), 24).due == at(2025, 9, 28, 15)


@given(
    st.datetimes(dt.datetime(2024, 12, 20), dt.datetime(2027, 1, 10), timezones=st.just(SH)),
    st.timedeltas(dt.timedelta(0), dt.timedelta(days=12)),
    st.sampled_from([BusinessHours(), None, BusinessHours(opens="08:15", closes="12:00")]),
)
@settings(deadline=None)  # a calendar is built per example: no timing on a busy machine
def test_working_hours_due_is_the_due_time_of_add_working_hours(
    start: dt.datetime, amount: dt.timedelta, hours: BusinessHours | None
) -> None:
    # the instant alone (a clock's ladder steps and pauses), without the rule's text:
    # the same instant, in the same timezone, across holidays, adjusted working days,
    # years without data and with or without business hours
    cal = WorkingCalendar(CalendarSettings(business_hours=hours))
    expected = cal.add_working_hours(start, amount).due
    found = cal.working_hours_due(start, amount)
    assert (found, found.tzinfo) == (expected, expected.tzinfo)


def test_add_calendar_time(cal: WorkingCalendar) -> None:
    deadline = cal.add_calendar_time(dt.datetime(2026, 12, 30, 2, tzinfo=dt.UTC), dt.timedelta(2))
    assert deadline.due == at(2027, 1, 1, 10)
    assert deadline.due.tzinfo == SH
    assert not deadline.provisional
    assert deadline.rule == "48 hours elapsed time, working days ignored"


def test_add_calendar_days_moves_a_last_day_off(cal: WorkingCalendar) -> None:
    # Fri 26 + 5 days = Wed Oct 1, a holiday: the period ends on Thu Oct 9 (Civil Code 203).
    assert cal.add_calendar_days(at(2025, 9, 26, 15), 5).due == at(2025, 10, 9, 17, 30)
    assert cal.add_calendar_days(at(2025, 9, 26, 15), 3).due == at(2025, 9, 29, 17, 30)


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (dt.date(2025, 8, 31), 6, dt.date(2026, 2, 28)),
        (dt.date(2025, 8, 31), 12, dt.date(2026, 8, 31)),
        (dt.date(2023, 8, 31), 6, dt.date(2024, 2, 29)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2025, 8, 31), -6, dt.date(2025, 2, 28)),
        (dt.date(2025, 1, 15), 0, dt.date(2025, 1, 15)),
        (dt.date(2025, 11, 30), 3, dt.date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(anchor: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(anchor, months) == expected


@given(st.dates(dt.date(1900, 1, 1), dt.date(2999, 12, 31)), st.integers(-240, 240))
def test_add_months_properties(anchor: dt.date, months: int) -> None:
    result = add_months(anchor, months)
    assert (result.year * 12 + result.month) - (anchor.year * 12 + anchor.month) == months
    assert result.day == anchor.day or (
        result.day < anchor.day and (result + dt.timedelta(days=1)).day == 1
    )


# --- refusals ------------------------------------------------------------------------------


def test_naive_datetimes_are_refused(cal: WorkingCalendar) -> None:
    naive = dt.datetime(2025, 9, 26, 15)
    with pytest.raises(CalendarError, match="naive"):
        cal.add_working_days(naive, 2)
    with pytest.raises(CalendarError, match="naive"):
        cal.add_working_hours(naive, 2)
    with pytest.raises(CalendarError, match="naive"):
        cal.add_calendar_time(naive, dt.timedelta(hours=2))
    with pytest.raises(CalendarError, match="naive"):
        cal.add_calendar_days(naive, 2)
    with pytest.raises(CalendarError, match="naive"):
        cal.is_working_day(naive)
    with pytest.raises(CalendarError, match="naive"):
        cal.working_days_between(naive, dt.date(2025, 10, 1))
    with pytest.raises(CalendarError, match="naive"):
        cal.add_working_days(at(2025, 9, 26, 15), 2).is_late(naive)


@pytest.mark.parametrize("n", [0, -1, True])
def test_working_day_counts_must_be_positive(cal: WorkingCalendar, n: int) -> None:
    with pytest.raises(CalendarError, match="at least 1"):
        cal.add_working_days(at(2025, 9, 26, 15), n)


def test_negative_durations_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError, match="negative"):
        cal.add_working_hours(at(2025, 9, 26, 15), -1)
    with pytest.raises(CalendarError, match="negative"):
        cal.add_calendar_time(at(2025, 9, 26, 15), dt.timedelta(hours=-1))


def test_settings_are_validated_and_frozen() -> None:
    with pytest.raises(ValidationError, match="unknown timezone"):
        CalendarSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="open before"):
        BusinessHours(opens=dt.time(18), closes=dt.time(9))
    with pytest.raises(ValidationError, match="Extra inputs"):
        CalendarSettings.model_validate({"business_hour": None})
    settings = CalendarSettings.model_validate({"business_hours": {"opens": "08:30"}})
    assert settings.business_hours == BusinessHours(opens=dt.time(8, 30))
    with pytest.raises(ValidationError, match="frozen"):
        settings.timezone = "UTC"  # type: ignore[misc]


def test_day_answer_truthiness() -> None:
    assert not DayAnswer(dt.date(2025, 10, 1), False, DaySource.OFFICIAL)
    assert DayAnswer(dt.date(2025, 9, 28), True, DaySource.OFFICIAL)


def test_public_names_are_pinned() -> None:
    import cmc_workflow.calendar as package

    assert sorted(package.__all__) == [
        "Answer",
        "Arrangement",
        "BusinessHours",
        "CalendarData",
        "CalendarFile",
        "CalendarSettings",
        "DayAnswer",
        "DayEntry",
        "DaySource",
        "Deadline",
        "LocalDays",
        "OfficialTable",
        "WorkingCalendar",
        "YearStatus",
        "add_months",
        "load_calendar_dir",
        "parse_calendar_file",
    ]
    assert all(hasattr(package, name) for name in package.__all__)
