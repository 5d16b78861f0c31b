"""Links between items, carried out in the command's transaction: ``starts:`` opens
items, ``collects:`` gathers open items (firing a trigger on each), ``children_closed``
waits for the items an item started."""

from __future__ import annotations

from typing import Any

from cmc_workflow import steps as steps_
from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.models import Collects
from cmc_workflow.engine import audit, transition
from cmc_workflow.engine.context import MAX_LINK_DEPTH, CommandContext, Core
from cmc_workflow.errors import EngineError, FormInvalid, GuardRejected
from cmc_workflow.extensions import Command
from cmc_workflow.steps import Step
from cmc_workflow.store import ItemRow, StoreTx

# transition imports this module too (a step's links start and move items in turn):
# each side calls the other through its module, once both are loaded

Gathered = list[tuple[Collects, list[ItemRow]]]


def refuse_open_children(tx: StoreTx, row: ItemRow, edge: Edge) -> None:
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


def gathering(tx: StoreTx, steps: list[Step], data: dict[str, Any]) -> Gathered:
    """The open items the steps' ``collects:`` gather, found before the item is
    written so that their ``count`` goes into its data."""
    found: Gathered = []
    for step in steps:
        spec = step.edge.spec.collects if step.edge is not None else None
        if spec is None:
            continue
        rows = tx.open_items([(spec.workflow, s) for s in spec.states])
        found.append((spec, rows))
        if spec.count is not None:
            data[spec.count] = len(rows)
    return found


def carry_out(
    core: Core,
    ctx: CommandContext,
    wf: CompiledWorkflow,
    row: ItemRow,
    steps: list[Step],
    gathered: Gathered,
) -> list[dict[str, Any]]:
    """Carry out the steps' ``starts:`` and ``collects:`` in the command's transaction;
    returns the outbox rows the opened and gathered items queued."""
    if not gathered and not any(s.edge is not None and s.edge.starts for s in steps):
        return []
    if ctx.depth >= MAX_LINK_DEPTH:
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
            **steps_.scope(row.data, step.form, ctx.actor),
            "item": {"id": row.id, "workflow": wf.id},
        }
        for child in step.edge.starts:
            for values in child.data_for(scope):
                _row, _version, queued = transition.start_in(
                    core, ctx.deeper("start"), child.workflow, values, row.id
                )
                outbox += queued
    for spec, rows in gathered:
        for other in rows:
            outbox += collect(core, ctx, spec, other, row)
    return outbox


def collect(
    core: Core, ctx: CommandContext, spec: Collects, other: ItemRow, into: ItemRow
) -> list[dict[str, Any]]:
    """Fire ``spec.trigger`` on a gathered item: its guards, form and policies apply;
    its role lists do not (the gathering transition's roles admitted the actor)."""
    tx, actor, now = ctx.tx, ctx.actor, ctx.now
    other_wf = core.definitions.version(tx, other.definition_id).workflow
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
        transition.judge(core, command, tx)
    except EngineError as exc:
        exc.item_id = str(other.id)
        raise
    outbox, _row = transition.apply(core, ctx.deeper("collect"), other_wf, other, edge, clean)
    audit.record(tx, actor, "collect", other.workflow_id, other.id, spec.trigger, "accepted", now)
    return outbox
