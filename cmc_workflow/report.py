"""Operational figures from the history (RPT-1, CMT-7, TRN-5): what ``cmc-workflow report``
prints.

:func:`build_report` reads the store once (one read transaction, the queries of
:mod:`cmc_workflow.store.reports`) and computes six sections, each a tuple of frozen
dataclasses:

=================  =========================================================================
``items``          items per workflow and state, open and closed (:class:`StateCount`)
``sla``            SLA clocks per workflow and month: met, breached, running, overdue
                   (:class:`SlaMonth`)
``first_reply``    time from an item's start to its first ``reply`` (CMT-7), overall and
                   per ``category`` (:class:`ReplyTimes`)
``overdue``        open items past due, per assigned person or else per role
                   (:class:`OverdueWork`)
``publications``   publications per channel and month (:class:`ChannelMonth`)
``certification``  the share of staff holding a valid certificate, against the 50% floor
                   (TRN-5, :class:`CertifiedStaff`)
=================  =========================================================================

The period (``since <= t < until``, either open) selects items by their start
(``items``, ``first_reply``), clocks by their stop or else their due time (``sla``) and
publications by their time; ``overdue`` and ``certification`` are snapshots as of
``now``. Months are reckoned in the calendar's time zone (Asia/Shanghai by default).
Workflows that have no item in the database simply give empty sections.

``docs/reports.md`` explains every figure.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks.deadlines import working_time_between
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.forms import read_moment
from cmc_workflow.engine import Engine
from cmc_workflow.registry import Registry
from cmc_workflow.store import Store, StoreTx
from cmc_workflow.store import reports as sql

SECTIONS: tuple[str, ...] = (
    "items",
    "sla",
    "first_reply",
    "overdue",
    "publications",
    "certification",
)
"""The section names, in the order a report shows them."""

ALL = "(all)"
"""The ``category`` of the first-reply row over every item."""
UNCATEGORIZED = "(none)"
"""The ``category`` of items whose data has no category."""
NOBODY = "(nobody)"
"""The owner of overdue work in a state where no role may act (a serviceTask)."""


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """Which workflows, states, triggers and fields the sections read (the conventions of
    the bundled workflows by default)."""

    reply_workflow: str = "comments"
    reply_triggers: tuple[str, ...] = ("reply",)
    received_field: str | None = "received_at"
    """A datetime data field saying when the message arrived; the wait counts from it when
    it is earlier than the item's start (a message registered late), as the CMT-2 clock's
    ``counts_from`` does."""
    category_field: str = "category"
    publishing_workflow: str = "publishing"
    published_state: str = "published"
    channels_field: str = "channels"
    training_workflow: str = "training"
    passed_state: str = "passed"
    trainee_field: str = "trainee"
    certificate_field: str = "certificate"
    valid_until_field: str = "valid_until"
    left_states: tuple[str, ...] = ("left_post",)
    """States of a record saying its trainee left: a person whose latest record rests in
    one is no longer staff."""
    certified_floor: float = 0.5


# -- the sections ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateCount:
    """How many items of ``workflow`` rest in ``state``."""

    workflow: str
    state: str
    label: str
    open: int
    closed: int


@dataclass(frozen=True, slots=True)
class SlaMonth:
    """The SLA clocks of ``workflow`` whose month (of the stop, or else of the due time)
    is ``month`` (``YYYY-MM``): stopped in time (``met``) or late (``breached``), still
    running within their time (``running``, including warned and paused clocks) or past
    due and not stopped (``overdue``)."""

    workflow: str
    month: str
    met: int
    breached: int
    running: int
    overdue: int

    @property
    def compliance(self) -> float | None:
        """``met / (met + breached)`` over the stopped clocks, or None without any."""
        done = self.met + self.breached
        return round(self.met / done, 4) if done else None


@dataclass(frozen=True, slots=True)
class ReplyTimes:
    """Time from an item's start to its first reply (CMT-7), in calendar hours and in
    working hours (business hours of working days), for the items of ``workflow`` in
    ``category`` (:data:`ALL` for every item). ``unanswered`` items have no reply;
    ``waiting`` of them are still open."""

    workflow: str
    category: str
    items: int
    answered: int
    unanswered: int
    waiting: int
    median_hours: float | None
    p90_hours: float | None
    max_hours: float | None
    median_working_hours: float | None
    p90_working_hours: float | None
    max_working_hours: float | None


@dataclass(frozen=True, slots=True)
class OverdueWork:
    """Open items past due waiting on one person (``kind`` ``person``: the state's
    assignee field names them) or one role (``kind`` ``role``: nobody is assigned)."""

    kind: str
    owner: str
    items: int
    oldest_due_at: dt.datetime
    oldest_item_id: int
    workflows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChannelMonth:
    """How many items were published to ``channel`` in ``month`` (``YYYY-MM``)."""

    month: str
    channel: str
    publications: int


@dataclass(frozen=True, slots=True)
class CertifiedStaff:
    """TRN-5: of the ``staff`` (distinct trainees of ``workflow``), how many hold a valid
    certificate on ``as_of``, and whether that share reaches ``floor``."""

    workflow: str
    as_of: dt.date
    staff: int
    certified: int
    ratio: float
    floor: float
    meets_floor: bool


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one report; sections not asked for are empty."""

    generated_at: dt.datetime
    since: dt.datetime | None
    until: dt.datetime | None
    timezone: str
    sections: tuple[str, ...]
    items: tuple[StateCount, ...] = ()
    sla: tuple[SlaMonth, ...] = ()
    first_reply: tuple[ReplyTimes, ...] = ()
    overdue: tuple[OverdueWork, ...] = ()
    publications: tuple[ChannelMonth, ...] = ()
    certification: tuple[CertifiedStaff, ...] = ()

    def rows(self, section: str) -> list[dict[str, Any]]:
        """The rows of ``section`` as flat mappings (field name -> value), computed
        properties included (``compliance`` of :class:`SlaMonth`), for tables and CSV."""
        if section not in SECTIONS:
            raise ValueError(f"no section {section!r}; sections: {', '.join(SECTIONS)}")
        out = []
        for row in getattr(self, section):
            values = {f.name: getattr(row, f.name) for f in fields(row)}
            if isinstance(row, SlaMonth):
                values["compliance"] = row.compliance
            out.append(values)
        return out


ROW_TYPES: dict[str, type] = {
    "items": StateCount,
    "sla": SlaMonth,
    "first_reply": ReplyTimes,
    "overdue": OverdueWork,
    "publications": ChannelMonth,
    "certification": CertifiedStaff,
}
"""The row type of each section."""


def columns(section: str) -> list[str]:
    """The column names of ``section``'s rows, as :meth:`Report.rows` gives them."""
    if section not in ROW_TYPES:
        raise ValueError(f"no section {section!r}; sections: {', '.join(SECTIONS)}")
    names = [f.name for f in fields(ROW_TYPES[section])]
    return [*names, "compliance"] if section == "sla" else names


# -- building a report -------------------------------------------------------------------------
def build_report(
    source: Engine | Store,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    sections: Iterable[str] = SECTIONS,
    calendar: WorkingCalendar | None = None,
    now: dt.datetime | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """The report of ``sections`` over ``since <= t < until`` (aware datetimes, either
    may be None).

    ``source`` is an engine (its store, definitions, clock and the calendar of its
    :class:`~cmc_workflow.clocks.Clocks`) or a bare store (definitions are compiled from
    the versions stored with the items; ``now`` defaults to the system clock).
    ``calendar`` gives the time zone of the months and the working hours of the first
    replies (default: the engine's, else the official calendar with default settings).
    """
    asked = set(sections)
    wanted = tuple(s for s in SECTIONS if s in asked)
    unknown = asked - set(SECTIONS)
    if unknown:
        raise ValueError(f"no section {sorted(unknown)}; sections: {', '.join(SECTIONS)}")
    for bound in (since, until, now):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("report times must be aware datetimes")
    opts = options or ReportOptions()
    if isinstance(source, Engine):
        store, registry = source.store, source.definitions
        now = now or source.clock()
        calendar = calendar or _engine_calendar(source)
    else:
        store = source
        now = now or dt.datetime.now(dt.UTC)
        registry = Registry(store, lambda: dt.datetime.now(dt.UTC))  # registers nothing
    calendar = calendar or WorkingCalendar()
    months = _Months(calendar)
    built: dict[str, Any] = {}
    with store.read() as tx:
        if "items" in wanted:
            built["items"] = _items(tx, registry, since, until)
        if "sla" in wanted:
            built["sla"] = _sla(tx.sla_clocks(since, until), now, months)
        if "first_reply" in wanted:
            rows = tx.first_replies(
                opts.reply_workflow,
                opts.reply_triggers,
                opts.category_field,
                since,
                until,
                opts.received_field,
            )
            built["first_reply"] = _first_reply(opts.reply_workflow, rows, calendar)
        if "overdue" in wanted:
            built["overdue"] = _overdue(tx, registry, tx.overdue_items(now))
        if "publications" in wanted:
            rows_ = tx.first_entries(opts.publishing_workflow, opts.published_state, since, until)
            built["publications"] = _publications(rows_, opts.channels_field, months)
        if "certification" in wanted:
            records = tx.workflow_records(opts.training_workflow)
            built["certification"] = _certification(records, months.date(now), opts)
    return Report(
        generated_at=now,
        since=since,
        until=until,
        timezone=calendar.settings.timezone,
        sections=wanted,
        **built,
    )


def _engine_calendar(engine: Engine) -> WorkingCalendar | None:
    for extension in engine.extensions:
        if isinstance(extension, Clocks):
            return extension.calendar
    return None


class _Months:
    """Local months and dates in the calendar's time zone."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.tz = calendar.settings.tz

    def month(self, when: dt.datetime) -> str:
        local = when.astimezone(self.tz)
        return f"{local.year:04d}-{local.month:02d}"

    def date(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self.tz).date()


def _items(
    tx: StoreTx, registry: Registry, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[StateCount, ...]:
    out = []
    for row in tx.state_counts(since, until):
        state = registry.version(tx, row.definition_id).workflow.definition.states.get(row.state)
        label = state.label.zh if state is not None else row.state
        out.append(StateCount(row.workflow_id, row.state, label, row.open, row.closed))
    return tuple(out)


def _sla(
    rows: Sequence[sql.SlaClockRow], now: dt.datetime, months: _Months
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


def _first_reply(
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
        median, p90, longest = _summary([w.hours for w in members if w.hours is not None])
        w_median, w_p90, w_longest = _summary(
            [w.working_hours for w in members if w.working_hours is not None]
        )
        unanswered = [w for w in members if w.hours is None]
        out.append(
            ReplyTimes(
                workflow=workflow,
                category=category,
                items=len(members),
                answered=len(members) - len(unanswered),
                unanswered=len(unanswered),
                waiting=sum(1 for w in unanswered if not w.closed),
                median_hours=median,
                p90_hours=p90,
                max_hours=longest,
                median_working_hours=w_median,
                p90_working_hours=w_p90,
                max_working_hours=w_longest,
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


def _overdue(
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


def _publications(
    rows: Sequence[sql.PublicationRow], channels_field: str, months: _Months
) -> tuple[ChannelMonth, ...]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        channels = row.data.get(channels_field)
        names = channels if isinstance(channels, list) else [channels] if channels else []
        for channel in dict.fromkeys(str(c) for c in names) or [UNCATEGORIZED]:
            counts[(months.month(row.published_at), channel)] += 1
    return tuple(ChannelMonth(m, c, n) for (m, c), n in sorted(counts.items()))


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


def _certification(
    rows: Sequence[sql.RecordRow], as_of: dt.date, opts: ReportOptions
) -> tuple[CertifiedStaff, ...]:
    staff: set[str] = set()
    certified: set[str] = set()
    latest: dict[str, str] = {}
    for row in rows:  # oldest first
        trainee = row.data.get(opts.trainee_field)
        if trainee is None or str(trainee).strip() == "":
            continue
        person = str(trainee).strip()
        staff.add(person)
        latest[person] = row.state
        if (
            row.state == opts.passed_state
            and _filled(row.data.get(opts.certificate_field))
            and _valid_on(row.data.get(opts.valid_until_field), as_of)
        ):
            certified.add(person)
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
        ),
    )
