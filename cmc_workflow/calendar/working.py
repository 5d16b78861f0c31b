"""The working-day calendar: which days are working days, and on whose authority.

A day's answer comes from the first of these that knows it:

1. a **local** entry (closure or extra working day) in a ``calendars/`` file;
2. the **arrangement** of its year in a ``calendars/`` file (admin-file);
3. the **official** table of the ``chinesecalendar`` package;
4. for a year none of these covers, the **statutory holidays** computed from the national
   regulation (:mod:`cmc_workflow.calendar.statutory`) as days off and the **weekday rule**
   (Monday–Friday working) for the other days, marked *provisional*: the statutory days
   are known, the adjusted working weekends (调休) are not.

An admin arrangement takes precedence over the package for the same year, so an
administrator can correct or pre-empt the package; :meth:`WorkingCalendar.status` shows
when that happens. The calendar is immutable once built; it caches per-day answers.
Deadline arithmetic lives in :mod:`cmc_workflow.calendar.arithmetic`; the methods here
delegate to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from cmc_workflow.calendar import arithmetic
from cmc_workflow.calendar.answers import Answer, DayAnswer, DaySource, Deadline, YearStatus
from cmc_workflow.calendar.files import CalendarFile, check_across_files, load_calendar_dir
from cmc_workflow.calendar.official import OfficialTable
from cmc_workflow.calendar.settings import CalendarSettings
from cmc_workflow.calendar.statutory import STATUTORY_RULE, statutory_holidays
from cmc_workflow.errors import DefinitionError
from cmc_workflow.i18n import Text, tr

WARN_FROM_MONTH = 11
"""From this month on, a next year without data is warned about (`calendar status`, the
daemon's log)."""


def next_year_warning(year: int) -> Text:
    """What to tell an administrator when ``year`` has no data yet (unpacks as English,
    Chinese)."""
    return tr(
        "{year} has neither official data nor a calendars/ file: deadlines in {year} are "
        "provisional (statutory holidays known, adjusted working weekends unknown); add "
        "calendars/cn-{year}.yaml once the State Council publishes its arrangement",
        year=year,
    )


class WorkingCalendar:
    """Working days of mainland China, with admin files and local settings applied.

    Build it once (it is immutable and cheap to query) and share it::

        calendar = WorkingCalendar.from_directory("calendars/")
        calendar.add_working_days(received_at, 2).due

    ``files`` are validated calendar files (see :func:`load_calendar_dir`); ``official``
    defaults to the installed ``chinesecalendar`` package.
    """

    __slots__ = ("_arranged", "_cache", "_files", "_local", "_official", "_settings", "_version")

    def __init__(
        self,
        settings: CalendarSettings | None = None,
        files: Sequence[CalendarFile] = (),
        *,
        official: OfficialTable | None = None,
    ) -> None:
        problems = check_across_files(files)
        if problems:
            raise DefinitionError(problems)
        self._settings = settings if settings is not None else CalendarSettings()
        self._official = official if official is not None else OfficialTable()
        self._files = tuple(files)
        self._arranged: dict[int, tuple[str, dict[dt.date, tuple[bool, str]]]] = {}
        self._local: dict[dt.date, DayAnswer] = {}
        for cal in self._files:
            if cal.data.arrangement is not None:
                days = {e.date: (False, e.name) for e in cal.data.arrangement.holidays}
                days.update({e.date: (True, e.name) for e in cal.data.arrangement.working_days})
                self._arranged[cal.data.arrangement.year] = (cal.file, days)
            if cal.data.local is not None:
                for entry in cal.data.local.closures:
                    self._local[entry.date] = DayAnswer(
                        entry.date, False, DaySource.ADMIN_FILE, entry.name, cal.file
                    )
                for entry in cal.data.local.working_days:
                    self._local[entry.date] = DayAnswer(
                        entry.date, True, DaySource.ADMIN_FILE, entry.name, cal.file
                    )
        # the provisional rule is part of the data: a deadline computed before the
        # statutory holidays were known is recomputed like one on changed files
        digest = hashlib.sha256(f"{self._official.version}\0{STATUTORY_RULE}".encode())
        for cal in self._files:
            digest.update(f"\0{Path(cal.file).name}\0{cal.sha256}".encode())
        self._version = digest.hexdigest()[:16]
        self._cache: dict[dt.date, DayAnswer] = {}

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        settings: CalendarSettings | None = None,
        *,
        official: OfficialTable | None = None,
    ) -> WorkingCalendar:
        """Build a calendar from the ``*.yaml`` files of ``directory`` (e.g. ``calendars/``).

        Raises :class:`~cmc_workflow.errors.DefinitionError` listing every problem of every
        file. A missing directory simply adds nothing.
        """
        return cls(settings, load_calendar_dir(directory), official=official)

    @property
    def settings(self) -> CalendarSettings:
        """Timezone, business hours and receipt rule in force."""
        return self._settings

    @property
    def version(self) -> str:
        """16 hex digits hashing the official table's version and the admin files' content;
        recorded on every :class:`Deadline` so a deadline can be traced to its data."""
        return self._version

    @property
    def files(self) -> tuple[CalendarFile, ...]:
        """The admin calendar files in use, in load order."""
        return self._files

    def is_working_day(self, day: dt.date) -> DayAnswer:
        """Whether ``day`` is a working day, with the source of the answer.

        ``day`` is a date, or an aware datetime (its date in the calendar's timezone).
        Never raises for a year without data: the answer is then provisional.
        """
        day = arithmetic.local_date(self._settings, day)
        answer = self._cache.get(day)
        if answer is None:
            answer = self._cache[day] = self._answer(day)
        return answer

    def is_working(self, day: dt.date) -> bool:
        """``is_working_day(day).working``, for when only the yes/no matters."""
        return self.is_working_day(day).working

    def _answer(self, day: dt.date) -> DayAnswer:
        local = self._local.get(day)
        if local is not None:
            return local
        arranged = self._arranged.get(day.year)
        if arranged is not None:
            file, days = arranged
            working, name = days.get(day, (day.weekday() < 5, None))
            return DayAnswer(day, working, DaySource.ADMIN_FILE, name, file)
        official = self._official.day(day)
        if official is not None:
            return DayAnswer(day, official.working, DaySource.OFFICIAL, official.name)
        holiday = statutory_holidays(day.year).get(day)
        if holiday is not None:  # a statutory day off, known before its year's notice
            return DayAnswer(day, False, DaySource.PROVISIONAL, holiday)
        return DayAnswer(day, day.weekday() < 5, DaySource.PROVISIONAL)

    def year_status(self, year: int) -> YearStatus:
        """Where the arrangement of ``year`` comes from (see :meth:`status`)."""
        overrides = tuple(
            dict.fromkeys(a.file for d, a in self._local.items() if d.year == year and a.file)
        )
        covered = self._official.covers(year)
        arranged = self._arranged.get(year)
        if arranged is not None:
            return YearStatus(year, DaySource.ADMIN_FILE, arranged[0], overrides, covered)
        source = DaySource.OFFICIAL if covered else DaySource.PROVISIONAL
        return YearStatus(year, source, None, overrides, covered)

    def missing_next_year(self, today: dt.date) -> int | None:
        """From November on: next year, when it has neither official data nor an
        arrangement in ``calendars/`` (its deadlines would be provisional); else None.
        The State Council's notice usually comes in the autumn before."""
        if today.month < WARN_FROM_MONTH:
            return None
        year = today.year + 1
        return year if self.year_status(year).source is DaySource.PROVISIONAL else None

    def status(self, years: Iterable[int]) -> dict[int, YearStatus]:
        """Per year: ``official`` (package), ``admin-file`` (with the file) or
        ``provisional`` (no data; the weekday rule is used and answers say so)."""
        return {year: self.year_status(year) for year in years}

    def next_working_day(self, day: dt.date) -> Answer[dt.date]:
        """The first working day strictly after ``day``."""
        return arithmetic.next_working_day(self, day)

    def previous_working_day(self, day: dt.date) -> Answer[dt.date]:
        """The last working day strictly before ``day``."""
        return arithmetic.previous_working_day(self, day)

    def last_working_day_of_month(self, year: int, month: int) -> Answer[dt.date]:
        """The month's last working day (holidays and adjusted working days respected)."""
        return arithmetic.last_working_day_of_month(self, year, month)

    def working_days_between(self, a: dt.date, b: dt.date) -> Answer[int]:
        """How many working days ``d`` satisfy ``a < d <= b`` (negative if ``b < a``)."""
        return arithmetic.working_days_between(self, a, b)

    def add_working_days(self, start: dt.datetime, n: int) -> Deadline:
        """The end of a period of ``n`` working days (n ≥ 1) from a receipt at ``start``.

        The day of receipt is not counted; the period ends at close of business of the
        n-th working day after it, or at its end (00:00 of the next day) without business
        hours. With ``after_hours_counts_next_day``, a receipt after close of business or on
        a rest day counts as a receipt on the next working day.
        """
        return arithmetic.add_working_days(self, start, n)

    def add_working_hours(self, start: dt.datetime, hours: float | dt.timedelta) -> Deadline:
        """``start`` plus ``hours`` counted only within business hours of working days
        (whole working days when the settings have no business hours)."""
        return arithmetic.add_working_hours(self, start, hours)

    def working_hours_due(self, start: dt.datetime, hours: float | dt.timedelta) -> dt.datetime:
        """``add_working_hours(start, hours).due``, without the rule's text: for the
        arithmetic that needs only the instant."""
        return arithmetic.working_hours_due(self, start, hours)

    def add_calendar_days(self, start: dt.datetime, n: int) -> Deadline:
        """The end of a period of ``n`` calendar days (Civil Code arts. 201–203): receipt
        day not counted; a last day that is not a working day moves to the next one."""
        return arithmetic.add_calendar_days(self, start, n)

    def add_calendar_time(self, start: dt.datetime, delta: dt.timedelta) -> Deadline:
        """``start`` plus an elapsed duration, ignoring working days (e.g. "24 hours")."""
        return arithmetic.add_calendar_time(self, start, delta)

    def __repr__(self) -> str:
        files = ", ".join(Path(f.file).name for f in self._files) or "no admin files"
        return f"WorkingCalendar({self._official.version}, {files}, version={self._version})"
