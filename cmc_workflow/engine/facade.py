"""The public façade: start items, fire triggers, ask what is allowed, read state and history.

Every command is one database transaction holding the new state, its history rows, the
outbox rows of its side effects and an audit record (ARCHITECTURE decision 6). A refused
command writes only its audit record. Side effects are delivered after commit, at least
once (:meth:`Engine.deliver_outbox`, also called by :meth:`Engine.run_due`).

The methods here only delegate: the pipeline is in :mod:`~cmc_workflow.engine.commands`,
the writes in :mod:`~cmc_workflow.engine.transition` and
:mod:`~cmc_workflow.engine.links`, delivery in :mod:`~cmc_workflow.engine.delivery`,
reading in :mod:`~cmc_workflow.engine.queries`; :func:`assemble` puts an engine
together (the one composition root: :meth:`Engine.open`, the command line and the daemon
all build engines through it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.engine import batch, commands, delivery, queries, tasks
from cmc_workflow.engine.assembly import runtime_extensions
from cmc_workflow.engine.batch import FireEntry, Outcome, StartEntry
from cmc_workflow.engine.context import Clock, Core
from cmc_workflow.engine.delivery import RunReport
from cmc_workflow.engine.queries import ItemPage
from cmc_workflow.engine.runtime import EngineRuntime
from cmc_workflow.extensions import Extension
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.language import load_paths
from cmc_workflow.model import Actor, Allowed, HistoryEntry, Item, VersionInfo
from cmc_workflow.registry import Registry, check_handlers
from cmc_workflow.staff.identity import AUTO, IdentitySource, chosen_source
from cmc_workflow.store import OutboxRow, Store, StorePort, StoreTx

if TYPE_CHECKING:  # the runner imports APScheduler: loaded only when a runner starts
    from cmc_workflow.runner.core import Runner


def system_clock() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.UTC)


class Engine:
    """Moves items through their workflows and remembers every step.

    Open it with :meth:`open` and use it as a context manager::

        with Engine.open("sqlite:///cmc.db", workflows="workflows/") as engine:
            item = engine.start("publishing", actor=Actor("wang", {"editor"}), data={...})
    """

    def __init__(
        self,
        store: StorePort,
        workflows: Mapping[str, LoadedWorkflow],
        *,
        clock: Clock = system_clock,
        handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
        deliver_inline: bool = True,
        runner: str | None = None,
        extensions: Sequence[Extension] = (),
        identity: IdentitySource | None = None,
    ) -> None:
        def now() -> dt.datetime:
            return core.now()

        registry = HandlerRegistry.coerce(handlers)
        core = Core(
            store,
            Registry(store, now),
            clock=clock,
            handlers=registry,
            strict_handlers=handlers is not None,
            deliver_inline=deliver_inline,
            runner=runner or f"runner-{uuid.uuid4().hex[:12]}",
            extensions=extensions,
            identity=identity,
        )
        self._core = core
        self._store = store
        self._runner: Runner | None = None
        if core.strict_handlers:
            check_handlers(workflows.values(), registry)
        core.definitions.register_all(workflows.values())
        runtime = EngineRuntime(core)
        for extension in core.extensions:
            extension.bind(runtime)

    # -- what the engine is made of (read by the command line, the daemon and tests) -----
    @property
    def store(self) -> StorePort:
        """The store the engine runs on (SQL, or :class:`~cmc_workflow.store.MemoryStore`
        in tests): the command line, the daemon and the reports read it through its port."""
        return self._store

    @property
    def extensions(self) -> tuple[Extension, ...]:
        """The extensions, in the order they judge and follow commands."""
        return self._core.extensions

    @property
    def clock(self) -> Clock:
        """The clock commands are stamped with."""
        return self._core.clock

    @property
    def handlers(self) -> HandlerRegistry:
        """The serviceTask handlers and the notifier (replaceable as a whole)."""
        return self._core.handlers

    @handlers.setter
    def handlers(self, registry: HandlerRegistry) -> None:
        self._core.handlers = registry

    @property
    def runner(self) -> str:
        """This runner's name in outbox claims."""
        return self._core.runner

    @property
    def deliver_inline(self) -> bool:
        """Whether side effects are delivered right after each command's commit."""
        return self._core.deliver_inline

    @property
    def definitions(self) -> Registry:
        """The loaded and stored workflow versions."""
        return self._core.definitions

    # -- lifecycle ---------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str,
        *,
        workflows: str | Path | Sequence[str | Path] = "workflows/",
        policies: str | Path | Sequence[str | Path] | None = None,
        clock: Clock = system_clock,
        handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
        migrate: bool | None = None,
        deliver_inline: bool = True,
        runner: str | None = None,
        extensions: Sequence[Extension] = (),
        calendar: WorkingCalendar | None = None,
        identity: IdentitySource | str | None = AUTO,
        run_due_work: bool = False,
    ) -> Engine:
        """Open the database at ``url`` and load the definitions under ``workflows``.

        A fresh SQLite file is migrated automatically; other databases need
        ``cmc-workflow db upgrade`` first (or ``migrate=True``). Every definition problem
        of every file is raised together as one :class:`DefinitionError`. With
        ``handlers`` given, every serviceTask's handler must be registered in it.

        The engine always runs the policies loaded from ``policies``, the SLA clocks and
        the periodic schedules (``kind: schedules`` files), so that every runner arms and
        stops the same clocks. ``calendar`` is the working-day calendar they count on
        (default: the official mainland table with default settings; load admin files
        with ``WorkingCalendar.from_directory("calendars/")``). A :class:`Clocks` or
        :class:`Schedules` passed in ``extensions`` replaces the default one.

        ``identity`` says where callers' roles come from (SEC-6): ``"auto"`` (the
        default) makes the staff register the source when it holds anybody as the engine
        opens; ``"register"`` makes it the source even while empty; an
        :class:`~cmc_workflow.staff.IdentitySource` of the host's (LDAP, an HR system)
        replaces it; None leaves identity to the host, as before the register existed
        (docs/how-to-register.md).

        With ``run_due_work`` the engine runs its own due work in this process, as the
        daemon would (:meth:`run_due_work`, on a thread of its own, with its defaults), until
        :meth:`close`. Start it after a server forks its workers (docs/how-to-embed.md).
        """
        paths: list[str | Path] = (
            [workflows] if isinstance(workflows, str | Path) else list(workflows)
        )
        if policies is not None:
            paths += [policies] if isinstance(policies, str | Path) else list(policies)
        loaded = load_paths(paths)
        loaded.raise_for_problems()

        def opened() -> Store:
            return Store.open(url, migrate=migrate)

        engine = assemble(
            opened,
            loaded,
            clock=clock,
            handlers=handlers,
            deliver_inline=deliver_inline,
            runner=runner,
            extensions=extensions,
            calendar=calendar,
            identity=identity,
        )
        if run_due_work:
            try:
                engine.run_due_work().start()
            except BaseException:
                engine.close()
                raise
        return engine

    def close(self) -> None:
        """Stop this engine's runner (if one runs: :meth:`Runner.stop
        <cmc_workflow.runner.core.Runner.stop>`), write the pending delivery marks, then
        release the database connections."""
        try:
            if self._runner is not None:
                self._runner.stop()
        finally:
            try:
                self._core.marks.close()
            finally:
                self._core.store.close()

    # -- running due work in this process ------------------------------------------------
    def run_due_work(
        self,
        *,
        poll_interval: float = 5.0,
        batch: int = 500,
        stop_timeout: float | None = 30.0,
    ) -> Runner:
        """A runner of this engine's due work in this process: the daemon's passes
        (timers, schedules, outbox), wake-ups and heartbeat (kind ``in-process``), with
        the schedules this engine loaded. Start it with ``with engine.run_due_work():``
        (its clock on a thread of its own) or ``async with engine.run_due_work():`` (on the running
        event loop, each pass in a worker thread); leaving the block, or :meth:`close`,
        stops it (the pass under way finishes, within ``stop_timeout`` seconds).

        ``poll_interval`` bounds how late work armed by other processes is noticed;
        ``batch`` bounds the timers (and outbox rows) handled per pass. One engine has
        at most one runner; any number of processes may each run one on one database
        (every timer is claimed in the database, so each fires once). Raises
        :class:`~cmc_workflow.errors.DatabaseReadOnly` on a read-only database, and
        :class:`RuntimeError` when this engine already has a runner that is not stopped.
        """
        from cmc_workflow.runner.core import Runner  # APScheduler only for hosts that run

        if self._runner is not None and self._runner.state != "stopped":
            raise RuntimeError(
                f"this engine already has a runner ({self._runner.state}); stop it first"
            )
        self._runner = Runner(
            self,
            poll_interval=poll_interval,
            batch=batch,
            stop_timeout=stop_timeout,
        )
        return self._runner

    def flush_delivery_marks(self) -> None:
        """Write the marks of delivered outbox rows that wait for this engine's next write
        (a runner that stops writes them)."""
        self._core.marks.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions -------------------------------------------------------------------
    @property
    def workflows(self) -> list[str]:
        """The ids of the loaded workflows."""
        return self._core.definitions.ids

    def workflow(self, workflow_id: str) -> CompiledWorkflow:
        """The current compiled version of a workflow."""
        return self._core.definitions.require(workflow_id).workflow

    def reload(self, workflows: Mapping[str, LoadedWorkflow]) -> list[str]:
        """Make new or changed definitions current for new items; returns changed ids.

        Running items stay on the version they started with (decision 3).
        """
        if self._core.strict_handlers:
            check_handlers(workflows.values(), self._core.handlers)
        return self._core.definitions.reload(workflows)

    def versions(self, workflow_id: str) -> list[VersionInfo]:
        """Every stored version of a workflow with its number of open items."""
        return self._core.definitions.versions(workflow_id)

    # -- commands ----------------------------------------------------------------------
    def start(
        self,
        workflow: str,
        *,
        actor: Actor,
        data: Mapping[str, Any] | None = None,
        parent_id: int | None = None,
    ) -> Item:
        """Start an item of ``workflow`` in its start state, with validated ``data``.

        ``parent_id`` links the item to the item it follows from (:meth:`children`)."""
        return commands.start(self._core, workflow, actor, data, parent_id)

    def fire(
        self,
        item_id: int,
        trigger: str,
        *,
        actor: Actor,
        data: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Item:
        """Fire ``trigger`` on an item as ``actor`` with the transition's form ``data``.

        Raises :class:`ItemNotFound`, :class:`InvalidTrigger`, :class:`NotPermitted`,
        :class:`GuardRejected`, :class:`FormInvalid`, :class:`PolicyDenied` or a retryable
        :class:`ConflictError` (also when ``expected_version`` is stale).

        Without ``expected_version``, repeating the item's last command (the same trigger
        by the same person with the same form, which moved the item on) is refused as
        stale (a
        :class:`ConflictError` with rule ``repeated_command``, judged after the roles,
        the form and the policies): a second click on a button the person saw before the
        first one went through would otherwise take the next stage's transition of that
        name. Whoever means to fire it again passes the version they saw.
        """
        return commands.fire(self._core, item_id, trigger, actor, data, expected_version)

    def start_many(
        self,
        workflow: str,
        entries: Sequence[StartEntry | Mapping[str, Any]],
        *,
        actor: Actor | None = None,
    ) -> list[Outcome]:
        """Start one item of ``workflow`` per entry, all in one transaction (group commit):
        each entry is its data (started by ``actor``) or a :class:`StartEntry` (its data,
        and its own actor and parent when it names them).

        Each start is judged and recorded as :meth:`start` would (roles, data, policies;
        history, clocks, outbox, audit); a refused start is undone alone (never the
        others), audited in the batch's transaction and reported in its
        :class:`Outcome`. Returns
        one outcome per entry, in input order. At most
        :data:`~cmc_workflow.engine.batch.MAX_BATCH` entries (more: :class:`InputInvalid`,
        nothing started). An error other than a refusal rolls the whole batch back and is
        raised; retrying the batch is then safe."""
        return batch.start_many(self._core, workflow, entries, actor)

    def fire_many(self, entries: Iterable[FireEntry | Mapping[str, Any]]) -> list[Outcome]:
        """Fire a batch of triggers in one transaction (group commit), in input order:
        each entry a :class:`FireEntry` (item, trigger, actor, form ``data``,
        ``expected_version``) or a mapping of its fields. Each command is judged and
        recorded as :meth:`fire` would; a refused one is undone alone, audited, and
        reported in its :class:`Outcome`. Commands on the same item see each other (the
        second fires on the state the first left). Bounds and failures as for
        :meth:`start_many`."""
        return batch.fire_many(self._core, entries)

    def allowed(self, item_id: int, actor: Actor) -> list[Allowed]:
        """Every trigger of the item's current state, and whether ``actor`` may fire it now.

        A guard that reads a field of the transition's own form cannot be judged before
        the form is filled in: such a trigger is reported as allowed when the actor's
        roles (and the extensions) permit it, and ``fire`` judges the guard.
        """
        return commands.allowed(self._core, item_id, actor)

    # -- queries -----------------------------------------------------------------------
    def get(self, item_id: int, *, actor: Actor | None = None) -> Item:
        """The item as it stands now.

        With ``actor`` (here and in :meth:`children`, :meth:`history`, :meth:`outbox`,
        :meth:`audit_trail`), the reader is admitted as a command's actor would be, and
        an item the extensions hide from them (scoping) is :class:`ItemNotFound` (rule
        ``not_visible``, audited); without, the embedding host reads everything."""
        return queries.get(self._core, item_id, actor)

    def children(self, item_id: int, *, actor: Actor | None = None) -> list[Item]:
        """The items started from item ``item_id`` (``starts:`` or ``parent_id``), oldest
        first (with ``actor``: those they may see)."""
        return queries.children(self._core, item_id, actor)

    def history(self, item_id: int, *, actor: Actor | None = None) -> list[HistoryEntry]:
        """Every accepted step of the item, in order."""
        return queries.history(self._core, item_id, actor)

    def inbox(self, actor: Actor) -> list[Item]:
        """Open items waiting on ``actor``: assigned to them by id, or on one of their roles.

        A state that names an ``assignee`` field waits on the people listed there once
        it is filled, and on the roles that may act there until then. The people listed
        there are compared as a person reads their ids (``Wang`` is ``wang``).
        """
        return queries.inbox(self._core, actor)

    def query(
        self,
        *,
        actor: Actor | None = None,
        workflow: str | None = None,
        states: Sequence[str] = (),
        assignee: str | None = None,
        role: str | None = None,
        open: bool | None = None,
        overdue: bool = False,
        due_before: dt.datetime | None = None,
        sla: str | None = None,
        data: Mapping[str, Any] | None = None,
        created_from: dt.datetime | None = None,
        created_until: dt.datetime | None = None,
        updated_from: dt.datetime | None = None,
        updated_until: dt.datetime | None = None,
        title: str | None = None,
        parent_id: int | None = None,
        sort: str = "created_at",
        descending: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ItemPage:
        """Find items: every filter given must hold; one sorted page and the cursor of the
        next (``page.next_cursor``, None on the last page; pass it back with the same sort).

        ``workflow`` and ``states`` name where items are; ``role`` the open items resting
        where that role may fire something (its queue); ``assignee`` the open items whose
        state's assignee field names that person (as typed or as :func:`normal_id` reads
        it); ``overdue`` a running SLA clock past due now, ``due_before`` one due before
        that time; ``sla`` one of ``running``, ``paused``, ``warned``, ``breached``,
        ``met``; ``data`` equality of top-level data fields (JSON: ``"1"`` is not ``1``);
        ``created_*``/``updated_*`` half-open ranges ``from <= t < until``; ``title`` text
        in the ``title`` field (ASCII case ignored). ``sort`` is ``created_at``,
        ``updated_at`` or ``id`` (then by id). With ``actor``, the actor is admitted as a
        command's would be and items the extensions hide from them are left out (a page
        may then hold fewer than ``limit``). Bad input raises :class:`InputInvalid`."""
        return queries.query(
            self._core,
            actor,
            workflow=workflow,
            states=states,
            assignee=assignee,
            role=role,
            open=open,
            overdue=overdue,
            due_before=due_before,
            sla=sla,
            data=data,
            created_from=created_from,
            created_until=created_until,
            updated_from=updated_from,
            updated_until=updated_until,
            title=title,
            parent_id=parent_id,
            sort=sort,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )

    def my_tasks(self, actor: Actor) -> tuple[list[Item], list[Item]]:
        """The inbox split in two: (mine: claimed by, delegated or assigned to ``actor``;
        queue: waiting on one of their roles, for anyone of it to claim)."""
        return tasks.split_inbox(self._core, actor)

    # -- task operations (issue 14, part 3; docs/how-to-tasks.md) ------------------------
    def claim(self, item_id: int, *, actor: Actor) -> Item:
        """Take a user task from the queue of a role ``actor`` holds (it is theirs until
        they unclaim, delegate or the item moves on). Refused (:class:`TaskRefused`, rule
        named, audited) when the task is someone else's or no role of theirs acts there."""
        return tasks.claim(self._core, item_id, actor)

    def unclaim(self, item_id: int, *, actor: Actor) -> Item:
        """Put a task ``actor`` holds back in its role's queue."""
        return tasks.unclaim(self._core, item_id, actor)

    def delegate(self, item_id: int, to: str, *, actor: Actor) -> Item:
        """Hand a task ``actor`` holds to ``to``, who must hold a role of the state in the
        staff register (and not be on leave); ``to`` may :meth:`hand_back` it."""
        return tasks.delegate(self._core, item_id, actor, to)

    def hand_back(self, item_id: int, *, actor: Actor) -> Item:
        """Return a task delegated to ``actor`` to the person who delegated it."""
        return tasks.hand_back(self._core, item_id, actor)

    def reassign(self, item_id: int, to: str, *, actor: Actor) -> Item:
        """A lead gives the task to ``to``, a holder of a role of the state. The lead roles
        are a policy setting per workflow (``leads:``), by default ``channel_lead`` and
        ``ops_manager``."""
        return tasks.reassign(self._core, item_id, actor, to)

    def outbox(self, item_id: int, *, actor: Actor | None = None) -> list[OutboxRow]:
        """The side effects recorded for an item and their delivery state (this engine's
        delivery marks that wait for its next write are written first)."""
        self._core.marks.flush()
        return queries.outbox(self._core, item_id, actor)

    def audit_trail(self, item_id: int, *, actor: Actor | None = None) -> list[dict[str, Any]]:
        """The audit records naming an item, allowed or refused (SEC-1)."""
        return queries.audit_trail(self._core, item_id, actor)

    # -- delivery ----------------------------------------------------------------------
    def run_due(self, limit: int = 100) -> RunReport:
        """Do the work that is due now (what the daemon calls): the extensions' due work
        (timers), then pending side effects."""
        now = self._core.now()
        done = tasks.cover_due(self._core)  # STF-5: leave and ended posts, before the clocks
        done += sum(extension.run_due(now) for extension in self._core.extensions)
        report = delivery.deliver_due(self._core, limit)
        return RunReport(report.delivered, report.failed, done)

    def fire_system(
        self,
        item_id: int,
        trigger: str,
        *,
        state: str,
        visit: int,
        reason: str,
        tx: StoreTx | None = None,
    ) -> Item | None:
        """Fire ``trigger`` as the engine itself (a timer or deadline step), fenced by the
        state visit: when the item is no longer in ``state`` at ``visit``, nothing happens
        and None is returned. Guards and the policies apply, with ``system`` as the actor
        (a step the engine takes is never a person's approval); the workflow's role lists
        do not. A refusal raises :class:`PolicyDenied` and changes nothing.

        With ``tx`` (a write transaction the caller holds, e.g. the one in which a timer is
        claimed), the step joins it and commits or rolls back with the caller's work; its
        side effects then wait in the outbox for the next delivery pass (the caller records
        a refusal). Without it, a refusal is audited here."""
        return commands.fire_system(
            self._core, item_id, trigger, state=state, visit=visit, reason=reason, tx=tx
        )

    def deliver_outbox(self, limit: int = 100) -> RunReport:
        """Deliver due outbox rows this engine has a handler for; failures are retried later."""
        return delivery.deliver_due(self._core, limit)


def assemble(
    store: StorePort | Callable[[], StorePort],
    loaded: LoadedSet,
    *,
    clock: Clock = system_clock,
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
    deliver_inline: bool = True,
    runner: str | None = None,
    extensions: Sequence[Extension] = (),
    calendar: WorkingCalendar | None = None,
    identity: IdentitySource | str | None = AUTO,
) -> Engine:
    """The composition root: the engine over ``loaded`` (checked: call
    ``loaded.raise_for_problems()`` first) with every extension of
    :func:`~cmc_workflow.engine.assembly.runtime_extensions`.

    ``store`` is an open store (the SQL :class:`Store`, a
    :class:`~cmc_workflow.store.MemoryStore`), or a function that opens one: it is called only
    once the policies and schedules are known to fit, so that definitions that cannot run
    leave no database behind. A store opened here is closed again if the engine cannot be
    built; a store passed in stays the caller's to close. ``identity`` as for
    :meth:`Engine.open` (decided once, here: ``"auto"`` asks the store whether the
    register holds anybody).
    """
    everything = runtime_extensions(loaded, extensions, calendar=calendar)
    opened = store() if callable(store) else store
    try:
        return Engine(
            opened,
            loaded.workflows,
            clock=clock,
            handlers=handlers,
            deliver_inline=deliver_inline,
            runner=runner,
            extensions=everything,
            identity=chosen_source(identity, opened),
        )
    except BaseException:
        if opened is not store:
            opened.close()
        raise
