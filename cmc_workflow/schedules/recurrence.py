"""When schedules recur: :class:`Schedule` and its occurrences, computed from the rule
alone (cron, a calendar interval from an anchor, or a month's first or last working day).
Pure: cron arithmetic comes from :mod:`cmc_workflow.cron` (APScheduler 3's meaning)."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

from cmc_workflow import cron
from cmc_workflow.calendar import WorkingCalendar, add_months
from cmc_workflow.schedules.models import ScheduleSpec

_ONE_MICROSECOND = dt.timedelta(microseconds=1)


def cron_next(expr: str, timezone: str, start: dt.datetime) -> dt.datetime | None:
    """The first time at or after ``start`` that the five-field cron ``expr`` names in
    ``timezone`` (None: never); :class:`~cmc_workflow.cron.CronSyntaxError` (a
    ``ValueError``) when ``expr`` is not such an expression."""
    return _cron(expr, timezone).first_at_or_after(start)


@functools.lru_cache(maxsize=256)
def _cron(expr: str, timezone: str) -> cron.Cron:
    """A parsed cron expression, cached: schedules ask for the same few again and again."""
    return cron.parse(expr, timezone)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """When a schedule recurs, and whether a guessed calendar year decided it."""

    due: dt.datetime
    provisional: bool = False


_MAX_DAYS_OFF = 400
"""How many days off in a row a working-days-only schedule looks past (a year and more)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule, ready to compute its occurrences."""

    id: str
    spec: ScheduleSpec
    timezone: str
    file: str

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The schedule's timezone."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def time_of_day(self) -> dt.time:
        """The local time of day of calendar-interval and monthly schedules."""
        hour, minute = (self.spec.at or "09:00").split(":")
        return dt.time(int(hour), int(minute))

    def describe(self) -> str:
        """The rule in words, e.g. ``every 6 months from 2025-03-01 at 09:30``."""
        spec = self.spec
        if spec.cron is not None:
            return f"cron '{spec.cron}' ({self.timezone})"
        at = f"at {self.time_of_day:%H:%M} ({self.timezone})"
        if spec.every is not None:
            return f"every {spec.every} from {spec.from_} {at}"
        return f"monthly on the {str(spec.monthly).replace('_', ' ')} {at}"

    def next_after(self, after: dt.datetime, calendar: WorkingCalendar) -> Occurrence | None:
        """The first occurrence strictly after ``after`` (None: the rule has ended)."""
        spec = self.spec
        if spec.cron is not None:
            found = cron_next(spec.cron, self.timezone, after + _ONE_MICROSECOND)
            if found is None or spec.on_day_off == "run":
                return None if found is None else Occurrence(found)
            guessed = False
            for _day in range(_MAX_DAYS_OFF):
                local = found.astimezone(self.tz)
                answer = calendar.is_working_day(local.date())
                guessed = guessed or answer.provisional
                if answer:
                    return Occurrence(found, guessed)
                if spec.on_day_off == "next_working_day":
                    moved = calendar.next_working_day(local.date())
                    when = dt.datetime.combine(moved.value, local.timetz())
                    return Occurrence(when, guessed or moved.provisional)
                # skipped: go on from the next day's midnight, not minute by minute
                midnight = dt.datetime.combine(
                    local.date() + dt.timedelta(days=1), dt.time(), self.tz
                )
                found = cron_next(spec.cron, self.timezone, midnight)
                if found is None:
                    return None
            return None
        local = after.astimezone(self.tz)
        if spec.every is not None:
            assert spec.from_ is not None  # the checks require from: with every:
            return self._next_interval(local, spec.from_, spec.every.amount, spec.every.unit)
        return self._next_monthly(local, calendar)

    def _at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.time_of_day, tzinfo=self.tz)

    def _next_interval(self, local: dt.datetime, anchor: dt.date, n: int, unit: str) -> Occurrence:
        if unit == "months":
            months = (local.year - anchor.year) * 12 + local.month - anchor.month
            k = max(0, months // n - 1)
            while self._at(add_months(anchor, n * k)) <= local:
                k += 1
            return Occurrence(self._at(add_months(anchor, n * k)))
        step = n * (7 if unit == "weeks" else 1)
        k = max(0, (local.date() - anchor).days // step - 1)
        while self._at(anchor + dt.timedelta(days=step * k)) <= local:
            k += 1
        return Occurrence(self._at(anchor + dt.timedelta(days=step * k)))

    def _next_monthly(self, local: dt.datetime, calendar: WorkingCalendar) -> Occurrence:
        year, month = local.year, local.month
        for _ in range(24):
            if self.spec.monthly == "last_working_day":
                answer = calendar.last_working_day_of_month(year, month)
            else:
                before_first = dt.date(year, month, 1) - dt.timedelta(days=1)
                answer = calendar.next_working_day(before_first)
            when = self._at(answer.value)
            if when > local:
                return Occurrence(when, answer.provisional)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise AssertionError("a month without a working day")  # pragma: no cover

    def occurrences(
        self, after: dt.datetime, until: dt.datetime, calendar: WorkingCalendar, limit: int
    ) -> list[Occurrence]:
        """The occurrences in ``(after, until]``, oldest first, at most ``limit``."""
        found: list[Occurrence] = []
        cursor = after
        while len(found) < limit:
            nxt = self.next_after(cursor, calendar)
            if nxt is None or nxt.due > until:
                break
            found.append(nxt)
            cursor = nxt.due
        return found
