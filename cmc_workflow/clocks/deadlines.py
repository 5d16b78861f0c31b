"""Deadline arithmetic on top of the working-day calendar: when a clock is due, when its
ladder's steps happen, how a pause moves them. Pure: no store, no engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cmc_workflow.calendar import Deadline, WorkingCalendar, add_months
from cmc_workflow.definition.forms import read_moment
from cmc_workflow.definition.models import Deadline as DeadlineSpec
from cmc_workflow.definition.models import DeadlineStep, Duration

_ZERO = dt.timedelta(0)

BREACH_STEP = -1
"""The step index of the implicit breach at 100% (ladders without a ``breach`` step)."""


def compute_deadline(calendar: WorkingCalendar, start: dt.datetime, within: Duration) -> Deadline:
    """The end of ``within`` counted from ``start``, by the rule its unit calls for.

    Working days and working hours follow the working-day calendar; days, weeks and months
    are Civil Code periods (receipt day not counted, a last day off moves to the next
    working day); hours and minutes are elapsed time.
    """
    n = within.amount
    if within.unit == "working_days":
        return calendar.add_working_days(start, n)
    if within.unit == "working_hours":
        return calendar.add_working_hours(start, n)
    if within.unit == "days":
        return calendar.add_calendar_days(start, n)
    if within.unit == "weeks":
        found = calendar.add_calendar_days(start, 7 * n)
        return dataclasses.replace(found, rule=f"{within} = {found.rule}")
    if within.unit == "months":
        local = start.astimezone(calendar.settings.tz)
        last = add_months(local.date(), n)
        found = calendar.add_calendar_days(start, (last - local.date()).days)
        return dataclasses.replace(found, rule=f"{within} (to {last}) = {found.rule}")
    minutes = n * 60 if within.unit == "hours" else n
    return calendar.add_calendar_time(start, dt.timedelta(minutes=minutes))


def _window(calendar: WorkingCalendar, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The working interval of a working day (the whole day without business hours)."""
    tz = calendar.settings.tz
    hours = calendar.settings.business_hours
    if hours is None:
        return (
            dt.datetime.combine(day, dt.time(0), tzinfo=tz),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz),
        )
    return (
        dt.datetime.combine(day, hours.opens, tzinfo=tz),
        dt.datetime.combine(day, hours.closes, tzinfo=tz),
    )


def working_time_between(calendar: WorkingCalendar, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """The working time (business hours of working days) between ``a`` and ``b``."""
    if b <= a:
        return _ZERO
    tz = calendar.settings.tz
    day, last = a.astimezone(tz).date(), b.astimezone(tz).date()
    total = _ZERO
    while day <= last:
        if calendar.is_working(day):
            opens, closes = _window(calendar, day)
            span = min(b, closes) - max(a, opens)
            if span > _ZERO:
                total += span
        day += dt.timedelta(days=1)
    return total


def subtract_working_time(
    calendar: WorkingCalendar, end: dt.datetime, amount: dt.timedelta
) -> dt.datetime:
    """The instant ``amount`` of working time before ``end``."""
    tz = calendar.settings.tz
    remaining = amount
    day = end.astimezone(tz).date()
    for _ in range(3660):
        if calendar.is_working(day):
            opens, closes = _window(calendar, day)
            top = min(end, closes)
            available = top - opens
            if available > _ZERO:
                if remaining <= available:
                    return (top - remaining).astimezone(tz)
                remaining -= available
        day -= dt.timedelta(days=1)
    return end - amount  # pragma: no cover - a calendar without working days


def _share_of_working_time(
    calendar: WorkingCalendar, start: dt.datetime, due: dt.datetime, share: int
) -> dt.datetime:
    """``calendar.working_hours_due(start, working_time_between(calendar, start, due) *
    share / 100)``, walking the days from ``start`` to ``due`` once instead of twice
    (a ladder's ``at: P%`` step, computed at every start of a working-time clock).

    The days are those both walks go through, with each one's own measure: the span
    :func:`working_time_between` counts, and the time the forward walk finds available
    (from the later of ``start`` and opening time to closing time, elapsed). The forward
    walk over them is the working-hours walk itself; were it to need a day after
    ``due``'s, the working-hours walk is done whole instead (it cannot, but the answer
    is then the same by construction)."""
    tz = calendar.settings.tz
    total = _ZERO
    available: list[tuple[dt.datetime, dt.timedelta]] = []  # (begin, time available)
    if due > start:
        cursor = start.astimezone(dt.UTC)
        day, last = start.astimezone(tz).date(), due.astimezone(tz).date()
        while day <= last:
            if calendar.is_working(day):
                opens, closes = _window(calendar, day)
                span = min(due, closes) - max(start, opens)
                if span > _ZERO:
                    total += span
                begin = max(cursor, opens.astimezone(dt.UTC))
                free = closes.astimezone(dt.UTC) - begin
                if free > _ZERO:
                    available.append((begin, free))
            day += dt.timedelta(days=1)
    amount = total * share / 100
    remaining = amount
    for begin, free in available:
        if remaining <= free:
            return (begin + remaining).astimezone(tz)
        remaining -= free
    return calendar.working_hours_due(start, amount)


def _uses_working_time(within: Duration) -> bool:
    return within.unit in ("working_days", "working_hours")


def step_time(
    calendar: WorkingCalendar,
    step: DeadlineStep,
    within: Duration,
    start: dt.datetime,
    due: dt.datetime,
) -> dt.datetime:
    """When a ladder step happens for a clock started at ``start`` and due at ``due``.

    ``at: 'P%'`` is that share of the clock's span, in working time for working-time
    deadlines; ``after:`` counts like ``within`` from the start; ``before:`` counts back
    from the due time. A time before the start is moved to the start.
    """
    if step.at is not None:
        share = int(step.at.rstrip("%"))
        if share >= 100:
            return due
        if share <= 0:
            return start
        if _uses_working_time(within):
            return min(_share_of_working_time(calendar, start, due, share), due)
        return start + (due - start) * share / 100
    if step.after is not None:
        return compute_deadline(calendar, start, step.after).due
    return max(before_due(calendar, step, due), start)


def before_due(calendar: WorkingCalendar, step: DeadlineStep, due: dt.datetime) -> dt.datetime:
    """When a ``before:`` step happens for a clock due at ``due``, before it is moved to the
    clock's start (:func:`step_time`): a function of the due time alone."""
    tz = calendar.settings.tz
    assert step.before is not None  # the checks require exactly one of at/after/before
    before = step.before
    n = before.amount
    if before.unit == "working_hours":
        found = subtract_working_time(calendar, due, dt.timedelta(hours=n))
    elif before.unit == "working_days":
        local = due.astimezone(tz)
        last = (local - dt.timedelta(microseconds=1)).date()
        day = last
        for _ in range(n):
            day = calendar.previous_working_day(day).value
        found = dt.datetime.combine(local.date() - (last - day), local.timetz())
    elif before.unit == "months":
        local = due.astimezone(tz)
        found = dt.datetime.combine(add_months(local.date(), -n), local.timetz())
    else:
        unit = {"days": 1440, "weeks": 10080, "hours": 60, "minutes": 1}[before.unit]
        found = due - dt.timedelta(minutes=n * unit)
    return found


def shift(
    calendar: WorkingCalendar,
    when: dt.datetime,
    within: Duration,
    paused_from: dt.datetime,
    paused_to: dt.datetime,
) -> dt.datetime:
    """Move a due time on by a pause: by the working time the pause covered for
    working-time clocks, by the elapsed time for calendar clocks."""
    if not _uses_working_time(within):
        return when + (paused_to - paused_from)
    amount = working_time_between(calendar, paused_from, paused_to)
    if amount <= _ZERO:
        return when
    return calendar.working_hours_due(when, amount)


def counted_from(spec: DeadlineSpec, data: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When a starting clock counts from: the ``counts_from`` data field when it holds an
    aware datetime not after ``now`` (a message registered after it arrived), else now."""
    if spec.counts_from is None:
        return now
    value = read_moment(data.get(spec.counts_from))
    if isinstance(value, dt.datetime) and value <= now:
        return value
    return now


_ELAPSED = Duration(1, "days")
"""The span unit of an ``until`` clock: its shares and pauses count elapsed time."""


def span(spec: DeadlineSpec) -> Duration:
    """The duration whose unit decides how a clock's shares are counted."""
    return spec.within if spec.within is not None else _ELAPSED


def date_due(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """The due instant a data value names: an aware datetime itself, a date the end of
    that day (00:00 of the next, in the calendar's timezone); else None."""
    moment = read_moment(value)
    if moment is None or isinstance(moment, dt.datetime):
        return moment
    return dt.datetime.combine(moment + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
