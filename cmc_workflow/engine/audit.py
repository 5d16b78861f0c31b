"""Audit records of commands (SEC-1): accepted ones in the command's transaction, refused
ones in their own, and the refusal's log line with personal data masked (SEC-3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import structlog

from cmc_workflow import inputs
from cmc_workflow import steps as steps_
from cmc_workflow.engine.context import Core
from cmc_workflow.errors import CmcWorkflowError, EngineError, FormInvalid, PolicyDenied
from cmc_workflow.model import SYSTEM
from cmc_workflow.policy import Masker
from cmc_workflow.store import StoreTx

log = structlog.get_logger("cmc_workflow.engine")


def record(
    tx: StoreTx,
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
    """Write one audit record in ``tx``."""
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


def refusal(
    core: Core,
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
        with core.store.write() as tx:
            record(
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
        refused = loggable(core, exc, named)
        log.error("audit_write_failed", error=str(audit_exc), refused=refused)
    log.info(
        "command_refused",
        command=command,
        item_id=stored_id if stored_id is not None else inputs.storable_text(item_id, 40)[0],
        trigger=None if trigger is None else inputs.storable_text(trigger, 64)[0],
        actor=inputs.storable_text(getattr(actor, "id", actor), 128)[0],
        rule=rule,
        reason=loggable(core, exc, named, held),
    )


def system_refusal(
    core: Core, exc: PolicyDenied, kind: str, item_id: int, trigger: str, reason: str
) -> None:
    """Record a refused system step in its own transaction (the step's rolled back)."""
    now = core.now()
    with core.store.write() as tx:
        row = tx.item(item_id)
        record(
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


def loggable(
    core: Core,
    exc: EngineError,
    workflow: str | None = None,
    held: Mapping[str, Any] | None = None,
) -> str:
    """``exc``'s message for a log line with personal data masked (SEC-3): the values
    of personal fields a form error quotes, and the item's own personal values
    (``held``: its data) wherever the message repeats them."""
    current = core.definitions.current(workflow or "")
    masker = Masker.for_workflows([current.workflow.definition] if current else [])
    return inputs.escaped(masker.text(str(exc), masker.personal_values(held or {})))
