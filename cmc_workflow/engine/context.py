"""What a command runs with: the engine's shared parts (:class:`Core`) and one command's
context (:class:`CommandContext`), passed instead of long parameter lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from cmc_workflow import inputs
from cmc_workflow.engine.marks import DeliveryMarks
from cmc_workflow.errors import ItemNotFound
from cmc_workflow.extensions import Extension, StartClaim
from cmc_workflow.handlers import HandlerRegistry
from cmc_workflow.i18n import tr
from cmc_workflow.model import Actor, Item, is_engine_actor
from cmc_workflow.registry import Registry, Version
from cmc_workflow.staff.identity import IdentitySource, resolved_actor
from cmc_workflow.store import ItemRow, StorePort, StoreTx

Clock = Callable[[], dt.datetime]

MAX_INLINE_CHAIN = 8
"""Handler outcomes that lead into another serviceTask run inline this many times in a
row; the rest of such a chain (or loop) waits for the next delivery pass."""
MAX_LINK_DEPTH = 8
"""How deep one command may start or gather items that start or gather items in turn."""
OUTBOX_LEASE = dt.timedelta(minutes=5)
OUTBOX_MAX_BACKOFF = dt.timedelta(hours=1)


class Core:
    """The parts every command module reads: the store, the definitions, the extensions,
    the handlers, this runner's name and the clock, and the delivery marks that wait for
    the next write. One per engine, shared by its threads (nothing else here changes per
    command; ``handlers`` may be replaced as a whole)."""

    __slots__ = (
        "_hooked",
        "_judges",
        "clock",
        "definitions",
        "deliver_inline",
        "extensions",
        "handlers",
        "identity",
        "marks",
        "runner",
        "store",
        "strict_handlers",
    )

    def __init__(
        self,
        store: StorePort,
        definitions: Registry,
        *,
        clock: Clock,
        handlers: HandlerRegistry,
        strict_handlers: bool,
        deliver_inline: bool,
        runner: str,
        extensions: Sequence[Extension],
        identity: IdentitySource | None = None,
    ) -> None:
        self.store = store
        self.identity = identity
        self.definitions = definitions
        self.clock = clock
        self.handlers = handlers
        self.strict_handlers = strict_handlers
        self.deliver_inline = deliver_inline
        self.runner = runner
        self.extensions = tuple(extensions)
        self.marks = DeliveryMarks(store, runner)
        self._judges: dict[str, tuple[Extension, ...]] = {}
        self._hooked: dict[str, tuple[Extension, ...]] = {}

    def judges(self, workflow: str) -> tuple[Extension, ...]:
        """The extensions that judge commands of ``workflow``, in the composition's order
        (those whose :attr:`~cmc_workflow.extensions.Extension.judges` names it or is None)."""
        found = self._judges.get(workflow)
        if found is None:
            found = tuple(e for e in self.extensions if e.judges is None or workflow in e.judges)
            self._judges[workflow] = found
        return found

    def hooked(self, hook: str) -> tuple[Extension, ...]:
        """The extensions whose class overrides ``hook`` (a method of
        :class:`~cmc_workflow.extensions.Extension`), in the composition's order: the
        others' hooks do nothing, and a command asks a few, not the 60 or so the bundled
        policies compose (one per rule)."""
        found = self._hooked.get(hook)
        if found is None:
            base = getattr(Extension, hook)
            found = tuple(e for e in self.extensions if getattr(type(e), hook, base) is not base)
            self._hooked[hook] = found
        return found

    def write(self) -> AbstractContextManager[StoreTx]:
        """One write transaction of the store that also writes this runner's pending
        delivery marks (:mod:`~cmc_workflow.engine.marks`) before it commits."""
        return _MarkedWrite(self.store.write(), self.marks)

    def now(self) -> dt.datetime:
        """The clock's now; refuses a naive datetime."""
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the engine's clock must return aware datetimes")
        return now

    def resolved(self, actor: object, tx: StoreTx | None = None) -> Actor:
        """``actor`` as a command takes them: admitted at the boundary (id normalised, or
        :class:`IdentityRefused`), resolved by the identity source when one is configured
        (SEC-6: :func:`~cmc_workflow.staff.identity.resolved_actor`: one lookup, in ``tx``
        when the command passes its transaction and the source can read it), then as
        the extensions see them (e.g. with roles held
        through inheritance). Inherited roles may not reach the engine's own role."""
        admitted = inputs.admitted(actor)
        if self.identity is not None and not is_engine_actor(admitted):
            # SEC-6: who the caller is comes from the source, not from the claim
            admitted = resolved_actor(admitted, self.identity, self.now(), self._inherited, tx=tx)
        resolved = admitted
        for extension in self.hooked("resolve"):
            resolved = extension.resolve(resolved)
        if resolved is not admitted and not is_engine_actor(admitted):
            inputs.admitted(Actor(resolved.id, resolved.roles, resolved.attributes))
        return resolved

    def _inherited(self, actor: Actor) -> Actor:
        """``actor`` with the roles the extensions add (role inheritance)."""
        for extension in self.hooked("resolve"):
            actor = extension.resolve(actor)
        return actor

    @staticmethod
    def load(tx: StoreTx, item_id: int, *, lock: bool = False) -> ItemRow:
        """The item's row, or :class:`ItemNotFound`."""
        row = tx.item(item_id, lock=lock)
        if row is None:
            raise ItemNotFound(tr("no item {item_id}", item_id=item_id), item_id=str(item_id))
        return row

    def claim_until(self, now: dt.datetime, depth: int) -> dt.datetime | None:
        """Until when a command's side effects are claimed for inline delivery, or None
        when this engine will not deliver them inline (the daemon will)."""
        if not self.deliver_inline or depth >= MAX_INLINE_CHAIN:
            return None
        return now + OUTBOX_LEASE

    @staticmethod
    def item(row: ItemRow, version: Version) -> Item:
        """The public view of a stored item."""
        label = version.workflow.state(row.state).label
        return Item(
            id=row.id,
            workflow=row.workflow_id,
            revision=version.row.revision,
            state=row.state,
            state_label=label.zh,
            data=row.data,
            visit=row.visit,
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            parent_id=row.parent_id,
            state_label_en=label.en,
        )


class _MarkedWrite:
    """:meth:`Core.write` as one object instead of a generator around the store's
    transaction (a frame and a generator less per command): the pending marks are given
    to the transaction when it begins (the store writes them with a statement the command
    makes anyway, or by the commit), and given back to the marks when it does not commit
    (:meth:`~cmc_workflow.engine.marks.DeliveryMarks.give_back`); an error writing them
    ends the transaction as any error inside it does."""

    __slots__ = ("_marks", "_taken", "_transaction", "_tx")

    def __init__(self, transaction: AbstractContextManager[StoreTx], marks: DeliveryMarks) -> None:
        self._transaction = transaction
        self._marks = marks

    def __enter__(self) -> StoreTx:
        self._tx = tx = self._transaction.__enter__()
        try:
            self._taken = self._marks.write_in(tx)  # (given back by it when it raises)
        except BaseException as error:
            self._transaction.__exit__(type(error), error, error.__traceback__)
            raise
        return tx

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool | None:
        try:
            kept = self._transaction.__exit__(kind, exc, tb)
        except BaseException:
            self._marks.give_back(self._taken)  # not committed: the next write takes them
            raise
        if exc is not None and not kept:
            self._marks.give_back(self._taken)
        return kept


@dataclass(frozen=True, slots=True)
class CommandContext:
    """One command in its transaction: who acts, as what kind of step, when, and how its
    side effects are claimed. Items started or gathered by the command's links run in a
    :meth:`deeper` context of the same transaction. (The workflow is not part of it: one
    command may touch items of several workflows; each write takes the item's own.)

    ``kind`` is ``start``, ``fire``, ``collect``, ``timer`` or ``handler``;
    ``claim_until`` is when this runner's inline claim on the queued side effects ends
    (None: left for the delivery pass); ``depth`` counts the links followed;
    ``claim`` runs once, in the transaction, for the item the command itself starts;
    ``reason`` goes into the audit record of an engine's own step (a timer's).
    """

    tx: StoreTx
    actor: Actor
    kind: str
    now: dt.datetime
    claim_until: dt.datetime | None = None
    depth: int = 0
    claim: StartClaim | None = None
    reason: str | None = None

    def deeper(self, kind: str) -> CommandContext:
        """The context of an item this command starts or gathers through a link."""
        return replace(self, kind=kind, depth=self.depth + 1, claim=None, reason=None)
