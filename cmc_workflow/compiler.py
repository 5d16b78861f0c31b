"""Stage 4: a checked workflow -> a compiled workflow with one ``transitions.Machine``.

One machine per workflow *version*, never one per item (ARCHITECTURE decision 1). A
command sets the machine's single light token to the item's stored state, triggers by
name (decision 2: ``token.trigger(name)``, never the generated method), and reads back
the transition taken. While ``transitions``' logger shows nothing (as deployed) the
trigger runs without its logging calls, over the machine's own events, transitions and
conditions (:func:`_trigger_quietly`: 17 -> 3 µs a trigger). The token is shared, so
machine use is serialized by a lock; the critical section holds no I/O and lasts
microseconds.

The machine is built on first use: a compiled version that only answers questions about
its edges (the policy checks, a version loaded but never fired) never builds one, and
``transitions`` is imported only then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cmc_workflow.definition.guards import Guard, compile_expression, compile_guard
from cmc_workflow.definition.loader import LoadedWorkflow
from cmc_workflow.definition.models import FieldSpec, StartsItem, State, Transition, Workflow
from cmc_workflow.errors import GuardRejected, InvalidTrigger
from cmc_workflow.i18n import joined, tr

if TYPE_CHECKING:
    from transitions import Machine
    from transitions.core import EventData

ROUTE_TRIGGER = "_route"
"""The internal trigger of gateway routes (not a valid user trigger name)."""


@dataclass(frozen=True, slots=True)
class ChildStart:
    """A compiled ``starts:`` entry: the workflow and how to compute each child's data."""

    workflow: str
    data: Mapping[str, Guard]
    for_each: Guard | None

    def data_for(self, scope: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The start data of every child to open in ``scope`` (one per ``for_each``
        element, ``each`` bound to it; no element, no child). Fields that compute to
        null are left out, so the child's optional fields stay unset."""
        if self.for_each is None:
            elements: list[Any] = [None]
        else:
            found = self.for_each.value(scope)
            elements = [] if found is None else found if isinstance(found, list) else [found]
        out = []
        for element in elements:
            each_scope = {**scope, "each": element}
            values = {name: expr.value(each_scope) for name, expr in self.data.items()}
            out.append({k: v for k, v in values.items() if v is not None})
        return out


def _child_start(spec: StartsItem) -> ChildStart:
    return ChildStart(
        workflow=spec.workflow,
        data=MappingProxyType({k: compile_expression(v) for k, v in spec.data.items()}),
        for_each=compile_expression(spec.for_each) if spec.for_each is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Edge:
    """One compiled transition."""

    source: str
    index: int
    trigger: str
    target: str
    roles: frozenset[str]
    guard: Guard | None
    form: Mapping[str, FieldSpec]
    default: bool
    notify: tuple[str, ...]
    spec: Transition = field(repr=False)
    starts: tuple[ChildStart, ...] = ()


_STATE_ATTRIBUTE = "_cmc_state"
"""Where the token keeps its state. transitions refuses a trigger named like the model's
state attribute (``state`` by default, a fine trigger name); ids cannot start with ``_``."""


class _Token:
    """The light model the machine moves; it never leaves this module."""


@dataclass(frozen=True, slots=True)
class Offer:
    """What one state offers under one trigger: its transitions of that trigger in file
    order, the roles that may fire any of them, and whether any has a guard (a guard
    reads the command's scope; without one the machine takes the edge whatever it is)."""

    edges: tuple[Edge, ...]
    roles: frozenset[str]
    guarded: bool


_NO_OFFER = Offer((), frozenset(), False)


class CompiledWorkflow:
    """A workflow version ready to run: its definition, edges and machine."""

    def __init__(self, loaded: LoadedWorkflow) -> None:
        self.loaded = loaded
        self.definition: Workflow = loaded.definition
        self.id = loaded.definition.id
        self.content_hash = loaded.content_hash
        self.initial = loaded.definition.start.state
        edges: dict[str, tuple[Edge, ...]] = {}
        for name, state in self.definition.states.items():
            edges[name] = tuple(_edge(name, i, t, state) for i, t in enumerate(state.transitions))
        self._edges = MappingProxyType(edges)
        offering: dict[str, set[str]] = {}
        for name, state_edges in edges.items():
            for edge in state_edges:
                offering.setdefault(edge.trigger, set()).add(name)
        self._offering = MappingProxyType({t: frozenset(s) for t, s in offering.items()})
        offers: dict[tuple[str, str], list[Edge]] = {}
        for name, state_edges in edges.items():
            for edge in state_edges:
                offers.setdefault((name, edge.trigger), []).append(edge)
        self._offers = MappingProxyType(
            {
                key: Offer(
                    tuple(found),
                    frozenset().union(*(e.roles for e in found)),
                    any(e.guard is not None for e in found),
                )
                for key, found in offers.items()
            }
        )
        self.start_roles = frozenset(self.definition.start.roles)
        """The roles that may start an item."""
        self.assignee_fields = frozenset(
            s.assignee for s in self.definition.states.values() if s.assignee
        )
        """The data fields that name the people a state is assigned to (``assignee:``)."""
        self._lock = threading.Lock()
        self._token = _Token()
        self._machine: Machine | None = None
        self._event_data: type[EventData] | None = None  # the library's, with the machine

    @property
    def machine(self) -> Machine:
        """The state machine of this version (built on first use), its one model the
        shared token."""
        with self._lock:
            return self._built()

    def _built(self) -> Machine:
        """The machine, built now if it is not yet; the caller holds ``_lock``."""
        if self._machine is not None:
            return self._machine
        from transitions import Machine
        from transitions.core import EventData

        machine = Machine(
            model=None,
            states=list(self.definition.states),
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            model_attribute=_STATE_ATTRIBUTE,
        )
        for state_edges in self._edges.values():
            # the default route goes last: transitions tries them in the order added
            for edge in sorted(state_edges, key=lambda e: e.default):
                machine.add_transition(
                    edge.trigger,
                    edge.source,
                    edge.target,
                    conditions=[_condition(edge.guard)] if edge.guard is not None else [],
                    before=[_recorder(edge)],
                )
        machine.add_model(self._token, initial=self.initial)
        self._event_data = EventData
        self._machine = machine
        return machine

    def state(self, name: str) -> State:
        """The definition of state ``name``."""
        return self.definition.states[name]

    def is_end(self, name: str) -> bool:
        """True when ``name`` is an endEvent."""
        return self.definition.states[name].type == "endEvent"

    def edges(self, state: str) -> tuple[Edge, ...]:
        """The transitions out of ``state``, in file order."""
        return self._edges.get(state, ())

    def offering(self, trigger: str) -> frozenset[str]:
        """The states with a transition of ``trigger`` (gateways: :data:`ROUTE_TRIGGER`)."""
        return self._offering.get(trigger, frozenset())

    def offer(self, state: str, trigger: str) -> Offer:
        """The transitions of ``trigger`` out of ``state`` (none: an empty offer)."""
        return self._offers.get((state, trigger), _NO_OFFER)

    def triggers(self, state: str) -> list[str]:
        """The distinct user trigger names available from ``state``, in file order."""
        names = (e.trigger for e in self.edges(state) if e.trigger != ROUTE_TRIGGER)
        return list(dict.fromkeys(names))

    def take(self, state: str, trigger: str, scope: Mapping[str, Any]) -> Edge:
        """Run the machine: which transition does ``trigger`` take from ``state``?

        Raises :class:`InvalidTrigger` when ``state`` has no such trigger and
        :class:`GuardRejected` when every guard of that trigger is false.
        """
        if state not in self.offering(trigger):
            raise InvalidTrigger(
                tr(
                    "{trigger} cannot be fired in state {state}; possible here: {triggers}",
                    trigger=repr(trigger),
                    state=repr(state),
                    triggers=joined(possible)
                    if (possible := self.triggers(state))
                    else tr("nothing"),
                ),
                trigger=trigger,
                state=state,
            )
        taken: list[Edge] = []
        with self._lock:
            machine = self._built()
            if _LIBRARY_LOG.isEnabledFor(logging.INFO):  # someone reads its steps: its own way
                machine.set_state(state, model=self._token)
                self._token.trigger(trigger, scope=scope, taken=taken)  # type: ignore[attr-defined]  # bound by transitions
            else:
                assert self._event_data is not None  # set with the machine
                _trigger_quietly(
                    machine, self._event_data, self._token, state, trigger, scope, taken
                )
        if not taken:
            guards = [e.spec.guard for e in self.edges(state) if e.trigger == trigger]
            raise GuardRejected(
                tr(
                    "{trigger} is not possible now: its condition does not hold ({guards})",
                    trigger=repr(trigger),
                    guards=" / ".join(g for g in guards if g),
                ),
                trigger=trigger,
                state=state,
            )
        return taken[0]

    def route(self, state: str, scope: Mapping[str, Any]) -> Edge:
        """The route a gateway takes for this scope (the default when no guard holds).

        Every question runs the machine (about 4 µs since it runs quietly,
        :func:`_trigger_quietly`). An answer kept for an equal scope was cheaper when a
        run took 12–17 µs, but ``==`` says ``1``, ``1.0`` and ``True`` are equal where a
        guard may not (``data.steps[data.i]``), and an exact comparison costs more than
        the run."""
        return self.take(state, ROUTE_TRIGGER, scope)


def _edge(source: str, index: int, t: Transition, state: State) -> Edge:
    if state.type == "exclusiveGateway":
        trigger = ROUTE_TRIGGER
    else:
        assert t.trigger is not None  # the checks refuse a missing trigger
        trigger = t.trigger
    return Edge(
        source=source,
        index=index,
        trigger=trigger,
        target=t.target,
        roles=frozenset(t.roles or ()),
        guard=compile_guard(t.guard) if t.guard is not None else None,
        form=MappingProxyType(dict(t.form)),
        default=t.default,
        notify=tuple(t.notify),
        spec=t,
        starts=tuple(_child_start(c) for c in t.starts),
    )


_LIBRARY_LOG = logging.getLogger("transitions.core")
"""The logger of ``transitions``' machines: 11 calls a trigger (debug and info), 16 when
a gateway's guards fail, each a check of its level that says no unless a host asked."""


def _trigger_quietly(
    machine: Machine,
    event_data: type[EventData],
    token: _Token,
    state: str,
    trigger: str,
    scope: Mapping[str, Any],
    taken: list[Edge],
) -> None:
    """``token.trigger(trigger, scope=scope, taken=taken)`` from ``state``, as
    ``transitions`` runs it on this module's machines, without its logging calls (the
    caller checked that its logger shows nothing): the event's transitions out of
    ``state`` in order, each one's conditions checked by the library's ``Condition``, the
    first that holds runs its ``before`` callbacks and moves the token. The machines have
    no other callbacks (:meth:`CompiledWorkflow._built`) and no queue; ``state`` offers
    ``trigger`` (:meth:`CompiledWorkflow.take` checked). A condition that raises ends the
    trigger with its exception, as it does there."""
    event = machine.events[trigger]
    states = machine.states
    data = event_data(states[state], event, machine, token, (), {"scope": scope, "taken": taken})
    setattr(token, _STATE_ATTRIBUTE, state)
    for transition in event.transitions[state]:
        data.transition = transition
        for condition in transition.conditions:
            if not condition.check(data):
                break
        else:
            for callback in transition.before:
                machine.callback(callback, data)
            target = transition.dest
            assert target is not None  # every edge has one (no internal transitions)
            setattr(token, _STATE_ATTRIBUTE, target)
            data.state = states[target]
            data.result = True
            return


def _condition(guard: Guard) -> Any:
    def condition(event: Any) -> bool:
        return guard.evaluate(event.kwargs["scope"])

    return condition


def _recorder(edge: Edge) -> Any:
    def record(event: Any) -> None:
        event.kwargs["taken"].append(edge)

    return record
