"""The store port: typed rows and the protocols every store implements.
(Over 400 lines: every typed row and the documented contract of every store operation.)

What the engine writes travels as frozen ``New*`` rows (plus :class:`HistoryEntry`,
:class:`OutboxMessage`, :class:`AuditRecord`); what it reads comes back as frozen ``*Row``
dataclasses. :class:`StoreTx` is every operation the engine, the clocks, the schedules,
the policy extension, the reports and the CLI perform inside one transaction, all as
methods; :class:`StorePort` opens those transactions.

Implementations: :mod:`cmc_workflow.store.repository` (SQLite and PostgreSQL through
SQLAlchemy) and :mod:`cmc_workflow.store.memory` (pure Python, for tests and embedders).
The contract tests (``tests/contract``) run one body per behaviour on each of them.

This module imports the standard library and :mod:`cmc_workflow.errors` only: the domain
may import it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Protocol, TypeVar

# -- statuses ---------------------------------------------------------------------------
# timers
PENDING = "pending"
PAUSED = "paused"
FIRED = "fired"
CANCELLED = "cancelled"
STALE = "stale"
FAILED = "failed"
# clocks (also PAUSED)
RUNNING = "running"
STOPPED = "stopped"
# schedule occurrences (also FAILED)
CLAIMED = "claimed"
STARTED = "started"
MISSED = "missed"


# -- rows written -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to insert (the store gives it its id)."""

    workflow_id: str
    definition_id: int
    state: str
    data: dict[str, Any]
    visit: int
    seq: int
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None
    parent_id: int | None = None
    facts: dict[str, Any] | None = None
    """What extensions keep about the item (:meth:`StoreTx.item_facts`)."""


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    """An item's new state, written only over the version it was read at."""

    state: str
    data: dict[str, Any]
    visit: int
    seq: int
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None
    facts: dict[str, Any] | None = None
    """The item's new facts (:meth:`StoreTx.item_facts`); None keeps the stored ones."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One accepted step of an item; the store chains it (``prev_hash``, ``hash``)."""

    item_id: int
    seq: int
    at: dt.datetime
    kind: str
    trigger: str | None
    from_state: str | None
    to_state: str
    visit: int
    actor: str
    roles: list[str]
    form: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A side effect to deliver after commit, at least once, under its idempotency key."""

    item_id: int | None
    kind: str
    name: str
    payload: dict[str, Any]
    idempotency_key: str
    created_at: dt.datetime
    available_at: dt.datetime
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record; the store puts it on its chain (``chain``, ``chain_seq``, hashes)."""

    at: dt.datetime
    actor: str
    roles: list[str]
    command: str
    workflow_id: str | None
    item_id: int | None
    trigger: str | None
    outcome: str
    rule: str | None
    reason: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewTimer:
    """A durable timer to arm, fenced by the item's state visit."""

    item_id: int
    clock_id: int | None
    state: str
    visit: int
    step: int
    action: str
    role: str | None
    trigger: str | None
    due_at: dt.datetime
    created_at: dt.datetime
    status: str = PENDING
    done_at: dt.datetime | None = None
    runner: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NewClock:
    """An SLA clock to start."""

    item_id: int
    workflow_id: str
    state: str
    at_state: str
    visit: int
    status: str
    within: str
    started_at: dt.datetime
    due_at: dt.datetime
    warn_at: dt.datetime | None
    rule: str
    calendar_version: str
    provisional: bool
    detail: dict[str, Any] = field(default_factory=dict)
    paused_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    warned_at: dt.datetime | None = None
    escalated_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    outcome: str | None = None


# -- the query API and API tokens (issue 15) ----------------------------------------------
# ``ItemFilter`` is what ``StoreTx.find_items`` answers: every condition is optional and
# they combine with AND; rows come sorted by ``sort`` then ``id`` (ascending or
# descending), after the keyset position ``after`` (the sort value and id of the last row
# of the previous page), at most ``limit`` of them. The engine (engine/queries.py) turns
# a role queue, an assignee and an SLA question into these conditions with the workflow
# definitions; the store knows no definitions. SQL: store/finding_sql.py; memory:
# store/memory_finding.py; tests/contract/test_finding.py holds them to the same answers:
# - ``data`` compares top-level fields by JSON equality ("1" is not 1, true is not 1);
# - ``title`` is a substring of the text field ``title``, ignoring ASCII case;
# - ``people`` match an ``assigned`` field holding one of them, or a list holding one;
# - ``due_before``: a running clock of the item is due before that time; ``sla``:
#   ``running``/``paused`` (a clock in that status), ``warned`` (warned, not stopped),
#   ``breached`` (breached, stopped or not), ``met`` (stopped in time).

SORTS = ("created_at", "updated_at", "id")
"""The columns items can be sorted by (then by id)."""
SLA_STATUSES = ("running", "paused", "warned", "breached", "met")
"""The SLA questions :class:`ItemFilter` answers."""
MAX_LIMIT = 1000
"""The most rows one page may ask for."""


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items to find, in which order, from where (see the comment above)."""

    workflows: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] | None = None
    """(workflow, state) the item must rest in (a role queue); None: anywhere, (): nowhere."""
    assigned: tuple[tuple[str, str, str], ...] | None = None
    """(workflow, state, field) naming the people of ``people``; None: no assignee asked."""
    people: tuple[str, ...] = ()
    open: bool | None = None
    due_before: dt.datetime | None = None
    sla: str | None = None
    data: tuple[tuple[str, Any], ...] = ()
    created_from: dt.datetime | None = None
    created_until: dt.datetime | None = None
    updated_from: dt.datetime | None = None
    updated_until: dt.datetime | None = None
    title: str | None = None
    parent_id: int | None = None
    sort: str = "created_at"
    descending: bool = False
    after: tuple[Any, int] | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort by one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.sla is not None and self.sla not in SLA_STATUSES:
            raise ValueError(f"sla is one of {', '.join(SLA_STATUSES)}, not {self.sla!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit is 1..{MAX_LIMIT}, not {self.limit}")
        for when in (self.created_from, self.created_until, self.updated_from):
            if when is not None and when.tzinfo is None:
                raise ValueError("filter times must be aware datetimes")
        for when in (self.updated_until, self.due_before):
            if when is not None and when.tzinfo is None:
                raise ValueError("filter times must be aware datetimes")


@dataclass(frozen=True, slots=True)
class ConsolePasswordRow:
    """A person's console password as stored: an scrypt hash in the form
    ``scrypt$n$r$p$salt$hash`` (:mod:`cmc_workflow.console.passwords`), never the password."""

    person_id: str
    password_hash: str
    set_at: dt.datetime
    set_by: str


@dataclass(frozen=True, slots=True)
class ConsoleSessionRow:
    """A signed-in console session: ``key`` is the SHA-256 of the cookie's secret (the
    cookie itself is never stored); ``csrf`` the token every form of the session carries."""

    key: str
    person_id: str
    csrf: str
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """An API token to store: its public key and the SHA-256 of its secret, never the
    secret itself."""

    key: str
    secret_hash: str
    system: str
    label: str
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token as stored."""

    key: str
    secret_hash: str
    system: str
    label: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


# -- rows read --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item as stored."""

    id: int
    workflow_id: str
    definition_id: int
    state: str
    data: dict[str, Any]
    visit: int
    seq: int
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class DefinitionRow:
    """A stored definition version."""

    id: int
    workflow_id: str
    revision: int
    version_label: int | None
    content_hash: str
    source_file: str
    source_text: str
    loaded_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A side effect waiting for (or done with) delivery."""

    id: int
    item_id: int | None
    kind: str
    name: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    available_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A durable timer: when it is due, what it does, and the state visit that fences it."""

    id: int
    item_id: int
    clock_id: int | None
    state: str
    visit: int
    step: int
    action: str
    role: str | None
    trigger: str | None
    due_at: dt.datetime
    status: str
    created_at: dt.datetime
    done_at: dt.datetime | None
    runner: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ClockRow:
    """An SLA clock as stored (see :class:`cmc_workflow.clocks.ClockView` for its status)."""

    id: int
    item_id: int
    workflow_id: str
    state: str
    at_state: str
    visit: int
    status: str
    within: str
    started_at: dt.datetime
    due_at: dt.datetime
    warn_at: dt.datetime | None
    rule: str
    calendar_version: str
    provisional: bool
    paused_at: dt.datetime | None
    stopped_at: dt.datetime | None
    warned_at: dt.datetime | None
    escalated_at: dt.datetime | None
    breached_at: dt.datetime | None
    outcome: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed timer with what firing it needs to know: where its item is now (the
    fence) and the state of its clock."""

    timer: TimerRow
    workflow_id: str
    item_state: str
    item_visit: int
    item_closed: bool
    clock_status: str | None
    clock_state: str | None
    clock_within: str | None
    clock_due_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RunRow:
    """One occurrence of a periodic schedule: started (with its item), missed or failed."""

    id: int
    schedule_id: str
    due_at: dt.datetime
    status: str
    item_id: int | None
    runner: str | None
    claimed_until: dt.datetime | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CursorRow:
    """How far a schedule's occurrences have been handled."""

    schedule_id: str
    since: dt.datetime
    last_due: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RunnerRow:
    """A daemon's heartbeat."""

    runner: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    detail: dict[str, Any]


# -- report rows (``cmc-workflow report``) ----------------------------------------------
@dataclass(frozen=True, slots=True)
class StateCountRow:
    """How many items of a workflow rest in one state, open and closed."""

    workflow_id: str
    state: str
    open: int
    closed: int
    definition_id: int
    """The newest definition version among those items (for the state's label)."""


@dataclass(frozen=True, slots=True)
class SlaClockRow:
    """The facts of one SLA clock a report needs to classify it."""

    workflow_id: str
    status: str
    outcome: str | None
    due_at: dt.datetime
    breached_at: dt.datetime | None
    stopped_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class FirstReplyRow:
    """An item and the time of its first reply, if any."""

    item_id: int
    created_at: dt.datetime
    closed: bool
    category: str | None
    first_reply_at: dt.datetime | None
    received: str | None = None
    """The item's own receipt time as stored (ISO text), when it records one."""


@dataclass(frozen=True, slots=True)
class OverdueRow:
    """An open item with a clock past its due time."""

    item_id: int
    workflow_id: str
    definition_id: int
    item_state: str
    data: dict[str, Any]
    clock_state: str
    due_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PublicationRow:
    """An item and when it first entered the published state."""

    item_id: int
    published_at: dt.datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StepRow:
    """One step a person took (a start or a fire, from the history) and, when the step
    left a state whose SLA clock it stopped, that clock's outcome (``met`` or
    ``breached``; None when it stopped none). The appraisal (STF-4) counts them."""

    actor: str
    roles: tuple[str, ...]
    workflow_id: str
    item_id: int
    at: dt.datetime
    clock_outcome: str | None


@dataclass(frozen=True, slots=True)
class RecordRow:
    """An item's state and data (training records)."""

    item_id: int
    state: str
    data: dict[str, Any]


# -- notifications to people (issue 14, part 4) --------------------------------------------
@dataclass(frozen=True, slots=True)
class NewNotice:
    """One delivery of a notification to one recipient by one transport; ``key`` is unique
    (the source's idempotency key + recipient + transport), so writing it twice writes once."""

    key: str
    item_id: int | None
    event: str
    role: str | None
    person_id: str | None
    transport: str
    address: str
    payload: dict[str, Any]
    available_at: dt.datetime
    created_at: dt.datetime
    status: str = "pending"
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A notice as stored (``status``: ``pending``, ``sent`` or ``dead``)."""

    id: int
    key: str
    item_id: int | None
    event: str
    role: str | None
    person_id: str | None
    transport: str
    address: str
    payload: dict[str, Any]
    status: str
    attempts: int
    available_at: dt.datetime
    claimed_by: str | None
    claim_until: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NoticeAttemptRow:
    """One attempt to send a notice: when, by which transport, the result and the error."""

    id: int
    notice_id: int
    at: dt.datetime
    transport: str
    result: str
    error: str | None


# -- outbound webhooks for host systems (issue 15, part 4) ---------------------------------
@dataclass(frozen=True, slots=True)
class NewSubscription:
    """A host system's webhook subscription to store. ``events`` and ``workflows`` filter
    what it receives (empty: everything); ``secret`` is the signing secret as stored
    (see :mod:`cmc_workflow.webhooks.secrets`)."""

    url: str
    events: list[str]
    workflows: list[str]
    secret: str
    label: str
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """A webhook subscription as stored; ``removed_at`` set: it receives nothing more."""

    id: int
    url: str
    events: list[str]
    workflows: list[str]
    secret: str
    label: str
    created_at: dt.datetime
    created_by: str
    removed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NewHookDelivery:
    """One event to deliver to one subscription; ``event_id`` is the same for every
    subscription and every attempt (the host's de-duplication key)."""

    subscription_id: int
    event_id: str
    event: str
    item_id: int | None
    payload: dict[str, Any]
    available_at: dt.datetime
    created_at: dt.datetime
    status: str = "pending"
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class HookDeliveryRow:
    """A webhook delivery as stored (``status``: ``pending``, ``sent``, ``dead`` or
    ``cancelled`` when its subscription was removed)."""

    id: int
    subscription_id: int
    event_id: str
    event: str
    item_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    available_at: dt.datetime
    claimed_by: str | None
    claim_until: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class HookAttemptRow:
    """One attempt to deliver a webhook: when, the result, the HTTP status, the error."""

    id: int
    delivery_id: int
    at: dt.datetime
    result: str
    status_code: int | None
    error: str | None


# -- the staff register (STF-1, issue 14) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class PersonRow:
    """A person of the staff register (written as is; ``person_id`` is a normal id)."""

    person_id: str
    name: str
    employee_no: str | None
    email: str | None
    mobile: str | None
    wecom: str | None
    dingtalk: str | None
    education: str | None
    experience_years: float | None
    joined_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post to give a person: a role held in a scope (``channels``, ``applications``,
    ``branch``) from ``starts_on`` until ``ends_on`` (inclusive; None: open-ended)."""

    person_id: str
    post: str
    role: str
    scope: dict[str, Any]
    starts_on: dt.date
    ends_on: dt.date | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PostRow:
    """A post of a person as stored."""

    id: int
    person_id: str
    post: str
    role: str
    scope: dict[str, Any]
    starts_on: dt.date
    ends_on: dt.date | None
    created_at: dt.datetime

    def active_on(self, day: dt.date) -> bool:
        """Whether the post is held on ``day`` (start and end days included)."""
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


# -- task operations and leave cover (STF-5, issue 14 part 3) ------------------------------
@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """Who holds an item's user task: valid while the item is in ``state`` at ``visit``
    (an item that moved on is back in its next state's queue); ``assignee`` None: the
    role's queue; ``delegated_by``: the person it goes back to on hand-back."""

    item_id: int
    state: str
    visit: int
    assignee: str | None
    delegated_by: str | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewLeave:
    """A person's leave, ``starts_on`` to ``ends_on`` inclusive, and the named cover."""

    person_id: str
    starts_on: dt.date
    ends_on: dt.date
    substitute: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LeaveRow:
    """A leave as stored; ``covered_at``: when its open work was moved (None: not yet)."""

    id: int
    person_id: str
    starts_on: dt.date
    ends_on: dt.date
    substitute: str | None
    created_at: dt.datetime
    covered_at: dt.datetime | None


# -- conversions ------------------------------------------------------------------------
_Row = TypeVar("_Row")

CLOCK_COLUMNS = frozenset(f.name for f in fields(ClockRow)) - {"id"}
"""The columns :meth:`StoreTx.update_clock` may write."""
TIMER_COLUMNS = frozenset(f.name for f in fields(TimerRow)) - {"id", "item_id", "clock_id"}
"""The columns :meth:`StoreTx.set_clock_timers` may write."""
PERSON_COLUMNS = frozenset(f.name for f in fields(PersonRow)) - {"person_id", "created_at"}
"""The columns :meth:`StoreTx.update_person` may write."""
MARKS = frozenset({"warned_at", "escalated_at", "breached_at"})
"""The columns :meth:`StoreTx.mark_clock_once` sets."""


def typed(kind: type[_Row], value: _Row | Mapping[str, Any]) -> _Row:
    """``value`` as a ``kind`` row: the row itself, or built from a mapping of its fields
    (the untyped dicts callers wrote before the port; an unknown key is a TypeError)."""
    if isinstance(value, kind):
        return value
    assert isinstance(value, Mapping)
    return kind(**value)


def values_of(row: Any) -> dict[str, Any]:
    """A row's fields as a dict (shallow: JSON values are shared, not copied)."""
    return {name: getattr(row, name) for name in row.__slots__}


def clock_late(row: ClockRow, at: dt.datetime) -> bool:
    """Whether a clock stopped at ``at`` is breached: a breach was recorded already, or it
    runs and was due before ``at`` (an act at the due instant is in time)."""
    return row.breached_at is not None or (row.status == RUNNING and at > row.due_at)


def stop_leaving(
    stop_clock: Callable[..., int],
    rows: list[ClockRow],
    keep: Sequence[str],
    now: dt.datetime,
    at: dt.datetime,
) -> list[ClockRow]:
    """:meth:`StoreTx.stop_clocks_leaving` with the clocks ``rows`` read: one
    ``stop_clock`` (a store's :meth:`StoreTx.stop_clock`) per clock not kept."""
    for row in rows:
        if row.state not in keep:
            late = clock_late(row, at)
            recorded = late and row.breached_at is None
            stop_clock(row.id, "breached" if late else "met", now, breached=recorded)
    return rows


def row_values(kind: type[Any], value: Any) -> dict[str, Any]:
    """``values_of(typed(kind, value))``, without building the row from a mapping: the
    same dict (fields in the row's order, defaults filled in), the same TypeError for an
    unknown or a missing field. A store writes a few rows per command, and a frozen
    dataclass costs a few microseconds to build (issue 12)."""
    if type(value) is not dict:  # (a plain dict, the usual row, is never a ``kind``)
        if isinstance(value, kind):
            return values_of(value)
        assert isinstance(value, Mapping)
    shape = _SHAPES.get(kind)
    if shape is None:
        shape = _SHAPES[kind] = _shape_of(kind)
    names, required, defaults = shape
    if len(value) == len(names):
        if tuple(value) == kind.__slots__:  # every field, in the row's order: a copy
            return dict(value)
        # as many keys as fields, each field found: every field given, nothing else
        try:
            return {name: value[name] for name in kind.__slots__}
        except KeyError:  # one missing, so one unknown: the checks below name it
            pass
    if not (value.keys() <= names and required <= value.keys()):
        kind(**value)  # raises the TypeError that names the field
    return {
        name: value[name] if name in value else _default(defaults[name]) for name in kind.__slots__
    }


_Default = tuple[Callable[[], Any] | None, Any]
"""A field's default: ``(None, value)``, or ``(factory, None)`` called per row."""
_SHAPES: dict[type[Any], tuple[frozenset[str], frozenset[str], dict[str, _Default]]] = {}


def _shape_of(kind: type[Any]) -> tuple[frozenset[str], frozenset[str], dict[str, _Default]]:
    """A row class's field names, the required ones, and the others' defaults."""
    names = frozenset(f.name for f in fields(kind))
    defaults: dict[str, _Default] = {}
    for f in fields(kind):
        if f.default is not MISSING:
            defaults[f.name] = (None, f.default)
        elif f.default_factory is not MISSING:
            defaults[f.name] = (f.default_factory, None)
    return names, names - defaults.keys(), defaults


def _default(kept: _Default) -> Any:
    factory, value = kept
    return factory() if factory is not None else value


def checked_columns(values: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    """Refuse a change to a column that is not one of ``allowed``."""
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"{what} has no writable column(s) {sorted(unknown)}")


# -- protocols --------------------------------------------------------------------------
class StoreTx(Protocol):
    """The operations of one transaction. A write transaction commits when its block
    ends and rolls back everything on an exception; a read transaction writes nothing.

    Races are reported as :class:`~cmc_workflow.errors.ConflictError` (a stale item
    version, a duplicate key): retry the command.

    The docstrings here are the contract; the implementations document only their own
    way of keeping it (locks, indexes)."""

    # definitions
    def find_definition(self, workflow_id: str, content_hash: str) -> DefinitionRow | None:
        """The stored version of ``workflow_id`` with that content hash, if any."""
        ...

    def insert_definition(
        self,
        workflow_id: str,
        content_hash: str,
        version_label: int | None,
        source_file: str,
        source_text: str,
        now: dt.datetime,
    ) -> DefinitionRow:
        """Store a new version with the next revision number of its workflow."""
        ...

    def definition(self, definition_id: int) -> DefinitionRow | None:
        """The stored version with that id."""
        ...

    def definitions_of(self, workflow_id: str) -> list[tuple[DefinitionRow, int]]:
        """Every stored version of a workflow with its number of open items, oldest first."""
        ...

    # items
    def insert_item(self, values: NewItem | Mapping[str, Any]) -> int:
        """Insert an item row; returns its id."""
        ...

    def item(self, item_id: int, *, lock: bool = False) -> ItemRow | None:
        """The item, or None. With ``lock``, no other transaction changes it before this
        one ends."""
        ...

    def update_item(
        self, item_id: int, expected_version: int, values: ItemUpdate | Mapping[str, Any]
    ) -> None:
        """Write the item's new state if nobody changed it since ``expected_version``."""
        ...

    def set_item_definition(self, item_id: int, expected_version: int, definition_id: int) -> None:
        """Move the item onto another stored version of its workflow (a migration), if
        nobody changed it since ``expected_version``; the row version does not change
        (write the item's new state with :meth:`update_item` first, in this transaction)."""
        ...

    def item_facts(self, item_id: int) -> dict[str, Any] | None:
        """What extensions keep about the item (a JSON object: the policy's summary of its
        history), as last written with the item row; None when never written (or no such
        item). Read with the item row by :meth:`item`, so asking after it costs nothing.
        The caller must not change the dict it gets."""
        ...

    def open_definition_ids(self) -> list[int]:
        """The definition versions that open items run on."""
        ...

    def open_items(self, pairs: Sequence[tuple[str, str]]) -> list[ItemRow]:
        """Open items whose (workflow, state) is one of ``pairs``, oldest first."""
        ...

    def children(self, item_id: int) -> list[ItemRow]:
        """The items whose parent is ``item_id``, oldest first."""
        ...

    def open_children(self, item_id: int) -> list[ItemRow]:
        """The items whose parent is ``item_id`` that are still open, oldest first."""
        ...

    def records(
        self, workflow_id: str, states: Sequence[str], field: str, value: str
    ) -> list[dict[str, Any]]:
        """The data of items of ``workflow_id`` resting in one of ``states`` whose data
        ``field`` names ``value`` as a person reads it (both sides compared after
        :func:`~cmc_workflow.model.normal_id`: ``Wang`` typed into a training record is the
        actor ``wang``), oldest first (policy prerequisites: "has a passed training record")."""
        ...

    def key_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Find the records of ``pairs`` (workflow, data field) by key from now on
        (:meth:`records` reads through an index, whatever the number of other people's
        records; migration 0015): registers those not registered yet and keys the items
        written so far; returns them. A write transaction (on PostgreSQL it locks
        ``items`` against other writers until it commits). A field holding ``"`` or ``\\``
        is not keyed; the memory store keeps no keys and does nothing."""
        ...

    def unkeyed_records(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The pairs of ``pairs`` that :meth:`key_records` would register (none on the
        memory store)."""
        ...

    def last_entries(
        self,
        workflow_id: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> list[tuple[dict[str, Any], dt.datetime]]:
        """For each item of ``workflow_id`` (resting in one of ``resting_in``, when given)
        whose history enters one of ``states`` from outside them (from one of ``source``,
        when given): its data and the time of the last such entry, oldest item first
        (policy facts: "when did each account last publish")."""
        ...

    # history
    def insert_history(self, rows: Sequence[HistoryEntry | Mapping[str, Any]]) -> None:
        """Append history rows to their items' hash chains (:mod:`cmc_workflow.store.chain`)
        and move each item's ``history_head``; a duplicate (item, seq) means a lost race.
        Call after the item row was written in this transaction."""
        ...

    def history(self, item_id: int) -> list[dict[str, Any]]:
        """The item's history, in order."""
        ...

    def last_command(self, item_id: int) -> dict[str, Any] | None:
        """The item's last history row that a command took (not a gateway hop), or None."""
        ...

    # outbox
    def insert_outbox(self, rows: Sequence[OutboxMessage | Mapping[str, Any]]) -> list[int]:
        """Queue side effects for delivery after commit; returns their ids, in order."""
        ...

    def queue_outbox(self, rows: Sequence[MutableMapping[str, Any]]) -> None:
        """Queue side effects as :meth:`insert_outbox` does (fields of
        :class:`OutboxMessage`), for a caller that needs their ids only after commit:
        each row's ``id`` is set in it once the row is written, at the latest when the
        transaction commits (a store may send the rows with a later statement of the
        transaction: the item's UPDATE on PostgreSQL). The rows commit with the
        transaction or not at all, and take their ids in order after any queued before;
        a duplicate idempotency key (a lost race) raises by the commit at the latest."""
        ...

    def claim_outbox(
        self,
        now: dt.datetime,
        runner: str,
        lease: dt.timedelta,
        limit: int,
        *,
        handler_names: Sequence[str],
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` due, unclaimed rows for ``runner`` until ``now + lease``:
        every notification, and handler rows only for ``handler_names``."""
        ...

    def has_due_outbox(self, now: dt.datetime, *, handler_names: Sequence[str]) -> bool:
        """Whether :meth:`claim_outbox` would find anything."""
        ...

    def finish_outbox(self, outbox_id: int, runner: str, now: dt.datetime) -> bool:
        """Mark a claimed row delivered; False if the claim was lost meanwhile."""
        ...

    def finish_outbox_many(self, delivered: Sequence[tuple[int, dt.datetime]], runner: str) -> None:
        """Mark claimed rows delivered, each at its own time (``(outbox id, delivered at)``),
        in one statement; a row whose claim was lost meanwhile is left as it is."""
        ...

    def retry_outbox(
        self, outbox_id: int, runner: str, error: str, available_at: dt.datetime
    ) -> None:
        """Record a failed delivery and when to try again."""
        ...

    def outbox_of(self, item_id: int) -> list[OutboxRow]:
        """Every outbox row of an item, oldest first."""
        ...

    def count_pending_outbox(self) -> int:
        """How many side effects wait for delivery."""
        ...

    # audit
    def insert_audit(self, values: AuditRecord | Mapping[str, Any]) -> None:
        """Append one audit record to its hash chain (:mod:`cmc_workflow.store.chain`) and
        move the chain's head."""
        ...

    def audit_of(self, item_id: int) -> list[dict[str, Any]]:
        """The audit records that name an item, in order."""
        ...

    def audit_records(self, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every audit record, in id order."""
        ...

    def item_data(self, item_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """(workflow, data) of the given items, for masking their personal values."""
        ...

    def item_forms(self, item_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Every form submitted on the given items, oldest first (for masking)."""
        ...

    def definition_sources(self) -> list[tuple[str, str, str]]:
        """(workflow, source file, source text) of every stored definition version."""
        ...

    # timers
    def insert_timers(self, rows: Sequence[NewTimer | Mapping[str, Any]]) -> None:
        """Arm timers (in the transaction of the change that causes them)."""
        ...

    def next_due_at(self, skip: Sequence[str] = ()) -> dt.datetime | None:
        """When the earliest pending timer is due, leaving out the timers of items of the
        workflows in ``skip`` (disabled: their file is broken)."""
        ...

    def claim_due_timer(self, now: dt.datetime) -> DueTimer | None:
        """One pending timer due at ``now``, earliest first, claimed for this transaction
        (no other runner gets it), with its item's state visit and its clock."""
        ...

    def claim_due_timers(
        self, now: dt.datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[DueTimer]:
        """Up to ``limit`` pending timers due at ``now``, earliest first, claimed for this
        transaction (no other runner gets any of them until it ends), each with its item's
        state visit and its clock as they were when claimed. Timers of items of the
        workflows in ``skip`` (disabled) are left pending, unclaimed."""
        ...

    def due_timer(self, timer_id: int, now: dt.datetime) -> DueTimer | None:
        """A timer claimed by this transaction, read again with its item and clock as they
        are now; None when it is no longer pending and due at ``now``."""
        ...

    def finish_timer(
        self,
        timer_id: int,
        status: str,
        now: dt.datetime,
        runner: str,
        error: str | None = None,
    ) -> None:
        """Mark a claimed timer fired, stale (its state was left) or failed."""
        ...

    def finish_timers(
        self, done: Sequence[tuple[int, str, str | None]], now: dt.datetime, runner: str
    ) -> None:
        """Mark claimed timers, each ``(timer id, status, error)``, in one statement."""
        ...

    def clock_timers(self, clock_id: int, status: str) -> list[TimerRow]:
        """The timers of a clock in ``status``, earliest first."""
        ...

    def set_clock_timers(
        self, clock_id: int, from_status: str, values: Mapping[str, Any]
    ) -> int | None:
        """Update every timer of a clock in ``from_status`` (cancel, pause, re-fence);
        returns how many, or None when the UPDATE waits with a batch's kept writes (the
        SQL store on SQLite: written by the batch's next flush, in its place)."""
        ...

    def cancel_clock_timers(self, clock_ids: Sequence[int], now: dt.datetime) -> int:
        """Cancel every pending or paused timer of the clocks (stopped clocks), in one
        statement; returns how many."""
        ...

    def stop_clock(
        self, clock_id: int, outcome: str, now: dt.datetime, breached: bool = False
    ) -> int:
        """Stop a clock at ``now`` with ``outcome`` (met or breached), recording
        ``breached_at`` as ``now`` when ``breached`` and not set already, and cancel its
        pending or paused timers (one round trip where the database allows); returns how
        many timers were cancelled."""
        ...

    def stop_clocks_leaving(
        self, item_id: int, keep: Sequence[str], now: dt.datetime, at: dt.datetime
    ) -> list[ClockRow]:
        """The item's running or paused clocks as they were, oldest first; those whose
        state is not in ``keep`` are stopped at ``now`` as :meth:`stop_clock` does, late
        (:func:`clock_late`) judged at ``at``. One round trip where the database allows."""
        ...

    def resume_timer(self, timer_id: int, due_at: dt.datetime, state: str, visit: int) -> None:
        """Re-arm a paused timer at its moved due time, fenced by the new visit."""
        ...

    def set_timer_due(self, timer_id: int, due_at: dt.datetime) -> None:
        """Move a pending timer (a deadline recomputed on new calendar data)."""
        ...

    def timers_of(self, item_id: int) -> list[TimerRow]:
        """Every timer of an item, in the order armed."""
        ...

    def upcoming_timers(self, limit: int) -> list[tuple[TimerRow, str]]:
        """The next pending timers with their item's workflow, earliest first."""
        ...

    def count_timers(self, status: str, due_before: dt.datetime | None = None) -> int:
        """How many timers are in ``status`` (and due by ``due_before``, if given)."""
        ...

    # clocks
    def insert_clock(self, values: NewClock | Mapping[str, Any]) -> int:
        """Start a clock; returns its id."""
        ...

    def start_clock(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        """Start a clock and arm its timers (``timers``: the fields of :class:`NewTimer`
        but ``clock_id``, which is the new clock's), in one round trip where the database
        allows; returns the clock's id."""
        ...

    def active_clocks(self, item_id: int) -> list[ClockRow]:
        """The item's clocks that run or are paused."""
        ...

    def clock(self, clock_id: int) -> ClockRow | None:
        """One clock."""
        ...

    def update_clock(self, clock_id: int, values: Mapping[str, Any]) -> None:
        """Write a clock's new lifecycle values."""
        ...

    def mark_clock_once(self, clock_id: int, column: str, now: dt.datetime) -> None:
        """Set ``warned_at``/``escalated_at``/``breached_at`` unless set already."""
        ...

    def clocks_of(self, item_id: int) -> list[ClockRow]:
        """Every clock of an item, oldest first."""
        ...

    def provisional_clocks(self, limit: int = 100) -> list[ClockRow]:
        """Running or paused clocks whose due time rests on a guessed (provisional) year."""
        ...

    def overdue_clocks(self, now: dt.datetime, limit: int = 100) -> list[ClockRow]:
        """Running clocks past their due time (breached, whether or not a timer said so)."""
        ...

    # schedule occurrences
    def cursor(self, schedule_id: str, now: dt.datetime) -> CursorRow:
        """The schedule's cursor, created at ``now`` the first time any runner sees it."""
        ...

    def cursors(self) -> dict[str, CursorRow]:
        """Every schedule cursor, by schedule id."""
        ...

    def advance_cursor(self, schedule_id: str, due_at: dt.datetime, now: dt.datetime) -> None:
        """Move the cursor forward to ``due_at`` (never backwards)."""
        ...

    def insert_run(
        self,
        schedule_id: str,
        due_at: dt.datetime,
        status: str,
        now: dt.datetime,
        *,
        runner: str | None = None,
        claimed_until: dt.datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int | None:
        """Create the occurrence ``(schedule_id, due_at)`` unless it exists; its id, or None
        when another runner created it first (the unique key decides, without an error)."""
        ...

    def has_stale_runs(self, now: dt.datetime) -> bool:
        """Whether some occurrence was claimed by a runner that did not finish it in time."""
        ...

    def reclaim_stale_runs(
        self, now: dt.datetime, runner: str, until: dt.datetime, limit: int = 10
    ) -> list[RunRow]:
        """Take over occurrences whose claimer died before starting their item."""
        ...

    def finish_run(
        self,
        run_id: int,
        runner: str,
        status: str,
        now: dt.datetime,
        *,
        item_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Close a claimed occurrence as started (with its item) or failed; False when the
        claim was lost meanwhile (another runner took it over)."""
        ...

    def runs_of(self, schedule_id: str, limit: int = 100) -> list[RunRow]:
        """A schedule's latest occurrences, newest first."""
        ...

    def latest_runs(self) -> dict[str, RunRow]:
        """Each schedule's latest occurrence."""
        ...

    # runners
    def heartbeat(
        self, runner: str, host: str, pid: int, now: dt.datetime, detail: dict[str, Any]
    ) -> None:
        """Record that ``runner`` is alive (and what its last pass did)."""
        ...

    def runner_stopped(self, runner: str, now: dt.datetime) -> None:
        """Record a graceful stop."""
        ...

    def runner_rows(self) -> list[RunnerRow]:
        """Every runner that ever reported, latest heartbeat first."""
        ...

    def forget_runners(self, before: dt.datetime) -> int:
        """Delete heartbeats of runners stopped or silent since before ``before``."""
        ...

    # reports
    def state_counts(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StateCountRow]:
        """Items per workflow and state, open and closed, of the items created in the period."""
        ...

    def sla_clocks(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[SlaClockRow]:
        """Every SLA clock whose reference time is in the period: the stop for a stopped
        clock, the due time for one still running or paused."""
        ...

    def first_replies(
        self,
        workflow_id: str,
        triggers: Sequence[str],
        category_field: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        received_field: str | None = None,
    ) -> list[FirstReplyRow]:
        """The items of ``workflow_id`` created in the period, each with the time of the first
        history row whose trigger is one of ``triggers`` (None when there is none)."""
        ...

    def overdue_items(self, now: dt.datetime) -> list[OverdueRow]:
        """Open items with a clock that is not stopped and past due at ``now``: a running
        clock past its due time, or any clock with a recorded breach (a paused clock's due
        time moves on when it resumes, so only a recorded breach makes it overdue)."""
        ...

    def first_entries(
        self,
        workflow_id: str,
        state: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[PublicationRow]:
        """Items of ``workflow_id`` with the time they first entered ``state`` (from the
        history), when that time is in the period, oldest first."""
        ...

    def workflow_records(self, workflow_id: str) -> list[RecordRow]:
        """Every item of ``workflow_id`` with its state and data, oldest first."""
        ...

    def steps_taken(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[StepRow]:
        """Every start and fire recorded in the period, with the outcome of the SLA clock
        each stopped (the clock of the state it left, stopped at the step's instant),
        oldest first."""
        ...

    # the staff register (STF-1)
    def insert_person(self, row: PersonRow) -> None:
        """Add a person; one already filed under ``person_id`` is a :class:`ConflictError`."""
        ...

    def update_person(self, person_id: str, values: Mapping[str, Any]) -> None:
        """Change a person's columns (:data:`PERSON_COLUMNS` only)."""
        ...

    def person(self, person_id: str) -> PersonRow | None:
        """The person filed under ``person_id``, or None."""
        ...

    def people(self) -> list[PersonRow]:
        """Every person of the register, by id."""
        ...

    def has_people(self) -> bool:
        """Whether the register holds anybody (one indexed probe)."""
        ...

    def insert_post(self, row: NewPost) -> int:
        """Give a person a post (the person must exist: else :class:`StoreError`)."""
        ...

    def end_post(self, post_id: int, ends_on: dt.date) -> bool:
        """Set the post's last day; False when there is no such post."""
        ...

    def posts(self, person_id: str | None = None) -> list[PostRow]:
        """Every post (of ``person_id`` when given), oldest first."""
        ...

    def holders(self, role: str, on: dt.date) -> list[PostRow]:
        """The posts of ``role`` held on ``on`` ("holders of role R"; filter the scope)."""
        ...

    def identity_posts(self, person_id: str) -> list[PostRow] | None:
        """In one indexed query: the person's posts (every one, ended ones included), or
        None when ``person_id`` is not in the register. The hot path of identity (SEC-6)."""
        ...

    def staffing_alerts(self) -> dict[str, int]:
        """The staffing gaps an alert item is open for (STF-3): gap key -> item id."""
        ...

    def insert_staffing_alert(self, gap: str, item_id: int, at: dt.datetime) -> None:
        """Record the alert item of a gap; a gap already recorded is a :class:`ConflictError`
        (two runners raising the same alert: the second start rolls back)."""
        ...

    def delete_staffing_alert(self, gap: str) -> None:
        """Forget a gap's alert (the gap closed, or its item did)."""
        ...

    # the query API and its tokens (ItemFilter above documents the semantics)
    def find_items(self, query: ItemFilter) -> list[ItemRow]:
        """The items ``query`` selects, sorted, after its keyset position, at most its
        limit."""
        ...

    def insert_token(self, values: NewToken) -> None:
        """Store an API token (its secret's hash); a key stored already is a conflict."""
        ...

    def token(self, key: str) -> TokenRow | None:
        """The API token with public key ``key``, revoked or not."""
        ...

    def tokens(self, system: str | None = None) -> list[TokenRow]:
        """Every API token (of ``system``), oldest first."""
        ...

    def revoke_token(self, key: str, now: dt.datetime) -> bool:
        """Revoke a token; False when there is none or it was revoked already."""
        ...

    def token_used(self, key: str, now: dt.datetime) -> None:
        """Note that a token was used at ``now``."""
        ...

    # the web console's passwords and sessions (issue 15, part 5)
    def set_console_password(self, row: ConsolePasswordRow) -> None:
        """Store (or replace) a person's console password hash; the person must be filed
        in the staff register."""
        ...

    def console_password(self, person_id: str) -> ConsolePasswordRow | None:
        """The console password hash of ``person_id``, or None."""
        ...

    def insert_console_session(self, row: ConsoleSessionRow) -> None:
        """Store a new console session (a key stored already is a conflict)."""
        ...

    def console_session(self, key: str) -> ConsoleSessionRow | None:
        """The console session whose secret hashes to ``key``, ended or not."""
        ...

    def end_console_sessions(
        self, now: dt.datetime, *, key: str | None = None, person_id: str | None = None
    ) -> int:
        """End the live session ``key``, or every live session of ``person_id``; how many."""
        ...

    # notifications to people (issue 14, part 4)
    def insert_notices(self, rows: Sequence[NewNotice]) -> int:
        """Add notices; one whose ``key`` is stored already is skipped (a notification
        delivered again by the outbox). Returns how many were added."""
        ...

    def claim_notices(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[NoticeRow]:
        """Claim for ``runner`` until ``now + lease`` the pending notices available at
        ``now`` that nobody holds a live claim on (skipping rows another runner locks)."""
        ...

    def record_notice_attempt(
        self,
        notice_id: int,
        at: dt.datetime,
        result: str,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        """Record one attempt (``sent``, ``failed`` or ``dead``) and release the claim:
        ``sent`` and ``dead`` are final; ``failed`` waits until ``retry_at``. ``cancelled``
        (final) records no attempt: the delivery was not tried, its subscription was
        removed (by another process while this one still wrote to it)."""
        ...

    def notices(self, item_id: int | None = None) -> list[NoticeRow]:
        """Every notice (of ``item_id`` when given), oldest first."""
        ...

    def notice_attempts(self, notice_id: int) -> list[NoticeAttemptRow]:
        """The attempts to send a notice, oldest first."""
        ...

    # outbound webhooks for host systems (issue 15, part 4)
    def insert_subscription(self, values: NewSubscription) -> int:
        """Store a webhook subscription; returns its id."""
        ...

    def subscriptions(self, *, removed: bool = False) -> list[SubscriptionRow]:
        """The live webhook subscriptions (and the removed ones with ``removed``), oldest
        first."""
        ...

    def subscription(self, subscription_id: int) -> SubscriptionRow | None:
        """One webhook subscription, removed or not."""
        ...

    def remove_subscription(self, subscription_id: int, now: dt.datetime) -> bool:
        """Remove a live subscription and cancel its pending deliveries; False when there
        is no live one."""
        ...

    def insert_hook_deliveries(self, rows: Sequence[NewHookDelivery]) -> int:
        """Add webhook deliveries; one whose ``(subscription_id, event_id)`` is stored
        already, or whose subscription is not live (removed), is skipped. Returns how
        many were added."""
        ...

    def claim_hook_deliveries(
        self, now: dt.datetime, runner: str, lease: dt.timedelta, limit: int
    ) -> list[HookDeliveryRow]:
        """Claim for ``runner`` until ``now + lease`` the pending deliveries available at
        ``now`` that nobody holds a live claim on and that have no older pending delivery
        of the same subscription and item (per item, in order), oldest first."""
        ...

    def record_hook_attempt(
        self,
        delivery_id: int,
        at: dt.datetime,
        result: str,
        status_code: int | None,
        error: str | None,
        retry_at: dt.datetime | None = None,
    ) -> None:
        """Record one attempt (``sent``, ``failed`` or ``dead``) and release the claim:
        ``sent`` and ``dead`` are final; ``failed`` waits until ``retry_at``. ``cancelled``
        (final) records no attempt: the delivery was not tried, its subscription was
        removed (by another process while this one still wrote to it)."""
        ...

    def release_hook_deliveries(self, delivery_ids: Sequence[int], runner: str) -> None:
        """Give back claims of ``runner`` without an attempt (not tried in this pass)."""
        ...

    def hook_deliveries(
        self, subscription_id: int | None = None, item_id: int | None = None
    ) -> list[HookDeliveryRow]:
        """Webhook deliveries (of a subscription, of an item), oldest first."""
        ...

    def hook_attempts(self, delivery_id: int) -> list[HookAttemptRow]:
        """The attempts to deliver one webhook, oldest first."""
        ...

    # task operations and leave cover (STF-5)
    def assignment(self, item_id: int) -> AssignmentRow | None:
        """The item's assignment row as last written (check its state and visit), or None."""
        ...

    def assignments(self, item_ids: Sequence[int]) -> dict[int, AssignmentRow]:
        """The assignment rows of ``item_ids`` that exist, by item id (one statement)."""
        ...

    def set_assignment(self, row: AssignmentRow) -> None:
        """Write the item's assignment (replacing the one before)."""
        ...

    def assigned_to(self, person_id: str) -> list[AssignmentRow]:
        """The assignment rows naming ``person_id`` (stale ones included), by item id."""
        ...

    def insert_leave(self, row: NewLeave) -> int:
        """Record a leave; returns its id."""
        ...

    def leaves(self, person_id: str | None = None) -> list[LeaveRow]:
        """The leaves recorded (of one person), oldest first."""
        ...

    def leaves_due(self, on: dt.date) -> list[LeaveRow]:
        """The leaves running on ``on`` whose open work has not been moved yet."""
        ...

    def mark_leave_covered(self, leave_id: int, at: dt.datetime) -> bool:
        """Mark a leave's work as moved; False when another runner marked it first."""
        ...

    # nesting
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an error inside rolls back only what it wrote."""
        ...


class StorePort(Protocol):
    """A store: opens transactions over durable (or in-memory) state."""

    read_only: bool
    """True when writes are refused (:class:`~cmc_workflow.errors.DatabaseReadOnly`)."""

    def write(self) -> AbstractContextManager[StoreTx]:
        """One write transaction; writers are serialized (one at a time per item or store)."""
        ...

    def read(self) -> AbstractContextManager[StoreTx]:
        """One read transaction."""
        ...

    def write_series(
        self,
    ) -> AbstractContextManager[Callable[[], AbstractContextManager[StoreTx]]]:
        """A factory of write transactions sharing one connection (a batch of timers):
        each call of the yielded function opens one transaction."""
        ...

    def close(self) -> None:
        """Release what the store holds."""
        ...
