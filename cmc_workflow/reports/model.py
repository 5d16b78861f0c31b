"""The report model: its sections, options, row types and :class:`Report` itself.

Ten sections, each a tuple of frozen dataclasses:

=================  =========================================================================
``items``          items per workflow and state, open and closed (:class:`StateCount`)
``sla``            SLA clocks per workflow and month: met, breached, running, overdue
                   (:class:`SlaMonth`)
``first_reply``    time from an item's start to its first ``reply`` (CMT-7), overall and
                   per ``category`` (:class:`ReplyTimes`)
``overdue``        open items past due, per assigned person or else per role
                   (:class:`OverdueWork`)
``publications``   publications per channel and month, of every workflow that publishes
                   (:class:`ChannelMonth`)
``content_types``  publications per account (or channel), month, content type and series
                   (PRM-1, :class:`ContentTypeMonth`)
``certification``  the share of staff holding a valid certificate, against the 50% floor
                   (TRN-5, :class:`CertifiedStaff`)
``should_warnings``  should-level (宜) rules a command did not meet and that let it through,
                   per requirement id, month, rule and workflow (:class:`ShouldWarnings`)
``complaints``     RPT-3: the complaints received in the period, closed in time or late,
                   hours to close, per month, channel, outcome; messages per category
                   (:class:`FigureRow`)
``self_media_year``  INS-7: the publications the engine recorded per account and channel,
                   the reads and followers of the monthly statistics, last year's targets
                   met (:class:`FigureRow`)
``appraisal``      per person: steps taken, SLA clocks their steps stopped in time or late,
                   and their training assessments (STF-4, TRN-6, :class:`Appraisal`)
=================  =========================================================================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any

SECTIONS: tuple[str, ...] = (
    "items",
    "sla",
    "first_reply",
    "overdue",
    "publications",
    "content_types",
    "certification",
    "should_warnings",
    "complaints",
    "self_media_year",
    "appraisal",
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
    publishing_workflow: str | None = None
    """The one workflow whose publications are counted; None (the default): every
    workflow a stored definition version marks with the ``publication`` effect (issue
    17: a copy of the publishing workflow under another id counts too)."""
    published_state: str | None = None
    """The state whose first entry is a publication; None: the state the item enters once
    the ``publication`` effect was carried out (``published`` in the bundled workflow;
    ``published`` too for a named workflow that declares no effect)."""
    channels_field: str = "channels"
    accounts_field: str = "accounts"
    content_type_field: str = "content_type"
    series_field: str = "series"
    training_workflow: str = "training"
    passed_state: str = "passed"
    trainee_field: str = "trainee"
    certificate_field: str = "certificate"
    valid_until_field: str = "valid_until"
    result_field: str = "result"
    score_field: str = "score"
    left_states: tuple[str, ...] = ("left_post",)
    """States of a record saying its trainee left: a person whose latest record rests in
    one is no longer staff."""
    certified_floor: float = 0.5


NOT_A_COLUMN = {"column": False}
"""The metadata of a row field that :meth:`Report.rows` and :func:`columns` leave out."""


def _columns(row_type: Any) -> list[str]:
    return [f.name for f in fields(row_type) if f.metadata.get("column", True)]


# -- the sections ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateCount:
    """How many items of ``workflow`` rest in ``state``; ``label`` is the state's Chinese
    label, ``label_en`` its English one (for the table in English; no column of the CSV
    or JSON, see :data:`NOT_A_COLUMN`)."""

    workflow: str
    state: str
    label: str
    open: int
    closed: int
    label_en: str = field(default="", compare=False, metadata=NOT_A_COLUMN)


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
class ContentTypeMonth:
    """PRM-1: how many pieces of ``content_type`` in ``series`` went out through
    ``account`` in ``month`` (``YYYY-MM``). A piece named no account counts under each of
    its channels (``channel:pc``); a piece without a type or series counts under ``""``."""

    month: str
    account: str
    content_type: str
    series: str
    publications: int


@dataclass(frozen=True, slots=True)
class CertifiedStaff:
    """TRN-5: of the ``staff``, how many hold a valid certificate (a passed record of
    ``workflow``) on ``as_of``, and whether that share reaches ``floor``. ``basis`` says
    who the staff are: ``register`` (everybody holding a post in the staff register on
    ``as_of``, STF-1) when the register holds anybody, else ``records`` (the distinct
    trainees of ``workflow``)."""

    workflow: str
    as_of: dt.date
    staff: int
    certified: int
    ratio: float
    floor: float
    meets_floor: bool
    basis: str = "records"


@dataclass(frozen=True, slots=True)
class ShouldWarnings:
    """How many accepted commands in ``month`` (``YYYY-MM``) did not meet the should-level
    ``rule`` of ``workflow`` implementing ``requirement``: each was let through, with the
    warning in its audit record."""

    requirement: str
    month: str
    rule: str
    workflow: str
    warnings: int


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure computed from the store for ``period`` (the same figures a
    ``confirm_figures`` rule puts in front of the person who confirms them): ``dimension``
    ``total`` for a single figure named ``key``, else the breakdown (``month``,
    ``channel``, ``account``, ``platform``, ``satisfaction``, ``category``) and its
    ``key``."""

    period: str
    dimension: str
    key: str
    value: int | bool | None


@dataclass(frozen=True, slots=True)
class Appraisal:
    """The figures an appraisal (STF-4) scores one ``person`` on, computed from the store:
    the ``steps`` they took in the period (starts and fires, on ``items`` distinct items),
    of which ``clocks_met`` and ``clocks_breached`` stopped an SLA clock in time or late
    (``sla_kept``: met over both, None without any); and their training assessments to
    date (TRN-6): how many records were assessed, ``passed`` and ``failed``, the mean and
    the latest score."""

    person: str
    steps: int
    items: int
    clocks_met: int
    clocks_breached: int
    sla_kept: float | None
    assessments: int
    passed: int
    failed: int
    mean_score: float | None
    latest_score: float | None


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
    content_types: tuple[ContentTypeMonth, ...] = ()
    certification: tuple[CertifiedStaff, ...] = ()
    should_warnings: tuple[ShouldWarnings, ...] = ()
    complaints: tuple[FigureRow, ...] = ()
    self_media_year: tuple[FigureRow, ...] = ()
    appraisal: tuple[Appraisal, ...] = ()

    def rows(self, section: str) -> list[dict[str, Any]]:
        """The rows of ``section`` as flat mappings (field name -> value), computed
        properties included (``compliance`` of :class:`SlaMonth`), for tables and CSV."""
        if section not in SECTIONS:
            raise ValueError(f"no section {section!r}; sections: {', '.join(SECTIONS)}")
        out = []
        for row in getattr(self, section):
            values = {name: getattr(row, name) for name in _columns(row)}
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
    "content_types": ContentTypeMonth,
    "certification": CertifiedStaff,
    "should_warnings": ShouldWarnings,
    "complaints": FigureRow,
    "self_media_year": FigureRow,
    "appraisal": Appraisal,
}
"""The row type of each section."""


def columns(section: str) -> list[str]:
    """The column names of ``section``'s rows, as :meth:`Report.rows` gives them."""
    if section not in ROW_TYPES:
        raise ValueError(f"no section {section!r}; sections: {', '.join(SECTIONS)}")
    names = _columns(ROW_TYPES[section])
    return [*names, "compliance"] if section == "sla" else names
