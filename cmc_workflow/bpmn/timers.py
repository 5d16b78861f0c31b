"""Deadlines as BPMN timers: ISO 8601 durations, the words on a timer, and what survives.

A deadline step becomes a timer boundary event. BPMN's ``timeDuration`` is an ISO 8601
duration in calendar time, so only steps in calendar units (``3 days``, ``12 hours``,
``2 months``) are exact; working days and working hours follow the mainland working-day
calendar (调休, statutory holidays), which ISO 8601 cannot say. Those timers carry the
same number of calendar days or hours as an approximation, and the documentation of the
event states the real rule (:class:`Timing.exact` tells them apart). A deadline ``until:``
a data field is a ``timeDate`` expression over the item's data, in the words of guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from cmc_workflow.definition.models import Deadline, DeadlineStep, Duration
from cmc_workflow.i18n import N_, Text, tr

Lang = Literal["zh", "en"]

_SECONDS = {
    "minutes": 60,
    "hours": 3600,
    "working_hours": 3600,
    "days": 86400,
    "working_days": 86400,
    "weeks": 7 * 86400,
}
_MONTH_DAYS = 30
"""Days per month where a month must be added to or split against other units (an
approximation, flagged as such)."""

_UNITS = {
    "working_days": N_("{amount} working days"),
    "working_hours": N_("{amount} working hours"),
    "days": N_("{amount} days"),
    "hours": N_("{amount} hours"),
    "minutes": N_("{amount} minutes"),
    "weeks": N_("{amount} weeks"),
    "months": N_("{amount} months"),
}
"""A duration in each unit, for its Chinese; the English is the duration as written
(``str(duration)``, which says ``1 working day``)."""

ACTION_WORDS = {
    "warn": N_("warn"),
    "notify": N_("notify"),
    "escalate": N_("escalate"),
    "breach": N_("record the breach"),
    "fire": N_("fire"),
    "reassign": N_("reassign"),
}
"""What each deadline action does, in words (msgids of the catalogue)."""


def duration_text(duration: Duration) -> Text:
    """``3 working days`` / ``3个工作日``."""
    return Text(str(duration), tr(_UNITS[duration.unit], amount=duration.amount).zh)


def duration_words(duration: Duration, lang: Lang) -> str:
    """``3个工作日`` / ``3 working days``."""
    return str(duration) if lang == "en" else duration_text(duration).zh


@dataclass(frozen=True, slots=True)
class Timing:
    """When a timer fires, as BPMN can say it."""

    kind: Literal["timeDuration", "timeDate"]
    text: str
    """An ISO 8601 duration (``P3D``), or a date expression over the item's data."""
    exact: bool
    """False when the BPMN text only approximates the rule (working time, months split)."""


def iso_duration(amount: Fraction, unit: str) -> tuple[str, bool]:
    """``amount`` of ``unit`` as an ISO 8601 duration, and whether it is exact.

    Working time is written as the same amount of calendar time (not exact); a whole
    number of months or weeks keeps its unit; anything else goes down to seconds."""
    exact = not unit.startswith("working_")
    if unit == "months":
        if amount.denominator == 1:
            return f"P{amount.numerator}M", True
        amount, unit, exact = amount * _MONTH_DAYS, "days", False
    if unit == "weeks" and amount.denominator == 1:
        return f"P{amount.numerator}W", exact
    seconds = amount * _SECONDS[unit]
    whole = int(seconds)
    exact = exact and seconds == whole
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    if clock:
        text += "T" + clock
    return (text if text != "P" else "PT0S"), exact


def _in_unit(duration: Duration, unit: str) -> Fraction:
    """``duration`` counted in ``unit`` (months as 30 days when the units differ)."""
    if duration.unit == unit:
        return Fraction(duration.amount)
    seconds = Fraction(duration.amount) * (
        _MONTH_DAYS * 86400 if duration.unit == "months" else _SECONDS[duration.unit]
    )
    per = _MONTH_DAYS * 86400 if unit == "months" else _SECONDS[unit]
    return seconds / per


def step_timing(deadline: Deadline, step: DeadlineStep) -> Timing:
    """When ``step`` of ``deadline`` fires, counted from entering the state."""
    within = deadline.within
    if within is None:  # until: a date field of the item
        due = f"data.{deadline.until}"
        if step.at == "100%":
            return Timing("timeDate", due, True)
        if step.at is not None:
            share = Fraction(int(step.at[:-1]), 100)
            return Timing("timeDate", f"entered + ({due} - entered) * {float(share):g}", True)
        if step.before is not None:
            return Timing("timeDate", f"{due} - {step.before}", True)
        assert step.after is not None
        return Timing("timeDate", f"entered + {step.after}", True)
    if step.after is not None:
        text, exact = iso_duration(Fraction(step.after.amount), step.after.unit)
        return Timing("timeDuration", text, exact)
    if step.at is not None:
        amount = Fraction(within.amount) * Fraction(int(step.at[:-1]), 100)
        text, exact = iso_duration(amount, within.unit)
        return Timing("timeDuration", text, exact)
    assert step.before is not None
    mixed = step.before.unit != within.unit
    amount = Fraction(within.amount) - _in_unit(step.before, within.unit)
    unit = within.unit
    if mixed and unit == "months":  # a month minus days: counted in days
        amount, unit = amount * _MONTH_DAYS, "days"
    text, exact = iso_duration(max(amount, Fraction(0)), unit)
    return Timing("timeDuration", text, exact and not mixed)


def deadline_words(deadline: Deadline, lang: Lang) -> str:
    """The deadline itself: ``时限：3个工作日`` / ``due within 3 working days``."""
    if deadline.within is not None:
        return tr("due within {span}", span=duration_text(deadline.within)).shown(lang)
    return tr("due by the date in data.{field}", field=deadline.until).shown(lang)


def _when(step: DeadlineStep) -> Text:
    if step.at is not None:
        return tr("when due") if step.at == "100%" else tr("at {share}", share=step.at)
    if step.after is not None:
        return tr("after {span}", span=duration_text(step.after))
    assert step.before is not None
    return tr("{span} before due", span=duration_text(step.before))


def _what(step: DeadlineStep, role: str | None) -> Text:
    what = tr(ACTION_WORDS[step.action])
    target = role if role is not None else step.trigger
    return tr("{action} → {target}", action=what, target=target) if target else what


def step_when(step: DeadlineStep, lang: Lang) -> str:
    """When a step happens, the name of its timer: ``时限50%``, ``到期``, ``6个月后``,
    ``到期前5个工作日`` / ``at 50%``, ``when due``, ``after 6 months``, ``5 working days
    before due``."""
    return _when(step).shown(lang)


def step_what(step: DeadlineStep, role: str | None, lang: Lang) -> str:
    """What a step does: ``上报 频道负责人`` / ``escalate → Channel lead``."""
    return _what(step, role).shown(lang)


def step_words(step: DeadlineStep, role: str | None, lang: Lang) -> str:
    """A step in words: ``到期：上报 频道负责人`` / ``when due: escalate → Channel lead``."""
    return tr("{when}: {what}", when=_when(step), what=_what(step, role)).shown(lang)


def working_time_note(lang: Lang) -> str:
    """Why a working-time timer is only an approximation."""
    return tr(
        "Working days and hours follow the mainland working-day calendar (make-up working "
        "days, statutory holidays), which ISO 8601 cannot express; this timer approximates "
        "them with the same number of calendar days or hours."
    ).shown(lang)
