"""The command pipeline: admit the actor and the input, judge (roles, guards, form,
extensions), write through :mod:`~cmc_workflow.engine.transition` in one transaction,
audit, then deliver inline. ``start`` and ``fire`` for people, ``fire_system`` for the
engine's own steps, ``allowed`` to ask ahead."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cmc_workflow import inputs
from cmc_workflow import steps as steps_
from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.engine import audit, checks, delivery, links, transition
from cmc_workflow.engine.context import CommandContext, Core
from cmc_workflow.engine.transition import Outbox
from cmc_workflow.errors import ConflictError, EngineError, GuardRejected, PolicyDenied
from cmc_workflow.extensions import Command, StartClaim
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import SYSTEM, Actor, Allowed, Item
from cmc_workflow.registry import Version
from cmc_workflow.store import ItemRow, StoreTx

log = get_logger("cmc_workflow.engine")


def start(
    core: Core,
    workflow: str,
    actor: Actor,
    data: Mapping[str, Any] | None,
    parent_id: int | None,
    claim: StartClaim | None = None,
) -> Item:
    """Start an item (see :meth:`Engine.start`); ``claim`` runs in its transaction."""
    now = core.now()
    caller: object = actor
    try:
        actor = caller = inputs.admitted(actor)
        checks.check_inputs(texts={"workflow": workflow}, ids={"parent_id": parent_id}, data=data)
        with core.write() as tx:
            actor = caller = core.resolved(actor, tx)  # SEC-6: identity read in its tx
            if parent_id is not None:
                core.load(tx, parent_id)  # a missing parent is not found, not a race
            ctx = CommandContext(tx, actor, "start", now, core.claim_until(now, 0), claim=claim)
            row, version, outbox = transition.start_in(
                core, ctx, workflow, dict(data or {}), parent_id
            )
    except EngineError as exc:
        audit.refusal(core, caller, "start", workflow, None, None, exc, now)
        raise
    log.info("item_started", workflow=workflow, item_id=row.id, state=row.state, actor=actor.id)
    moved = delivery.after_commit(core, outbox)
    return core.item(*moved.get(row.id, (row, version)))  # as a handler left it, if one ran


def fire(
    core: Core,
    item_id: int,
    trigger: str,
    actor: Actor,
    data: Mapping[str, Any] | None,
    expected_version: int | None,
) -> Item:
    """Fire ``trigger`` on an item (see :meth:`Engine.fire`)."""
    now = core.now()
    caller: object = actor
    workflow: str | None = None
    try:
        actor = caller = inputs.admitted(actor)
        checks.check_inputs(
            texts={"trigger": trigger},
            ids={"item_id": item_id, "expected_version": expected_version},
            data=data,
        )
        form = dict(data or {})
        with core.write() as tx:
            actor = caller = core.resolved(actor, tx)  # SEC-6: identity read in its tx
            row = locked(core, tx, item_id, trigger, expected_version)
            workflow = row.workflow_id
            ctx = CommandContext(tx, actor, "fire", now, core.claim_until(now, 0))
            new_row, version, outbox = fire_in(core, ctx, row, trigger, form, expected_version)
    except EngineError as exc:
        audit.refusal(core, caller, "fire", workflow, item_id, trigger, exc, now)
        raise
    log.info(
        "item_fired",
        workflow=workflow,
        item_id=item_id,
        trigger=trigger,
        state=new_row.state,
        actor=actor.id,
    )
    moved = delivery.after_commit(core, outbox)
    return core.item(*moved.get(item_id, (new_row, version)))  # as a handler left it, if one ran


def locked(
    core: Core, tx: StoreTx, item_id: int, trigger: str, expected_version: int | None
) -> ItemRow:
    """The item a fire acts on, locked in ``tx`` (or :class:`ItemNotFound`, or a
    :class:`ConflictError` when it is no longer at ``expected_version``)."""
    row = core.load(tx, item_id, lock=True)
    if expected_version is not None and row.version != expected_version:
        raise ConflictError(
            tr(
                "item {item} is at version {version}, not {expected}: someone acted on it "
                "first; reload it",
                item=item_id,
                version=row.version,
                expected=expected_version,
            ),
            item_id=str(item_id),
            trigger=trigger,
            state=row.state,
        )
    return row


def fire_in(
    core: Core,
    ctx: CommandContext,
    row: ItemRow,
    trigger: str,
    form: dict[str, Any],
    expected_version: int | None,
) -> tuple[ItemRow, Version, Outbox]:
    """Judge and write a fire of ``trigger`` on the :func:`locked` ``row`` in ``ctx.tx``
    (a single command's transaction, or one command of a batch); returns the item as
    written, its version and the outbox rows queued."""
    tx, actor, now = ctx.tx, ctx.actor, ctx.now
    version = core.definitions.version(tx, row.definition_id)
    wf = version.workflow
    edge, clean = checks.choose(wf, row, trigger, actor, form)
    data_after = {**row.data, **clean}
    command = Command("fire", actor, wf, row, trigger, edge, clean, data_after, edge.target, now)
    warnings = transition.judge(core, command, tx)
    if expected_version is None:
        checks.refuse_repeated(tx, wf, row, trigger, actor, clean)
    recorded = {**clean, **command.computed} if command.computed else clean
    outbox, new_row = transition.apply(core, ctx, wf, row, edge, recorded, warnings)
    return new_row, version, outbox


def allowed(core: Core, item_id: int, actor: Actor) -> list[Allowed]:
    """Every trigger of the item's state and whether ``actor`` may fire it now (see
    :meth:`Engine.allowed`)."""
    now = core.now()
    caller: object = actor
    try:
        actor = caller = core.resolved(actor)
        checks.check_inputs(ids={"item_id": item_id})
    except EngineError as exc:
        audit.refusal(core, caller, "allowed", None, item_id, None, exc, now)
        raise
    result = []
    with core.store.read() as tx:
        row = core.load(tx, item_id)
        wf = core.definitions.version(tx, row.definition_id).workflow
        probe = CommandContext(tx, actor, "fire", now)
        for trigger in wf.triggers(row.state):
            edge, reasons, rules, reasons_zh = judge_trigger(core, probe, wf, row, trigger)
            label = edge.spec.label
            result.append(
                Allowed(
                    trigger=trigger,
                    allowed=not reasons,
                    target=edge.target,
                    label=label.zh if label else trigger,
                    reasons=tuple(reasons),
                    form=tuple(edge.form),
                    rules=tuple(rules),
                    reasons_zh=tuple(reasons_zh),
                    label_en=label.en if label else trigger,
                )
            )
    return result


def judge_trigger(
    core: Core, ctx: CommandContext, wf: CompiledWorkflow, row: ItemRow, trigger: str
) -> tuple[Edge, list[str], list[str], list[str]]:
    """Would ``trigger`` be accepted for ``ctx.actor`` now (with an empty form)? The edge,
    the reasons against it, the refusing rules and the reasons in Chinese."""
    actor, tx = ctx.actor, ctx.tx
    edge = next(e for e in wf.edges(row.state) if e.trigger == trigger)
    if row.closed_at is not None:
        return edge, [tr("the item is closed").en], ["closed"], [tr("the item is closed").zh]
    try:
        edge = checks.permitted_edge(wf, row, trigger, actor, {})
    except GuardRejected as exc:
        # a guard on what the actor will submit cannot be judged before they do
        pending = checks.decided_by_form(wf, row.state, trigger, actor)
        if pending is None:
            return edge, [str(exc)], [type(exc).__name__], [exc.reason_zh]
        edge = pending
    except EngineError as exc:
        return edge, [str(exc)], [type(exc).__name__], [exc.reason_zh]
    if edge.spec.children_closed:
        try:
            links.refuse_open_children(tx, row, edge)
        except GuardRejected as exc:
            return edge, [str(exc)], [type(exc).__name__], [exc.reason_zh]
    for child in edge.starts:
        found = core.definitions.current(child.workflow)
        refusal = checks.start_refusal(actor, found.workflow) if found else None
        if refusal is not None:
            english, chinese = tr(
                "{trigger} opens an item that {refusal}", trigger=repr(trigger), refusal=refusal
            )
            return edge, [english], ["NotPermitted"], [chinese]
    command = Command(  # a probe: the form comes with fire()
        "fire", actor, wf, row, trigger, edge, {}, dict(row.data), edge.target, ctx.now, probe=True
    )
    reasons: list[str] = []
    rules: list[str] = []
    reasons_zh: list[str] = []
    for extension in core.judges(wf.id):
        try:
            extension.check(command, tx)
        except PolicyDenied as exc:
            reasons.append(str(exc))
            rules.append(exc.rule)
            reasons_zh.append(exc.reason_zh)
    return edge, reasons, rules, reasons_zh


def fire_system(
    core: Core,
    item_id: int,
    trigger: str,
    *,
    state: str,
    visit: int,
    reason: str,
    tx: StoreTx | None = None,
) -> Item | None:
    """Fire ``trigger`` as the engine itself (see :meth:`Engine.fire_system`)."""
    if tx is not None:  # not delivered inline: its side effects stay unclaimed
        done = system_step(core, tx, item_id, trigger, state, visit, reason, inline=False)
        return None if done is None else core.item(done[0], done[1])
    try:
        with core.write() as own:
            done = system_step(core, own, item_id, trigger, state, visit, reason, inline=True)
    except PolicyDenied as exc:
        audit.system_refusal(core, exc, "timer", item_id, trigger, reason)
        raise
    if done is None:
        return None
    new_row, version, outbox = done
    moved = delivery.after_commit(core, outbox)
    return core.item(*moved.get(item_id, (new_row, version)))


def system_step(
    core: Core,
    tx: StoreTx,
    item_id: int,
    trigger: str,
    state: str,
    visit: int,
    reason: str,
    *,
    inline: bool,
) -> tuple[ItemRow, Version, Outbox] | None:
    """A timer's step in ``tx``, fenced by the state visit (None: the fence failed)."""
    now = core.now()
    row = core.load(tx, item_id, lock=True)
    if row.state != state or row.visit != visit or row.closed_at is not None:
        return None
    version = core.definitions.version(tx, row.definition_id)
    wf = version.workflow
    edge = wf.take(row.state, trigger, steps_.scope(row.data, {}, SYSTEM))
    claim_until = core.claim_until(now, 0) if inline else None
    ctx = CommandContext(tx, SYSTEM, "timer", now, claim_until, reason=reason)
    warnings = transition.check_system(core, ctx, wf, row, edge)
    outbox, new_row = transition.apply(core, ctx, wf, row, edge, {}, warnings)
    return new_row, version, outbox
