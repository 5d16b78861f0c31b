"""What the working-day calendar answers: immutable values that say where they came from.

Every answer carries ``provisional`` and ``guessed_years``. An answer is provisional when
at least one day it depended on lies in a year for which neither the official table nor an
admin file in ``calendars/`` has data, so the statutory holidays computed from the national
regulation and the weekday rule (Monday to Friday working) for the other days had to stand
in: the adjusted working weekends of that year are not known
(:data:`PROVISIONAL_ASSUMPTION`). Provisional answers are never silently passed off as
official: callers show them as such and recompute once the year's arrangement is known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from cmc_workflow.errors import CalendarError
from cmc_workflow.i18n import N_, zh

T = TypeVar("T")


PROVISIONAL_ASSUMPTION = N_(
    "statutory holidays known (national regulation), adjusted working weekends unknown"
)
"""What a provisional answer assumed, in English; ``PROVISIONAL_ASSUMPTION_ZH`` is its
Chinese, from the message catalogue (read when first asked for)."""


def __getattr__(name: str) -> str:
    if name == "PROVISIONAL_ASSUMPTION_ZH":  # read the catalogue only when asked
        return zh(PROVISIONAL_ASSUMPTION)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class DaySource(StrEnum):
    """Where the answer for a day (or the arrangement of a year) comes from."""

    OFFICIAL = "official"
    """The official mainland-China table shipped in the ``chinesecalendar`` package."""

    ADMIN_FILE = "admin-file"
    """A YAML file in the ``calendars/`` directory (a whole year, or a local override)."""

    PROVISIONAL = "provisional"
    """No data: the statutory holidays and the weekday rule were used as a guess."""


@dataclass(frozen=True, slots=True)
class DayAnswer:
    """Whether one day is a working day, and on whose authority.

    The object is truthy exactly when the day is a working day, so
    ``if calendar.is_working_day(d):`` reads as expected.
    """

    day: dt.date
    working: bool
    source: DaySource
    name: str | None = None
    """The holiday, adjusted working day or local closure name, when the data gives one."""

    file: str | None = None
    """The ``calendars/`` file the answer came from, when ``source`` is ``admin-file``."""

    def __bool__(self) -> bool:
        return self.working

    @property
    def provisional(self) -> bool:
        """True when the answer is a guess (statutory holidays and the weekday rule)."""
        return self.source is DaySource.PROVISIONAL

    @property
    def guessed_years(self) -> frozenset[int]:
        """The year of this day if the answer was guessed, else the empty set."""
        return frozenset({self.day.year}) if self.provisional else frozenset()


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A computed value (a date, a count) with the provisional flag of the days it used."""

    value: T
    guessed_years: frozenset[int] = field(default_factory=frozenset)

    @property
    def provisional(self) -> bool:
        """True when some day behind the value was guessed (see :class:`DaySource`)."""
        return bool(self.guessed_years)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a period ends, and everything needed to explain and re-check that later.

    ``due`` is the instant the period expires, an aware datetime in the calendar's
    timezone. An act at or before ``due`` is in time; the period is breached once the
    clock is past ``due``. "End of day" (24:00) is represented as 00:00 of the next day.
    """

    start: dt.datetime
    due: dt.datetime
    rule: str
    """A short human description of the rule applied (recorded on each clock)."""

    calendar_version: str
    """A hash of the official table's version and the admin files' contents."""

    guessed_years: frozenset[int] = field(default_factory=frozenset)

    @property
    def provisional(self) -> bool:
        """True when a day behind ``due`` was guessed (see :class:`DaySource`)."""
        return bool(self.guessed_years)

    def is_late(self, at: dt.datetime) -> bool:
        """Whether an act at ``at`` (aware) misses this deadline."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise CalendarError(f"naive datetime {at.isoformat()} refused: pass an aware one")
        return at > self.due

    def as_record(self) -> dict[str, object]:
        """A JSON-ready description, for storing on a clock or in an audit row."""
        return {"start": self.start.isoformat(), **self.record_but_start()}

    def record_but_start(self) -> dict[str, object]:
        """:meth:`as_record` but its first entry, the start: a function of the other
        fields alone, which the clocks of a batch due at the same time share (a clock
        keeps it per due time, rule and calendar, :class:`~cmc_workflow.clocks.Clocks`)."""
        return {
            "due": self.due.isoformat(),
            "rule": self.rule,
            "calendar_version": self.calendar_version,
            "provisional": self.provisional,
            "guessed_years": sorted(self.guessed_years),
            **(
                {"assumed": PROVISIONAL_ASSUMPTION, "assumed_zh": zh(PROVISIONAL_ASSUMPTION)}
                if self.provisional
                else {}
            ),
        }


@dataclass(frozen=True, slots=True)
class YearStatus:
    """Where the working-day arrangement of one year comes from."""

    year: int
    source: DaySource
    file: str | None = None
    """The ``calendars/`` file that supplies the whole year, when ``source`` is admin-file."""

    override_files: tuple[str, ...] = ()
    """Files with local closures or extra working days in this year."""

    official_available: bool = False
    """True when the official table also covers the year (an admin file then takes
    precedence, which ``status`` makes visible)."""

    def __str__(self) -> str:
        text = f"{self.year}: {self.source.value}"
        if self.file:
            text += f" ({self.file})"
        if self.override_files:
            text += f", local overrides in {', '.join(self.override_files)}"
        return text
