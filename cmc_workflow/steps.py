"""What an accepted command writes, computed without I/O: the steps an item takes (its
transition and the gateway hops after it), and the history, side-effect and audit
records those steps leave. The engine persists them in the command's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow import inputs
from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.errors import EngineError
from cmc_workflow.model import MAX_ID_LENGTH, SYSTEM, Actor

MAX_AUTOMATIC_STEPS = 32
"""Gateway hops one command may take before the engine calls it a loop."""


@dataclass(slots=True)
class Step:
    """One move of an item: a person's transition, a gateway hop or an automatic outcome."""

    kind: str
    trigger: str | None
    source: str | None
    target: str
    visit: int
    actor: Actor
    roles: tuple[str, ...]
    form: dict[str, Any]
    notify: tuple[str, ...]
    edge: Edge | None = None
    """The transition taken (None for a start): what it opens, gathers or awaits."""


def scope(data: Mapping[str, Any], form: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
    """What guards see: the item's data with the form over it, the form, the actor."""
    return {
        "data": {**data, **form},
        "form": dict(form),
        "actor": {"id": actor.id, "roles": sorted(actor.roles), **actor.attributes},
    }


def walk(wf: CompiledWorkflow, first: Step, data: Mapping[str, Any]) -> tuple[list[Step], str, int]:
    """Follow gateways from ``first``; returns the steps, the final state and visit."""
    steps = [first]
    state, visit = first.target, first.visit
    for _hop in range(MAX_AUTOMATIC_STEPS):
        if wf.state(state).type != "exclusiveGateway":
            break
        edge = wf.route(state, scope(data, {}, SYSTEM))
        visit += 1
        steps.append(
            Step("route", None, state, edge.target, visit, SYSTEM, (), {}, edge.notify, edge)
        )
        state = edge.target
    else:
        raise EngineError(
            f"gateways routed more than {MAX_AUTOMATIC_STEPS} times in one command: "
            "the definition loops between gateways",
            state=state,
        )
    return steps, state, visit


def records(
    wf: CompiledWorkflow,
    item_id: int,
    seq: int,
    steps: list[Step],
    data: dict[str, Any],
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The history rows of ``steps`` (numbered after ``seq``) and their outbox rows:
    a notification per ``notify:`` role, and the handler run of a serviceTask they end in."""
    history: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for n, step in enumerate(steps, start=seq + 1):
        history.append(
            {
                "item_id": item_id,
                "seq": n,
                "at": now,
                "kind": step.kind,
                "trigger": step.trigger,
                "from_state": step.source,
                "to_state": step.target,
                "visit": step.visit,
                "actor": step.actor.id,
                "roles": list(step.roles),
                "form": step.form,
            }
        )
        reason = f"{step.trigger or step.kind}: {step.source} -> {step.target}"
        for role in step.notify:
            payload = {"workflow": wf.id, "state": step.target, "visit": step.visit}
            outbox.append(
                outbox_row(
                    item_id,
                    "notify",
                    role,
                    f"{item_id}:{n}:notify:{role}",
                    {**payload, "reason": reason},
                    now,
                )
            )
    last = steps[-1]
    final = wf.state(last.target)
    if final.type == "serviceTask" and final.handler is not None:
        outbox.append(
            outbox_row(
                item_id,
                "handler",
                final.handler,
                # the step's seq, not the visit: a serviceTask outcome may re-enter its
                # own state (a self-loop keeps the visit) and must run again
                f"{item_id}:{seq + len(steps)}:{final.handler}",
                {"workflow": wf.id, "state": last.target, "visit": last.visit, "data": data},
                now,
            )
        )
    return history, outbox


def outbox_row(
    item_id: int, kind: str, name: str, key: str, payload: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """A side effect to deliver now, at least once, under the idempotency ``key``."""
    return {
        "item_id": item_id,
        "kind": kind,
        "name": name,
        "payload": payload,
        "idempotency_key": key,
        "created_at": now,
        "available_at": now,
        "attempts": 0,
    }


def audit_record(
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
) -> dict[str, Any]:
    """The audit record of one command (SEC-1): who, what, when, on which item, outcome.

    Whatever a refused command was given, its record can be stored: ``actor`` may be any
    object (its ``id`` and ``roles`` are read when it has them), every text is escaped and
    cut to its column (:func:`~cmc_workflow.inputs.storable_text`), an item id outside
    64 bits moves into the detail. The detail then lists the fields ``escaped`` and
    ``truncated``, so that a reader knows the record shows the input transformed."""
    raw_id = getattr(actor, "id", actor)
    raw_roles = getattr(actor, "roles", ())
    changed: list[str] = []
    cut: list[str] = []

    def column(name: str, value: object, width: int | None) -> str | None:
        if value is None:
            return None
        text, was_escaped, was_cut = inputs.storable_text(value, width)
        if was_escaped:
            changed.append(name)
        if was_cut:
            cut.append(name)
        return text

    extra = dict(detail or {})
    stored_item: int | None = None
    if (
        isinstance(item_id, int)
        and not isinstance(item_id, bool)
        and (inputs.INT64[0] <= item_id <= inputs.INT64[1])
    ):
        stored_item = item_id
    elif item_id is not None:
        extra["item_id"] = column("item_id", item_id, 200)
    roles = [column("roles", r, 128) or "" for r in _iterable(raw_roles)]
    record = {
        "at": now,
        "actor": column("actor", raw_id, MAX_ID_LENGTH) or "",
        "roles": sorted(roles),
        "command": column("command", command, 32) or "",
        "workflow_id": column("workflow_id", workflow, inputs.ID_WIDTH),
        "item_id": stored_item,
        "trigger": column("trigger", trigger, inputs.ID_WIDTH),
        "outcome": outcome,
        "rule": column("rule", rule, 128),
        "reason": column("reason", reason, None),
    }
    stored_detail, detail_changed = inputs.storable_json(extra)
    if detail_changed:
        changed.append("detail")
    if changed:
        stored_detail["escaped"] = sorted(set(changed))
    if cut:
        stored_detail["truncated"] = sorted(set(cut))
    record["detail"] = stored_detail
    return record


def _iterable(value: object) -> list[object]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)
