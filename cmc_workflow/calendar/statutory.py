"""The statutory public holidays of a year, computed from the national regulation.

The days off of the national holidays are fixed by the regulation on public holidays
(全国年节及纪念日放假办法); only how they are joined to weekends, and which weekends are
worked in exchange (调休), is announced year by year by the State Council. So for a year
that neither the ``chinesecalendar`` package nor a ``calendars/`` file covers yet, the
statutory days are known even though the adjusted weekends are not: the calendar answers
them as days off, still marked provisional (:mod:`cmc_workflow.calendar.working`).

The regulation as in force for each year (its amendments took effect on 1 January 2008,
1 January 2014 and 1 January 2025):

=================  ==============  ==============  ==============  ===================
holiday            1999–2007       2008–2013       2014–2024       2025 onwards
=================  ==============  ==============  ==============  ===================
New Year's Day     1 Jan           1 Jan           1 Jan           1 Jan
Spring Festival    lunar 1/1–1/3   eve, 1/1, 1/2   lunar 1/1–1/3   eve, lunar 1/1–1/3
Qingming           —               the solar term  the solar term  the solar term
Labour Day         1–3 May         1 May           1 May           1–2 May
Dragon Boat        —               lunar 5/5       lunar 5/5       lunar 5/5
Mid-Autumn         —               lunar 8/15      lunar 8/15      lunar 8/15
National Day       1–3 Oct         1–3 Oct         1–3 Oct         1–3 Oct
=================  ==============  ==============  ==============  ===================

Lunar dates come from the ``lunardate`` package (1900–2099); Qingming is the solar term
that ``chinesecalendar`` computes. ``tests/unit/test_statutory.py`` checks, for every year
the package covers, that each computed day is a day off in the official arrangement.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import chinese_calendar

FIRST_YEAR = 1999
"""The first year of the regulation's 1999 version; earlier years get no statutory days."""
LAST_YEAR = 2099
"""The last year the lunar table of ``lunardate`` reaches."""
STATUTORY_RULE = "statutory-2024"
"""Names this computation (the regulation as amended in 2024) in the calendar's version."""

NEW_YEAR = "New Year's Day"
SPRING = "Spring Festival"
QINGMING = "Tomb-sweeping Day"
LABOUR = "Labour Day"
DRAGON_BOAT = "Dragon Boat Festival"
MID_AUTUMN = "Mid-autumn Festival"
NATIONAL = "National Day"
"""The holidays' names as ``chinesecalendar`` gives them (English)."""


def _lunar(year: int, month: int, day: int) -> dt.date:
    """The solar date of the lunar date (an ordinary month, not a leap one)."""
    from lunardate import LunarDate  # only for a year without data: not at start-up

    solar = LunarDate(year, month, day).to_solar_date()
    return dt.date(solar.year, solar.month, solar.day)


def _qingming(year: int) -> dt.date:
    start, end = dt.date(year, 4, 1), dt.date(year, 4, 10)
    terms = chinese_calendar.get_solar_terms(start, end)
    (day,) = [dt.date(d.year, d.month, d.day) for d, name in terms if name == "清明"]
    return day


@cache
def statutory_holidays(year: int) -> dict[dt.date, str]:
    """The statutory days off of ``year`` by the regulation in force that year (see the
    module's table), each with its holiday's name; empty outside 1999–2099."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return {}
    days: dict[dt.date, str] = {dt.date(year, 1, 1): NEW_YEAR}
    first = _lunar(year, 1, 1)
    spring = [first, first + dt.timedelta(days=1), first + dt.timedelta(days=2)]
    if 2008 <= year <= 2013:
        spring = [first - dt.timedelta(days=1), *spring[:2]]  # the eve, 1/1, 1/2
    elif year >= 2025:
        spring = [first - dt.timedelta(days=1), *spring]  # the eve and 1/1-1/3
    days.update(dict.fromkeys(spring, SPRING))
    labour = {1999: 3, 2008: 1, 2025: 2}
    may = next(n for since, n in sorted(labour.items(), reverse=True) if year >= since)
    days.update({dt.date(year, 5, d): LABOUR for d in range(1, may + 1)})
    if year >= 2008:
        days[_qingming(year)] = QINGMING
        days[_lunar(year, 5, 5)] = DRAGON_BOAT
        days[_lunar(year, 8, 15)] = MID_AUTUMN
    days.update({dt.date(year, 10, d): NATIONAL for d in (1, 2, 3)})
    return dict(sorted(days.items()))
