"""Links between items, carried out in the command's transaction: ``starts:`` opens
items, ``collects:`` gathers open items (firing a trigger on each), ``children_closed``
waits for the items an item started."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cmc_workflow import steps as steps_
from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.models import Collects
from cmc_workflow.engine.context import MAX_LINK_DEPTH, CommandContext, Core
from cmc_workflow.errors import EngineError, FormInvalid, GuardRejected
from cmc_workflow.extensions import Command
from cmc_workflow.i18n import tr
from cmc_workflow.steps import Step
from cmc_workflow.store import ItemRow, StoreTx

Gathered = list[tuple[Collects, list[ItemRow]]]


def refuse_open_children(tx: StoreTx, row: ItemRow, edge: Edge) -> None:
    """Refuse a ``children_closed`` transition while an item this one started is open."""
    waiting = tx.open_children(row.id)
    if waiting:
        names = ", ".join(f"{c.workflow_id} {c.id} ({c.state})" for c in waiting[:10])
        more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
        raise GuardRejected(
            tr(
                "{trigger} is not possible while items this one started are open: {names}{more}",
                trigger=repr(edge.trigger),
                names=names,
                more=more,
            ),
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


def starts_any(steps: list[Step], gathered: Gathered) -> bool:
    """Whether the steps start or gather any item."""
    return bool(gathered) or any(s.edge is not None and s.edge.starts for s in steps)


def refuse_too_deep(ctx: CommandContext, row: ItemRow) -> None:
    """Stop chains of starts and gathers at :data:`MAX_LINK_DEPTH` levels, so that two
    definitions that start each other end in a clear error."""
    if ctx.depth >= MAX_LINK_DEPTH:
        raise EngineError(
            tr(
                "items started or gathered more than {depth} levels deep in one command: the "
                "definitions start each other in a loop",
                depth=MAX_LINK_DEPTH,
            ),
            item_id=str(row.id),
            state=row.state,
        )


def children(
    ctx: CommandContext, wf: CompiledWorkflow, row: ItemRow, steps: list[Step]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The items the steps' ``starts:`` open: each one's workflow and data."""
    for step in steps:
        if step.edge is None or not step.edge.starts:
            continue
        scope = {
            **steps_.scope(row.data, step.form, ctx.actor),
            "item": {"id": row.id, "workflow": wf.id},
        }
        for child in step.edge.starts:
            for values in child.data_for(scope):
                yield child.workflow, values


@dataclass(frozen=True, slots=True)
class Gather:
    """The step a ``collects:`` takes on one gathered item, checked and ready to judge."""

    workflow: CompiledWorkflow
    edge: Edge
    form: dict[str, Any]
    command: Command


def gather(
    core: Core, ctx: CommandContext, spec: Collects, other: ItemRow, into: ItemRow
) -> Gather:
    """The step that fires ``spec.trigger`` on a gathered item: its guards and form apply
    here, its policies when the transition judges the command; its role lists do not
    (the gathering transition's roles admitted the actor)."""
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
    except EngineError as exc:
        exc.item_id = str(other.id)
        raise
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
    return Gather(other_wf, edge, clean, command)
