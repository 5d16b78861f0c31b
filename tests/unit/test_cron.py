"""The pure cron calculator: the documented examples, its errors, and a differential test
against APScheduler 3's ``CronTrigger.from_crontab``, which it replaces as a calculator.

APScheduler stays a runtime dependency (the daemon's wake-ups), so the tests may import it:
every expression both accept must give the same fire times, as the same wall times, in
every zone; every expression APScheduler refuses we refuse; and we refuse only the few
it accepts by silently reading less than is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import HealthCheck, event, example, given, settings

from cmc_workflow.cron import CronSyntaxError, parse

UTC = dt.UTC
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")

ZONES = (
    "Asia/Shanghai",
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "America/Santiago",  # clocks change at midnight
    "Australia/Lord_Howe",  # a 30-minute change
    "Asia/Kathmandu",  # a +05:45 offset
    "Pacific/Apia",  # skipped 2011-12-30 entirely
)


def fires(expr: str, zone: str, after: dt.datetime, n: int) -> list[dt.datetime]:
    """The next ``n`` fire times after ``after``, each found from the one before."""
    cron, found = parse(expr, zone), []
    for _ in range(n):
        nxt = cron.next_fire(after)
        if nxt is None:
            break
        found.append(nxt)
        after = nxt
    return found


def sh(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=SH)


# -- the documented meaning (docs/time.md) -----------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 9 * * *", sh(2025, 9, 26, 15), [sh(2025, 9, 27, 9), sh(2025, 9, 28, 9)]),
        # mon-fri by name: Fri 26 Sep 2025 -> Mon 29 Sep
        ("0 9 * * mon-fri", sh(2025, 9, 26, 15), [sh(2025, 9, 29, 9), sh(2025, 9, 30, 9)]),
        # weekday numbers count 0 as Monday: 1-5 is Tuesday to Saturday
        ("0 9 * * 1-5", sh(2025, 9, 26, 15), [sh(2025, 9, 27, 9), sh(2025, 9, 30, 9)]),
        # a month step counts from January: January and July, not every 6 months from now
        ("0 9 1 */6 *", sh(2025, 3, 1), [sh(2025, 7, 1, 9), sh(2026, 1, 1, 9)]),
        # day 31 skips the months without one
        ("0 9 31 * *", sh(2025, 3, 31, 10), [sh(2025, 5, 31, 9), sh(2025, 7, 31, 9)]),
        # day and weekday must both match: a last day that is a Friday (Oct 2025, Jan 2026)
        ("0 9 last * fri", sh(2025, 6, 1), [sh(2025, 10, 31, 9), sh(2026, 7, 31, 9)]),
        ("0 16 last * *", sh(2025, 2, 1), [sh(2025, 2, 28, 16), sh(2025, 3, 31, 16)]),
        ("*/20 8-9 * * *", sh(2025, 1, 1, 9, 30), [sh(2025, 1, 1, 9, 40), sh(2025, 1, 2, 8)]),
        ("5/25 0 1 jan,JUL *", sh(2025, 1, 1), [sh(2025, 1, 1, 0, 5), sh(2025, 1, 1, 0, 30)]),
        ("0 0 29 feb *", sh(2025, 1, 1), [sh(2028, 2, 29), sh(2032, 2, 29)]),
    ],
)
def test_documented_examples(expr: str, after: dt.datetime, expected: list[dt.datetime]) -> None:
    found = fires(expr, "Asia/Shanghai", after, len(expected))
    assert found == expected
    assert all(f.tzinfo == SH for f in found)


def test_a_fire_time_is_strictly_after_the_given_time_and_in_whole_seconds() -> None:
    cron = parse("0 9 * * *", "Asia/Shanghai")
    assert cron.next_fire(sh(2025, 1, 1, 9)) == sh(2025, 1, 2, 9)
    assert cron.next_fire(sh(2025, 1, 1, 8, 59, 59, 999_999)) == sh(2025, 1, 1, 9)
    assert cron.first_at_or_after(sh(2025, 1, 1, 9)) == sh(2025, 1, 1, 9)
    # any zone in, the expression's zone out
    assert cron.next_fire(dt.datetime(2025, 1, 1, 0, 30, tzinfo=UTC)) == sh(2025, 1, 1, 9)


def test_an_expression_that_can_never_fire_gives_none() -> None:
    assert parse("0 9 30 feb *", "UTC").next_fire(dt.datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert parse("0 9 31 apr,jun *", "UTC").first_at_or_after(sh(2025, 1, 1)) is None


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse("0 9 * * *", "UTC").next_fire(dt.datetime(2025, 1, 1))


def test_clock_changes_come_out_as_apscheduler_computed_them() -> None:
    """What docs and the module docstring say of America/New_York in 2025."""
    spring = fires("30 2 * * *", "America/New_York", dt.datetime(2025, 3, 8, 12, tzinfo=UTC), 2)
    assert [f.astimezone(UTC).hour for f in spring] == [7, 6]  # 03:30 EDT, then 02:30 EDT
    autumn = fires("30 1 * * *", "America/New_York", dt.datetime(2025, 11, 1, 12, tzinfo=UTC), 3)
    assert [f.astimezone(UTC) for f in autumn] == [
        dt.datetime(2025, 11, 2, 5, 30, tzinfo=UTC),  # 01:30 EDT
        dt.datetime(2025, 11, 2, 6, 30, tzinfo=UTC),  # 01:30 EST
        dt.datetime(2025, 11, 3, 6, 30, tzinfo=UTC),
    ]
    midnight = fires("30 0 * * *", "America/Santiago", dt.datetime(2025, 9, 6, tzinfo=UTC), 2)
    assert [f.date() for f in midnight] == [dt.date(2025, 9, 6), dt.date(2025, 9, 8)]


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "field", "message"),
    [
        ("0 9 * *", None, "4 fields where 5 are needed (minute hour day month weekday)"),
        ("0 9 1st mon * *", None, "6 fields where 5 are needed"),
        ("0 25 * * *", "hour", "the hour field '25': 25 is above the highest hour, 23"),
        ("0 9 * * 7", "weekday", "7 is above the highest weekday, 6 (0 is Monday, 6 Sunday)"),
        ("0 9 0 * *", "day", "the day field '0': 0 is below the lowest day, 1"),
        ("*/60 9 * * *", "minute", "the step 60 is larger than the range 0-59"),
        ("0-5/10 9 * * *", "minute", "the step 10 is larger than the range 0-5"),
        ("*/0 9 * * *", "minute", "a step must be 1 or more"),
        ("50-10 9 * * *", "minute", "the range runs backwards (50 is after 10)"),
        ("0 9 * dec-jan *", "month", "the range runs backwards (dec is after jan)"),
        ("0 9 * * monday", "weekday", "'monday' is not a weekday name (mon, tue, wed"),
        ("0 9 1,,15 * *", "day", "the day field '' in '1,,15': not a value of this field"),
        ("0 9 ? * *", "day", "write '*', '*/step', 'n', 'a-b', 'a-b/step' or 'n/step', or 'last'"),
        ("0 9 * * mon-fri/2", "weekday", "a step after names is not supported (read as 'mon-fri')"),
        ("0 9 * jan/2 *", "month", "a step after names is not supported (read as 'jan')"),
        ("0 9 * * mon-5", "weekday", "a range of names must end in a name (read as 'mon')"),
        ("0 9 last-5 * *", "day", "the last day of the month is written 'last', alone"),
        ("٣ 9 * * *", "minute", "only the digits 0-9 are numbers here"),
    ],
)
def test_errors_name_the_field_and_say_what_is_wrong(
    expr: str, field: str | None, message: str
) -> None:
    with pytest.raises(CronSyntaxError) as caught:
        parse(expr, "Asia/Shanghai")
    assert message in str(caught.value)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


# -- differential: the same answers as APScheduler 3 -------------------------------------------
NAMES = {
    3: ("jan", "feb", "mar", "jun", "Jul", "sep", "DEC"),  # in calendar order
    4: ("mon", "tue", "Wed", "fri", "sat", "SUN"),
}
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@st.composite
def valid_terms(draw: st.DrawFn, index: int) -> str:
    """A term both accept: ``*``, a value, an ordered range, a step that fits, a name."""
    low, high = BOUNDS[index]
    a, b = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2)))
    form = draw(st.integers(0, 7 if index in NAMES else 6 if index == 2 else 5))
    if form == 0:
        return "*"
    if form == 1:
        return f"*/{draw(st.integers(1, high - low))}"
    if form == 2:
        return str(a)
    if form == 3:
        return f"{a}-{b}"
    if form == 4 and b > a:
        return f"{a}-{b}/{draw(st.integers(1, b - a))}"
    if form == 5 and a < high:
        return f"{a}/{draw(st.integers(1, high - a))}"
    if form == 6 and index == 2:
        return draw(st.sampled_from(["last", "Last"]))
    if form == 7:
        i, j = sorted(draw(st.lists(st.integers(0, len(NAMES[index]) - 1), min_size=2)))[:2]
        return NAMES[index][i] if i == j else f"{NAMES[index][i]}-{NAMES[index][j]}"
    return str(b)


@st.composite
def valid_expressions(draw: st.DrawFn) -> str:
    """Five fields; the day, month and weekday are often ``*`` so that most fire often."""
    fields = []
    for i in range(len(BOUNDS)):
        if i >= 2 and draw(st.integers(0, 2)) == 0:
            fields.append("*")
        else:
            fields.append(",".join(draw(st.lists(valid_terms(i), min_size=1, max_size=3))))
    return " ".join(fields)


def any_terms(index: int) -> st.SearchStrategy[str]:
    """A term as written by anyone: out of range, backwards, a step too large, a quirk."""
    low, high = BOUNDS[index]
    edge = st.sampled_from([max(0, low - 1), low, high, high + 1])  # where mistakes hide
    num = st.one_of(edge, st.integers(max(0, low - 1), high + 1)).map(str)
    span = high - low
    step = st.one_of(st.integers(span - 1, span + 2), st.integers(0, span + 2)).map(str)
    forms = [
        st.builds("*/{}".format, step),
        num,
        st.builds("{}-{}".format, num, num),
        st.builds("{}-{}/{}".format, num, num, step),
        st.builds("{}/{}".format, num, step),
        st.sampled_from(["mon-fri/2", "jan/2", "mon-5", "jan-", "last-5", "lastx", "٣", "", "?"]),
        st.sampled_from(["mon", "mon-fri", "fri-mon", "jan-dec", "monday", "lAsT", "1st", "*/"]),
    ]
    if index in NAMES:
        name = st.sampled_from(NAMES[index])
        forms += [name, st.builds("{}-{}".format, name, name), st.builds("{}/2".format, name)]
    return st.one_of(*forms)


ANY_TERMS = [any_terms(i) for i in range(len(BOUNDS))]


@st.composite
def any_expressions(draw: st.DrawFn) -> str:
    """A valid expression with, as often as not, one field written by anyone."""
    fields = draw(valid_expressions()).split()
    if draw(st.booleans()):
        i = draw(st.integers(0, len(BOUNDS) - 1))
        fields[i] = ",".join([fields[i], draw(ANY_TERMS[i])][draw(st.integers(0, 1)) :])
    count = draw(st.sampled_from([5] * 18 + [4, 6]))
    return " ".join([*fields, "*"][:count])


@functools.cache
def transitions(zone: str) -> tuple[dt.datetime, ...]:
    """The instants, 2024-2026, at which the zone's offset changes (found by bisection)."""
    tz, found = ZoneInfo(zone), []
    day = dt.datetime(2024, 1, 1, tzinfo=UTC)
    while day.year < 2027:
        low, high = day, day + dt.timedelta(days=1)
        if low.astimezone(tz).utcoffset() != high.astimezone(tz).utcoffset():
            while high - low > dt.timedelta(seconds=1):
                mid = low + (high - low) / 2
                same = mid.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (mid, high) if same else (low, mid)
            found.append(high.replace(microsecond=0))
        day += dt.timedelta(days=1)
    return tuple(found)


@st.composite
def starts(draw: st.DrawFn, zone: str) -> dt.datetime:
    """Any time from 1990 to 2060, or a time within hours of a clock change."""
    near = transitions(zone)
    close: bool = draw(st.booleans())
    if near and close:
        offset = draw(st.integers(-4 * 3600, 4 * 3600)) + draw(st.sampled_from([0, 0.5, 0.999]))
        return draw(st.sampled_from(near)) + dt.timedelta(seconds=offset)
    when = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 1, 1)))
    return when.replace(tzinfo=UTC)


def quirk(expr: str) -> bool:
    """Does APScheduler accept ``expr`` only by reading less than is written?"""
    parts = [(i, p) for i, f in enumerate(expr.split()) for p in f.split(",")]
    names = re.compile(r"[a-z]+(?:-[a-z]+)?", re.IGNORECASE)
    return any(
        any(ch.isdecimal() and not ch.isascii() for ch in p)
        or (i in NAMES and (m := names.match(p)) is not None and m.end() < len(p))
        or (i == 2 and p.lower().startswith("last") and p.lower() != "last")
        for i, p in parts
    )


def same(ours: dt.datetime | None, theirs: dt.datetime | None) -> bool:
    """The same instant, written as the same wall time with the same fold, or both None."""
    if ours is None or theirs is None:
        return ours is theirs
    return (ours.astimezone(UTC), ours.replace(tzinfo=None), ours.fold) == (
        theirs.astimezone(UTC),
        theirs.replace(tzinfo=None),
        theirs.fold,
    )


@settings(max_examples=1000, deadline=None)
@given(expr=any_expressions())
@example(expr="0 9 * * mon-fri/2")
@example(expr="0 9 last-5 * *")
def test_we_refuse_what_apscheduler_refuses_and_only_its_quirks_besides(expr: str) -> None:
    try:
        theirs = CronTrigger.from_crontab(expr, timezone=SH)
    except ValueError:
        event("refused by both")
        with pytest.raises(CronSyntaxError):
            parse(expr, "Asia/Shanghai")
        return
    try:
        parse(expr, "Asia/Shanghai")
    except CronSyntaxError:
        event("refused by us only: APScheduler reads less than is written")
        assert quirk(expr), f"{expr!r} refused, but APScheduler reads it as {theirs}"
    else:
        event("accepted by both")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), expr=valid_expressions(), zone=st.sampled_from(ZONES))
@example(data=None, expr="*/15 * * * *", zone="America/New_York")
@example(data=None, expr="30 0 * * *", zone="America/Santiago")
@example(data=None, expr="0,30 2 * * *", zone="Australia/Lord_Howe")
@example(data=None, expr="0 9 last * fri", zone="Asia/Shanghai")
@example(data=None, expr="0 0 30 feb *", zone="Asia/Shanghai")
def test_the_same_fire_times_as_apscheduler(
    data: st.DataObject | None, expr: str, zone: str
) -> None:
    theirs = CronTrigger.from_crontab(expr, timezone=ZoneInfo(zone))
    ours = parse(expr, zone)
    near = (*transitions(zone), dt.datetime(2025, 6, 1, tzinfo=UTC))
    start = data.draw(starts(zone)) if data else near[0] - dt.timedelta(hours=3)
    after = start
    for _ in range(6):
        expected = theirs.get_next_fire_time(None, after.astimezone(UTC) + dt.timedelta(0, 0, 1))
        found = ours.next_fire(after)
        assert same(found, expected), (expr, zone, after, found, expected)
        if found is None:
            event("never fires again")
            break
        after = found
    # at or after a local midnight, as the schedules' day-off skipping asks
    tz = ZoneInfo(zone)
    midnight = dt.datetime.combine(start.astimezone(tz).date(), dt.time(), tz)
    assert same(ours.first_at_or_after(midnight), theirs.get_next_fire_time(None, midnight))
