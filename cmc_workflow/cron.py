"""Crontab expressions: parsing and the next fire time, pure (standard library only).

The schedules language (``docs/time.md``) takes five fields, ``minute hour day month
weekday``, and gives them the meaning APScheduler 3's ``CronTrigger.from_crontab`` gives
them; earlier releases computed them with APScheduler itself, and
``tests/unit/test_cron.py`` checks the two against each other:

- each field is a comma-separated list of ``*``, ``*/step``, ``n``, ``a-b``, ``a-b/step``
  and ``n/step`` (from ``n`` to the end of the field); months and weekdays may also be
  written by their English three-letter names in any case, alone or as a range
  (``jan``, ``mon-fri``); the day of the month may also be ``last``;
- weekday 0 is **Monday** (APScheduler 3), not Sunday as in crontab;
- a day of the month and a weekday must **both** match (crontab takes either);
- a time is a wall-clock time in the expression's zone, and the search for the next one
  is APScheduler 3's field walk (:meth:`Cron._walk`), so clock changes come out as they
  did, intuitive or not (Asia/Shanghai has none): in America/New_York a daily ``30 2``
  fires at 03:30 on the spring-forward day (02:30 on the old offset) and a daily ``30 1``
  fires twice on the autumn night (01:30 -04:00 and 01:30 -05:00); in America/Santiago,
  whose clocks jump from 00:00 to 01:00, a daily ``30 0`` does not fire that day.

Refused although APScheduler accepts them, because APScheduler silently reads less than
is written: a step after names (``mon-fri/2``, read ``mon-fri``), a name range ending in
something else (``mon-5``, read ``mon``), text after ``last`` (``last-5``, read ``last``),
and digits other than ASCII 0-9.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from cmc_workflow.i18n import N_, Text, tr, zh

__all__ = ["Cron", "CronSyntaxError", "parse"]

FIELDS = ("minute", "hour", "day", "month", "weekday")
"""The five fields of an expression, in the order they are written."""

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_LOW = {"year": 1970, "month": 1, "day": 1, "weekday": 0, "hour": 0, "minute": 0, "second": 0}
_HIGH = {"year": 9999, "month": 12, "day": 31, "weekday": 6, "hour": 23, "minute": 59, "second": 59}
_NAMES = {"month": MONTH_NAMES, "weekday": WEEKDAY_NAMES}

_WALK = ("year", "month", "day", "weekday", "hour", "minute", "second")
"""The order of the search, most significant first. The weekday is not a part of a date
one can set: a weekday that does not match moves the day on."""

_CYCLE_YEARS = 400
"""The Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks):
a search that finds nothing in 400 years finds nothing ever."""

_UTC = dt.UTC
_ONE_MICROSECOND = dt.timedelta(microseconds=1)

_ANY_RE = re.compile(r"\*(?:/([0-9]+))?")
_RANGE_RE = re.compile(r"([0-9]+)(?:-([0-9]+))?(?:/([0-9]+))?")
_NAMES_RE = re.compile(r"([a-z]+)(?:-([a-z]+))?", re.IGNORECASE)


class CronSyntaxError(ValueError):
    """A crontab expression that cannot be used; ``field`` names the field at fault, and
    ``text`` says why in English and Chinese (the message is the English)."""

    def __init__(self, message: Text, field: str | None = None) -> None:
        super().__init__(message.en)
        self.text = message
        self.field = field


_FIELD_WORDS = {
    "minute": N_("minute"),
    "hour": N_("hour"),
    "day": N_("day"),
    "month": N_("month"),
    "weekday": N_("weekday"),
}
"""The name of each field as a person reads it (msgids)."""


def _field_word(name: str) -> Text:
    return Text(_FIELD_WORDS[name], zh(_FIELD_WORDS[name]))


_Refuse = Callable[[Text], CronSyntaxError]
"""Makes the error for a term, given why it is refused."""


@dataclass(frozen=True, slots=True)
class _Term:
    """One comma-separated part of a field: ``*``, a value, a range, a step, or ``last``."""

    first: int | None = None  # None: from the field's lowest value ('*')
    last: int | None = None  # None: to the field's highest value
    step: int | None = None
    last_day: bool = False  # 'last' in the day field: the month's last day

    def next_value(self, value: int, low: int, high: int) -> int | None:
        """The smallest value >= ``value`` this term takes within ``low..high``, if any."""
        if self.last_day:
            return high
        low = low if self.first is None else max(low, self.first)
        high = high if self.last is None else min(high, self.last)
        found = max(low, value)
        if self.step:
            found += (self.step - (found - low)) % self.step
        return found if found <= high else None


_EVERY = (_Term(),)
_ZERO = (_Term(0, 0),)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed crontab expression in a time zone; :meth:`next_fire` says when it fires."""

    expr: str
    timezone: dt.tzinfo
    minute: tuple[_Term, ...]
    hour: tuple[_Term, ...]
    day: tuple[_Term, ...]
    month: tuple[_Term, ...]
    weekday: tuple[_Term, ...]

    def next_fire(self, after: dt.datetime) -> dt.datetime | None:
        """The first fire time strictly after ``after`` (an aware datetime), in the zone.

        None when the expression never fires again (``0 9 30 feb *``).
        """
        return self.first_at_or_after(_utc_add(_aware(after), _ONE_MICROSECOND))

    def first_at_or_after(self, start: dt.datetime) -> dt.datetime | None:
        """The first fire time at or after ``start`` (an aware datetime), in the zone."""
        return self._walk(_aware(start))

    # -- the search: APScheduler 3's field walk, typed --------------------------------------
    def _terms(self, name: str) -> tuple[_Term, ...]:
        if name == "year":
            return _EVERY
        if name == "second":
            return _ZERO
        terms: tuple[_Term, ...] = getattr(self, name)
        return terms

    def _next_value(self, name: str, date: dt.datetime) -> int | None:
        value, low, high = _value(date, name), _LOW[name], _high(date, name)
        found = [v for t in self._terms(name) if (v := t.next_value(value, low, high)) is not None]
        return min(found, default=None)

    def _walk(self, start: dt.datetime) -> dt.datetime | None:
        horizon = start.year + _CYCLE_YEARS
        date = _ceil(start).astimezone(self.timezone)
        index = 0
        while 0 <= index < len(_WALK):
            name = _WALK[index]
            found = self._next_value(name, date)
            if found is None:
                date, index = _increment(date, index - 1)
            elif found > _value(date, name):
                if name == "weekday":
                    date, index = _increment(date, index)
                else:
                    date = _set(date, index, found)
                    index += 1
            else:
                index += 1
            if date.year > horizon:
                return None
        return date if index >= 0 else None


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, got {when!r}")
    return when


def _value(date: dt.datetime, name: str) -> int:
    if name == "weekday":
        return date.weekday()
    value: int = getattr(date, name)
    return value


def _high(date: dt.datetime, name: str) -> int:
    if name == "day":
        return calendar.monthrange(date.year, date.month)[1]
    return _HIGH[name]


def _utc_add(date: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``date + delta`` in elapsed time (across clock changes), in ``date``'s zone."""
    return (date.astimezone(_UTC) + delta).astimezone(date.tzinfo)


def _ceil(date: dt.datetime) -> dt.datetime:
    """``date`` rounded up to a whole second."""
    if date.microsecond:
        return _utc_add(date, dt.timedelta(seconds=1, microseconds=-date.microsecond))
    return date


def _naive(values: dict[str, int]) -> dt.datetime:
    return dt.datetime(
        values["year"],
        values["month"],
        values["day"],
        values["hour"],
        values["minute"],
        values["second"],
    )


def _increment(date: dt.datetime, index: int) -> tuple[dt.datetime, int]:
    """Add one to the field at ``index`` (carrying into more significant fields) and reset
    the less significant ones; returns the new date and the field actually incremented
    (-1: past the year 9999)."""
    values: dict[str, int] = {}
    i = 0
    while i < len(_WALK):
        name = _WALK[i]
        if name == "weekday":  # not a settable part of a date: it moves the day
            if i == index:
                index -= 1
                i -= 1
            else:
                i += 1
            continue
        if i < index:
            values[name] = _value(date, name)
            i += 1
        elif i > index:
            values[name] = _LOW[name]
            i += 1
        else:
            value = _value(date, name)
            if value == _high(date, name):
                if i == 0:
                    return date, -1
                index -= 1
                i -= 1
            else:
                values[name] = value + 1
                i += 1
    return _utc_add(date, _naive(values) - date.replace(tzinfo=None)), index


def _set(date: dt.datetime, index: int, new: int) -> dt.datetime:
    """``date`` with the field at ``index`` set to ``new`` and the less significant fields
    reset, as a wall time in ``date``'s zone (a wall time skipped by a clock change is kept
    as written and means the instant on the earlier offset)."""
    values: dict[str, int] = {}
    for i, name in enumerate(_WALK):
        if name == "weekday":
            continue
        values[name] = _value(date, name) if i < index else _LOW[name] if i > index else new
    return _naive(values).replace(tzinfo=date.tzinfo, fold=date.fold)


# -- parsing ----------------------------------------------------------------------------------
def parse(expr: str, timezone: str | dt.tzinfo) -> Cron:
    """Parse a five-field crontab expression; raises :class:`CronSyntaxError`.

    ``timezone`` is an IANA name (``Asia/Shanghai``) or a tzinfo.
    """
    zone = zoneinfo.ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    values = expr.split()
    if len(values) != len(FIELDS):
        raise CronSyntaxError(
            tr("1 field where 5 are needed (minute hour day month weekday)")
            if len(values) == 1
            else tr(
                "{count} fields where 5 are needed (minute hour day month weekday)",
                count=len(values),
            )
        )
    minute, hour, day, month, weekday = (
        _field(name, text) for name, text in zip(FIELDS, values, strict=True)
    )
    return Cron(expr, zone, minute, hour, day, month, weekday)


def _field(name: str, text: str) -> tuple[_Term, ...]:
    return tuple(_term(name, text, part) for part in text.split(","))


def _term(name: str, text: str, part: str) -> _Term:
    def refuse(why: Text) -> CronSyntaxError:
        field = _field_word(name)
        if part == text:
            return CronSyntaxError(
                tr("the {field} field {part}: {why}", field=field, part=repr(part), why=why), name
            )
        message = tr(
            "the {field} field {part} in {text}: {why}",
            field=field,
            part=repr(part),
            text=repr(text),
            why=why,
        )
        return CronSyntaxError(message, name)

    low, high = _LOW[name], _HIGH[name]
    if match := _ANY_RE.fullmatch(part):
        step = _number(match[1])
        _check_step(step, low, high, refuse)
        return _Term(step=step)
    if match := _RANGE_RE.fullmatch(part):
        first, last, step = int(match[1]), _number(match[2]), _number(match[3])
        if last is None and step is None:
            last = first
        if last is not None and first > last:
            raise refuse(
                tr("the range runs backwards ({first} is after {last})", first=first, last=last)
            )
        _check_step(step, low, high, refuse)
        if first < low:
            field = _field_word(name)
            raise refuse(
                tr("{value} is below the lowest {field}, {low}", value=first, field=field, low=low)
            )
        if last is not None and last > high:
            if name == "weekday":
                raise refuse(
                    tr(
                        "{value} is above the highest weekday, {high} (0 is Monday, 6 Sunday)",
                        value=last,
                        high=high,
                    )
                )
            field = _field_word(name)
            raise refuse(
                tr(
                    "{value} is above the highest {field}, {high}",
                    value=last,
                    field=field,
                    high=high,
                )
            )
        # as APScheduler: a range ending at 0 ('0-0/5') is checked as if open-ended
        _check_step(step, first, last or high, refuse)
        return _Term(first, last, step)
    names = _NAMES.get(name)
    if names is not None and (match := _NAMES_RE.match(part)):
        first, last = _name(names, match[1], name, refuse), None
        if match[2] is not None:
            last = _name(names, match[2], name, refuse)
            if first > last:
                backwards = tr(
                    "the range runs backwards ({first} is after {last})",
                    first=match[1],
                    last=match[2],
                )
                raise refuse(backwards)
        if match.end() < len(part):  # APScheduler reads the names and drops the rest
            if part[match.end()] == "/":
                step_after = tr(
                    "a step after names is not supported (read as {read})", read=repr(match[0])
                )
                raise refuse(step_after)
            raise refuse(
                tr("a range of names must end in a name (read as {read})", read=repr(match[0]))
            )
        return _Term(first, first if last is None else last)
    if name == "day" and part.lower() == "last":
        return _Term(last_day=True)
    raise refuse(_why_not(name, part))


def _why_not(name: str, part: str) -> Text:
    """Why a term is refused."""
    if any(ch.isdecimal() and not ch.isascii() for ch in part):
        return tr("only the digits 0-9 are numbers here")
    if name == "day" and part.lower().startswith("last"):
        return tr("the last day of the month is written 'last', alone")
    forms = tr("'*', '*/step', 'n', 'a-b', 'a-b/step' or 'n/step'")
    if name in _NAMES:
        return tr(
            "not a value of this field: write {forms}, or names ({names}) alone or as a range",
            forms=forms,
            names=", ".join(_NAMES[name]),
        )
    if name == "day":
        return tr("not a value of this field: write {forms}, or 'last'", forms=forms)
    return tr("not a value of this field: write {forms}", forms=forms)


def _number(text: str | None) -> int | None:
    return None if text is None else int(text)


def _check_step(step: int | None, low: int, high: int, refuse: _Refuse) -> None:
    if step is None:
        return
    if step == 0:
        raise refuse(tr("a step must be 1 or more"))
    if step > high - low:
        raise refuse(
            tr(
                "the step {step} is larger than the range {low}-{high} it steps through",
                step=step,
                low=low,
                high=high,
            )
        )


def _name(names: tuple[str, ...], text: str, field: str, refuse: _Refuse) -> int:
    try:
        index = names.index(text.lower())
    except ValueError:
        why = tr(
            "{text} is not a {field} name ({names})",
            text=repr(text),
            field=_field_word(field),
            names=", ".join(names),
        )
        raise refuse(why) from None
    return index + (1 if field == "month" else 0)
