"""Each section's figures, computed from the rows of :mod:`cmc_workflow.store.reports`."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks.deadlines import working_time_between
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.forms import read_moment
from cmc_workflow.model import RESERVED_ROLE, normal_id
from cmc_workflow.policy.rules.figures import Figures, Period
from cmc_workflow.registry import Registry
from cmc_workflow.reports.model import (
    ALL,
    NOBODY,
    UNCATEGORIZED,
    Appraisal,
    CertifiedStaff,
    ChannelMonth,
    ContentTypeMonth,
    FigureRow,
    OverdueWork,
    ReplyTimes,
    ReportOptions,
    ShouldWarnings,
    SlaMonth,
    StateCount,
)
from cmc_workflow.store import StoreTx
from cmc_workflow.store import reports as sql


class Months:
    """Local months and dates in the calendar's time zone."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.tz = calendar.settings.tz

    def month(self, when: dt.datetime) -> str:
        local = when.astimezone(self.tz)
        return f"{local.year:04d}-{local.month:02d}"

    def date(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self.tz).date()


def items_section(
    tx: StoreTx, registry: Registry, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[StateCount, ...]:
    out = []
    for row in tx.state_counts(since, until):
        state = registry.version(tx, row.definition_id).workflow.definition.states.get(row.state)
        zh, en = (state.label.zh, state.label.en) if state is not None else (row.state, row.state)
        out.append(StateCount(row.workflow_id, row.state, zh, row.open, row.closed, en))
    return tuple(out)


def sla_section(
    rows: Sequence[sql.SlaClockRow], now: dt.datetime, months: Months
) -> tuple[SlaMonth, ...]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"met": 0, "breached": 0, "running": 0, "overdue": 0}
    )
    for row in rows:
        if row.status == sql.STOPPED and row.stopped_at is not None:
            kind = "breached" if row.outcome == "breached" else "met"
            when = row.stopped_at
        else:
            late = row.breached_at is not None or (row.status == sql.RUNNING and now > row.due_at)
            kind = "overdue" if late else "running"
            when = row.due_at
        counts[(row.workflow_id, months.month(when))][kind] += 1
    return tuple(SlaMonth(w, m, **c) for (w, m), c in sorted(counts.items()))


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600


def _p90(values: Sequence[float]) -> float:
    """The nearest-rank 90th percentile: the smallest value at or above 90% of them."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def _summary(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    return (
        round(statistics.median(values), 2),
        round(_p90(values), 2),
        round(max(values), 2),
    )


@dataclass(frozen=True, slots=True)
class _Reply:
    """One item's wait for its first reply (None: no reply yet)."""

    category: str | None
    closed: bool
    hours: float | None
    working_hours: float | None


def _received(row: sql.FirstReplyRow) -> dt.datetime:
    """When the wait for a reply began: the recorded receipt if earlier than the start."""
    received = read_moment(row.received)
    if isinstance(received, dt.datetime) and received < row.created_at:
        return received
    return row.created_at


def first_reply_section(
    workflow: str, rows: Sequence[sql.FirstReplyRow], calendar: WorkingCalendar
) -> tuple[ReplyTimes, ...]:
    if not rows:
        return ()
    waits = [
        _Reply(
            r.category,
            r.closed,
            _hours(r.first_reply_at - _received(r)),
            _hours(working_time_between(calendar, _received(r), r.first_reply_at)),
        )
        if r.first_reply_at is not None
        else _Reply(r.category, r.closed, None, None)
        for r in rows
    ]
    groups: dict[str, list[_Reply]] = {ALL: waits}
    if any(w.category for w in waits):
        for wait in waits:
            groups.setdefault(wait.category or UNCATEGORIZED, []).append(wait)
    out = []
    for category in [ALL, *sorted(k for k in groups if k != ALL)]:
        members = groups[category]
        unanswered = [w for w in members if w.hours is None]
        out.append(
            ReplyTimes(
                workflow,
                category,
                len(members),
                len(members) - len(unanswered),
                len(unanswered),
                sum(1 for w in unanswered if not w.closed),
                *_summary([w.hours for w in members if w.hours is not None]),
                *_summary([w.working_hours for w in members if w.working_hours is not None]),
            )
        )
    return tuple(out)


def owners(wf: CompiledWorkflow, state_name: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Who an item in ``state_name`` waits on, as ``(kind, owner)`` pairs: the people in
    the state's ``assignee`` field once it is filled, else the roles that may act there
    (the same rule as :meth:`Engine.inbox`), else :data:`NOBODY`."""
    state = wf.definition.states.get(state_name)
    if state is not None and state.assignee is not None:
        assigned = data.get(state.assignee)
        people = assigned if isinstance(assigned, list) else [assigned] if assigned else []
        if people:
            return [("person", str(p)) for p in dict.fromkeys(people)]
    roles = sorted({role for edge in wf.edges(state_name) for role in edge.roles})
    return [("role", role) for role in roles] or [("none", NOBODY)]


def overdue_section(
    tx: StoreTx, registry: Registry, rows: Sequence[sql.OverdueRow]
) -> tuple[OverdueWork, ...]:
    # rows come oldest due first, so the first row seen of an owner is its oldest
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        wf = registry.version(tx, row.definition_id).workflow
        for kind, owner in owners(wf, row.item_state, row.data):
            entry = found.setdefault(
                (kind, owner),
                {"items": set(), "oldest": row.due_at, "item": row.item_id, "wfs": set()},
            )
            entry["items"].add(row.item_id)
            entry["wfs"].add(row.workflow_id)
    out = [
        OverdueWork(
            kind=kind,
            owner=owner,
            items=len(entry["items"]),
            oldest_due_at=entry["oldest"],
            oldest_item_id=entry["item"],
            workflows=tuple(sorted(entry["wfs"])),
        )
        for (kind, owner), entry in found.items()
    ]
    return tuple(sorted(out, key=lambda o: (-o.items, o.oldest_due_at, o.kind, o.owner)))


def first_publications(
    tx: StoreTx,
    sources: Sequence[tuple[str, str]],
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[sql.PublicationRow]:
    """Each item's first entry into a publication state of its workflow (``sources``:
    (workflow, state) pairs), when it is in the period, oldest first. One query per pair;
    a workflow with two such states (renamed in a later version) is read whole and its
    items counted once, at their first entry into either."""
    per_workflow: dict[str, list[str]] = defaultdict(list)
    for workflow, state in sources:
        per_workflow[workflow].append(state)
    found: list[sql.PublicationRow] = []
    for workflow, states in per_workflow.items():
        if len(states) == 1:
            found += tx.first_entries(workflow, states[0], since, until)
            continue
        first: dict[int, sql.PublicationRow] = {}
        for state in states:
            for row in tx.first_entries(workflow, state):
                if row.item_id not in first or row.published_at < first[row.item_id].published_at:
                    first[row.item_id] = row
        found += [
            row
            for row in first.values()
            if (since is None or row.published_at >= since)
            and (until is None or row.published_at < until)
        ]
    return sorted(found, key=lambda r: (r.published_at, r.item_id))


def publications_section(
    rows: Sequence[sql.PublicationRow], channels_field: str, months: Months
) -> tuple[ChannelMonth, ...]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        channels = row.data.get(channels_field)
        names = channels if isinstance(channels, list) else [channels] if channels else []
        for channel in dict.fromkeys(str(c) for c in names) or [UNCATEGORIZED]:
            counts[(months.month(row.published_at), channel)] += 1
    return tuple(ChannelMonth(m, c, n) for (m, c), n in sorted(counts.items()))


def content_types_section(
    rows: Sequence[sql.PublicationRow], options: ReportOptions, months: Months
) -> tuple[ContentTypeMonth, ...]:
    """PRM-1: publications per account, month, content type and series (a piece naming no
    account counts under each of its channels)."""
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for row in rows:
        accounts = row.data.get(options.accounts_field)
        named = [str(a) for a in accounts] if isinstance(accounts, list) else []
        if not named:
            channels = row.data.get(options.channels_field)
            listed = channels if isinstance(channels, list) else [channels] if channels else []
            named = [f"channel:{c}" for c in listed] or [UNCATEGORIZED]
        kind = str(row.data.get(options.content_type_field) or "")
        series = str(row.data.get(options.series_field) or "")
        for account in dict.fromkeys(named):
            counts[(months.month(row.published_at), account, kind, series)] += 1
    return tuple(ContentTypeMonth(*key, n) for key, n in sorted(counts.items()))


def _filled(value: Any) -> bool:
    """A certificate is held when its field has a value: a non-blank text, a non-empty
    list or mapping (attachments), or any other value but false."""
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | dict):
        return bool(value)
    return value is not None and value is not False


def _valid_on(value: Any, day: dt.date) -> bool:
    """A ``valid_until`` value allows ``day`` when it is unset or a date not before it;
    an unreadable value does not (it cannot show that the certificate is valid)."""
    if value is None or value == "":
        return True
    try:
        until = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return False
    return until >= day


def certification_section(
    rows: Sequence[sql.RecordRow],
    as_of: dt.date,
    opts: ReportOptions,
    register: frozenset[str] | None = None,
) -> tuple[CertifiedStaff, ...]:
    """TRN-5 over the trainees of the records, or over ``register`` (the people holding a
    post on ``as_of``, normal ids) when given: the records then only say who is
    certified, and a registered person without any record counts as staff, uncertified."""
    staff: set[str] = set()
    certified: set[str] = set()
    latest: dict[str, str] = {}
    for row in rows:  # oldest first
        trainee = row.data.get(opts.trainee_field)
        if trainee is None or str(trainee).strip() == "":
            continue
        person = str(trainee).strip() if register is None else normal_id(str(trainee))
        staff.add(person)
        latest[person] = row.state
        if (
            row.state == opts.passed_state
            and _filled(row.data.get(opts.certificate_field))
            and _valid_on(row.data.get(opts.valid_until_field), as_of)
        ):
            certified.add(person)
    if register is not None:
        staff = set(register)  # the register says who the staff are (STF-1)
        certified &= staff
    else:
        gone = {person for person, state in latest.items() if state in opts.left_states}
        staff -= gone
        certified -= gone
    if not staff:
        return ()
    ratio = round(len(certified) / len(staff), 4)
    return (
        CertifiedStaff(
            workflow=opts.training_workflow,
            as_of=as_of,
            staff=len(staff),
            certified=len(certified),
            ratio=ratio,
            floor=opts.certified_floor,
            meets_floor=ratio >= opts.certified_floor,
            basis="records" if register is None else "register",
        ),
    )


def should_warnings_section(
    records: Iterable[Mapping[str, Any]],
    months: Months,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> tuple[ShouldWarnings, ...]:
    """The should-level warnings of the accepted commands audited in ``since <= at <
    until``, counted per requirement id, month, rule and workflow (a rule implementing
    two ids counts for each; one with none under ``(none)``)."""
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for record in records:
        detail = record.get("detail") or {}
        warnings = detail.get("warnings") if isinstance(detail, Mapping) else None
        if record.get("outcome") != "accepted" or not isinstance(warnings, list):
            continue
        at = record["at"]
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        month = months.month(at)
        for warning in warnings:
            if not isinstance(warning, Mapping):
                continue
            ids = warning.get("implements") or [UNCATEGORIZED]
            for requirement in dict.fromkeys(str(i) for i in ids):
                key = (requirement, month, str(warning.get("rule")), str(record["workflow_id"]))
                counts[key] += 1
    return tuple(
        ShouldWarnings(r, m, rule, wf, n) for (r, m, rule, wf), n in sorted(counts.items())
    )


DIMENSIONS: dict[str, str] = {
    "by_month": "month",
    "by_channel": "channel",
    "by_satisfaction": "satisfaction",
    "messages_by_category": "category",
    "publications_by_account": "account",
    "publications_by_channel": "channel",
    "followers_by_platform": "platform",
    "months_reported": "month",
}
"""The breakdowns of the computed figures, by the dimension their rows name."""


def figure_rows(period: Period, figures: Figures) -> tuple[FigureRow, ...]:
    """The figures of a ``confirm_figures`` computation as flat rows: single figures as
    ``total``, each breakdown under its dimension (a month reported counts 1); none when
    there was nothing to count."""
    if figures.empty:
        return ()
    out = []
    for name, value in figures.values.items():
        if name == "period":
            continue
        if isinstance(value, dict):
            dimension = DIMENSIONS.get(name, name)
            out += [FigureRow(period.label, dimension, str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            dimension = DIMENSIONS.get(name, name)
            out += [FigureRow(period.label, dimension, str(k), 1) for k in value]
        else:
            out.append(FigureRow(period.label, "total", name, value))
    return tuple(out)


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def appraisal_section(
    steps: Sequence[sql.StepRow], records: Sequence[sql.RecordRow], options: ReportOptions
) -> tuple[Appraisal, ...]:
    """STF-4 and TRN-6: per person (as people read ids), the steps they took and the SLA
    clocks those steps stopped, and their assessed training records; the engine's own
    steps (the reserved role) are nobody's work."""
    taken: dict[str, list[sql.StepRow]] = defaultdict(list)
    for step in steps:
        if RESERVED_ROLE not in step.roles:
            taken[normal_id(step.actor)].append(step)
    results: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    for record in records:  # oldest first
        result = record.data.get(options.result_field)
        trainee = record.data.get(options.trainee_field)
        if isinstance(trainee, str) and result in ("pass", "fail"):
            results[normal_id(trainee)].append(
                (str(result), _score(record.data.get(options.score_field)))
            )
    out = []
    for person in sorted(set(taken) | set(results)):
        mine = taken.get(person, [])
        met = sum(1 for s in mine if s.clock_outcome == "met")
        late = sum(1 for s in mine if s.clock_outcome == "breached")
        assessed = results.get(person, [])
        scores = [s for _, s in assessed if s is not None]
        out.append(
            Appraisal(
                person=person,
                steps=len(mine),
                items=len({s.item_id for s in mine}),
                clocks_met=met,
                clocks_breached=late,
                sla_kept=round(met / (met + late), 4) if met + late else None,
                assessments=len(assessed),
                passed=sum(1 for r, _ in assessed if r == "pass"),
                failed=sum(1 for r, _ in assessed if r == "fail"),
                mean_score=round(statistics.fmean(scores), 2) if scores else None,
                latest_score=scores[-1] if scores else None,
            )
        )
    return tuple(out)
