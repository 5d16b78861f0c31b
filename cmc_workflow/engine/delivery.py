"""Delivery of the outbox after commit, at least once: the rows a command claimed for
this runner right away (inline), the due rows of any runner in a delivery pass, and the
outcome of a serviceTask's handler taken as the engine's next step."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from cmc_workflow import steps as steps_
from cmc_workflow.engine import audit, transition
from cmc_workflow.engine.context import OUTBOX_LEASE, OUTBOX_MAX_BACKOFF, CommandContext, Core
from cmc_workflow.errors import CmcWorkflowError, PolicyDenied
from cmc_workflow.handlers import HandlerContext, describe
from cmc_workflow.log import get_logger
from cmc_workflow.model import SYSTEM
from cmc_workflow.registry import Version
from cmc_workflow.store import ItemRow, OutboxRow, StoreTx

log = get_logger("cmc_workflow.engine")


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one :meth:`Engine.run_due` pass did."""

    delivered: int
    failed: int
    extensions: int = 0


def deliver_due(core: Core, limit: int, *, depth: int = 0) -> RunReport:
    """Claim and deliver due outbox rows this engine has a handler for; the marks of the
    notifications delivered are written together at the end of the pass."""
    now = core.now()
    names = core.handlers.names()
    # look first without a lock: an idle daemon's poll must not take SQLite's write lock
    with core.store.read() as tx:
        if not tx.has_due_outbox(now, handler_names=names):
            return RunReport(0, 0)
    with core.write() as tx:
        rows = tx.claim_outbox(now, core.runner, OUTBOX_LEASE, limit, handler_names=names)
    delivered = failed = 0
    for row in rows:
        if deliver(core, row, depth).ok:
            delivered += 1
        else:
            failed += 1
    core.marks.flush()
    return RunReport(delivered, failed)


Moved = dict[int, tuple[ItemRow, Version]]
"""Items that handlers' outcomes moved on, as their steps wrote them (by item id)."""


def after_commit(core: Core, outbox: list[dict[str, Any]], depth: int = 0) -> Moved:
    """Deliver what a command just queued (inline mode); returns the items that handlers'
    outcomes moved on, as written (the caller needs no re-read).

    The rows were inserted claimed by this runner in the command's own transaction
    (no separate claiming transaction, and no other runner races for them); if this
    process dies before delivering, the claim expires after ``OUTBOX_LEASE`` and any
    runner delivers them (at least once)."""
    if not outbox:  # most commands queue nothing
        return {}
    runner = core.runner
    moved: Moved = {}
    try:
        for values in outbox:
            if values.get("claimed_by") != runner:
                continue
            row = OutboxRow(
                id=values["id"],
                item_id=values["item_id"],
                kind=values["kind"],
                name=values["name"],
                payload=fresh(values["payload"]),  # as a fresh read would give
                idempotency_key=values["idempotency_key"],
                attempts=values["attempts"],
                available_at=values["available_at"],
                delivered_at=None,
                last_error=None,
            )
            moved.update(deliver(core, row, depth).moved)
    except CmcWorkflowError as exc:
        # the command is committed: a database failure here must not look like a
        # refusal (a caller retrying would fire twice); the claims expire and the
        # rows are delivered by a later pass
        log.error("inline_delivery_failed", error=describe(exc))
    return moved


def fresh(value: Any) -> Any:
    """A copy of a queued row's ``payload`` that shares nothing mutable with the command
    (whose item data the caller gets back), as a fresh read would give: what JSON holds
    (dicts, lists, strings, numbers, booleans, None) copied without
    :func:`copy.deepcopy`'s memo and dispatch (a third of its time), anything else by
    it."""
    kind = type(value)
    if kind is dict:
        return {key: fresh(item) for key, item in value.items()}
    if kind is list:
        return [fresh(item) for item in value]
    if kind in _IMMUTABLE or value is None:
        return value
    return copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool})


@dataclass(frozen=True, slots=True)
class Delivery:
    """What delivering one row did: whether it succeeded, and the items its handler's
    outcome (and the handlers that followed inline) moved on."""

    ok: bool
    moved: Moved


def deliver(core: Core, row: OutboxRow, depth: int) -> Delivery:
    """Deliver one claimed row; on failure it is retried later with a backoff.

    A notification's mark waits for the engine's next write (:mod:`~cmc_workflow.engine.
    marks`); a handler's is written with its outcome, in one transaction."""
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
    handlers = core.handlers
    follow_up: list[dict[str, Any]] = []
    moved: Moved = {}
    try:
        if row.kind == "notify":
            handlers.notifier(row.name, ctx)
            for extension in core.hooked("notified"):  # e.g. notifications to people
                extension.notified(row.name, ctx)
            core.marks.add(row.id, core.now())
        else:
            handler = handlers.get(row.name)
            assert handler is not None  # claimed only for registered names
            outcome = handler(ctx)
            with core.write() as tx:
                if tx.finish_outbox(row.id, core.runner, core.now()):
                    follow_up, moved = handler_outcome(core, tx, row, outcome, depth + 1)
    except (Exception, CmcWorkflowError) as exc:  # a handler may raise anything
        wait = min(dt.timedelta(seconds=10 * 2**row.attempts), OUTBOX_MAX_BACKOFF)
        with core.write() as tx:
            tx.retry_outbox(row.id, core.runner, describe(exc), core.now() + wait)
        log.warning("delivery_failed", attempt=ctx.attempt, error=describe(exc), **_about(row))
        return Delivery(False, {})
    log.info("delivered", attempt=ctx.attempt, **_about(row))  # a no-op below info
    if follow_up:
        moved.update(after_commit(core, follow_up, depth + 1))
    return Delivery(True, moved)


def _about(row: OutboxRow) -> dict[str, Any]:
    """What a delivery's log events say about its row (no logger bound per delivery)."""
    return {"item_id": row.item_id, "outbox_id": row.id, "kind": row.kind, "name": row.name}


def handler_outcome(
    core: Core, tx: StoreTx, row: OutboxRow, outcome: str | None, depth: int
) -> tuple[list[dict[str, Any]], Moved]:
    """Take the serviceTask's outcome; returns the follow-up outbox rows (claimed for
    inline delivery at ``depth`` when the engine delivers inline) and the item as the
    step wrote it (none when the outcome is stale or refused)."""
    assert row.item_id is not None
    item = core.load(tx, row.item_id, lock=True)
    if item.state != row.payload["state"] or item.visit != row.payload["visit"]:
        return [], {}  # the item left that state meanwhile: the outcome is stale
    version = core.definitions.version(tx, item.definition_id)
    wf = version.workflow
    edges = wf.edges(item.state)
    if outcome is None:
        edge = next((e for e in edges if e.default), edges[0])
    else:
        edge = wf.take(item.state, outcome, steps_.scope(item.data, {}, SYSTEM))
    now = core.now()
    ctx = CommandContext(tx, SYSTEM, "handler", now, core.claim_until(now, depth))
    try:
        warnings = transition.check_system(core, ctx, wf, item, edge)
    except PolicyDenied as exc:
        # nothing is written yet: the item stays in the serviceTask, the refusal is
        # audited with the handler's delivery (re-running the handler would not help)
        audit.record(
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
        return [], {}
    outbox, new_row = transition.apply(core, ctx, wf, item, edge, {}, warnings)
    return outbox, {item.id: (new_row, version)}
