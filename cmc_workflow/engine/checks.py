"""The checks a command passes before anything is written: its input at the boundary,
the trigger and roles, the form and data, the stale repeat of a click. Pure, but for
:func:`refuse_repeated` (one read of the item's last command)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cmc_workflow import inputs
from cmc_workflow import steps as steps_
from cmc_workflow.compiler import ROUTE_TRIGGER, CompiledWorkflow, Edge
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.errors import (
    ConflictError,
    FieldError,
    FormInvalid,
    GuardRejected,
    InputInvalid,
    InvalidTrigger,
    NotPermitted,
)
from cmc_workflow.i18n import Text, tr
from cmc_workflow.model import Actor, id_problem, normal_id
from cmc_workflow.store import ItemRow, StoreTx


def start_refusal(actor: Actor, wf: CompiledWorkflow) -> Text | None:
    """Why ``actor`` may not start an item of ``wf``, in English and Chinese (None: they
    hold a start role)."""
    if actor.roles & wf.start_roles:
        return None
    roles = wf.definition.start.roles
    return tr(
        "{actor} may not start {workflow}: it needs one of the roles {roles}, they hold {held}",
        actor=actor.id,
        workflow=repr(wf.id),
        roles=sorted(roles),
        held=sorted(actor.roles) if actor.roles else tr("none"),
    )


def check_inputs(
    *,
    texts: Mapping[str, object] | None = None,
    ids: Mapping[str, object] | None = None,
    data: object = None,
) -> None:
    """Refuse a command's input the store could not hold or a person could not read
    (:class:`InputInvalid`, naming every bad field): ids of the wrong type or wider than
    their columns, item ids outside 64 bits, data that is not a mapping or holds NUL, lone
    surrogates or numbers that are not finite."""
    errors: list[FieldError] = []
    for name, value in (texts or {}).items():
        problem = inputs.text_problem(name, value)
        if problem is not None:
            errors.append(problem)
    for name, value in (ids or {}).items():
        bounds = inputs.INT32 if name == "expected_version" else inputs.INT64
        problem = inputs.int_problem(name, value, bounds, optional=name != "item_id")
        if problem is not None:
            errors.append(problem)
    errors += inputs.data_problems("data", data)
    if errors:
        raise InputInvalid(errors)


def canonical(form: Mapping[str, Any]) -> str:
    return json.dumps(form, sort_keys=True, ensure_ascii=False, default=str)


def people_normalised(wf: CompiledWorkflow, values: dict[str, Any]) -> list[FieldError]:
    """Normalise, in place, the people named in ``values``' assignee fields (the fields
    a state's ``assignee:`` names), so that they compare with actor ids as a person
    reads them; returns the ids that cannot name a person."""
    errors: list[FieldError] = []
    for name in wf.assignee_fields:
        if name not in values:
            continue
        value = values[name]
        people = value if isinstance(value, list) else [value]
        if not any(isinstance(p, str) for p in people):
            continue
        normal: list[Any] = []
        for n, person in enumerate(people):
            problem = id_problem(person) if isinstance(person, str) else None
            if problem is not None and problem[0] != "actor_id_reserved":
                where = f"{name}[{n}]" if isinstance(value, list) else name
                errors.append(FieldError(where, problem[1], problem[2]))
            normal.append(normal_id(person) if isinstance(person, str) else person)
        values[name] = normal if isinstance(value, list) else normal[0]
    return errors


def reused_elsewhere(wf: CompiledWorkflow, state: str, trigger: str) -> bool:
    """Whether a state other than ``state`` offers ``trigger`` too."""
    offering = wf.offering(trigger)
    return len(offering) > (state in offering)


def refuse_repeated(
    tx: StoreTx,
    wf: CompiledWorkflow,
    row: ItemRow,
    trigger: str,
    actor: Actor,
    form: Mapping[str, Any],
) -> None:
    """Refuse a stale repeat (rule ``repeated_command``): the item's last command was this
    trigger by this person with this form and moved the item on, so the same click again
    is one made before the first went through, landing on the next stage's trigger of that
    name. A different form is a new command (e.g. a second anomaly reported)."""
    if not reused_elsewhere(wf, row.state, trigger):
        return  # no other state offers it: nothing could have moved the item here by it
    last = tx.last_command(row.id)
    if (
        last is None
        or last["kind"] != "fire"
        or last["trigger"] != trigger
        or normal_id(last["actor"]) != actor.id  # rows of older releases hold ids as typed
        or last["from_state"] == last["to_state"]
        or canonical(last["form"]) != canonical(form)
    ):
        return
    repeated = ConflictError(
        tr(
            "{actor} fired {trigger} on item {item} already (it moved from {source} to "
            "{target}, step {step}); the same command again is taken as a stale repeat. "
            "Reload the item and, to fire {trigger} again in {state}, pass the version you "
            "saw (now {version})",
            actor=actor.id,
            trigger=repr(trigger),
            item=row.id,
            source=repr(last["from_state"]),
            target=repr(last["to_state"]),
            step=last["seq"],
            state=repr(row.state),
            version=row.version,
        ),
        item_id=str(row.id),
        trigger=trigger,
        state=row.state,
        rule="repeated_command",
    )
    repeated.retryable = False  # the same call again is the same repeat: reload first
    raise repeated


def validated_data(wf: CompiledWorkflow, values: dict[str, Any]) -> dict[str, Any]:
    """A start's data, validated against the workflow's ``data:`` (or :class:`FormInvalid`)."""
    spec = wf.definition.data
    if not spec:
        return values
    clean, errors = validate_values(spec, values)
    errors += people_normalised(wf, clean)
    if errors:
        raise FormInvalid(errors, trigger="start", state=wf.initial)
    return clean


_UNREAD: Mapping[str, Any] = MappingProxyType({})
"""The scope handed to the machine for a trigger none of whose transitions has a guard."""


def permitted_edge(
    wf: CompiledWorkflow,
    row: ItemRow,
    trigger: str,
    actor: Actor,
    form: Mapping[str, Any],
) -> Edge:
    """The transition ``trigger`` takes for ``actor`` from the item's state with ``form``
    (or :class:`InvalidTrigger`, :class:`NotPermitted`, :class:`GuardRejected`)."""
    offer = wf.offer(row.state, trigger)
    if not offer.edges or trigger == ROUTE_TRIGGER:
        raise InvalidTrigger(
            tr(
                "{trigger} cannot be fired in state {state}; possible here: {possible}",
                trigger=repr(trigger),
                state=repr(row.state),
                possible=", ".join(wf.triggers(row.state)) or "nothing",
            ),
            item_id=str(row.id),
            trigger=trigger,
            state=row.state,
        )
    allowed_roles = offer.roles
    if not actor.roles & allowed_roles:
        raise NotPermitted(
            tr(
                "{id} may not fire {trigger} in {state}: it needs one of the roles "
                "{allowed_roles}, they hold {held}",
                id=actor.id,
                trigger=repr(trigger),
                state=repr(row.state),
                allowed_roles=sorted(allowed_roles),
                held=sorted(actor.roles) or "none",
            ),
            item_id=str(row.id),
            trigger=trigger,
            state=row.state,
        )
    try:
        # no guard among them: nothing reads the scope, the machine takes the edge as is
        scope = steps_.scope(row.data, form, actor) if offer.guarded else _UNREAD
        edge = wf.take(row.state, trigger, scope)
    except GuardRejected as exc:
        exc.item_id = str(row.id)
        raise
    if not actor.roles & edge.roles:
        raise NotPermitted(
            tr(
                "{id} may not fire {trigger} here now: this case needs one of {roles}",
                id=actor.id,
                trigger=repr(trigger),
                roles=sorted(edge.roles),
            ),
            item_id=str(row.id),
            trigger=trigger,
            state=row.state,
        )
    return edge


def choose(
    wf: CompiledWorkflow,
    row: ItemRow,
    trigger: str,
    actor: Actor,
    form: dict[str, Any],
) -> tuple[Edge, dict[str, Any]]:
    """The transition a fire takes and its validated form (refused on a closed item)."""
    if row.closed_at is not None:
        raise InvalidTrigger(
            tr(
                "item {id} is closed (in {state}); nothing can be fired",
                id=row.id,
                state=repr(row.state),
            ),
            item_id=str(row.id),
            trigger=trigger,
            state=row.state,
        )
    edge = permitted_edge(wf, row, trigger, actor, form)
    clean, errors = validate_values(edge.form, form)
    # submitted values are merged into the item's data: a form field that is also a
    # data field must keep the data valid (an optional `title` may not blank it)
    spec = wf.definition.data
    overlap = {name: spec[name] for name in clean if name in spec}
    if overlap:
        _ignored, data_errors = validate_values(overlap, {k: clean[k] for k in overlap})
        errors += data_errors
    errors += people_normalised(wf, clean)
    if errors:
        raise FormInvalid(errors, item_id=str(row.id), trigger=trigger, state=row.state)
    return edge, clean


def decided_by_form(wf: CompiledWorkflow, state: str, trigger: str, actor: Actor) -> Edge | None:
    """The first transition of ``trigger`` open to ``actor`` whose guard reads a field of
    its own form (``form.x``, or ``data.x`` with the form merged over the data)."""
    for edge in wf.edges(state):
        if (
            edge.trigger == trigger
            and actor.roles & edge.roles
            and edge.guard is not None
            and edge.guard.fields & set(edge.form)
        ):
            return edge
    return None
