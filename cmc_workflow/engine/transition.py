"""Writing an accepted step inside its command's transaction: the item row, its history,
the outbox rows of its side effects, the extensions' ``after_change``, then its links.

Every command (a person's start or fire, a gathered item's ``collect``, a timer's or a
handler's step) ends here, so the order of writes is the same for all of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cmc_workflow import steps as steps_
from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.engine import audit, checks, links
from cmc_workflow.engine.context import CommandContext, Core
from cmc_workflow.errors import EngineError, NotPermitted
from cmc_workflow.extensions import NOTICED, Appended, Change, Command, Notification, Visit
from cmc_workflow.model import SYSTEM
from cmc_workflow.registry import Version
from cmc_workflow.steps import Step
from cmc_workflow.store import ItemRow, StoreTx

Outbox = list[dict[str, Any]]
"""The outbox rows a command queued (with their ids and claims), for inline delivery."""


def judge(core: Core, command: Command, tx: StoreTx) -> list[dict[str, Any]]:
    """Let every extension refuse ``command`` (the first refusal is raised); returns the
    warnings of the should-level rules it does not meet (for its audit record)."""
    for extension in core.judges(command.workflow.id):
        extension.check(command, tx)
    return command.warnings


def _warned(warnings: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The audit detail of an accepted command with should-level warnings (None: none)."""
    return {"warnings": warnings} if warnings else None


def check_system(
    core: Core, ctx: CommandContext, wf: CompiledWorkflow, row: ItemRow, edge: Edge
) -> list[dict[str, Any]]:
    """Judge a step the engine takes itself (``ctx.kind``: timer, handler) by the same
    extensions as a person's command, with ``system`` as the actor; returns its warnings."""
    command = Command(
        ctx.kind, SYSTEM, wf, row, edge.trigger, edge, {}, dict(row.data), edge.target, ctx.now
    )
    return judge(core, command, ctx.tx)


def start_in(
    core: Core,
    ctx: CommandContext,
    workflow: str,
    values: dict[str, Any],
    parent_id: int | None,
) -> tuple[ItemRow, Version, Outbox]:
    """Start an item inside ``ctx.tx`` (a command's own start, or a child that a
    transition's ``starts:`` opens); returns the row written, its version and the
    outbox rows queued."""
    version = core.definitions.require(workflow)
    wf = version.workflow
    start = wf.definition.start
    actor, now, tx = ctx.actor, ctx.now, ctx.tx
    refusal = checks.start_refusal(actor, wf)
    if refusal is not None:
        raise NotPermitted(refusal, trigger="start")
    clean = checks.validated_data(wf, values)
    first = Step(
        kind="start",
        trigger=None,
        source=None,
        target=start.state,
        visit=1,
        actor=actor,
        roles=tuple(sorted(actor.roles & wf.start_roles)),
        form=clean,
        notify=(),
    )
    warnings = judge(
        core, Command("start", actor, wf, None, None, None, clean, clean, start.state, now), tx
    )
    steps, state, visit = steps_.walk(wf, first, clean)
    gathered = links.gathering(tx, steps, clean)
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
    facts = item_facts(core, tx, wf, None, steps)
    item_id = tx.insert_item(row_values if facts is None else {**row_values, "facts": facts})
    # what was written, as it reads back (times in UTC): no re-select needed
    at = now.astimezone(dt.UTC)
    row = ItemRow(
        id=item_id,
        workflow_id=workflow,
        definition_id=version.row.id,
        state=state,
        data=clean,
        visit=visit,
        seq=len(steps),
        version=1,
        created_at=at,
        created_by=actor.id,
        updated_at=at,
        closed_at=at if row_values["closed_at"] is not None else None,
        parent_id=parent_id,
    )
    outbox = persist_steps(core, ctx, wf, item_id, 0, steps, clean)
    after_change(core, ctx, wf, item_id, "start", None, steps, clean, outbox)
    audit.record(
        tx, actor, "start", workflow, item_id, None, "accepted", now, detail=_warned(warnings)
    )
    outbox += carry_out_links(core, ctx, wf, row, steps, gathered)
    return row, version, outbox


def apply(
    core: Core,
    ctx: CommandContext,
    wf: CompiledWorkflow,
    row: ItemRow,
    edge: Edge,
    form: dict[str, Any],
    warnings: list[dict[str, Any]] | None = None,
) -> tuple[Outbox, ItemRow]:
    """Write the transition ``edge`` of ``row`` (and the gateway hops after it) as a step
    of ``ctx.kind``, with its audit record (accepted, with the command's should-level
    ``warnings``); returns the queued outbox rows and
    the item as written."""
    tx, actor, now = ctx.tx, ctx.actor, ctx.now
    data = {**row.data, **form}
    moved = edge.target != row.state
    first = Step(
        kind=ctx.kind,
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
            links.refuse_open_children(tx, row, step.edge)
    gathered = links.gathering(tx, steps, data)
    seq = row.seq + len(steps)
    values = {
        "state": state,
        "data": data,
        "visit": visit,
        "seq": seq,
        "updated_at": now,
        "closed_at": now if wf.is_end(state) else None,
    }
    # history and the audit record first: the item's UPDATE then carries the anchors of
    # both chains (no statement of their own), and the extensions' facts
    outbox = persist_steps(core, ctx, wf, row.id, row.seq, steps, data)
    audit.record(
        tx,
        actor,
        ctx.kind,
        wf.id,
        row.id,
        edge.trigger,
        "accepted",
        now,
        reason=ctx.reason,
        detail=_warned(warnings),
    )
    facts = item_facts(core, tx, wf, row, steps)
    tx.update_item(row.id, row.version, values if facts is None else {**values, "facts": facts})
    # the row as written (the UPDATE checked the version), times in UTC as the store
    # gives them back: no re-select needed
    at = now.astimezone(dt.UTC)
    new_row = ItemRow(
        id=row.id,
        workflow_id=row.workflow_id,
        definition_id=row.definition_id,
        state=state,
        data=data,
        visit=visit,
        seq=seq,
        version=row.version + 1,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=at,
        closed_at=at if values["closed_at"] is not None else None,
        parent_id=row.parent_id,
    )
    left = Visit(row.state, row.visit) if moved else None
    after_change(core, ctx, wf, row.id, ctx.kind, left, steps, data, outbox)
    outbox += carry_out_links(core, ctx, wf, new_row, steps, gathered)
    return outbox, new_row


def item_facts(
    core: Core, tx: StoreTx, wf: CompiledWorkflow, row: ItemRow | None, steps: list[Step]
) -> dict[str, Any] | None:
    """The facts to write with the item row once ``steps`` are in its history (None:
    no extension keeps any, the stored facts stay as they are)."""
    kept: dict[str, Any] | None = None
    appended = Appended(wf, row, tuple(steps))
    for extension in core.hooked("item_facts"):
        found = extension.item_facts(tx, appended)
        if found is not None:
            kept = {**(kept or {}), **found}
    if kept is None or row is None:
        return kept
    return {**(tx.item_facts(row.id) or {}), **kept}


def persist_steps(
    core: Core,
    ctx: CommandContext,
    wf: CompiledWorkflow,
    item_id: int,
    seq: int,
    steps: list[Step],
    data: dict[str, Any],
) -> Outbox:
    """Append the history rows of ``steps`` and queue their side effects; with
    ``ctx.claim_until`` the ones this engine can deliver are claimed by it (inline)."""
    history, outbox = steps_.records(wf, item_id, seq, steps, data, ctx.now)
    claim_until = ctx.claim_until
    noticed = noticing(core) if outbox else False
    for values in outbox:
        if noticed and values["kind"] == "notify":
            values["payload"][NOTICED] = True  # after_change writes its notices
        mine = claim_until is not None and (
            values["kind"] == "notify" or values["name"] in core.handlers
        )
        values["claimed_by"] = core.runner if mine else None
        values["claimed_until"] = claim_until if mine else None
    ctx.tx.insert_history(history)
    if outbox:  # each row's id is set by the commit (after_commit delivers by id)
        ctx.tx.queue_outbox(outbox)
    return outbox


def noticing(core: Core) -> bool:
    """Whether an extension writes a ``notify:``'s notices in the command's transaction
    (:attr:`~cmc_workflow.extensions.Extension.notices_with_command`)."""
    return any(e.notices_with_command for e in core.hooked("after_change"))


def after_change(
    core: Core,
    ctx: CommandContext,
    wf: CompiledWorkflow,
    item_id: int,
    kind: str,
    left: Visit | None,
    steps: list[Step],
    data: dict[str, Any],
    outbox: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Tell every extension what the step did to the item (inside the transaction), with
    the notifications of ``outbox`` (its queued rows), then the context's start claim
    (set only for the item a command itself starts)."""
    followers = core.hooked("after_change")
    if not followers and ctx.claim is None:
        return
    notify = (
        tuple(
            Notification(v["name"], v["idempotency_key"], v["payload"])
            for v in outbox
            if v["kind"] == "notify"
        )
        if outbox
        else ()
    )
    entered = tuple(Visit(s.target, s.visit) for s in steps if s.source != s.target)
    change = Change(
        workflow=wf,
        item_id=item_id,
        kind=kind,
        actor=ctx.actor,
        left=left,
        entered=entered,
        final=Visit(steps[-1].target, steps[-1].visit),
        data=data,
        now=ctx.now,
        notify=notify,
    )
    for extension in followers:
        extension.after_change(ctx.tx, change)
    if ctx.claim is not None:
        ctx.claim(ctx.tx, change)


def carry_out_links(
    core: Core,
    ctx: CommandContext,
    wf: CompiledWorkflow,
    row: ItemRow,
    steps: list[Step],
    gathered: links.Gathered,
) -> list[dict[str, Any]]:
    """Carry out the steps' ``starts:`` and ``collects:`` (as :mod:`links` finds them) in
    the command's transaction; returns the outbox rows the opened and gathered items
    queued."""
    if not links.starts_any(steps, gathered):
        return []
    links.refuse_too_deep(ctx, row)
    outbox: list[dict[str, Any]] = []
    for workflow_id, values in links.children(ctx, wf, row, steps):
        _row, _version, queued = start_in(core, ctx.deeper("start"), workflow_id, values, row.id)
        outbox += queued
    for spec, rows in gathered:
        for other in rows:
            step = links.gather(core, ctx, spec, other, row)
            try:
                warnings = judge(core, step.command, ctx.tx)
            except EngineError as exc:
                exc.item_id = str(other.id)
                raise
            queued, _row = apply(
                core, ctx.deeper("collect"), step.workflow, other, step.edge, step.form, warnings
            )
            outbox += queued
    return outbox
