"""The statutory holidays of a year without data (issue 18): computed from the national
regulation in force that year, checked against every year the official table covers, and
used by the calendar as provisional days off."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import chinese_calendar
import pytest
from structlog.testing import capture_logs

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.calendar.answers import DaySource
from cmc_workflow.calendar.official import OfficialTable
from cmc_workflow.calendar.statutory import statutory_holidays
from cmc_workflow.calendar.working import next_year_warning
from cmc_workflow.runner.daemon import Daemon, DaemonConfig
from cmc_workflow.testing import FakeClock
from tests.engine.test_clocks import CONSULT
from tests.helpers.cli import run_cli

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CN_2027 = """\
arrangement:
  year: 2027
  notice: 测试用的安排
  holidays:
    - {date: 2027-01-01, name: 元旦}
  working_days: []
"""


def test_every_computed_day_is_a_day_off_in_every_official_year() -> None:
    """A subset of the official days off in each year ``chinesecalendar`` covers, with the
    holiday's name: the regulation's versions (1999, 2008, 2014, 2025) are followed."""
    table = OfficialTable()
    wrong: dict[int, list[str]] = {}
    for year in table.years:
        for day, name in statutory_holidays(year).items():
            official = table.day(day)
            assert official is not None
            detail_holiday, detail_name = chinese_calendar.get_holiday_detail(day)
            if official.working or not detail_holiday:
                wrong.setdefault(year, []).append(f"{day} {name}: a working day officially")
            elif detail_name is not None and detail_name not in (
                name,
                "National Day",  # the two may fall on one day (2020, 2023): one name
                "Mid-autumn Festival",
            ):
                wrong.setdefault(year, []).append(f"{day} {name}: officially {detail_name}")
    assert wrong == {}, wrong
    assert table.years.start <= 2004  # the span checked
    assert table.years.stop > 2025


def test_each_version_of_the_regulation() -> None:
    # 2025 onwards: the eve and three days of the Spring Festival, 1-2 May
    assert [d for d, n in statutory_holidays(2027).items() if n == "Spring Festival"] == [
        dt.date(2027, 2, 5),
        dt.date(2027, 2, 6),
        dt.date(2027, 2, 7),
        dt.date(2027, 2, 8),
    ]
    assert [d.day for d, n in statutory_holidays(2027).items() if n == "Labour Day"] == [1, 2]
    # 2014-2024: lunar 1/1-1/3, 1 May only
    spring_2020 = [d for d, n in statutory_holidays(2020).items() if n == "Spring Festival"]
    assert spring_2020 == [dt.date(2020, 1, 25), dt.date(2020, 1, 26), dt.date(2020, 1, 27)]
    assert [d.day for d, n in statutory_holidays(2020).items() if n == "Labour Day"] == [1]
    # 2008-2013: the eve, 1/1 and 1/2
    spring_2010 = [d for d, n in statutory_holidays(2010).items() if n == "Spring Festival"]
    assert spring_2010 == [dt.date(2010, 2, 13), dt.date(2010, 2, 14), dt.date(2010, 2, 15)]
    # 1999-2007: no Qingming, Dragon Boat or Mid-autumn; 1-3 May
    assert "Tomb-sweeping Day" not in statutory_holidays(2007).values()
    assert [d.day for d, n in statutory_holidays(2007).items() if n == "Labour Day"] == [1, 2, 3]
    # 2027's lunar holidays and Qingming
    days = statutory_holidays(2027)
    assert days[dt.date(2027, 4, 5)] == "Tomb-sweeping Day"
    assert days[dt.date(2027, 6, 9)] == "Dragon Boat Festival"
    assert days[dt.date(2027, 9, 15)] == "Mid-autumn Festival"
    assert statutory_holidays(2100) == {}  # past the lunar table: the weekday rule alone


@pytest.mark.req("CMT-2")
def test_a_deadline_across_new_year_2027_counts_its_statutory_days() -> None:
    cal = WorkingCalendar()
    start = dt.datetime(2026, 12, 30, 10, tzinfo=SHANGHAI)
    deadline = cal.add_working_days(start, 3)
    # Thu 12-31 (official), Fri 01-01 New Year's Day, the weekend, Mon 01-04, Tue 01-05
    assert deadline.due == dt.datetime(2027, 1, 5, 17, 30, tzinfo=SHANGHAI)
    assert deadline.provisional
    spring_eve = cal.is_working_day(dt.date(2027, 2, 5))  # a Friday
    assert (spring_eve.working, spring_eve.source) == (False, DaySource.PROVISIONAL)
    assert spring_eve.name == "Spring Festival"


def test_calendar_add_days_says_provisional_and_names_the_assumption() -> None:
    result = run_cli("calendar", "add-days", "2026-12-30", "3")
    assert result.exit_code == 0, result.stdout
    assert "2027-01-05" in result.stdout
    assert "provisional  yes" in result.stdout
    assert "adjusted working weekends unknown" in result.stdout
    assert "调休安排未知" in result.stdout


def test_next_year_without_data_is_warned_about_from_november(tmp_path: Path) -> None:
    cal = WorkingCalendar.from_directory(tmp_path / "calendars")
    assert cal.missing_next_year(dt.date(2026, 10, 31)) is None  # too early to expect it
    assert cal.missing_next_year(dt.date(2026, 11, 1)) == 2027
    assert cal.missing_next_year(dt.date(2025, 12, 31)) is None  # 2026 is in the package
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "cn-2027.yaml").write_text(CN_2027, encoding="utf-8")
    assert WorkingCalendar.from_directory(folder).missing_next_year(dt.date(2026, 12, 1)) is None
    english, chinese = next_year_warning(2027)
    assert "calendars/cn-2027.yaml" in english
    assert "calendars/cn-2027.yaml" in chinese


def test_calendar_status_warns_when_the_calendar_says_next_year_is_missing(
    tmp_path: Path,
) -> None:
    """The command warns exactly when the calendar finds next year missing today."""
    cal = WorkingCalendar.from_directory(tmp_path)
    settings = cal.settings
    today = dt.datetime.now(dt.UTC).astimezone(settings.tz).date()
    expected = cal.missing_next_year(today)
    result = run_cli("calendar", "status", "--calendars", str(tmp_path))
    assert result.exit_code == 0
    assert ("warning:" in result.stdout) == (expected is not None)
    listed = json.loads(
        run_cli("calendar", "status", "--calendars", str(tmp_path), "--json").stdout
    )
    assert [w["year"] for w in listed["warnings"]] == ([expected] if expected else [])


def test_the_daemon_logs_a_missing_next_year_once_a_day(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    clock = FakeClock(dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC))
    config = DaemonConfig(db=f"sqlite:///{tmp_path / 'd.db'}", workflows=(tmp_path / "workflows",))
    daemon = Daemon(config, clock=clock)
    try:
        with capture_logs() as logs:
            daemon.run_pass()
            daemon.run_pass()  # the same day: not again
            clock.advance(days=1)
            daemon.run_pass()
        warned = [e for e in logs if e["event"] == "calendar_next_year_missing"]
        assert [e["year"] for e in warned] == [2027, 2027]
        assert "调休" in warned[0]["message_zh"]
    finally:
        daemon.engine.close()
