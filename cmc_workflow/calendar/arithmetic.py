"""Arithmetic on a working-day calendar: navigation, counting and deadlines.

All datetimes in are aware (naive ones are refused with :class:`CalendarError`); all
datetimes out are aware, in the calendar's timezone. Every result remembers the years
whose days had to be guessed with the weekday rule (``guessed_years``), so a deadline
that reaches an unpublished year is computed, returned and marked provisional instead of
raising or pretending to be official.

Period rules (Civil Code arts. 201–204, see ``docs/time.md``): the day of receipt is not
counted; a period ends at the end of its last day — at close of business when business
hours are set, else at 24:00, represented as 00:00 of the following day.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import datetime as dt
from typing import Protocol

from cmc_workflow.calendar.answers import Answer, DayAnswer, Deadline
from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE, CalendarSettings
from cmc_workflow.errors import CalendarError
from cmc_workflow.i18n import N_, Text, tr, zh

_SEARCH_LIMIT = 3660
"""Days searched for a working day before giving up (ten years: only a broken set of
admin closures could exhaust it)."""

_ONE_DAY = dt.timedelta(days=1)


class DayOracle(Protocol):
    """What the arithmetic needs from a calendar (``WorkingCalendar`` provides it)."""

    @property
    def settings(self) -> CalendarSettings: ...

    @property
    def version(self) -> str: ...

    def is_working_day(self, day: dt.date) -> DayAnswer: ...


def require_aware(value: dt.datetime, what: str = "datetime") -> None:
    """Refuse a naive datetime with a clear :class:`CalendarError`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"naive {what} {value.isoformat()} refused: pass an aware datetime "
            f"(e.g. datetime(..., tzinfo=ZoneInfo('{BUSINESS_TIMEZONE}')))"
        )


def local_date(settings: CalendarSettings, value: dt.date) -> dt.date:
    """``value`` itself if it is a date; the local date of an aware datetime."""
    if isinstance(value, dt.datetime):
        require_aware(value)
        return value.astimezone(settings.tz).date()
    return value


class _Walk:
    """Asks the calendar day by day and collects the years whose answers were guessed."""

    __slots__ = ("guessed", "oracle")

    def __init__(self, oracle: DayOracle) -> None:
        self.oracle = oracle
        self.guessed: set[int] = set()

    def working(self, day: dt.date) -> bool:
        answer = self.oracle.is_working_day(day)
        if answer.provisional:
            self.guessed.add(day.year)
        return answer.working

    def step(self, day: dt.date, direction: int) -> dt.date:
        """The first working day strictly after (1) or before (-1) ``day``."""
        for _ in range(_SEARCH_LIMIT):
            day += direction * _ONE_DAY
            if self.working(day):
                return day
        raise CalendarError(
            tr("no working day within {count} days of {day}", count=_SEARCH_LIMIT, day=day)
        )

    def answer(self, value: dt.date) -> Answer[dt.date]:
        return Answer(value, frozenset(self.guessed))


def next_working_day(oracle: DayOracle, day: dt.date) -> Answer[dt.date]:
    """The first working day strictly after ``day``."""
    walk = _Walk(oracle)
    return walk.answer(walk.step(local_date(oracle.settings, day), 1))


def previous_working_day(oracle: DayOracle, day: dt.date) -> Answer[dt.date]:
    """The last working day strictly before ``day``."""
    walk = _Walk(oracle)
    return walk.answer(walk.step(local_date(oracle.settings, day), -1))


def last_working_day_of_month(oracle: DayOracle, year: int, month: int) -> Answer[dt.date]:
    """The last working day of the month (it may be an adjusted working Saturday)."""
    last = dt.date(year, month, _stdlib_calendar.monthrange(year, month)[1])
    walk = _Walk(oracle)
    day = last if walk.working(last) else walk.step(last, -1)
    return walk.answer(day)


def working_days_between(oracle: DayOracle, a: dt.date, b: dt.date) -> Answer[int]:
    """The number of working days ``d`` with ``a < d <= b``; negative when ``b < a``.

    The half-open interval matches the receipt rule: for a deadline computed with
    :func:`add_working_days` from receipt day ``r`` with last day ``l``, the count is ``n``.
    """
    a = local_date(oracle.settings, a)
    b = local_date(oracle.settings, b)
    sign = 1
    if b < a:
        a, b, sign = b, a, -1
    walk = _Walk(oracle)
    count = 0
    day = a + _ONE_DAY
    while day <= b:
        count += walk.working(day)
        day += _ONE_DAY
    return Answer(sign * count, frozenset(walk.guessed))


def add_months(anchor: dt.date, n: int) -> dt.date:
    """``anchor`` moved by ``n`` calendar months, clamped to the end of shorter months.

    Always count from the original anchor (``add_months(anchor, 6 * k)``), never from the
    previous result, or the day drifts: from 2025-08-31, +6 gives 2026-02-28 and +12 gives
    2026-08-31 (stepping twice by 6 would give 2026-08-28).
    """
    index = anchor.year * 12 + (anchor.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise CalendarError(
            tr("{anchor} moved by {n} months leaves the supported years", anchor=anchor, n=n)
        )
    last = _stdlib_calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(anchor.day, last))


def _end_of(settings: CalendarSettings, day: dt.date) -> dt.datetime:
    """The instant a period whose last day is ``day`` ends."""
    tz = settings.tz
    if settings.business_hours is None:
        return dt.datetime.combine(day + _ONE_DAY, dt.time(0), tzinfo=tz)
    return dt.datetime.combine(day, settings.business_hours.closes, tzinfo=tz)


def _receipt_day(walk: _Walk, settings: CalendarSettings, local: dt.datetime) -> dt.date:
    """The day of receipt as counted: the local date, or with ``after_hours_counts_next_day``
    the next working day when received on a rest day or after close of business."""
    day = local.date()
    if not settings.after_hours_counts_next_day:
        return day
    hours = settings.business_hours
    after_close = hours is not None and local.time() >= hours.closes
    if after_close or not walk.working(day):
        return walk.step(day, 1)
    return day


def _plural(n: int | float, unit: str) -> str:
    return f"{n:g} {unit}" if n == 1 else f"{n:g} {unit}s"


def _positive(n: int, what: str) -> None:
    """Refuse ``n`` unless a whole number of at least 1; ``what`` is an ``N_`` msgid."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        counted = Text(what, zh(what))
        why = tr("{what} must be a whole number of at least 1, got {n}", what=counted, n=repr(n))
        raise CalendarError(why)


def add_working_days(oracle: DayOracle, start: dt.datetime, n: int) -> Deadline:
    """The end of ``n`` working days after a receipt at ``start`` (receipt day not counted)."""
    require_aware(start, "start")
    _positive(n, N_("the number of working days"))
    settings = oracle.settings
    local = start.astimezone(settings.tz)
    walk = _Walk(oracle)
    day = _receipt_day(walk, settings, local)
    for _ in range(n):
        day = walk.step(day, 1)
    rule = f"{_plural(n, 'working day')}, {settings.receipt_text()}, {settings.period_end_text()}"
    return Deadline(local, _end_of(settings, day), rule, oracle.version, frozenset(walk.guessed))


def add_calendar_days(oracle: DayOracle, start: dt.datetime, n: int) -> Deadline:
    """The end of ``n`` calendar days after a receipt at ``start`` (Civil Code arts. 201–203):
    the receipt day is not counted, and a last day that is not a working day is replaced by
    the next working day."""
    require_aware(start, "start")
    _positive(n, N_("the number of days"))
    settings = oracle.settings
    local = start.astimezone(settings.tz)
    walk = _Walk(oracle)
    day = _receipt_day(walk, settings, local) + n * _ONE_DAY
    if not walk.working(day):
        day = walk.step(day, 1)
    rule = (
        f"{_plural(n, 'calendar day')}, {settings.receipt_text()}, a last day off moves to "
        f"the next working day, {settings.period_end_text()}"
    )
    return Deadline(local, _end_of(settings, day), rule, oracle.version, frozenset(walk.guessed))


def add_working_hours(
    oracle: DayOracle, start: dt.datetime, hours: float | dt.timedelta
) -> Deadline:
    """``start`` plus ``hours`` counted only inside business hours of working days."""
    due, delta, guessed = _working_hours(oracle, start, hours)
    settings = oracle.settings
    business = settings.business_hours
    span = "whole working days" if business is None else f"{business}"
    rule = (
        f"{_hours_text(delta)} working time, counted within {span} "
        f"on working days ({settings.timezone})"
    )
    local = start.astimezone(settings.tz)
    return Deadline(local, due, rule, oracle.version, guessed)


def working_hours_due(
    oracle: DayOracle, start: dt.datetime, hours: float | dt.timedelta
) -> dt.datetime:
    """``add_working_hours(oracle, start, hours).due``, without the rule's text and the
    guessed years: for the arithmetic that needs only the instant (a clock's ladder
    steps and pauses, computed at every start and resume)."""
    return _working_hours(oracle, start, hours)[0]


def _working_hours(
    oracle: DayOracle, start: dt.datetime, hours: float | dt.timedelta
) -> tuple[dt.datetime, dt.timedelta, frozenset[int]]:
    """The instant ``hours`` of working time after ``start`` (in the calendar's
    timezone), the working time as a timedelta, and the years whose days were guessed."""
    require_aware(start, "start")
    delta = hours if isinstance(hours, dt.timedelta) else dt.timedelta(hours=hours)
    if delta < dt.timedelta(0):
        raise CalendarError(
            tr("working hours must not be negative, got {hours}", hours=repr(hours))
        )
    settings = oracle.settings
    tz, business = settings.tz, settings.business_hours
    cursor = start.astimezone(dt.UTC)
    remaining = delta
    walk = _Walk(oracle)
    day = start.astimezone(tz).date()
    daily = _ONE_DAY if business is None else _length(business.opens, business.closes)
    for _ in range(_SEARCH_LIMIT + 2 * int(delta / daily)):
        if walk.working(day):
            if business is None:
                opens = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
                closes = dt.datetime.combine(day + _ONE_DAY, dt.time(0), tzinfo=tz)
            else:
                opens = dt.datetime.combine(day, business.opens, tzinfo=tz)
                closes = dt.datetime.combine(day, business.closes, tzinfo=tz)
            begin = max(cursor, opens.astimezone(dt.UTC))
            available = closes.astimezone(dt.UTC) - begin
            if available > dt.timedelta(0):
                if remaining <= available:
                    return (begin + remaining).astimezone(tz), delta, frozenset(walk.guessed)
                remaining -= available
        day += _ONE_DAY
    raise CalendarError(
        tr(
            "no working time found for {delta} after {start}",
            delta=delta,
            start=start.isoformat(),
        )
    )


def add_calendar_time(oracle: DayOracle, start: dt.datetime, delta: dt.timedelta) -> Deadline:
    """``start`` plus an elapsed ``delta``, working days ignored (never provisional)."""
    require_aware(start, "start")
    if delta < dt.timedelta(0):
        raise CalendarError(tr("a duration must not be negative, got {delta}", delta=delta))
    tz = oracle.settings.tz
    due = (start.astimezone(dt.UTC) + delta).astimezone(tz)
    rule = f"{_hours_text(delta)} elapsed time, working days ignored"
    return Deadline(start.astimezone(tz), due, rule, oracle.version)


def _length(opens: dt.time, closes: dt.time) -> dt.timedelta:
    day = dt.date(2000, 1, 1)
    return dt.datetime.combine(day, closes) - dt.datetime.combine(day, opens)


def _hours_text(delta: dt.timedelta) -> str:
    hours = delta / dt.timedelta(hours=1)
    if hours == int(hours):
        return _plural(int(hours), "hour")
    return str(delta)
