"""Audit records of commands (SEC-1): accepted ones in the command's transaction, refused
ones in their own, and the refusal's log line with personal data masked (SEC-3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cmc_workflow import inputs
from cmc_workflow.engine.context import Core
from cmc_workflow.errors import CmcWorkflowError, EngineError, FormInvalid, PolicyDenied
from cmc_workflow.log import get_logger
from cmc_workflow.model import MAX_ID_LENGTH, SYSTEM
from cmc_workflow.policy import Masker
from cmc_workflow.store import StoreTx

log = get_logger("cmc_workflow.engine")


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
    """Write the audit record of one command (SEC-1) in ``tx``: who, what, when, on which
    item, outcome.

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
        if type(value) is str and (width is None or len(value) <= width) and value.isprintable():
            return value  # what storable_text gives it, as it is (most columns)
        text, was_escaped, was_cut = inputs.storable_text(value, width)
        if was_escaped:
            changed.append(name)
        if was_cut:
            cut.append(name)
        return text

    extra: Mapping[str, Any] = detail or {}  # storable_json below makes the record's own
    stored_item: int | None = None
    if (
        isinstance(item_id, int)
        and not isinstance(item_id, bool)
        and (inputs.INT64[0] <= item_id <= inputs.INT64[1])
    ):
        stored_item = item_id
    elif item_id is not None:
        extra = {**extra, "item_id": column("item_id", item_id, 200)}
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
    if extra:
        stored_detail, detail_changed = inputs.storable_json(extra)
    else:  # most records: what storable_json gives an empty mapping
        stored_detail, detail_changed = {}, False
    if detail_changed:
        changed.append("detail")
    if changed:
        stored_detail["escaped"] = sorted(set(changed))
    if cut:
        stored_detail["truncated"] = sorted(set(cut))
    record["detail"] = stored_detail
    tx.insert_audit(record)


def refusal(
    core: Core,
    actor: object,
    command: str,
    workflow: object,
    item_id: object,
    trigger: object,
    exc: EngineError,
    now: dt.datetime,
    tx: StoreTx | None = None,
) -> None:
    """Record a refused command, whatever its input was (SEC-1): the record holds the
    input escaped and cut to its columns (:func:`record`), so that writing
    it cannot fail because of what was refused.

    Written in a transaction of its own, or in ``tx`` when given (a batch's, after the
    command's savepoint rolled back): it then commits or fails with the batch."""
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

    def write(tx: StoreTx) -> Mapping[str, Any]:
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
        return row.data if row is not None else {}

    if tx is not None:
        held = write(tx)
    else:
        try:
            with core.write() as own:
                held = write(own)
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
    with core.write() as tx:
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


def _iterable(value: object) -> list[object]:
    if isinstance(value, frozenset | set | list | tuple):  # an actor's roles: no ABC check
        return list(value)
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)
