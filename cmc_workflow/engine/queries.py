"""Reading items: as they stand, their children, history, side effects and audit trail,
the inbox of what waits on an actor, and the query API (:func:`query`: filters, sorted
pages, opaque keyset cursors)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.engine import audit
from cmc_workflow.engine.context import Core
from cmc_workflow.errors import EngineError, FieldError, InputInvalid, ItemNotFound
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import Actor, HistoryEntry, Item, normal_id
from cmc_workflow.store import ItemRow, OutboxRow
from cmc_workflow.store.port import SLA_STATUSES, SORTS, AssignmentRow, ItemFilter


def reader(core: Core, actor: Actor | None, command: str, item_id: object) -> Actor | None:
    """The actor who reads item ``item_id`` (None: the embedding host itself, who sees
    everything): admitted as a command's actor would be, and refused as if the item did
    not exist when the extensions hide it from them (scoping); a refusal is audited."""
    if actor is None:
        return None
    now = core.now()
    try:
        admitted = core.resolved(actor)
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            with core.store.read() as tx:
                row = core.load(tx, item_id)
                wf = core.definitions.version(tx, row.definition_id).workflow
            if not all(ext.visible(admitted, row, wf) for ext in core.extensions):
                raise ItemNotFound(
                    tr("no item {item_id}", item_id=item_id),
                    item_id=str(item_id),
                    rule="not_visible",
                )
    except EngineError as exc:
        audit.refusal(core, actor, command, None, item_id, None, exc, now)
        raise
    return admitted


def get(core: Core, item_id: int, actor: Actor | None = None) -> Item:
    """The item as it stands now."""
    reader(core, actor, "get", item_id)
    with core.store.read() as tx:
        row = core.load(tx, item_id)
        version = core.definitions.version(tx, row.definition_id)
    return core.item(row, version)


def children(core: Core, item_id: int, actor: Actor | None = None) -> list[Item]:
    """The items started from item ``item_id``, oldest first (those ``actor`` may see)."""
    admitted = reader(core, actor, "children", item_id)
    with core.store.read() as tx:
        core.load(tx, item_id)
        rows = tx.children(item_id)
        found = []
        for r in rows:
            version = core.definitions.version(tx, r.definition_id)
            if admitted is None or all(
                ext.visible(admitted, r, version.workflow) for ext in core.extensions
            ):
                found.append(core.item(r, version))
        return found


def history(core: Core, item_id: int, actor: Actor | None = None) -> list[HistoryEntry]:
    """Every accepted step of the item, in order."""
    reader(core, actor, "history", item_id)
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


def outbox(core: Core, item_id: int, actor: Actor | None = None) -> list[OutboxRow]:
    """The side effects recorded for an item and their delivery state."""
    reader(core, actor, "outbox", item_id)
    with core.store.read() as tx:
        return tx.outbox_of(item_id)


def audit_trail(core: Core, item_id: int, actor: Actor | None = None) -> list[dict[str, Any]]:
    """The audit records naming an item, allowed or refused (SEC-1)."""
    reader(core, actor, "audit_trail", item_id)
    with core.store.read() as tx:
        return tx.audit_of(item_id)


# -- the query API (issue 15) ------------------------------------------------------------------
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_PAGE = 500
"""The most items one page holds."""


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of found items and the opaque cursor of the next page (None: the last)."""

    items: list[Item]
    next_cursor: str | None


def _bad(field: str, reason: Text) -> InputInvalid:
    return InputInvalid([FieldError(field, reason.en, reason.zh)])


def encode_cursor(sort: str, descending: bool, row: ItemRow) -> str:
    """The opaque position after ``row`` in a listing sorted by ``sort``."""
    value = row.id if sort == "id" else getattr(row, sort).astimezone(dt.UTC).isoformat()
    text = json.dumps([sort, descending, value, row.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, descending: bool) -> tuple[Any, int]:
    """The keyset position a cursor names; a cursor that is not ours, or of another
    sort order, is :class:`InputInvalid` (field ``cursor``)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_of, desc_of, value, last = json.loads(raw)
        if not isinstance(last, int) or isinstance(last, bool):
            raise ValueError(last)
        if sort_of != "id":
            value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError(value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise _bad(
            "cursor",
            tr("not a cursor this service gave out: pass next_cursor of the previous page as is"),
        ) from exc
    if sort_of != sort or desc_of != descending:
        raise _bad(
            "cursor",
            tr("the cursor belongs to another sort order: keep sort and order across pages"),
        )
    return value, last


def _checked_data(data: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    found = []
    for name, value in (data or {}).items():
        if not isinstance(name, str) or not _FIELD.fullmatch(name):
            raise _bad(
                f"data.{name}", tr("a data field is a name of letters, digits and _ (at most 64)")
            )
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _bad(
                f"data.{name}",
                tr("data fields are compared with text, a number, true/false or null"),
            )
        found.append((name, value))
    return tuple(found)


def query(
    core: Core,
    actor: Actor | None,
    *,
    workflow: str | None = None,
    states: Sequence[str] = (),
    assignee: str | None = None,
    role: str | None = None,
    open: bool | None = None,
    overdue: bool = False,
    due_before: dt.datetime | None = None,
    sla: str | None = None,
    data: Mapping[str, Any] | None = None,
    created_from: dt.datetime | None = None,
    created_until: dt.datetime | None = None,
    updated_from: dt.datetime | None = None,
    updated_until: dt.datetime | None = None,
    title: str | None = None,
    parent_id: int | None = None,
    sort: str = "created_at",
    descending: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> ItemPage:
    """Find items (see :meth:`Engine.query`)."""
    now = core.now()
    if actor is not None:
        try:
            actor = core.resolved(actor)
        except EngineError as exc:
            audit.refusal(core, actor, "query", workflow, None, None, exc, now)
            raise
    if sort not in SORTS:
        raise _bad("sort", tr("sort by one of {names}", names=joined(SORTS)))
    if sla is not None and sla not in SLA_STATUSES:
        raise _bad("sla", tr("sla is one of {names}", names=joined(SLA_STATUSES)))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise _bad("limit", tr("limit is 1..{most}", most=MAX_PAGE))
    for name, when in (
        ("due_before", due_before),
        ("created_from", created_from),
        ("created_until", created_until),
        ("updated_from", updated_from),
        ("updated_until", updated_until),
    ):
        if when is not None and when.tzinfo is None:
            raise _bad(name, tr("give a time with its offset (+08:00 or Z)"))
    if overdue:
        due_before = now if due_before is None else min(due_before, now)
    after = decode_cursor(cursor, sort, descending) if cursor else None
    with core.store.read() as tx:
        pairs: tuple[tuple[str, str], ...] | None = None
        assigned: tuple[tuple[str, str, str], ...] | None = None
        if role is not None or assignee is not None:
            versions = [core.definitions.version(tx, d) for d in tx.open_definition_ids()]
            if role is not None:
                pairs = tuple(
                    sorted(
                        {
                            (v.workflow.id, name)
                            for v in versions
                            for name in v.workflow.definition.states
                            if any(role in e.roles for e in v.workflow.edges(name))
                        }
                    )
                )
            if assignee is not None:
                assigned = tuple(
                    sorted(
                        {
                            (v.workflow.id, name, state.assignee)
                            for v in versions
                            for name, state in v.workflow.definition.states.items()
                            if state.assignee is not None
                        }
                    )
                )
            open = True
        people = () if assignee is None else tuple(dict.fromkeys([assignee, normal_id(assignee)]))
        wanted = ItemFilter(
            workflows=(workflow,) if workflow else (),
            states=tuple(states),
            pairs=pairs,
            assigned=assigned,
            people=people,
            open=open,
            due_before=due_before,
            sla=sla,
            data=_checked_data(data),
            created_from=created_from,
            created_until=created_until,
            updated_from=updated_from,
            updated_until=updated_until,
            title=title,
            parent_id=parent_id,
            sort=sort,
            descending=descending,
            after=after,
            limit=limit + 1,
        )
        rows = tx.find_items(wanted)
        more = len(rows) > limit
        rows = rows[:limit]
        found = []
        for row in rows:
            version = core.definitions.version(tx, row.definition_id)
            if actor is None or all(
                ext.visible(actor, row, version.workflow) for ext in core.extensions
            ):
                found.append(core.item(row, version))
    next_cursor = encode_cursor(sort, descending, rows[-1]) if more and rows else None
    return ItemPage(found, next_cursor)
