"""Group commit: a batch of commands in one write transaction (``Engine.start_many``,
``Engine.fire_many``).

Each command of a batch is the command :mod:`~cmc_workflow.engine.commands` runs alone —
admitted, checked, judged by every extension (the policies), written with its history,
outbox rows and audit record — but all of them share one transaction and so one commit
(one fsync on SQLite at ``synchronous=FULL``). Reader messages arrive in bursts; a batch
registers a burst at the cost of one commit.

- **Savepoints.** Each command runs in its own savepoint: a refused command rolls back
  only what it wrote. Its refusal is audited in the batch's transaction, after its
  savepoint rolled back, so that it commits with the batch and is never lost.
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

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from cmc_workflow.engine import audit, checks, commands, delivery, queries, transition
from cmc_workflow.engine.context import CommandContext, Core
from cmc_workflow.engine.transition import Outbox
from cmc_workflow.errors import EngineError, FieldError, InputInvalid
from cmc_workflow.model import Actor, Item
from cmc_workflow.registry import Version
from cmc_workflow.store import ItemRow, StoreTx

log = structlog.get_logger("cmc_workflow.engine")

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
        return cls(
            error=type(exc).__name__,
            rule=exc.code,
            message=str(exc),
            message_zh=exc.reason_zh,
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
    one actor for all their entries)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.seen: dict[int, tuple[object, Actor | EngineError]] = {}

    def resolved(self, actor: object) -> Actor:
        key = id(actor)
        found = self.seen.get(key)
        if found is None:
            try:
                value: Actor | EngineError = self.core.resolved(actor)
            except EngineError as exc:
                value = exc
            found = (actor, value)  # keeps ``actor`` alive, so its id is not reused
            self.seen[key] = found
        if isinstance(found[1], EngineError):
            raise found[1]
        return found[1]


def refuse_oversized(core: Core, name: str, actor: object, size: int) -> None:
    """Refuse a batch of more than :data:`MAX_BATCH` commands as a whole (audited once)."""
    if size <= MAX_BATCH:
        return
    exc = InputInvalid(
        [
            FieldError(
                "commands",
                f"a batch holds at most {MAX_BATCH} commands, this one {size}: split it",
                f"一批最多 {MAX_BATCH} 条命令，本批 {size} 条：请分批提交",
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
    actors = _Actors(core)
    done: list[_Done | Refusal] = []
    with core.store.write() as tx:
        for entry in entries:
            data, parent_id, who = _start_entry(entry, actor)
            try:
                with tx.savepoint():
                    resolved = actors.resolved(who)
                    done.append(_start_one(core, tx, resolved, workflow, data, parent_id, now))
            except EngineError as exc:
                audit.refusal(core, who, "start", workflow, None, None, exc, now, tx=tx)
                done.append(Refusal.of(exc))
    return _delivered(core, done, "start_many", workflow)


def _start_entry(
    entry: StartEntry | Mapping[str, Any], actor: Actor | None
) -> tuple[object, int | None, object]:
    """An entry's data, parent and actor (the batch's, unless the entry names one)."""
    if isinstance(entry, StartEntry):
        return entry.data, entry.parent_id, entry.actor if entry.actor is not None else actor
    return entry, None, actor


def _start_one(
    core: Core,
    tx: StoreTx,
    actor: Actor,
    workflow: str,
    data: object,
    parent_id: int | None,
    now: dt.datetime,
) -> _Done:
    """One start of a batch, in its savepoint (as :func:`commands.start` runs it alone)."""
    checks.check_inputs(texts={"workflow": workflow}, ids={"parent_id": parent_id}, data=data)
    if parent_id is not None:
        core.load(tx, parent_id)  # a missing parent is not found, not a race
    values = dict(data) if isinstance(data, Mapping) else {}  # None: no data
    ctx = CommandContext(tx, actor, "start", now, core.claim_until(now, 0))
    row, version, outbox = transition.start_in(core, ctx, workflow, values, parent_id)
    return _Done(row, version, outbox)


def fire_many(core: Core, entries: Iterable[FireEntry]) -> list[Outcome]:
    """Fire each entry's trigger in one transaction (see :meth:`Engine.fire_many`)."""
    entries = list(entries)
    refuse_oversized(core, "fire_many", entries[0].actor if entries else None, len(entries))
    now = core.now()
    actors = _Actors(core)
    done: list[_Done | Refusal] = []
    with core.store.write() as tx:
        for entry in entries:
            workflow: str | None = None
            try:
                with tx.savepoint():
                    actor = actors.resolved(entry.actor)
                    checks.check_inputs(
                        texts={"trigger": entry.trigger},
                        ids={"item_id": entry.item_id, "expected_version": entry.expected_version},
                        data=entry.data,
                    )
                    row = commands.locked(
                        core, tx, entry.item_id, entry.trigger, entry.expected_version
                    )
                    workflow = row.workflow_id
                    done.append(_fire_one(core, tx, actor, row, entry, now))
            except EngineError as exc:
                audit.refusal(
                    core,
                    entry.actor,
                    "fire",
                    workflow,
                    entry.item_id,
                    entry.trigger,
                    exc,
                    now,
                    tx=tx,
                )
                done.append(Refusal.of(exc))
    return _delivered(core, done, "fire_many", None)


def _fire_one(
    core: Core, tx: StoreTx, actor: Actor, row: ItemRow, entry: FireEntry, now: dt.datetime
) -> _Done:
    """One fire of a batch on its locked item, in its savepoint."""
    ctx = CommandContext(tx, actor, "fire", now, core.claim_until(now, 0))
    form = dict(entry.data or {})
    new_row, version, outbox = commands.fire_in(
        core, ctx, row, entry.trigger, form, entry.expected_version
    )
    return _Done(new_row, version, outbox)


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
        if delivery.after_commit(core, result.outbox):
            item = queries.get(core, result.row.id)  # a handler moved it on already
        else:
            item = core.item(result.row, result.version)
        outcomes.append(Outcome(index, item=item))
    log.info(
        "batch_committed",
        command=name,
        workflow=workflow,
        accepted=len(done) - refused,
        refused=refused,
    )
    return outcomes
