"""The public façade: start items, fire triggers, ask what is allowed, read state and history.

Every command is one database transaction holding the new state, its history rows, the
outbox rows of its side effects and an audit record (ARCHITECTURE decision 6). A refused
command writes only its audit record. Side effects are delivered after commit, at least
once (:meth:`Engine.deliver_outbox`, also called by :meth:`Engine.run_due`).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import structlog

from cmc_workflow import inputs
from cmc_workflow import steps as steps_
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.compiler import ROUTE_TRIGGER, CompiledWorkflow, Edge
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.loader import LoadedWorkflow
from cmc_workflow.definition.models import Collects
from cmc_workflow.errors import (
    CmcWorkflowError,
    ConflictError,
    EngineError,
    FieldError,
    FormInvalid,
    GuardRejected,
    InputInvalid,
    InvalidTrigger,
    ItemNotFound,
    NotPermitted,
    PolicyDenied,
)
from cmc_workflow.extensions import Change, Command, Extension, Visit
from cmc_workflow.handlers import Handler, HandlerContext, HandlerRegistry, describe
from cmc_workflow.language import load_paths
from cmc_workflow.model import (
    SYSTEM,
    Actor,
    Allowed,
    HistoryEntry,
    Item,
    VersionInfo,
    id_problem,
    is_engine_actor,
    normal_id,
)
from cmc_workflow.policy import Masker, policy_extensions
from cmc_workflow.registry import Registry, Version, check_handlers
from cmc_workflow.schedules import Schedules
from cmc_workflow.steps import Step
from cmc_workflow.store import ItemRow, OutboxRow, Store, Tx

Clock = Callable[[], dt.datetime]
log = structlog.get_logger("cmc_workflow.engine")

MAX_INLINE_CHAIN = 8
MAX_LINK_DEPTH = 8
"""How deep one command may start or gather items that start or gather items in turn."""
"""Handler outcomes that lead into another serviceTask run inline this many times in a
row; the rest of such a chain (or loop) waits for the next delivery pass."""
OUTBOX_LEASE = dt.timedelta(minutes=5)
OUTBOX_MAX_BACKOFF = dt.timedelta(hours=1)


def _utc_times(values: Mapping[str, Any]) -> dict[str, Any]:
    """The datetimes of ``values`` in UTC, as the store gives them back."""
    return {k: v.astimezone(dt.UTC) for k, v in values.items() if isinstance(v, dt.datetime)}


def _start_refusal(actor: Actor, wf: CompiledWorkflow) -> str | None:
    """Why ``actor`` may not start an item of ``wf`` (None: they hold a start role)."""
    roles = wf.definition.start.roles
    if actor.roles & set(roles):
        return None
    return (
        f"{actor.id} may not start {wf.id!r}: it needs one of the roles {sorted(roles)}, "
        f"they hold {sorted(actor.roles) or 'none'}"
    )


def _check_inputs(
    *,
    texts: Mapping[str, object] | None = None,
    ids: Mapping[str, object] | None = None,
    data: object = None,
) -> None:
    """Refuse a command's input the store could not hold or a person could not read
    (:class:`InputInvalid`, naming every bad field): ids of the wrong type or wider than
    their columns, item ids outside 64 bits, data that is not a mapping or holds NUL, lone
    surrogates or numbers that are not finite."""
    errors: list[FieldError] = []
    for name, value in (texts or {}).items():
        problem = inputs.text_problem(name, value)
        if problem is not None:
            errors.append(problem)
    for name, value in (ids or {}).items():
        bounds = inputs.INT32 if name == "expected_version" else inputs.INT64
        problem = inputs.int_problem(name, value, bounds, optional=name != "item_id")
        if problem is not None:
            errors.append(problem)
    errors += inputs.data_problems("data", data)
    if errors:
        raise InputInvalid(errors)


def _canonical(form: Mapping[str, Any]) -> str:
    return json.dumps(form, sort_keys=True, ensure_ascii=False, default=str)


def _people_normalised(wf: CompiledWorkflow, values: dict[str, Any]) -> list[FieldError]:
    """Normalise, in place, the people named in ``values``' assignee fields (the fields
    a state's ``assignee:`` names), so that they compare with actor ids as a person
    reads them; returns the ids that cannot name a person."""
    errors: list[FieldError] = []
    for name in {s.assignee for s in wf.definition.states.values() if s.assignee}:
        value = values.get(name)
        people = value if isinstance(value, list) else [value]
        if not any(isinstance(p, str) for p in people):
            continue
        normal: list[Any] = []
        for n, person in enumerate(people):
            problem = id_problem(person) if isinstance(person, str) else None
            if problem is not None and problem[0] != "actor_id_reserved":
                where = f"{name}[{n}]" if isinstance(value, list) else name
                errors.append(FieldError(where, problem[1], problem[2]))
            normal.append(normal_id(person) if isinstance(person, str) else person)
        values[name] = normal if isinstance(value, list) else normal[0]
    return errors


def _reused_elsewhere(wf: CompiledWorkflow, state: str, trigger: str) -> bool:
    """Whether a state other than ``state`` offers ``trigger`` too."""
    return any(
        edge.trigger == trigger
        for name in wf.definition.states
        if name != state
        for edge in wf.edges(name)
    )


def _refuse_repeated(
    tx: Tx,
    wf: CompiledWorkflow,
    row: ItemRow,
    trigger: str,
    actor: Actor,
    form: Mapping[str, Any],
) -> None:
    """Refuse a stale repeat (rule ``repeated_command``): the item's last command was this
    trigger by this person with this form and moved the item on, so the same click again
    is one made before the first went through, landing on the next stage's trigger of that
    name. A different form is a new command (e.g. a second anomaly reported)."""
    if not _reused_elsewhere(wf, row.state, trigger):
        return  # no other state offers it: nothing could have moved the item here by it
    last = tx.last_command(row.id)
    if (
        last is None
        or last["kind"] != "fire"
        or last["trigger"] != trigger
        or normal_id(last["actor"]) != actor.id  # rows of older releases hold ids as typed
        or last["from_state"] == last["to_state"]
        or _canonical(last["form"]) != _canonical(form)
    ):
        return
    repeated = ConflictError(
        f"{actor.id} fired {trigger!r} on item {row.id} already (it moved from "
        f"{last['from_state']!r} to {last['to_state']!r}, step {last['seq']}); the same "
        f"command again is taken as a stale repeat. Reload the item and, to fire "
        f"{trigger!r} again in {row.state!r}, pass the version you saw (now {row.version})",
        item_id=str(row.id),
        trigger=trigger,
        state=row.state,
        rule="repeated_command",
        reason_zh=f"{actor.id} 已对事项 {row.id} 执行过 {trigger}（第 {last['seq']} 步，"
        f"由 {last['from_state']} 转至 {last['to_state']}），重复的同一操作视为过时的重复点击。"
        f"请刷新事项；如确需在 {row.state} 再次执行 {trigger}，请传入所见版本号"
        f"（当前为 {row.version}）",
    )
    repeated.retryable = False  # the same call again is the same repeat: reload first
    raise repeated


def system_clock() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one :meth:`Engine.run_due` pass did."""

    delivered: int
    failed: int
    extensions: int = 0


class Engine:
    """Moves items through their workflows and remembers every step.

    Open it with :meth:`open` and use it as a context manager::

        with Engine.open("sqlite:///cmc.db", workflows="workflows/") as engine:
            item = engine.start("publishing", actor=Actor("wang", {"editor"}), data={...})
    """

    def __init__(
        self,
        store: Store,
        workflows: Mapping[str, LoadedWorkflow],
        *,
        clock: Clock = system_clock,
        handlers: HandlerRegistry | Mapping[str, Handler] | None = None,
        deliver_inline: bool = True,
        runner: str | None = None,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.store = store
        self.extensions = tuple(extensions)
        self.clock = clock
        self.strict_handlers = handlers is not None
        self.handlers = HandlerRegistry.coerce(handlers)
        self.deliver_inline = deliver_inline
        self.runner = runner or f"runner-{uuid.uuid4().hex[:12]}"
        self.definitions = Registry(store, self._now)
        if self.strict_handlers:
            check_handlers(workflows.values(), self.handlers)
        for loaded in workflows.values():
            self.definitions.register(loaded)
        for extension in self.extensions:
            extension.bind(self)

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
        """
        paths: list[str | Path] = (
            [workflows] if isinstance(workflows, str | Path) else list(workflows)
        )
        if policies is not None:
            paths += [policies] if isinstance(policies, str | Path) else list(policies)
        loaded = load_paths(paths)
        loaded.raise_for_problems()
        calendar = calendar if calendar is not None else WorkingCalendar()
        given = {type(extension) for extension in extensions}
        time: list[Extension] = []
        if Clocks not in given:
            time.append(Clocks(calendar))
        if Schedules not in given:
            time.append(Schedules.from_loaded(loaded, calendar))
        # the policies judge first; the clocks follow what was accepted
        extensions = [*policy_extensions(loaded), *time, *extensions]
        store = Store.open(url, migrate=migrate)
        try:
            return cls(
                store,
                loaded.workflows,
                clock=clock,
                handlers=handlers,
                deliver_inline=deliver_inline,
                runner=runner,
                extensions=extensions,
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions -------------------------------------------------------------------
    @property
    def workflows(self) -> list[str]:
        """The ids of the loaded workflows."""
        return self.definitions.ids

    def workflow(self, workflow_id: str) -> CompiledWorkflow:
        """The current compiled version of a workflow."""
        return self.definitions.require(workflow_id).workflow

    def reload(self, workflows: Mapping[str, LoadedWorkflow]) -> list[str]:
        """Make new or changed definitions current for new items; returns changed ids.

        Running items stay on the version they started with (decision 3).
        """
        if self.strict_handlers:
            check_handlers(workflows.values(), self.handlers)
        return self.definitions.reload(workflows)

    def versions(self, workflow_id: str) -> list[VersionInfo]:
        """Every stored version of a workflow with its number of open items."""
        return self.definitions.versions(workflow_id)

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
        now = self._now()
        caller: object = actor
        try:
            actor = caller = self._resolved(actor)
            _check_inputs(texts={"workflow": workflow}, ids={"parent_id": parent_id}, data=data)
            with self.store.write() as tx:
                if parent_id is not None:
                    self._load(tx, parent_id)  # a missing parent is not found, not a race
                row, version, outbox = self._start_in(
                    tx, workflow, actor, dict(data or {}), parent_id, now, self._claim_until(now, 0)
                )
        except EngineError as exc:
            self._audit_refusal(caller, "start", workflow, None, None, exc, now)
            raise
        log.info("item_started", workflow=workflow, item_id=row.id, state=row.state, actor=actor.id)
        if self._deliver_after_commit(outbox):
            return self.get(row.id)
        return self._item(row, version)

    def _start_in(
        self,
        tx: Tx,
        workflow: str,
        actor: Actor,
        values: dict[str, Any],
        parent_id: int | None,
        now: dt.datetime,
        claim_until: dt.datetime | None,
        depth: int = 0,
    ) -> tuple[ItemRow, Version, list[dict[str, Any]]]:
        """Start an item inside ``tx`` (a command's own start, or a child that a
        transition's ``starts:`` opens); returns the row written, its version and the
        outbox rows queued."""
        version = self.definitions.require(workflow)
        wf = version.workflow
        start = wf.definition.start
        refusal = _start_refusal(actor, wf)
        if refusal is not None:
            raise NotPermitted(refusal, trigger="start")
        clean = self._validated_data(wf, values)
        first = Step(
            kind="start",
            trigger=None,
            source=None,
            target=start.state,
            visit=1,
            actor=actor,
            roles=tuple(sorted(actor.roles & set(start.roles))),
            form=clean,
            notify=(),
        )
        command = Command("start", actor, wf, None, None, None, clean, clean, start.state, now)
        for extension in self.extensions:
            extension.check(command, tx)
        steps, state, visit = steps_.walk(wf, first, clean)
        gathered = self._gathering(tx, steps, clean)
        row_values = {
            "workflow_id": workflow,
            "definition_id": version.row.id,
            "state": state,
            "data": clean,
            "visit": visit,
            "seq": len(steps),
            "version": 1,
            "created_at": now,
            "created_by": actor.id,
            "updated_at": now,
            "closed_at": now if wf.is_end(state) else None,
            "parent_id": parent_id,
        }
        item_id = tx.insert_item(row_values)
        # what was written, as it reads back (times in UTC): no re-select needed
        row = ItemRow(id=item_id, **{**row_values, **_utc_times(row_values)})
        outbox = self._persist_steps(tx, wf, item_id, 0, steps, clean, now, claim_until)
        self._after_change(tx, wf, item_id, "start", actor, None, steps, clean, now)
        self._audit(tx, actor, "start", workflow, item_id, None, "accepted", now)
        outbox += self._links(tx, wf, row, steps, gathered, actor, now, claim_until, depth)
        return row, version, outbox

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
        now = self._now()
        caller: object = actor
        workflow: str | None = None
        try:
            actor = caller = self._resolved(actor)
            _check_inputs(
                texts={"trigger": trigger},
                ids={"item_id": item_id, "expected_version": expected_version},
                data=data,
            )
            form = dict(data or {})
            with self.store.write() as tx:
                row = self._load(tx, item_id, lock=True)
                workflow = row.workflow_id
                if expected_version is not None and row.version != expected_version:
                    raise ConflictError(
                        f"item {item_id} is at version {row.version}, not {expected_version}: "
                        "someone acted on it first; reload it",
                        item_id=str(item_id),
                        trigger=trigger,
                        state=row.state,
                        reason_zh=f"事项 {item_id} 已是第 {row.version} 版，而非 "
                        f"{expected_version}：已有人先行操作，请刷新后重试",
                    )
                version = self.definitions.version(tx, row.definition_id)
                edge, clean = self._choose(version.workflow, row, trigger, actor, form)
                command = Command(
                    "fire",
                    actor,
                    version.workflow,
                    row,
                    trigger,
                    edge,
                    clean,
                    {**row.data, **clean},
                    edge.target,
                    now,
                )
                for extension in self.extensions:
                    extension.check(command, tx)
                if expected_version is None:
                    _refuse_repeated(tx, version.workflow, row, trigger, actor, clean)
                outbox, new_row = self._apply(
                    tx,
                    version.workflow,
                    row,
                    edge,
                    clean,
                    actor,
                    "fire",
                    now,
                    self._claim_until(now, 0),
                )
                self._audit(tx, actor, "fire", workflow, item_id, trigger, "accepted", now)
        except EngineError as exc:
            self._audit_refusal(caller, "fire", workflow, item_id, trigger, exc, now)
            raise
        log.info(
            "item_fired",
            workflow=workflow,
            item_id=item_id,
            trigger=trigger,
            state=new_row.state,
            actor=actor.id,
        )
        if self._deliver_after_commit(outbox):
            return self.get(item_id)  # a handler moved it on already
        return self._item(new_row, version)

    def allowed(self, item_id: int, actor: Actor) -> list[Allowed]:
        """Every trigger of the item's current state, and whether ``actor`` may fire it now.

        A guard that reads a field of the transition's own form cannot be judged before
        the form is filled in: such a trigger is reported as allowed when the actor's
        roles (and the extensions) permit it, and ``fire`` judges the guard.
        """
        now = self._now()
        caller: object = actor
        try:
            actor = caller = self._resolved(actor)
            _check_inputs(ids={"item_id": item_id})
        except EngineError as exc:
            self._audit_refusal(caller, "allowed", None, item_id, None, exc, now)
            raise
        result = []
        with self.store.read() as tx:
            row = self._load(tx, item_id)
            wf = self.definitions.version(tx, row.definition_id).workflow
            for trigger in wf.triggers(row.state):
                edge, reasons, rules = self._judge(tx, wf, row, trigger, actor, now)
                label = edge.spec.label.zh if edge.spec.label else trigger
                result.append(
                    Allowed(
                        trigger=trigger,
                        allowed=not reasons,
                        target=edge.target,
                        label=label,
                        reasons=tuple(reasons),
                        form=tuple(edge.form),
                        rules=tuple(rules),
                    )
                )
        return result

    def _judge(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        row: ItemRow,
        trigger: str,
        actor: Actor,
        now: dt.datetime,
    ) -> tuple[Edge, list[str], list[str]]:
        """Would ``trigger`` be accepted for ``actor`` now (with an empty form)?"""
        edge = next(e for e in wf.edges(row.state) if e.trigger == trigger)
        if row.closed_at is not None:
            return edge, ["the item is closed"], ["closed"]
        try:
            edge = self._permitted_edge(wf, row, trigger, actor, {})
        except GuardRejected as exc:
            # a guard on what the actor will submit cannot be judged before they do
            pending = self._decided_by_form(wf, row.state, trigger, actor)
            if pending is None:
                return edge, [str(exc)], [type(exc).__name__]
            edge = pending
        except EngineError as exc:
            return edge, [str(exc)], [type(exc).__name__]
        if edge.spec.children_closed:
            try:
                self._refuse_open_children(tx, row, edge)
            except GuardRejected as exc:
                return edge, [str(exc)], [type(exc).__name__]
        for child in edge.starts:
            current = self.definitions.current(child.workflow)
            refusal = _start_refusal(actor, current.workflow) if current else None
            if refusal is not None:
                return edge, [f"{trigger!r} opens an item that {refusal}"], ["NotPermitted"]
        command = Command(  # a probe: the form comes with fire()
            "fire", actor, wf, row, trigger, edge, {}, dict(row.data), edge.target, now, probe=True
        )
        reasons: list[str] = []
        rules: list[str] = []
        for extension in self.extensions:
            try:
                extension.check(command, tx)
            except PolicyDenied as exc:
                reasons.append(str(exc))
                rules.append(exc.rule)
        return edge, reasons, rules

    @staticmethod
    def _decided_by_form(
        wf: CompiledWorkflow, state: str, trigger: str, actor: Actor
    ) -> Edge | None:
        """The first transition of ``trigger`` open to ``actor`` whose guard reads a field of
        its own form (``form.x``, or ``data.x`` with the form merged over the data)."""
        for edge in wf.edges(state):
            if (
                edge.trigger == trigger
                and actor.roles & edge.roles
                and edge.guard is not None
                and edge.guard.fields & set(edge.form)
            ):
                return edge
        return None

    # -- queries -----------------------------------------------------------------------
    def get(self, item_id: int) -> Item:
        """The item as it stands now."""
        with self.store.read() as tx:
            row = self._load(tx, item_id)
            version = self.definitions.version(tx, row.definition_id)
        return self._item(row, version)

    def children(self, item_id: int) -> list[Item]:
        """The items started from item ``item_id`` (``starts:`` or ``parent_id``), oldest
        first."""
        with self.store.read() as tx:
            self._load(tx, item_id)
            rows = tx.children(item_id)
            return [self._item(r, self.definitions.version(tx, r.definition_id)) for r in rows]

    def history(self, item_id: int) -> list[HistoryEntry]:
        """Every accepted step of the item, in order."""
        with self.store.read() as tx:
            self._load(tx, item_id)
            rows = tx.history(item_id)
        return [
            HistoryEntry(
                seq=r["seq"],
                at=r["at"],
                kind=r["kind"],
                trigger=r["trigger"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                visit=r["visit"],
                actor=r["actor"],
                roles=tuple(r["roles"]),
                form=r["form"],
            )
            for r in rows
        ]

    def inbox(self, actor: Actor) -> list[Item]:
        """Open items waiting on ``actor``: assigned to them by id, or on one of their roles.

        A state that names an ``assignee`` field waits on the people listed there once
        it is filled, and on the roles that may act there until then. The people listed
        there are compared as a person reads their ids (``Wang`` is ``wang``).
        """
        try:
            admitted = self._resolved(actor)
        except EngineError as exc:
            self._audit_refusal(actor, "inbox", None, None, None, exc, self._now())
            raise
        actor = admitted
        with self.store.read() as tx:
            versions = [self.definitions.version(tx, d) for d in tx.open_definition_ids()]
            pairs = sorted(
                {
                    (v.workflow.id, name)
                    for v in versions
                    for name, state in v.workflow.definition.states.items()
                    if state.type == "userTask"
                }
            )
            rows = tx.open_items(pairs)
            found = []
            for row in rows:
                version = self.definitions.version(tx, row.definition_id)
                if self._waits_on(version.workflow, row, actor) and all(
                    ext.visible(actor, row, version.workflow) for ext in self.extensions
                ):
                    found.append(self._item(row, version))
        return found

    def outbox(self, item_id: int) -> list[OutboxRow]:
        """The side effects recorded for an item and their delivery state."""
        with self.store.read() as tx:
            return tx.outbox_of(item_id)

    def audit_trail(self, item_id: int) -> list[dict[str, Any]]:
        """The audit records naming an item, allowed or refused (SEC-1)."""
        with self.store.read() as tx:
            return tx.audit_of(item_id)

    # -- delivery ----------------------------------------------------------------------
    def run_due(self, limit: int = 100) -> RunReport:
        """Do the work that is due now (what the daemon calls): the extensions' due work
        (timers), then pending side effects."""
        now = self._now()
        done = sum(extension.run_due(now) for extension in self.extensions)
        report = self.deliver_outbox(limit)
        return RunReport(report.delivered, report.failed, done)

    def fire_system(
        self,
        item_id: int,
        trigger: str,
        *,
        state: str,
        visit: int,
        reason: str,
        tx: Tx | None = None,
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
        if tx is not None:  # not delivered inline: its side effects stay unclaimed
            done = self._fire_system(tx, item_id, trigger, state, visit, reason, inline=False)
            return None if done is None else self._item(done[0], done[1])
        try:
            with self.store.write() as own:
                done = self._fire_system(own, item_id, trigger, state, visit, reason, inline=True)
        except PolicyDenied as exc:
            self._audit_system_refusal(exc, "timer", item_id, trigger, reason)
            raise
        if done is None:
            return None
        new_row, version, outbox = done
        if self._deliver_after_commit(outbox):
            return self.get(item_id)
        return self._item(new_row, version)

    def _fire_system(
        self,
        tx: Tx,
        item_id: int,
        trigger: str,
        state: str,
        visit: int,
        reason: str,
        *,
        inline: bool,
    ) -> tuple[ItemRow, Version, list[dict[str, Any]]] | None:
        now = self._now()
        row = self._load(tx, item_id, lock=True)
        if row.state != state or row.visit != visit or row.closed_at is not None:
            return None
        version = self.definitions.version(tx, row.definition_id)
        wf = version.workflow
        edge = wf.take(row.state, trigger, steps_.scope(row.data, {}, SYSTEM))
        self._check_system(tx, "timer", wf, row, edge, now)
        claim_until = self._claim_until(now, 0) if inline else None
        outbox, new_row = self._apply(tx, wf, row, edge, {}, SYSTEM, "timer", now, claim_until)
        self._audit(
            tx,
            SYSTEM,
            "timer",
            wf.id,
            item_id,
            trigger,
            "accepted",
            now,
            reason=reason,
        )
        return new_row, version, outbox

    def deliver_outbox(self, limit: int = 100) -> RunReport:
        """Deliver due outbox rows this engine has a handler for; failures are retried later."""
        return self._deliver_due(limit, depth=0)

    def _deliver_due(self, limit: int, *, depth: int) -> RunReport:
        now = self._now()
        names = self.handlers.names()
        # look first without a lock: an idle daemon's poll must not take SQLite's write lock
        with self.store.read() as tx:
            if not tx.has_due_outbox(now, handler_names=names):
                return RunReport(0, 0)
        with self.store.write() as tx:
            rows = tx.claim_outbox(now, self.runner, OUTBOX_LEASE, limit, handler_names=names)
        delivered = failed = 0
        for row in rows:
            if self._deliver(row, depth):
                delivered += 1
            else:
                failed += 1
        return RunReport(delivered, failed)

    def _claim_until(self, now: dt.datetime, depth: int) -> dt.datetime | None:
        """Until when a command's side effects are claimed for inline delivery, or None
        when this engine will not deliver them inline (the daemon will)."""
        if not self.deliver_inline or depth >= MAX_INLINE_CHAIN:
            return None
        return now + OUTBOX_LEASE

    def _deliver_after_commit(self, outbox: list[dict[str, Any]], depth: int = 0) -> bool:
        """Deliver what a command just queued (inline mode); True if a handler ran.

        The rows were inserted claimed by this runner in the command's own transaction
        (no separate claiming transaction, and no other runner races for them); if this
        process dies before delivering, the claim expires after ``OUTBOX_LEASE`` and any
        runner delivers them (at least once)."""
        mine = [o for o in outbox if o.get("claimed_by") == self.runner]
        try:
            for values in mine:
                row = OutboxRow(
                    id=values["id"],
                    item_id=values["item_id"],
                    kind=values["kind"],
                    name=values["name"],
                    payload=copy.deepcopy(values["payload"]),  # as a fresh read would give
                    idempotency_key=values["idempotency_key"],
                    attempts=values["attempts"],
                    available_at=values["available_at"],
                    delivered_at=None,
                    last_error=None,
                )
                self._deliver(row, depth)
        except CmcWorkflowError as exc:
            # the command is committed: a database failure here must not look like a
            # refusal (a caller retrying would fire twice); the claims expire and the
            # rows are delivered by a later pass
            log.error("inline_delivery_failed", error=describe(exc))
            return False
        return any(o["kind"] == "handler" for o in mine)

    def _deliver(self, row: OutboxRow, depth: int) -> bool:
        payload = row.payload
        ctx = HandlerContext(
            item_id=row.item_id or 0,
            workflow=payload.get("workflow", ""),
            state=payload.get("state", ""),
            visit=payload.get("visit", 0),
            data=payload.get("data", {}),
            idempotency_key=row.idempotency_key,
            attempt=row.attempts + 1,
            payload=payload,
        )
        bound = log.bind(item_id=row.item_id, outbox_id=row.id, kind=row.kind, name=row.name)
        try:
            if row.kind == "notify":
                self.handlers.notifier(row.name, ctx)
                outcome = None
            else:
                handler = self.handlers.get(row.name)
                assert handler is not None  # claimed only for registered names
                outcome = handler(ctx)
            follow_up: list[dict[str, Any]] = []
            with self.store.write() as tx:
                if tx.finish_outbox(row.id, self.runner, self._now()) and row.kind == "handler":
                    follow_up = self._handler_outcome(tx, row, outcome, depth + 1)
        except (Exception, CmcWorkflowError) as exc:  # a handler may raise anything
            wait = min(dt.timedelta(seconds=10 * 2**row.attempts), OUTBOX_MAX_BACKOFF)
            with self.store.write() as tx:
                tx.retry_outbox(row.id, self.runner, describe(exc), self._now() + wait)
            bound.warning("delivery_failed", attempt=ctx.attempt, error=describe(exc))
            return False
        bound.info("delivered", attempt=ctx.attempt)
        self._deliver_after_commit(follow_up, depth + 1)
        return True

    def _handler_outcome(
        self, tx: Tx, row: OutboxRow, outcome: str | None, depth: int
    ) -> list[dict[str, Any]]:
        """Take the serviceTask's outcome; returns the follow-up outbox rows (claimed for
        inline delivery at ``depth`` when the engine delivers inline)."""
        assert row.item_id is not None
        item = self._load(tx, row.item_id, lock=True)
        if item.state != row.payload["state"] or item.visit != row.payload["visit"]:
            return []  # the item left that state meanwhile: the outcome is stale
        wf = self.definitions.version(tx, item.definition_id).workflow
        edges = wf.edges(item.state)
        if outcome is None:
            edge = next((e for e in edges if e.default), edges[0])
        else:
            edge = wf.take(item.state, outcome, steps_.scope(item.data, {}, SYSTEM))
        now = self._now()
        try:
            self._check_system(tx, "handler", wf, item, edge, now)
        except PolicyDenied as exc:
            # nothing is written yet: the item stays in the serviceTask, the refusal is
            # audited with the handler's delivery (re-running the handler would not help)
            self._audit(
                tx,
                SYSTEM,
                "handler",
                item.workflow_id,
                item.id,
                edge.trigger,
                "refused",
                now,
                rule=exc.rule,
                reason=str(exc),
                detail={"state": item.state, "reason_zh": exc.reason_zh},
            )
            log.warning(
                "system_step_refused",
                command="handler",
                item_id=item.id,
                trigger=edge.trigger,
                rule=exc.rule,
            )
            return []
        outbox, _new_row = self._apply(
            tx, wf, item, edge, {}, SYSTEM, "handler", now, self._claim_until(now, depth)
        )
        self._audit(tx, SYSTEM, "handler", item.workflow_id, item.id, edge.trigger, "accepted", now)
        return outbox

    def _check_system(
        self, tx: Tx, kind: str, wf: CompiledWorkflow, row: ItemRow, edge: Edge, now: dt.datetime
    ) -> None:
        """Judge a step the engine takes itself (``kind``: timer, handler) by the same
        extensions as a person's command, with ``system`` as the actor."""
        command = Command(
            kind, SYSTEM, wf, row, edge.trigger, edge, {}, dict(row.data), edge.target, now
        )
        for extension in self.extensions:
            extension.check(command, tx)

    def _audit_system_refusal(
        self, exc: PolicyDenied, kind: str, item_id: int, trigger: str, reason: str
    ) -> None:
        """Record a refused system step in its own transaction (the step's rolled back)."""
        now = self._now()
        with self.store.write() as tx:
            row = tx.item(item_id)
            self._audit(
                tx,
                SYSTEM,
                kind,
                row.workflow_id if row is not None else None,
                item_id,
                trigger,
                "refused",
                now,
                rule=exc.rule,
                reason=f"{reason}: {exc}",
                detail={"state": exc.state, "reason_zh": exc.reason_zh},
            )
        log.warning(
            "system_step_refused", command=kind, item_id=item_id, trigger=trigger, rule=exc.rule
        )

    # -- internals ---------------------------------------------------------------------
    def _resolved(self, actor: object) -> Actor:
        """``actor`` as a command takes them: admitted at the boundary (id normalised, or
        :class:`IdentityRefused`), then as the extensions see them (e.g. with roles held
        through inheritance). Inherited roles may not reach the engine's own role."""
        admitted = inputs.admitted(actor)
        resolved = admitted
        for extension in self.extensions:
            resolved = extension.resolve(resolved)
        if resolved is not admitted and not is_engine_actor(admitted):
            inputs.admitted(Actor(resolved.id, resolved.roles, resolved.attributes))
        return resolved

    def _now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the engine's clock must return aware datetimes")
        return now

    def _load(self, tx: Tx, item_id: int, *, lock: bool = False) -> ItemRow:
        row = tx.item(item_id, lock=lock)
        if row is None:
            raise ItemNotFound(f"no item {item_id}", item_id=str(item_id))
        return row

    def _validated_data(self, wf: CompiledWorkflow, values: dict[str, Any]) -> dict[str, Any]:
        spec = wf.definition.data
        if not spec:
            return values
        clean, errors = validate_values(spec, values)
        errors += _people_normalised(wf, clean)
        if errors:
            raise FormInvalid(errors, trigger="start", state=wf.initial)
        return clean

    def _permitted_edge(
        self,
        wf: CompiledWorkflow,
        row: ItemRow,
        trigger: str,
        actor: Actor,
        form: Mapping[str, Any],
    ) -> Edge:
        candidates = [e for e in wf.edges(row.state) if e.trigger == trigger]
        if not candidates or trigger == ROUTE_TRIGGER:
            raise InvalidTrigger(
                f"{trigger!r} cannot be fired in state {row.state!r}; possible here: "
                f"{', '.join(wf.triggers(row.state)) or 'nothing'}",
                item_id=str(row.id),
                trigger=trigger,
                state=row.state,
            )
        allowed_roles = set().union(*(e.roles for e in candidates))
        if not actor.roles & allowed_roles:
            raise NotPermitted(
                f"{actor.id} may not fire {trigger!r} in {row.state!r}: it needs one of the "
                f"roles {sorted(allowed_roles)}, they hold {sorted(actor.roles) or 'none'}",
                item_id=str(row.id),
                trigger=trigger,
                state=row.state,
            )
        try:
            edge = wf.take(row.state, trigger, steps_.scope(row.data, form, actor))
        except GuardRejected as exc:
            exc.item_id = str(row.id)
            raise
        if not actor.roles & edge.roles:
            raise NotPermitted(
                f"{actor.id} may not fire {trigger!r} here now: this case needs one of "
                f"{sorted(edge.roles)}",
                item_id=str(row.id),
                trigger=trigger,
                state=row.state,
            )
        return edge

    def _choose(
        self,
        wf: CompiledWorkflow,
        row: ItemRow,
        trigger: str,
        actor: Actor,
        form: dict[str, Any],
    ) -> tuple[Edge, dict[str, Any]]:
        if row.closed_at is not None:
            raise InvalidTrigger(
                f"item {row.id} is closed (in {row.state!r}); nothing can be fired",
                item_id=str(row.id),
                trigger=trigger,
                state=row.state,
            )
        edge = self._permitted_edge(wf, row, trigger, actor, form)
        clean, errors = validate_values(edge.form, form)
        # submitted values are merged into the item's data: a form field that is also a
        # data field must keep the data valid (an optional `title` may not blank it)
        spec = wf.definition.data
        overlap = {name: spec[name] for name in clean if name in spec}
        if overlap:
            _ignored, data_errors = validate_values(overlap, {k: clean[k] for k in overlap})
            errors += data_errors
        errors += _people_normalised(wf, clean)
        if errors:
            raise FormInvalid(errors, item_id=str(row.id), trigger=trigger, state=row.state)
        return edge, clean

    def _apply(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        row: ItemRow,
        edge: Edge,
        form: dict[str, Any],
        actor: Actor,
        kind: str,
        now: dt.datetime,
        claim_until: dt.datetime | None = None,
        depth: int = 0,
    ) -> tuple[list[dict[str, Any]], ItemRow]:
        """Write the transition ``edge`` of ``row`` (and the gateway hops after it);
        returns the queued outbox rows and the item as written."""
        data = {**row.data, **form}
        moved = edge.target != row.state
        first = Step(
            kind=kind,
            trigger=edge.trigger,
            source=row.state,
            target=edge.target,
            visit=row.visit + 1 if moved else row.visit,
            actor=actor,
            roles=tuple(sorted(actor.roles & edge.roles)),
            form=form,
            notify=edge.notify,
            edge=edge,
        )
        steps, state, visit = steps_.walk(wf, first, data)
        for step in steps:
            if step.edge is not None and step.edge.spec.children_closed:
                self._refuse_open_children(tx, row, step.edge)
        gathered = self._gathering(tx, steps, data)
        values = {
            "state": state,
            "data": data,
            "visit": visit,
            "seq": row.seq + len(steps),
            "updated_at": now,
            "closed_at": now if wf.is_end(state) else None,
        }
        tx.update_item(row.id, row.version, values)
        # the row as written (the UPDATE checked the version): no re-select needed
        new_row = replace(row, version=row.version + 1, **{**values, **_utc_times(values)})
        outbox = self._persist_steps(tx, wf, row.id, row.seq, steps, data, now, claim_until)
        left = Visit(row.state, row.visit) if moved else None
        self._after_change(tx, wf, row.id, kind, actor, left, steps, data, now)
        outbox += self._links(tx, wf, new_row, steps, gathered, actor, now, claim_until, depth)
        return outbox, new_row

    # -- links between items: starts, collects, children_closed -------------------------
    def _refuse_open_children(self, tx: Tx, row: ItemRow, edge: Edge) -> None:
        """Refuse a ``children_closed`` transition while an item this one started is open."""
        waiting = tx.open_children(row.id)
        if waiting:
            names = ", ".join(f"{c.workflow_id} {c.id} ({c.state})" for c in waiting[:10])
            more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
            raise GuardRejected(
                f"{edge.trigger!r} is not possible while items this one started are open: "
                f"{names}{more}",
                item_id=str(row.id),
                trigger=edge.trigger,
                state=row.state,
            )

    def _gathering(
        self, tx: Tx, steps: list[Step], data: dict[str, Any]
    ) -> list[tuple[Collects, list[ItemRow]]]:
        """The open items the steps' ``collects:`` gather, found before the item is
        written so that their ``count`` goes into its data."""
        found: list[tuple[Collects, list[ItemRow]]] = []
        for step in steps:
            spec = step.edge.spec.collects if step.edge is not None else None
            if spec is None:
                continue
            rows = tx.open_items([(spec.workflow, s) for s in spec.states])
            found.append((spec, rows))
            if spec.count is not None:
                data[spec.count] = len(rows)
        return found

    def _links(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        row: ItemRow,
        steps: list[Step],
        gathered: list[tuple[Collects, list[ItemRow]]],
        actor: Actor,
        now: dt.datetime,
        claim_until: dt.datetime | None,
        depth: int,
    ) -> list[dict[str, Any]]:
        """Carry out the steps' ``starts:`` and ``collects:`` in the command's transaction;
        returns the outbox rows the opened and gathered items queued."""
        if not gathered and not any(s.edge is not None and s.edge.starts for s in steps):
            return []
        if depth >= MAX_LINK_DEPTH:
            raise EngineError(
                f"items started or gathered more than {MAX_LINK_DEPTH} levels deep in one "
                "command: the definitions start each other in a loop",
                item_id=str(row.id),
                state=row.state,
            )
        outbox: list[dict[str, Any]] = []
        for step in steps:
            if step.edge is None or not step.edge.starts:
                continue
            scope = {
                **steps_.scope(row.data, step.form, actor),
                "item": {"id": row.id, "workflow": wf.id},
            }
            for child in step.edge.starts:
                for values in child.data_for(scope):
                    _row, _version, queued = self._start_in(
                        tx, child.workflow, actor, values, row.id, now, claim_until, depth + 1
                    )
                    outbox += queued
        for spec, rows in gathered:
            for other in rows:
                outbox += self._collect(tx, spec, other, row, actor, now, claim_until, depth)
        return outbox

    def _collect(
        self,
        tx: Tx,
        spec: Collects,
        other: ItemRow,
        into: ItemRow,
        actor: Actor,
        now: dt.datetime,
        claim_until: dt.datetime | None,
        depth: int,
    ) -> list[dict[str, Any]]:
        """Fire ``spec.trigger`` on a gathered item: its guards, form and policies apply;
        its role lists do not (the gathering transition's roles admitted the actor)."""
        other_wf = self.definitions.version(tx, other.definition_id).workflow
        form = {spec.link: into.id} if spec.link is not None else {}
        try:
            edge = other_wf.take(other.state, spec.trigger, steps_.scope(other.data, form, actor))
            clean, errors = validate_values(edge.form, form)
            if errors:
                raise FormInvalid(
                    errors, item_id=str(other.id), trigger=spec.trigger, state=other.state
                )
            command = Command(
                "collect",  # the engine's step on the gathered item, never an approval
                actor,
                other_wf,
                other,
                spec.trigger,
                edge,
                clean,
                {**other.data, **clean},
                edge.target,
                now,
            )
            for extension in self.extensions:
                extension.check(command, tx)
        except EngineError as exc:
            exc.item_id = str(other.id)
            raise
        outbox, _row = self._apply(
            tx, other_wf, other, edge, clean, actor, "collect", now, claim_until, depth + 1
        )
        self._audit(
            tx, actor, "collect", other.workflow_id, other.id, spec.trigger, "accepted", now
        )
        return outbox

    def _after_change(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        item_id: int,
        kind: str,
        actor: Actor,
        left: Visit | None,
        steps: list[Step],
        data: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        if not self.extensions:
            return
        entered = tuple(Visit(s.target, s.visit) for s in steps if s.source != s.target)
        change = Change(
            workflow=wf,
            item_id=item_id,
            kind=kind,
            actor=actor,
            left=left,
            entered=entered,
            final=Visit(steps[-1].target, steps[-1].visit),
            data=data,
            now=now,
        )
        for extension in self.extensions:
            extension.after_change(tx, change)

    def _persist_steps(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        item_id: int,
        seq: int,
        steps: list[Step],
        data: dict[str, Any],
        now: dt.datetime,
        claim_until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Append the history rows of ``steps`` and queue their side effects; with
        ``claim_until`` the ones this engine can deliver are claimed by it (inline)."""
        history, outbox = steps_.records(wf, item_id, seq, steps, data, now)
        for values in outbox:
            mine = claim_until is not None and (
                values["kind"] == "notify" or values["name"] in self.handlers
            )
            values["claimed_by"] = self.runner if mine else None
            values["claimed_until"] = claim_until if mine else None
        tx.insert_history(history)
        for values, outbox_id in zip(outbox, tx.insert_outbox(outbox), strict=True):
            values["id"] = outbox_id
        return outbox

    def _waits_on(self, wf: CompiledWorkflow, row: ItemRow, actor: Actor) -> bool:
        state = wf.state(row.state)
        if state.assignee is not None:
            assigned = row.data.get(state.assignee)
            people = assigned if isinstance(assigned, list) else [assigned] if assigned else []
            if people:
                return any(isinstance(p, str) and normal_id(p) == actor.id for p in people)
        return any(actor.roles & e.roles for e in wf.edges(row.state))

    def _item(self, row: ItemRow, version: Version) -> Item:
        return Item(
            id=row.id,
            workflow=row.workflow_id,
            revision=version.row.revision,
            state=row.state,
            state_label=version.workflow.state(row.state).label.zh,
            data=row.data,
            visit=row.visit,
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            parent_id=row.parent_id,
        )

    def _audit(
        self,
        tx: Tx,
        actor: object,
        command: str,
        workflow: object,
        item_id: object,
        trigger: object,
        outcome: str,
        now: dt.datetime,
        *,
        rule: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        tx.insert_audit(
            steps_.audit_record(
                actor,
                command,
                workflow,
                item_id,
                trigger,
                outcome,
                now,
                rule=rule,
                reason=reason,
                detail=detail,
            )
        )

    def _audit_refusal(
        self,
        actor: object,
        command: str,
        workflow: object,
        item_id: object,
        trigger: object,
        exc: EngineError,
        now: dt.datetime,
    ) -> None:
        """Record a refused command, whatever its input was (SEC-1): the record holds the
        input escaped and cut to its columns (:func:`steps.audit_record`), so that writing
        it cannot fail because of what was refused."""
        rule = exc.code
        detail: dict[str, Any] = {"state": exc.state}
        if isinstance(exc, FormInvalid):
            detail["fields"] = {e.field: e.message for e in exc.errors}
        if exc.reason_zh:
            detail["reason_zh"] = exc.reason_zh
        held: Mapping[str, Any] = {}
        stored_id = (
            item_id
            if isinstance(item_id, int) and inputs.int_problem("item_id", item_id) is None
            else None
        )
        named = workflow if isinstance(workflow, str) else None
        try:
            with self.store.write() as tx:
                self._audit(
                    tx,
                    actor,
                    command,
                    workflow,
                    item_id,
                    trigger,
                    "refused",
                    now,
                    rule=rule,
                    reason=str(exc),
                    detail=detail,
                )
                row = tx.item(stored_id) if stored_id is not None else None
                held = row.data if row is not None else {}
        except CmcWorkflowError as audit_exc:  # never hide the refusal behind an audit failure
            refused = self._loggable(exc, named)
            log.error("audit_write_failed", error=str(audit_exc), refused=refused)
        log.info(
            "command_refused",
            command=command,
            item_id=stored_id if stored_id is not None else inputs.storable_text(item_id, 40)[0],
            trigger=None if trigger is None else inputs.storable_text(trigger, 64)[0],
            actor=inputs.storable_text(getattr(actor, "id", actor), 128)[0],
            rule=rule,
            reason=self._loggable(exc, named, held),
        )

    def _loggable(
        self, exc: EngineError, workflow: str | None = None, held: Mapping[str, Any] | None = None
    ) -> str:
        """``exc``'s message for a log line with personal data masked (SEC-3): the values
        of personal fields a form error quotes, and the item's own personal values
        (``held``: its data) wherever the message repeats them."""
        current = self.definitions.current(workflow or "")
        masker = Masker.for_workflows([current.workflow.definition] if current else [])
        return inputs.escaped(masker.text(str(exc), masker.personal_values(held or {})))
