"""Applying a claimed timer's effect in its transaction: a deadline step's warning,
escalation or breach (audit, outbox notification, a mark on the clock) or a ``fire`` step
the engine takes through the runtime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cmc_workflow.errors import CmcWorkflowError, PolicyDenied
from cmc_workflow.extensions import Change, Event, Runtime
from cmc_workflow.log import get_logger
from cmc_workflow.model import SYSTEM
from cmc_workflow.store import port
from cmc_workflow.store.port import StoreTx

SLA_EVENTS = {"warn": "sla.warning", "breach": "sla.breach"}
"""The deadline steps that are events for host systems, with the events' names."""

log = get_logger("cmc_workflow.clocks")


Fired = tuple[port.TimerRow, str, str | None]
"""A timer a group handled, with its final status and error."""


@dataclass(frozen=True, slots=True)
class _Firing:
    """The ``fire`` step being taken in this context: its item, fence and due time."""

    item_id: int
    state: str
    visit: int
    due_at: dt.datetime


_FIRING: ContextVar[_Firing | None] = ContextVar("cmc_clocks_firing", default=None)


@contextmanager
def _firing(timer: port.TimerRow) -> Iterator[None]:
    token = _FIRING.set(_Firing(timer.item_id, timer.state, timer.visit, timer.due_at))
    try:
        yield
    finally:
        _FIRING.reset(token)


def judged_at(change: Change) -> dt.datetime | None:
    """When the act behind ``change`` counts as taken, for the clocks it stops or pauses:
    the due time of the ``fire`` step that made it (the poll that fired the step may come
    later; the step happened, by its own ladder, at its time), or None (a person's act, or
    an item the step moved along a link: judged at the change's ``now``)."""
    firing = _FIRING.get()
    if firing is None or change.item_id != firing.item_id or change.left is None:
        return None
    if (change.left.state, change.left.visit) != (firing.state, firing.visit):
        return None
    return min(firing.due_at, change.now)


def fire_due(
    runtime: Runtime, tx: StoreTx, now: dt.datetime, limit: int, skip: Sequence[str] = ()
) -> list[Fired]:
    """Claim up to ``limit`` timers due at ``now`` in ``tx``, apply each one's effect there
    and mark them all (one statement); returns them with their status, in firing order.

    The group was claimed at once, so what a ``fire`` step changes (it moves its item,
    cancels or re-fences the item's timers, and may move linked items) can concern timers
    of the group still to come: once a step fired, each later timer is read again before
    it fires, and skipped when it is no longer pending and due (it stays as the step left
    it). Until then the claim's reading is current, since the other effects only append
    (audit, outbox) and mark clocks. Timers of the workflows in ``skip`` (disabled: their
    file is broken) are not claimed: they stay pending until the file is fixed. A breach
    timer claimed at its very due instant is left pending: the deadline is missed only
    once that instant has passed.
    """
    done: list[Fired] = []
    moved = False
    for due in tx.claim_due_timers(now, limit, skip):
        if due.timer.action == "breach" and now <= due.timer.due_at:
            # an act at the due instant is in time (`Deadline.is_late` is `at > due`): a
            # breach is recorded only once now is past it; the timer stays pending
            continue
        if moved:
            again = tx.due_timer(due.timer.id, now)
            if again is None:
                continue
            due = again
        status, error = fire_timer(runtime, tx, due, now)
        moved = moved or (due.timer.action == "fire" and status == port.FIRED)
        done.append((due.timer, status, error))
    tx.finish_timers(
        [(t.id, status, error) for t, status, error in done], runtime.now(), runtime.runner
    )
    return done


def fire_timer(
    runtime: Runtime, tx: StoreTx, due: port.DueTimer, now: dt.datetime
) -> tuple[str, str | None]:
    """Apply a claimed timer's effect in ``tx``; returns its final status and error.

    The fence is read with the claim: a timer whose item left the state visit (or
    whose clock stopped) is ``stale``. A ``fire`` step goes through
    :meth:`Runtime.fire_system`, which locks the item and checks the fence again (and
    rolls back only its own writes when refused); the other effects only append (audit,
    outbox) and mark the clock.
    """
    timer = due.timer
    if due.item_closed or due.item_state != timer.state or due.item_visit != timer.visit:
        return port.STALE, None
    if timer.clock_id is not None and due.clock_status != port.RUNNING:
        return port.STALE, None
    clock_state = due.clock_state or timer.state
    rule = f"deadline:{clock_state}:{timer.action}"
    late = now - timer.due_at
    reason = f"timer {timer.id}: {timer.action} of the deadline of {clock_state!r}"
    if due.clock_due_at is not None:
        reason += f" ({due.clock_within}, due {due.clock_due_at.isoformat()})"
    detail = {
        "timer_id": timer.id,
        "clock_id": timer.clock_id,
        "action": timer.action,
        "step": timer.step,
        "timer_due_at": timer.due_at.isoformat(),
        "late_seconds": round(late.total_seconds(), 3),
    }
    if timer.action == "fire":
        assert timer.trigger is not None  # the checks require a trigger on fire steps
        try:
            with _firing(timer):
                runtime.fire_system(
                    tx,
                    timer.item_id,
                    timer.trigger,
                    state=timer.state,
                    visit=timer.visit,
                    reason=reason,
                )
        except PolicyDenied as exc:
            # a policy refuses the engine's step like a person's: the runtime rolled
            # it back, the item stays where it is, the refusal names the rule
            tx.insert_audit(
                audit_values(
                    now,
                    due.workflow_id,
                    timer.item_id,
                    exc.rule,
                    f"{reason}: {exc}",
                    {**detail, "deadline": rule, "reason_zh": exc.reason_zh},
                    outcome="refused",
                    trigger=timer.trigger,
                )
            )
            log.warning(
                "timer_refused",
                item_id=timer.item_id,
                timer_id=timer.id,
                trigger=timer.trigger,
                rule=exc.rule,
            )
            return port.FAILED, str(exc)[:4000]
        except CmcWorkflowError as exc:
            tx.insert_audit(
                audit_values(
                    now,
                    due.workflow_id,
                    timer.item_id,
                    rule,
                    f"{reason}: {exc}",
                    detail,
                    outcome="failed",
                    trigger=timer.trigger,
                )
            )
            return port.FAILED, str(exc)[:4000]
        return port.FIRED, None
    if timer.action == "reassign" and timer.role is not None:
        # issue 14: an escalation that moves the task to a holder of the role, not
        # only tells them (None: nobody holds it today; the task goes to its queue)
        detail["assignee"] = runtime.reassign_system(
            tx, timer.item_id, timer.role, state=timer.state, visit=timer.visit, reason=reason
        )
    column = {"warn": "warned_at", "breach": "breached_at", "escalate": "escalated_at"}
    if timer.clock_id is not None and timer.action in column:
        tx.mark_clock_once(timer.clock_id, column[timer.action], now)
        if timer.action in SLA_EVENTS:  # issue 15: host systems' webhooks hear of it
            runtime.emit(
                tx,
                Event(
                    kind=SLA_EVENTS[timer.action],
                    key=f"sla:{timer.clock_id}:{timer.action}",
                    workflow=due.workflow_id,
                    item_id=timer.item_id,
                    state=clock_state,
                    visit=timer.visit,
                    at=now,
                    facts={
                        "clock_id": timer.clock_id,
                        "due_at": utc(due.clock_due_at) if due.clock_due_at else None,
                        "within": due.clock_within,
                    },
                ),
            )
    if timer.role is not None:
        tx.insert_outbox(
            [
                {
                    "item_id": timer.item_id,
                    "kind": "notify",
                    "name": timer.role,
                    "payload": {
                        "workflow": due.workflow_id,
                        "state": timer.state,
                        "visit": timer.visit,
                        "reason": reason,
                        "deadline": {
                            "action": timer.action,
                            "due_at": utc(due.clock_due_at) if due.clock_due_at else None,
                            "within": due.clock_within,
                        },
                    },
                    "idempotency_key": f"timer:{timer.id}:{timer.action}:{timer.role}",
                    "created_at": now,
                    "available_at": now,
                    "attempts": 0,
                }
            ]
        )
    tx.insert_audit(audit_values(now, due.workflow_id, timer.item_id, rule, reason, detail))
    return port.FIRED, None


def utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def audit_values(
    now: dt.datetime,
    workflow: str,
    item_id: int,
    rule: str,
    reason: str,
    detail: dict[str, Any],
    *,
    outcome: str = "accepted",
    trigger: str | None = None,
) -> dict[str, Any]:
    """An audit record of a deadline step, written as the system actor."""
    return {
        "at": now,
        "actor": SYSTEM.id,
        "roles": sorted(SYSTEM.roles),
        "command": "timer",
        "workflow_id": workflow,
        "item_id": item_id,
        "trigger": trigger,
        "outcome": outcome,
        "rule": rule,
        "reason": reason,
        "detail": detail,
    }
