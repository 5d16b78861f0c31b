"""Reading items: as they stand, their children, history, side effects and audit trail,
and the inbox of what waits on an actor."""

from __future__ import annotations

from typing import Any

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.engine import audit
from cmc_workflow.engine.context import Core
from cmc_workflow.errors import EngineError
from cmc_workflow.model import Actor, HistoryEntry, Item, normal_id
from cmc_workflow.store import ItemRow, OutboxRow
from cmc_workflow.store.port import AssignmentRow


def get(core: Core, item_id: int) -> Item:
    """The item as it stands now."""
    with core.store.read() as tx:
        row = core.load(tx, item_id)
        version = core.definitions.version(tx, row.definition_id)
    return core.item(row, version)


def children(core: Core, item_id: int) -> list[Item]:
    """The items started from item ``item_id``, oldest first."""
    with core.store.read() as tx:
        core.load(tx, item_id)
        rows = tx.children(item_id)
        return [core.item(r, core.definitions.version(tx, r.definition_id)) for r in rows]


def history(core: Core, item_id: int) -> list[HistoryEntry]:
    """Every accepted step of the item, in order."""
    with core.store.read() as tx:
        core.load(tx, item_id)
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


def waits_on(
    wf: CompiledWorkflow, row: ItemRow, actor: Actor, assignment: AssignmentRow | None = None
) -> bool:
    """Whether the open item waits on ``actor``: the person its task is claimed by or
    delegated to (``assignment``, made in this state visit), else named in its state's
    assignee field, or (none named yet) holding a role that may act there."""
    if (
        assignment is not None
        and assignment.assignee is not None
        and (assignment.state, assignment.visit) == (row.state, row.visit)
    ):
        return assignment.assignee == actor.id
    state = wf.state(row.state)
    if state.assignee is not None:
        assigned = row.data.get(state.assignee)
        people = assigned if isinstance(assigned, list) else [assigned] if assigned else []
        if people:
            return any(isinstance(p, str) and normal_id(p) == actor.id for p in people)
    return any(actor.roles & e.roles for e in wf.edges(row.state))


def inbox(core: Core, actor: Actor) -> list[Item]:
    """Open items waiting on ``actor`` that the extensions let them see."""
    try:
        admitted = core.resolved(actor)
    except EngineError as exc:
        audit.refusal(core, actor, "inbox", None, None, None, exc, core.now())
        raise
    actor = admitted
    with core.store.read() as tx:
        versions = [core.definitions.version(tx, d) for d in tx.open_definition_ids()]
        pairs = sorted(
            {
                (v.workflow.id, name)
                for v in versions
                for name, state in v.workflow.definition.states.items()
                if state.type == "userTask"
            }
        )
        rows = tx.open_items(pairs)
        held = tx.assignments([row.id for row in rows])  # claims and delegations: one read
        found = []
        for row in rows:
            version = core.definitions.version(tx, row.definition_id)
            if waits_on(version.workflow, row, actor, held.get(row.id)) and all(
                ext.visible(actor, row, version.workflow) for ext in core.extensions
            ):
                found.append(core.item(row, version))
    return found


def outbox(core: Core, item_id: int) -> list[OutboxRow]:
    """The side effects recorded for an item and their delivery state."""
    with core.store.read() as tx:
        return tx.outbox_of(item_id)


def audit_trail(core: Core, item_id: int) -> list[dict[str, Any]]:
    """The audit records naming an item, allowed or refused (SEC-1)."""
    with core.store.read() as tx:
        return tx.audit_of(item_id)
