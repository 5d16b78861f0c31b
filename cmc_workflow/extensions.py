"""Extension points of the engine: lifecycle hooks as a class with no-op methods, and the
narrow :class:`Runtime` port an extension is given instead of the engine.

The policy layer and the clocks plug in here instead of patching the engine. Hooks run
inside the command's transaction (``check``, ``after_change``), so whatever they write
commits or rolls back with the command. Register extensions with
``Engine.open(..., extensions=[...])``; they run in the order given. This module imports
nothing of the engine: extensions depend on the port, the engine implements it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.handlers import HandlerContext
from cmc_workflow.model import Actor, Item
from cmc_workflow.steps import Step
from cmc_workflow.store.port import ItemRow, StoreTx


@dataclass(frozen=True, slots=True)
class Command:
    """A command about to be accepted: everything a policy may judge it by.

    For ``start``, ``item`` is None and ``edge`` is None; ``target`` is the start state.
    ``probe`` is true when :meth:`Engine.allowed` asks ahead of the form: ``form`` is
    empty then, and checks that judge the form should not refuse for its absence.

    ``scratch`` lives exactly as long as the command: extensions that judge it in turn
    may memoise what they derived from it there (key it by the extension's own object),
    instead of a per-thread cache that has to guess which command it belongs to.
    """

    kind: str
    actor: Actor
    workflow: CompiledWorkflow
    item: ItemRow | None
    trigger: str | None
    edge: Edge | None
    form: Mapping[str, Any]
    data: Mapping[str, Any]
    target: str
    now: dt.datetime
    probe: bool = False
    scratch: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    warnings: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)
    """Should-level rules the command does not meet (each ``rule``, ``implements``,
    ``reason``, ``reason_zh``): it is accepted, and they go into its audit record."""
    computed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Figures an extension computed from the store for this step (a ``confirm_figures``
    rule): recorded with the accepted step, in its form and the item's data, so that the
    engine, not the person, writes them."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One stay of an item in a state: the state and the item's visit counter there."""

    state: str
    visit: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A ``notify:`` an accepted command queued: the role told, and its outbox row's
    idempotency key and payload as written (what a delivery's
    :class:`~cmc_workflow.handlers.HandlerContext` holds)."""

    role: str
    idempotency_key: str
    payload: Mapping[str, Any]


NOTICED = "noticed"
"""The key a ``notify:`` outbox row's payload holds (true) when the extensions that take
notifications with the command (:attr:`Extension.notices_with_command`) were given it in
:attr:`Change.notify`, in the transaction that queued it: their :meth:`Extension.notified`
then has nothing left to write when the row is delivered."""


@dataclass(frozen=True, slots=True)
class Change:
    """What an accepted command did to one item, seen inside its transaction.

    ``left`` is the visit the item ended (None at start or for a self-loop);
    ``entered`` lists the visits it began, in order (gateways included); ``final`` is
    where it rests now; ``notify`` the notifications its steps queued (``notify:``), in
    order.
    """

    workflow: CompiledWorkflow
    item_id: int
    kind: str
    actor: Actor
    left: Visit | None
    entered: tuple[Visit, ...]
    final: Visit
    data: Mapping[str, Any]
    now: dt.datetime
    notify: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class Appended:
    """The steps an accepted command appends to one item's history, seen inside its
    transaction before the item row is written (:meth:`Extension.item_facts`).

    ``item`` is the row as the command read it (None when the command starts the item);
    its ``seq`` is the number of steps before these, which are numbered from ``seq + 1``.
    """

    workflow: CompiledWorkflow
    item: ItemRow | None
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to an item besides a change of its state, seen inside the
    transaction that recorded it (:meth:`Extension.on_event`): an SLA warning
    (``sla.warning``) or breach (``sla.breach``) of a deadline timer.

    ``key`` is the same however often the event is recorded (e.g. one warning timer per
    waiting role: one ``sla:<clock>:warn`` event)."""

    kind: str
    key: str
    workflow: str
    item_id: int
    state: str
    visit: int
    at: dt.datetime
    facts: Mapping[str, Any] = field(default_factory=dict)


StartClaim = Callable[[StoreTx, Change], None]
"""Called inside the transaction that starts an item, with the start's :class:`Change`,
after the extensions' ``after_change``: it records what the start settles (e.g. a
schedule's occurrence); raising refuses the start and rolls everything back."""


Transaction = Callable[[], AbstractContextManager[StoreTx]]
"""Opens one write transaction of a :meth:`Runtime.write_series`."""


@runtime_checkable
class Runtime(Protocol):
    """What an extension may use of the engine that runs it (given to :meth:`Extension.bind`).

    Only what the built-in extensions (SLA clocks, schedules, policies) need: the time,
    the runner's name, transactions of the store (typed store calls, never a raw
    connection), the compiled workflows, and the two steps the engine takes as itself.
    """

    @property
    def runner(self) -> str:
        """This runner's name (in outbox, timer and schedule claims)."""
        ...

    def now(self) -> dt.datetime:
        """The engine clock's now (aware)."""
        ...

    def read(self) -> AbstractContextManager[StoreTx]:
        """A read-only transaction of the store."""
        ...

    def write(self) -> AbstractContextManager[StoreTx]:
        """A write transaction of the store (committed when the block ends)."""
        ...

    def write_series(self) -> AbstractContextManager[Transaction]:
        """One connection for a series of write transactions (e.g. one per due timer);
        each call of the yielded function opens one transaction."""
        ...

    def workflow(
        self, workflow_id: str, definition_id: int | None = None, *, tx: StoreTx | None = None
    ) -> CompiledWorkflow:
        """The compiled workflow: its current version, or the stored version
        ``definition_id`` (read through ``tx`` when given)."""
        ...

    def fire_system(
        self, tx: StoreTx, item_id: int, trigger: str, *, state: str, visit: int, reason: str
    ) -> bool:
        """Fire ``trigger`` as the engine itself inside ``tx``, fenced by the state visit
        (False: the item is no longer in ``state`` at ``visit``, nothing changed). Guards
        and policies apply; a refusal (:class:`~cmc_workflow.errors.PolicyDenied`) or any
        other error rolls back only what the step wrote, and is raised."""
        ...

    def reassign_system(
        self, tx: StoreTx, item_id: int, role: str, *, state: str, visit: int, reason: str
    ) -> str | None:
        """Give the item's user task to a holder of ``role`` as the engine (a deadline's
        ``reassign`` step) inside ``tx``, fenced by the state visit; returns the new
        assignee (None: the fence failed or nobody holds the role today)."""
        ...

    def emit(self, tx: StoreTx, event: Event) -> None:
        """Tell every extension about ``event`` (:meth:`Extension.on_event`) inside
        ``tx``: what they write commits or rolls back with it."""
        ...

    def start_system(
        self,
        workflow: str,
        *,
        actor: Actor,
        data: Mapping[str, Any],
        claim: StartClaim | None = None,
    ) -> Item:
        """Start an item as the engine (``actor`` made by
        :func:`~cmc_workflow.model.engine_actor`) in its own transaction, delivering its
        side effects as a person's start would; ``claim`` runs in that transaction with
        the start's change (see :data:`StartClaim`). Refusals raise as from
        :meth:`Engine.start`."""
        ...


class Extension:
    """Base class of engine extensions; override the hooks you need."""

    judges: frozenset[str] | None = None
    """The workflows whose commands :meth:`check` may refuse, or None for every workflow.
    The engine asks an extension to judge only the commands of these workflows (a policy
    rule of one workflow is not asked about the others': 57 rules, a handful per
    command)."""

    notices_with_command: bool = False
    """True when :meth:`after_change` writes what a ``notify:`` of :attr:`Change.notify`
    means to the extension (the notifications to people) in the command's own
    transaction: the engine then marks the notification's outbox row (:data:`NOTICED`),
    so that :meth:`notified` knows at its delivery, in whichever runner, that it has
    nothing left to write. A row without the mark (queued by an engine without such an
    extension, or by a deadline step) is for :meth:`notified` to handle, as before."""

    def bind(self, runtime: Runtime) -> None:
        """Called once when the engine is built, with the :class:`Runtime` port (not the
        engine): keep it to read the clock, open transactions or take system steps."""

    def resolve(self, actor: Actor) -> Actor:
        """The actor as commands should see them, e.g. with the roles they hold through
        role inheritance; the engine asks before it judges the actor's roles."""
        return actor

    def check(self, command: Command, tx: StoreTx) -> None:
        """Refuse ``command`` by raising :class:`~cmc_workflow.errors.PolicyDenied`."""

    def visible(self, actor: Actor, item: ItemRow, workflow: CompiledWorkflow) -> bool:
        """Whether ``actor`` may see and act on ``item`` at all (scoping)."""
        return True

    def item_facts(self, tx: StoreTx, appended: Appended) -> Mapping[str, Any] | None:
        """Facts to keep on the item row once ``appended`` is in its history: a dict of
        this extension's own top-level keys, merged over the item's stored facts
        (:meth:`~cmc_workflow.store.port.StoreTx.item_facts`), or None to change nothing.
        Called inside the command's transaction before the item row is written, so the
        facts are written with the row, in the same statement."""
        return None

    def after_change(self, tx: StoreTx, change: Change) -> None:
        """Write what follows from an accepted change in the same transaction."""

    def on_event(self, tx: StoreTx, event: Event) -> None:
        """An :class:`Event` was recorded in ``tx`` (an SLA warning or breach): write what
        follows from it in the same transaction."""

    def notified(self, role: str, context: HandlerContext) -> None:
        """A ``notify:`` of the outbox is being delivered (after the notifier); raising
        leaves the outbox row to be retried."""

    def run_due(self, now: dt.datetime) -> int:
        """Do the extension's due work (called by ``Engine.run_due``); returns units done."""
        return 0
