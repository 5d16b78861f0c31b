"""The official mainland-China table of holidays and adjusted working days (调休).

The data comes from the ``chinesecalendar`` package (imported as ``chinese_calendar``),
which transcribes the State Council's yearly notices. Its ``is_workday`` raises
``NotImplementedError`` for years it has no data for (release 1.11 covers 2004–2026) and
recomputes the covered range on every call, so this module reads the package's published
tables (``holidays``, ``workdays``) once and answers from them with the same rule:
a day is a working day if it is an adjusted working day, or a weekday that is not a holiday.
``tests/unit/test_calendar.py`` checks that rule against ``chinese_calendar.is_workday`` for
every covered day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import chinese_calendar


@dataclass(frozen=True, slots=True)
class OfficialDay:
    """The official answer for one day of a covered year."""

    working: bool
    name: str | None
    """The holiday's name, or for an adjusted working day the holiday it makes up for."""


class OfficialTable:
    """Read-only view of a table of holidays and adjusted working days.

    ``OfficialTable()`` uses the installed ``chinesecalendar`` package; tests and
    embedders may pass other tables (same shape: date -> name) and a version string.
    """

    __slots__ = ("_first_year", "_holidays", "_last_year", "_workdays", "version")

    def __init__(
        self,
        holidays: Mapping[dt.date, str] | None = None,
        workdays: Mapping[dt.date, str] | None = None,
        *,
        version: str | None = None,
    ) -> None:
        if holidays is None and workdays is None:
            holidays = chinese_calendar.holidays
            workdays = chinese_calendar.workdays
            version = version or f"chinesecalendar-{chinese_calendar.__version__}"
        self._holidays: dict[dt.date, str] = dict(holidays or {})
        self._workdays: dict[dt.date, str] = dict(workdays or {})
        self.version: str = version or "custom"
        """Identifies the data, for the calendar version hash."""
        years = {d.year for d in self._holidays} | {d.year for d in self._workdays}
        self._first_year = min(years, default=0)
        self._last_year = max(years, default=-1)

    @property
    def years(self) -> range:
        """The years the table covers (contiguous, as in the package)."""
        return range(self._first_year, self._last_year + 1)

    def covers(self, year: int) -> bool:
        """Whether the table has the arrangement of ``year``."""
        return self._first_year <= year <= self._last_year

    def day(self, day: dt.date) -> OfficialDay | None:
        """The official answer for ``day``, or None if its year is not covered."""
        if not self.covers(day.year):
            return None
        name = self._workdays.get(day)
        if name is not None:
            return OfficialDay(working=True, name=name)
        name = self._holidays.get(day)
        if name is not None:
            return OfficialDay(working=False, name=name)
        return OfficialDay(working=day.weekday() < 5, name=None)

    def __repr__(self) -> str:
        return f"OfficialTable(version={self.version!r}, years={self.years!r})"
