"""Group commit: a batch of commands in one write transaction (``Engine.start_many``,
``Engine.fire_many``).

Each command of a batch is the command :mod:`~cmc_workflow.engine.commands` runs alone —
admitted, checked, judged by every extension (the policies), written with its history,
outbox rows and audit record — but all of them share one transaction and so one commit
(one fsync on SQLite at ``synchronous=FULL``). Reader messages arrive in bursts; a batch
registers a burst at the cost of one commit.

- **A refusal undoes only its own command.** Most refusals come before a command writes
  anything; one refused after it wrote makes the batch run again with a savepoint per
  command (:func:`_committed`). The refusal is audited in the batch's transaction, after
  the command's writes were rolled back, so that it commits with the batch.
- **One outcome per entry**, in input order: the item as the command left it, or the
  refusal (:class:`Refusal`: the error, the rule, the message in English and Chinese).
  A refusal does not undo the other commands.
- **Bounded.** At most :data:`MAX_BATCH` commands per batch; a larger batch is refused
  as a whole (:class:`~cmc_workflow.errors.InputInvalid`, audited once) before anything
  runs: splitting it would commit part of what the caller sent as one unit.
- **All or nothing on failure.** A refusal is an
  :class:`~cmc_workflow.errors.EngineError` raised by a command; anything else escaping a
  command (the database failing, a lost race the store reports as
  :class:`~cmc_workflow.errors.ConflictError` at commit, a bug) rolls the whole batch
  back and is raised: nothing of the batch is written, and retrying the whole batch is
  safe. A stale ``expected_version`` is the command's own refusal (reported per entry).
- **One time.** Every command of a batch is stamped with the same ``now`` (they commit
  together).
- **After the commit**, the side effects each command claimed are delivered inline, in
  input order, as for single commands.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cmc_workflow import inputs
from cmc_workflow.engine import audit, checks, commands, delivery, transition
from cmc_workflow.engine.context import CommandContext, Core
from cmc_workflow.engine.transition import Outbox
from cmc_workflow.errors import EngineError, FieldError, InputInvalid
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import Actor, Item
from cmc_workflow.registry import Version
from cmc_workflow.store import ItemRow, StoreTx
from cmc_workflow.store.port import (
    AuditRecord,
    ClockRow,
    HistoryEntry,
    ItemUpdate,
    NewClock,
    NewItem,
    SubscriptionRow,
)

log = get_logger("cmc_workflow.engine")

_E = TypeVar("_E")

MAX_BATCH = 1000
"""The most commands one batch may hold: one transaction holds SQLite's write lock (or
the items' row locks on PostgreSQL) while it runs, so a batch is kept short (about a
fifth of a second at the measured rate)."""


@dataclass(frozen=True, slots=True)
class StartEntry:
    """One item of a :meth:`~cmc_workflow.engine.Engine.start_many` batch: its data, and
    the actor who starts it when not the batch's own."""

    data: Mapping[str, Any]
    actor: Actor | None = None
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class FireEntry:
    """One command of a :meth:`~cmc_workflow.engine.Engine.fire_many` batch, with the
    arguments of :meth:`~cmc_workflow.engine.Engine.fire`."""

    item_id: int
    trigger: str
    actor: Actor
    data: Mapping[str, Any] | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one command of a batch was refused: the error's class (``NotPermitted``), the
    rule (a policy rule's id or the engine's own, as audited), the message in English
    and in Chinese (empty where the refusal has none), and where it was refused."""

    error: str
    rule: str
    message: str
    message_zh: str
    item_id: str | None
    trigger: str | None
    state: str | None
    retryable: bool = False

    @classmethod
    def of(cls, exc: EngineError) -> Refusal:
        """The refusal ``exc`` reports."""
        message_zh = exc.reason_zh  # a form's refusal names each field in Chinese too
        return cls(
            error=type(exc).__name__,
            rule=exc.code,
            message=str(exc),
            message_zh=message_zh,
            item_id=exc.item_id,
            trigger=exc.trigger,
            state=exc.state,
            retryable=bool(getattr(exc, "retryable", False)),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """The outcome of the entry at ``index`` of a batch: the item as the command left it
    (accepted), or its :class:`Refusal`."""

    index: int
    item: Item | None = None
    refusal: Refusal | None = None

    @property
    def accepted(self) -> bool:
        """Whether the command was accepted (committed with the batch)."""
        return self.refusal is None


@dataclass(slots=True)
class _Done:
    """An accepted command, until the batch has committed."""

    row: ItemRow
    version: Version
    outbox: Outbox


class _Actors:
    """Each actor of a batch admitted and resolved once (by object: most batches carry
    one actor for all their entries); an actor refused is judged again each time. Their
    commands share one :class:`CommandContext` per actor and transaction (immutable, and
    equal for all of them: same kind, time and claim)."""

    def __init__(self, core: Core, kind: str, now: dt.datetime) -> None:
        self.core = core
        self.kind = kind
        self.now = now
        self.seen: dict[int, tuple[object, Actor]] = {}
        self.contexts: dict[int, CommandContext] = {}

    def resolved(self, actor: object, tx: StoreTx) -> Actor:
        found = self.seen.get(id(actor))
        if found is None:
            # the pair keeps ``actor`` alive, so that its id is not reused in the batch
            found = self.seen[id(actor)] = (actor, self.core.resolved(actor, tx))
        return found[1]

    def context(self, actor: object, tx: StoreTx) -> CommandContext:
        """The context of a command of ``actor`` (resolved) in ``tx``."""
        resolved = self.resolved(actor, tx)
        ctx = self.contexts.get(id(resolved))  # (it keeps ``resolved`` alive)
        if ctx is None or ctx.tx is not tx:  # a batch run again has a transaction anew
            now = self.now
            ctx = CommandContext(tx, resolved, self.kind, now, self.core.claim_until(now, 0))
            self.contexts[id(resolved)] = ctx
        return ctx


def refuse_oversized(core: Core, name: str, actor: object, size: int) -> None:
    """Refuse a batch of more than :data:`MAX_BATCH` commands as a whole (audited once)."""
    if size <= MAX_BATCH:
        return
    exc = InputInvalid(
        [
            FieldError(
                "commands",
                *tr(
                    "a batch holds at most {most} commands, this one {size}: split it",
                    most=MAX_BATCH,
                    size=size,
                ),
            )
        ]
    )
    audit.refusal(core, actor, name, None, None, None, exc, core.now())
    raise exc


def start_many(
    core: Core,
    workflow: str,
    entries: Sequence[StartEntry | Mapping[str, Any]],
    actor: Actor | None,
) -> list[Outcome]:
    """Start one item of ``workflow`` per entry in one transaction (see
    :meth:`Engine.start_many`)."""
    entries = list(entries)
    refuse_oversized(core, "start_many", actor, len(entries))
    now = core.now()
    actors = _Actors(core, "start", now)

    def one(tx: StoreTx, entry: StartEntry | Mapping[str, Any]) -> _Done:
        data, parent_id, who = _start_entry(entry, actor)
        ctx = actors.context(who, tx)
        checks.check_inputs(texts={"workflow": workflow}, ids={"parent_id": parent_id}, data=data)
        if parent_id is not None:
            core.load(tx, parent_id)  # a missing parent is not found, not a race
        values = dict(data) if isinstance(data, Mapping) else {}  # None: no data
        row, version, outbox = transition.start_in(core, ctx, workflow, values, parent_id)
        return _Done(row, version, outbox)

    def refuse(tx: StoreTx, entry: StartEntry | Mapping[str, Any], exc: EngineError) -> None:
        who = _start_entry(entry, actor)[2]
        audit.refusal(core, who, "start", workflow, None, None, exc, now, tx=tx)

    return _delivered(core, _committed(core, entries, one, refuse), "start_many", workflow)


def _start_entry(
    entry: StartEntry | Mapping[str, Any], actor: Actor | None
) -> tuple[object, int | None, object]:
    """An entry's data, parent and actor (the batch's, unless the entry names one)."""
    if isinstance(entry, StartEntry):
        return entry.data, entry.parent_id, entry.actor if entry.actor is not None else actor
    return entry, None, actor


def fire_many(core: Core, given: Iterable[FireEntry | Mapping[str, Any]]) -> list[Outcome]:
    """Fire each entry's trigger in one transaction (see :meth:`Engine.fire_many`)."""
    entries = [e if isinstance(e, FireEntry) else FireEntry(**e) for e in given]
    refuse_oversized(core, "fire_many", entries[0].actor if entries else None, len(entries))
    now = core.now()
    actors = _Actors(core, "fire", now)

    def ahead(tx: BatchTx) -> None:
        item_ids = [e.item_id for e in entries if _storable_id(e.item_id)]
        tx.items_ahead(item_ids)
        tx.clocks_ahead(item_ids)

    def one(tx: StoreTx, entry: FireEntry) -> _Done:
        ctx = actors.context(entry.actor, tx)
        checks.check_inputs(
            texts={"trigger": entry.trigger},
            ids={"item_id": entry.item_id, "expected_version": entry.expected_version},
            data=entry.data,
        )
        row = commands.locked(core, tx, entry.item_id, entry.trigger, entry.expected_version)
        form = dict(entry.data or {})
        new_row, version, outbox = commands.fire_in(
            core, ctx, row, entry.trigger, form, entry.expected_version
        )
        return _Done(new_row, version, outbox)

    def refuse(tx: StoreTx, entry: FireEntry, exc: EngineError) -> None:
        item_id, trigger = entry.item_id, entry.trigger
        row = tx.item(item_id) if _storable_id(item_id) else None
        workflow = row.workflow_id if row is not None else None
        audit.refusal(core, entry.actor, "fire", workflow, item_id, trigger, exc, now, tx=tx)

    return _delivered(core, _committed(core, entries, one, refuse, ahead), "fire_many", None)


def _storable_id(item_id: object) -> bool:
    """Whether ``item_id`` can name a stored item (the input check refuses the rest)."""
    return isinstance(item_id, int) and inputs.int_problem("item_id", item_id) is None


_READS = frozenset(
    {
        "find_definition",
        "definition",
        "definitions_of",
        "open_definition_ids",
        "open_items",
        "children",
        "open_children",
        "last_entries",
        "history",
        "last_command",
        "outbox_of",
        "has_due_outbox",
        "count_pending_outbox",
        "audit_of",
        "item_data",
        "item_facts",
        "assignment",
        "assignments",
        "item_forms",
        "definition_sources",
        "next_due_at",
        "clock_timers",
        "timers_of",
        "upcoming_timers",
        "count_timers",
        "active_clocks",
        "clock",
        "clocks_of",
        "provisional_clocks",
        "overdue_clocks",
        "cursors",
        "runs_of",
        "latest_runs",
        "has_stale_runs",
        "runner_rows",
    }
)
"""Operations of :class:`StoreTx` that only read (besides ``item``, ``records``,
``subscriptions`` and ``savepoint``, which :class:`BatchTx` handles itself); any other
counts as a write."""

_SUBSCRIBING = frozenset({"insert_subscription", "remove_subscription"})
"""The writes after which :class:`BatchTx` reads the webhook subscriptions again."""

_APPEND_FREE = frozenset(
    {
        "insert_history",
        "insert_audit",
        "insert_timers",
        "insert_clock",
        "start_clock",
        "insert_hook_deliveries",
        "identity_posts",
        "find_definition",
        "definition",
        "assignment",
    }
)
"""Operations of :class:`StoreTx` that neither read nor change the tables of the appends
a batch keeps (history, audit, timers; new items and clocks on SQLite): the kept rows
need not be written before them. Any other operation writes them first (all of them, or those of
:data:`_APPEND_TABLES`)."""

_SELF_FLUSHING = frozenset(
    {
        "item",
        "item_facts",
        "update_item",
        "active_clocks",
        "update_clock",
        "set_clock_timers",
        "stop_clock",
        "stop_clocks_leaving",
    }
)
"""Operations of the SQL store that write the kept rows they read or change themselves,
and only when they touch the database: an item or its clocks read ahead are taken
without a flush, and a fire's item, clock and timers' UPDATEs are kept with the appends
(SQLite: ``Appends._keep_update``), so that a batch writes them by one executemany
each instead of one statement a command."""

_UNFLUSHED = _APPEND_FREE | _SELF_FLUSHING

_APPEND_TABLES: dict[str, tuple[str, ...]] = {
    "last_command": ("history",),
    "history": ("history",),
    "clock_timers": ("timers",),
    "resume_timer": ("timers",),
    "set_timer_due": ("timers",),
    "timers_of": ("timers",),
    "mark_clock_once": ("clocks",),
    "clock": ("clocks",),
    "clocks_of": ("clocks",),
    "set_assignment": ("items",),
    "queue_outbox": ("items",),  # the rows name their item (as BatchTx.insert_outbox)
}
"""Operations that read or change one table of the kept appends: only its rows are
written before them (the rows they refer to with them: ``Appends.flush_appends``). New
items and clocks are kept on SQLite only, under ids reserved ahead (``insert_item``,
``insert_clock``)."""


class BatchTx:
    """A batch's transaction as its commands see it: every operation of the
    :class:`~cmc_workflow.store.StoreTx` it wraps (by delegation), and two things more.

    - ``writes`` counts the calls of operations that may write (all but the reads of
      :data:`_READS`): a command after which the count has not moved wrote nothing, so
      its refusal has nothing to undo.
    - The answers of ``records`` are kept for the batch: the policies ask for the same
      actor's training records on every command. The items they are read from change only
      through ``insert_item`` and ``update_item``, which forget the answers about the
      item's workflow (all of them when its workflow is not known); :meth:`forget` drops
      everything after a command's writes were rolled back. On PostgreSQL the batch thus
      judges by the records as they stood when it first asked (a record another
      transaction commits meanwhile counts from the next batch on).
    - The pure appends of its commands (history rows, audit records on an item's chain,
      timers, and on SQLite the new items and SLA clocks under ids reserved ahead) are
      kept by a SQL store's transaction and written with one executemany per table
      (``flush_appends``): before any operation that reads or changes their
      tables (:data:`_APPEND_FREE`, :data:`_APPEND_TABLES`; the store's own reads and
      writes of items and clocks write them first themselves, :data:`_SELF_FLUSHING`),
      at every savepoint's boundaries (a rolled-back command's rows go with it) and
      before commit. Their hashes and anchors are computed when appended, in the
      commands' order. On SQLite a fire's item, clock and timers' UPDATEs are kept
      with them too, in their place.
    - The webhook subscriptions in force are read once for the batch (the webhooks'
      extension asks on every accepted command); adding or removing one in the batch's
      transaction forgets the answer. A subscription another transaction adds meanwhile
      gets its events from the next batch on, as it would from a command that began
      before it was added.
    """

    def __init__(self, tx: StoreTx) -> None:
        self._tx = tx
        self.writes = 0
        self._records: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._workflows: dict[int, str] = {}
        self._subscriptions: list[SubscriptionRow] | None = None
        # the SQL store's (store/fast.py, Appends); other stores write appends at once
        self._flush: Callable[[Sequence[str] | None], None] | None = getattr(
            tx, "flush_appends", None
        )
        if self._flush is not None:
            tx.defer_appends()  # type: ignore[attr-defined]  # with flush_appends

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._tx, name)
        if self._flush is not None and name not in _UNFLUSHED:
            self._flush(_APPEND_TABLES.get(name))
        if name not in _READS:
            self.writes += 1
            if name in _SUBSCRIBING:
                self._subscriptions = None
        return found

    def forget(self) -> None:
        """Drop every kept answer (a command's writes were rolled back)."""
        self._records.clear()
        self._workflows.clear()
        self._subscriptions = None

    def cancel_clock_timers(self, clock_ids: Sequence[int], now: dt.datetime) -> int:
        if not clock_ids:  # no clock stopped (every start): nothing to write first
            return 0
        if self._flush is not None:
            self._flush(("timers",))  # and the kept clocks they name
        self.writes += 1
        return self._tx.cancel_clock_timers(clock_ids, now)

    def insert_outbox(self, rows: Sequence[Any]) -> list[int]:
        if not rows:  # most commands queue nothing: nothing to write first
            return []
        if self._flush is not None:
            self._flush(("items",))  # the rows name their item
        self.writes += 1
        return self._tx.insert_outbox(rows)

    def subscriptions(self, *, removed: bool = False) -> list[SubscriptionRow]:
        if removed:
            return self._tx.subscriptions(removed=True)
        if self._subscriptions is None:
            self._subscriptions = self._tx.subscriptions()
        return list(self._subscriptions)

    def _changed(self, workflow: str | None) -> None:
        if workflow is None:
            self._records.clear()
            return
        for key in [k for k in self._records if k[0] == workflow]:
            del self._records[key]

    def items_ahead(self, item_ids: Sequence[int]) -> None:
        """Read the batch's items in one statement where the store can (SQLite): each
        command's :meth:`item` then takes its row from there."""
        read = getattr(self._tx, "items_ahead", None)
        if read is not None:
            read(item_ids)

    def clocks_ahead(self, item_ids: Sequence[int]) -> None:
        """Read the running clocks of the batch's items in one statement where the store
        can (SQLite): a command leaving a state with a deadline then takes its item's from
        there, unless a clock of the item changed since."""
        read = getattr(self._tx, "clocks_ahead", None)
        if read is not None:
            read(item_ids)

    def _items_written(self) -> None:
        """Write the new items the batch keeps (SQLite), before a read or change of them."""
        if self._flush is not None:
            self._flush(("items",))

    def item(self, item_id: int, *, lock: bool = False) -> ItemRow | None:
        row = self._tx.item(item_id, lock=lock)  # (the kept items first: _SELF_FLUSHING)
        if row is not None:
            self._workflows[item_id] = row.workflow_id
        return row

    def insert_item(self, values: NewItem | Mapping[str, Any]) -> int:
        self.writes += 1
        workflow = values.workflow_id if isinstance(values, NewItem) else values["workflow_id"]
        self._changed(workflow)
        item_id = self._tx.insert_item(values)
        self._workflows[item_id] = workflow
        return item_id

    def update_item(
        self, item_id: int, expected_version: int, values: ItemUpdate | Mapping[str, Any]
    ) -> None:
        self.writes += 1
        self._changed(self._workflows.get(item_id))
        self._tx.update_item(item_id, expected_version, values)  # (kept, or after them)

    # What every accepted command asks for, as methods rather than through __getattr__
    # (Python calls it only after the class's own lookup failed: 1.4 against 0.1 us an
    # access, 4 to 5 a command): as there, the appends and the clocks' writes count as
    # writes and write nothing kept first (_APPEND_FREE, _SELF_FLUSHING), the facts
    # are a read (_READS). test_batch_lean pins that they do what __getattr__ does.

    def insert_history(self, rows: Sequence[HistoryEntry | Mapping[str, Any]]) -> None:
        self.writes += 1
        self._tx.insert_history(rows)

    def insert_audit(self, values: AuditRecord | Mapping[str, Any]) -> None:
        self.writes += 1
        self._tx.insert_audit(values)

    def start_clock(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        self.writes += 1
        return self._tx.start_clock(values, timers)

    def update_clock(self, clock_id: int, values: Mapping[str, Any]) -> None:
        self.writes += 1
        self._tx.update_clock(clock_id, values)

    def set_clock_timers(
        self, clock_id: int, from_status: str, values: Mapping[str, Any]
    ) -> int | None:
        self.writes += 1
        return self._tx.set_clock_timers(clock_id, from_status, values)

    def stop_clocks_leaving(
        self, item_id: int, keep: Sequence[str], now: dt.datetime, at: dt.datetime
    ) -> list[ClockRow]:
        self.writes += 1
        return self._tx.stop_clocks_leaving(item_id, keep, now, at)

    def item_facts(self, item_id: int) -> dict[str, Any] | None:
        return self._tx.item_facts(item_id)

    def records(
        self, workflow_id: str, states: Sequence[str], field: str, value: str
    ) -> list[dict[str, Any]]:
        key = (workflow_id, tuple(states), field, value)
        found = self._records.get(key)
        if found is None:
            self._items_written()
            found = self._records[key] = self._tx.records(workflow_id, states, field, value)
        return [dict(data) for data in found]  # fresh, as the store gives them

    def savepoint(self) -> AbstractContextManager[None]:
        return self._tx.savepoint()


class _Again(Exception):
    """A command was refused after it wrote: the batch runs again, with savepoints."""


def _committed(
    core: Core,
    entries: Sequence[_E],
    one: Callable[[StoreTx, _E], _Done],
    refuse: Callable[[StoreTx, _E, EngineError], None],
    ahead: Callable[[BatchTx], None] | None = None,
) -> list[_Done | Refusal]:
    """Run ``one`` for each entry in one write transaction; a refusal (``refuse`` audits
    it in the same transaction) undoes only the refused command's writes.

    Most refusals come before a command writes anything (roles, form, policies), and a
    savepoint costs more than many a command's statements. So the batch first runs
    without savepoints; should a command be refused after it wrote, the transaction is
    rolled back and the whole batch runs again with a savepoint per command (same
    ``now``, same order: the outcomes are those of the run that commits). ``ahead``
    reads what the commands will read, in the batch's transaction before they run."""
    with _collector_paused():
        try:
            return _attempt(core, entries, one, refuse, ahead, savepoints=False)
        except _Again:
            return _attempt(core, entries, one, refuse, ahead, savepoints=True)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch's commands run (issue 12).

    A batch keeps its appends (some 8,000 rows for 1,000 registrations) and each command
    leaves rows, steps and outcomes that live until the commit: the collector's runs
    over them, and the older generations over the whole heap (the loaded definitions,
    the libraries), took about a tenth of a registration. Almost all of it is freed by
    reference counting when the batch ends; the few cycles (a refusal's traceback) wait
    for the collector's next run, after the batch. Only a collector this call paused is
    resumed (as loading does, :mod:`cmc_workflow.language`)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _attempt(
    core: Core,
    entries: Sequence[_E],
    one: Callable[[StoreTx, _E], _Done],
    refuse: Callable[[StoreTx, _E, EngineError], None],
    ahead: Callable[[BatchTx], None] | None,
    *,
    savepoints: bool,
) -> list[_Done | Refusal]:
    done: list[_Done | Refusal] = []
    with core.write() as real:
        view = BatchTx(real)
        tx = cast("StoreTx", view)  # the port's operations, by delegation
        if ahead is not None:
            ahead(view)
        for entry in entries:
            writes = view.writes
            try:
                if savepoints:
                    with real.savepoint():
                        done.append(one(tx, entry))
                else:  # (no context manager to enter and leave a command)
                    done.append(one(tx, entry))
            except EngineError as exc:
                if view.writes != writes:
                    if not savepoints:
                        raise _Again from exc
                    view.forget()  # what it read after its own writes is rolled back
                refuse(tx, entry, exc)
                done.append(Refusal.of(exc))
    return done


def _delivered(
    core: Core, done: list[_Done | Refusal], name: str, workflow: str | None
) -> list[Outcome]:
    """The batch's outcomes, after the side effects of each accepted command were
    delivered inline (in input order)."""
    outcomes: list[Outcome] = []
    refused = 0
    for index, result in enumerate(done):
        if isinstance(result, Refusal):
            refused += 1
            outcomes.append(Outcome(index, refusal=result))
            continue
        moved = delivery.after_commit(core, result.outbox)
        # as a handler left it, if one ran
        item = core.item(*moved.get(result.row.id, (result.row, result.version)))
        outcomes.append(Outcome(index, item=item))
    log.info(
        "batch_committed",
        command=name,
        workflow=workflow,
        accepted=len(done) - refused,
        refused=refused,
    )
    return outcomes
