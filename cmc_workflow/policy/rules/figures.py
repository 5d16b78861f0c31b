"""Figures computed from the store and confirmed by people (``confirm_figures``).

Some figures a person used to type in are already in the store: the year's complaints
(RPT-3, from the complaint items of ``comments``), the year's self-media results (INS-7,
from the publications the engine recorded and the monthly statistics items of INS-5).
A :class:`FiguresRule` computes them at a step, from the engine's own records
(:class:`~cmc_workflow.policy.rules.facts.Facts`), and

- refuses the step unless the person confirms them (a boolean form field): the refusal
  shows the figures, in English and Chinese, so they are put in front of the person;
- refuses a figure the person typed (a ``matches:`` form field) that differs from the
  computed one, naming both;
- records the computed figures with the accepted step (the step's form and the item's
  data, under the rule's ``record:`` field): the engine, not the person, writes them.

The computations (:data:`COMPUTATIONS`) read the bundled workflows' conventions
(:class:`Sources`); ``cmc-workflow report`` shows the same figures
(:mod:`cmc_workflow.reports`). Pure: the facts come from the caller.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.definition.forms import read_moment
from cmc_workflow.definition.loaded import LoadedWorkflow
from cmc_workflow.definition.models import GuardedEffect, Label
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.policy.coverage import effects_of, handler_effects
from cmc_workflow.policy.rules.base import (
    NO_TEXT,
    Denial,
    Request,
    StepKey,
    StepRule,
    as_list,
    in_turn,
)
from cmc_workflow.policy.rules.facts import Facts, First

PERIODS: tuple[str, ...] = ("year_before", "calendar_year_before")
"""``year_before``: the twelve months before the item's ``scheduled_for`` (else the
command's time); ``calendar_year_before``: the calendar year before it (in Asia/Shanghai)."""

PLATFORMS: tuple[str, ...] = ("wechat", "wechat_channels", "weibo", "douyin")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period ``since <= t < until`` and how people name it."""

    since: dt.datetime
    until: dt.datetime
    label: str

    def holds(self, when: dt.datetime) -> bool:
        return self.since <= when < self.until


def period_of(kind: str, anchor: dt.datetime, timezone: str = BUSINESS_TIMEZONE) -> Period:
    """The period ``kind`` (one of :data:`PERIODS`) before ``anchor``."""
    zone = ZoneInfo(timezone)
    local = anchor.astimezone(zone)
    if kind == "calendar_year_before":
        year = local.year - 1
        since = dt.datetime(year, 1, 1, tzinfo=zone)
        return Period(since, dt.datetime(year + 1, 1, 1, tzinfo=zone), str(year))
    if kind != "year_before":
        raise ValueError(f"no period {kind!r}; periods: {', '.join(PERIODS)}")
    day = local.day if not (local.month == 2 and local.day == 29) else 28
    since = local.replace(year=local.year - 1, day=day)
    return Period(since, local, f"{since:%Y-%m-%d}..{local:%Y-%m-%d}")


def anchor_of(request: Request) -> dt.datetime:
    """What a period is counted back from: the item's ``scheduled_for``, else now."""
    moment = read_moment(request.data.get("scheduled_for"))
    return moment if isinstance(moment, dt.datetime) else request.now


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the figures are read (the bundled workflows' names by default)."""

    messages: str = "comments"
    registered: str = "classify"
    complaint_received: str = "complaint_received"
    complaint_closed: str = "complaint_closed"
    received_field: str = "received_at"
    publications: tuple[tuple[str, str], ...] = (("publishing", "published"),)
    """The (workflow, state) pairs whose first entry is a publication: the bundled
    publishing workflow's by default; :func:`publication_sources` finds them in any set of
    workflows by their ``publication`` effect."""
    statistics: str = "self_media_statistics"
    statistics_done: str = "done"
    targets: str = "annual_targets"
    targets_adopted: str = "adopted"
    timezone: str = BUSINESS_TIMEZONE


@dataclass(frozen=True, slots=True)
class Figures:
    """What a computation found: the figures (JSON values only: ints, strings, maps of
    them) and whether there was anything to count at all."""

    values: dict[str, Any]
    empty: bool


def _month(when: dt.datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def _received(first: First, field: str) -> dt.datetime:
    moment = read_moment(first.data.get(field))
    if isinstance(moment, dt.datetime) and moment < first.at:
        return moment
    return first.at


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}


def complaint_statistics(facts: Facts, period: Period, sources: Sources = Sources()) -> Figures:
    """RPT-3: the complaints received in ``period`` (by the time they arrived), per month,
    channel and outcome; how many were closed, in time or late (an SLA clock of the
    complaint breached or stopped late), and the hours from arrival to closing; and every
    message registered in the period per category."""
    zone = ZoneInfo(sources.timezone)
    received = {
        f.item: f
        for f in facts.firsts(sources.messages, sources.complaint_received)
        if period.holds(_received(f, sources.received_field))
    }
    closed = {
        f.item: f
        for f in facts.firsts(sources.messages, sources.complaint_closed)
        if f.item in received
    }
    late = facts.late(sorted(closed))
    hours = sorted(
        (f.at - _received(received[i], sources.received_field)).total_seconds() / 3600
        for i, f in closed.items()
    )
    messages = [
        f
        for f in facts.firsts(sources.messages, sources.registered)
        if period.holds(_received(f, sources.received_field))
    ]
    values: dict[str, Any] = {
        "period": period.label,
        "received": len(received),
        "closed": len(closed),
        "open": len(received) - len(closed),
        "closed_in_time": len(closed) - len(late),
        "closed_late": len(late),
        "median_hours_to_close": round(statistics.median(hours)) if hours else None,
        "max_hours_to_close": round(hours[-1]) if hours else None,
        "by_month": _sorted(
            Counter(_month(_received(f, sources.received_field), zone) for f in received.values())
        ),
        "by_channel": _sorted(Counter(str(f.data.get("channel")) for f in received.values())),
        "by_satisfaction": _sorted(
            Counter(str(f.data.get("satisfaction")) for f in closed.values())
        ),
        "messages_by_category": _sorted(
            Counter(str(f.data.get("category") or "unclassified") for f in messages)
        ),
    }
    return Figures(values, empty=not (received or messages))


def published_states(
    loaded: LoadedWorkflow, handlers: Mapping[str, set[GuardedEffect]] | None = None
) -> tuple[str, ...]:
    """The states of ``loaded`` whose entry means a piece was published: for each state
    carrying out the ``publication`` effect (its own ``effects:`` or its handler's, as
    :func:`~cmc_workflow.policy.coverage.effects_of` finds them), the state itself, or,
    for a serviceTask, the target of its default (or only) outcome: the handler publishes
    on entry and the item moves on once it succeeded, so a piece whose handler failed is
    not counted (``publishing`` -> ``published`` in the bundled workflow)."""
    wf = loaded.definition
    found: dict[str, None] = {}
    for name, effect, _path in effects_of(loaded, handlers):
        if effect != "publication":
            continue
        state = wf.states[name]
        target = name
        if state.type == "serviceTask" and state.transitions:
            chosen = [t for t in state.transitions if t.default] or state.transitions[:1]
            target = chosen[0].target
        found[target] = None
    return tuple(found)


def publication_sources(workflows: Iterable[LoadedWorkflow]) -> tuple[tuple[str, str], ...]:
    """Every (workflow, state) of ``workflows`` whose first entry is a publication
    (:func:`published_states`), the handlers' effects united over all of them as loading
    does; a workflow id given in several versions gets the states of each, sorted."""
    listed = list(workflows)
    shared = handler_effects(listed)
    pairs = {(w.definition.id, s) for w in listed for s in published_states(w, shared)}
    return tuple(sorted(pairs))


def first_publications(facts: Facts, sources: Sequence[tuple[str, str]]) -> list[First]:
    """Each item's first entry into any of its workflow's publication states in
    ``sources``, oldest first (an item entering two of them counts once, at the first)."""
    first: dict[int, First] = {}
    for workflow, state in sources:
        for entry in facts.firsts(workflow, state):
            if entry.item not in first or entry.at < first[entry.item].at:
                first[entry.item] = entry
    return sorted(first.values(), key=lambda f: (f.at, f.item))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def self_media_year(facts: Facts, period: Period, sources: Sources = Sources()) -> Figures:
    """INS-7: the year's publications as the engine recorded them (first entry into
    ``published``), per account and channel; the reads and the publications the monthly
    statistics (INS-5, confirmed) reported, and the followers of each platform in the
    latest month; the months covered; and, when the year had adopted targets, each
    target and whether it was met."""
    zone = ZoneInfo(sources.timezone)
    pubs = [f for f in first_publications(facts, sources.publications) if period.holds(f.at)]
    monthly: dict[str, First] = {}
    for f in facts.firsts(sources.statistics, sources.statistics_done):
        moment = read_moment(f.data.get("scheduled_for"))
        when = moment if isinstance(moment, dt.datetime) else f.at
        if period.holds(when):
            monthly[_month(when, zone)] = f  # a month confirmed twice: the later counts
    followers: dict[str, int] = {}
    if monthly:
        latest = monthly[max(monthly)].data
        for platform in as_list(latest.get("platforms")):
            if platform in PLATFORMS:
                followers[platform] = _int(latest.get(f"followers_{platform}"))
    values: dict[str, Any] = {
        "period": period.label,
        "publications": len(pubs),
        "publications_by_account": _sorted(
            Counter(a for f in pubs for a in dict.fromkeys(as_list(f.data.get("accounts"))))
        ),
        "publications_by_channel": _sorted(
            Counter(c for f in pubs for c in dict.fromkeys(as_list(f.data.get("channels"))))
        ),
        "months_reported": sorted(monthly),
        "publications_reported_monthly": sum(
            _int(f.data.get("publications")) for f in monthly.values()
        ),
        "reads": sum(_int(f.data.get("reads")) for f in monthly.values()),
        "followers_by_platform": followers,
        "followers": sum(followers.values()),
    }
    targets = facts.records(sources.targets, [sources.targets_adopted], "year", period.label)
    if targets:
        target = targets[-1]
        for name in ("publications", "reads", "followers"):
            wanted = _int(target.get(f"target_{name}"))
            values[f"target_{name}"] = wanted
            values[f"met_{name}"] = values[name] >= wanted
    return Figures(values, empty=not (pubs or monthly or targets))


Computation = Callable[[Facts, Period, Sources], Figures]

COMPUTATIONS: dict[str, Computation] = {
    "complaint_statistics": complaint_statistics,
    "self_media_year": self_media_year,
}
"""The figures a ``confirm_figures`` rule may compute, by name."""

FIGURE_NAMES: dict[str, frozenset[str]] = {
    "complaint_statistics": frozenset(
        {"received", "closed", "open", "closed_in_time", "closed_late"}
    ),
    "self_media_year": frozenset(
        {"publications", "publications_reported_monthly", "reads", "followers"}
    ),
}
"""The single-number figures of each computation a typed form field may be matched to."""


def _show(values: Mapping[str, Any]) -> str:
    parts = []
    for key, value in values.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


class FiguresRule(StepRule):
    """Named steps record figures computed from the store, and are refused unless the
    person confirms them; a typed figure that differs from the computed one is refused."""

    kind = "confirm_figures"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        computation: str,
        period: str,
        record: str,
        confirm: str,
        matches: Mapping[str, str],
        reason: Label | None,
        sources: Sources = Sources(),
        *,
        confirm_when_empty: bool = True,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.computation = computation
        self.period = period
        self.record = record
        self.confirm = confirm
        self.matches = dict(matches)
        self.sources = sources
        self.confirm_when_empty = confirm_when_empty

    def applies(self, request: Request) -> bool:
        # asked ahead of the form (Engine.allowed), the confirmation is not there yet
        return self.at_step(request) and not (request.probe and self.confirm in request.form_spec)

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.at(state, trigger)

    def compute(self, request: Request, facts: Facts) -> Figures:
        """The figures at ``request``'s step, over its period."""
        period = period_of(self.period, anchor_of(request), self.sources.timezone)
        return COMPUTATIONS[self.computation](facts, period, self.sources)

    def verdict(self, request: Request, facts: Facts) -> tuple[Denial | None, Figures]:
        """The refusal (None: it passes) and the figures to record with the step."""
        figures = self.compute(request, facts)
        values = figures.values
        wrong = [
            (field, request.form.get(field), values[name])
            for field, name in self.matches.items()
            if request.form.get(field) is not None and request.form.get(field) != values[name]
        ]
        if wrong:
            each = (
                tr("{field} {typed} typed, {found} in the store", field=f, typed=t, found=v)
                for f, t, v in wrong
            )
            return (
                self.deny(
                    tr(
                        "{wrong}: the figures are computed from the engine's own records, not "
                        "typed in ({figures})",
                        wrong=in_turn(each),
                        figures=_show(values),
                    )
                ),
                figures,
            )
        needed = self.confirm_when_empty or not figures.empty
        if request.form.get(self.confirm) is not True and needed:
            return (
                self.deny(
                    tr(
                        "confirm the figures computed from the engine's records ({field}: "
                        "true): {figures}",
                        field=self.confirm,
                        figures=_show(values),
                    )
                ),
                figures,
            )
        return None, figures

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        return self.verdict(request, facts)[0]

    def describe(self) -> Text:
        matches = NO_TEXT
        if self.matches:
            matches = tr(" or when {fields} differ from them", fields=joined(self.matches))
        return tr(
            "records {computation} computed from the store over the {period} as "
            "data.{record}; refused unless form.{confirm} confirms them{matches}",
            computation=self.computation,
            period=self.period,
            record=self.record,
            confirm=self.confirm,
            matches=matches,
        )
