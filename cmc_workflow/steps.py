"""What an accepted command writes, computed without I/O: the steps an item takes (its
transition and the gateway hops after it), and the history, side-effect and audit
records those steps leave. The engine persists them in the command's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.errors import EngineError
from cmc_workflow.i18n import tr
from cmc_workflow.model import SYSTEM, Actor

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
            tr(
                "gateways routed more than {count} times in one command: the definition loops "
                "between gateways",
                count=MAX_AUTOMATIC_STEPS,
            ),
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
        if not step.notify:
            continue
        reason = f"{step.trigger or step.kind}: {step.source} -> {step.target}"
        for role in step.notify:
            payload = {
                "workflow": wf.id,
                "state": step.target,
                "visit": step.visit,
                "reason": reason,
            }
            outbox.append(
                outbox_row(item_id, "notify", role, f"{item_id}:{n}:notify:{role}", payload, now)
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
