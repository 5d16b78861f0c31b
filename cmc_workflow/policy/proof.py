"""The static proof: policies checked against the compiled workflow graphs at load time.

Three questions, each answered before any item runs:

* **Bypass** (``E-POLICY-BYPASS``): for every ``required_stages`` rule, is there a path
  from the start that enters the guarded state without the required stages, in order,
  since the last rework? The search runs over pairs (state, stages done so far), so it
  is exact for the graph and finite (states x (stages + 1)). Guards are ignored — any
  transition may be taken — so the proof is conservative: it may report a path that data
  would forbid, never miss one the graph allows. Engine-taken steps (gateway routes,
  serviceTask outcomes, timers) are part of the graph but never count as approvals, just
  as at run time. An edit resets the approvals when its form *requires* an edit field
  (an optional field only may be an edit, which the runtime rule decides).
* **Nobody may fire** (``E-POLICY-NO-ROLE-CAN-FIRE``): a transition the policy's
  ``permissions:``/``start:`` leave to no role, or that a ``forbid_data`` condition
  refuses whatever the data.
* **Unsatisfiable separation** (``E-POLICY-UNSATISFIABLE``): a ``distinct_actors`` pair
  no assignment of roles to people can meet — both steps taken by the engine itself, a
  step nobody may take, or both steps open only to roles that together may have a single
  holder (``max_holders: 1``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cmc_workflow.compiler import ROUTE_TRIGGER, CompiledWorkflow, Edge
from cmc_workflow.i18n import N_, Text, joined, tr
from cmc_workflow.policy.rules import Rounds, StepKey


@dataclass(frozen=True, slots=True)
class Firer:
    """Where the engine itself fires a userTask's trigger: a deadline step's
    ``action: fire`` (a timer) or another workflow's ``collects:``.

    ``workflow`` and ``path`` place it in its file; ``what`` names it for messages, in
    both languages, from the msgid and its parameters (looked up only when a message
    needs it: a clean load never reads the catalogue).
    """

    workflow: str
    path: tuple[str | int, ...]
    msgid: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def what(self) -> Text:
        return tr(self.msgid, **dict(self.params))


@dataclass(frozen=True, slots=True)
class Hop:
    """One transition of a path: the start (``edge`` None) or a compiled edge; ``by`` is
    set when the engine fires it (a timer or a gathering item), not a person."""

    source: str | None
    trigger: str
    target: str
    edge: Edge | None
    by: Firer | None = None

    def __str__(self) -> str:
        return self.text().en

    def text(self) -> Text:
        """The hop as ``-approve-> selected``, in English and Chinese."""
        if self.edge is None:
            return tr("(start) -> {target}", target=self.target)
        name = tr("(route)") if self.trigger == ROUTE_TRIGGER else Text(self.trigger, self.trigger)
        if self.by is not None:
            name = tr("{trigger} by {firer}", trigger=name, firer=self.by.what)
        return Text(f"-{name.en}-> {self.target}", f"-{name.zh}-> {self.target}")


EngineFired = Mapping[tuple[str, str], Sequence[Firer]]
"""(state, trigger) -> where the engine fires that userTask trigger itself."""


def timer_firers(wf: CompiledWorkflow) -> dict[tuple[str, str], list[Firer]]:
    """The userTask transitions a deadline step's ``action: fire`` may take: the trigger in
    the deadline's state and in every further state its clock runs in (``runs_in``)."""
    found: dict[tuple[str, str], list[Firer]] = {}
    for name, state in wf.definition.states.items():
        deadline = state.deadline
        if deadline is None:
            continue
        for i, step in enumerate(deadline.steps):
            if step.action != "fire" or step.trigger is None:
                continue
            firer = Firer(
                wf.id,
                ("states", name, "deadline", "steps", i),
                N_("timer (deadline step {number} of {state})"),
                (("number", i + 1), ("state", repr(name))),
            )
            for where in dict.fromkeys([name, *deadline.runs_in]):
                if any(e.trigger == step.trigger for e in wf.edges(where)):
                    found.setdefault((where, step.trigger), []).append(firer)
    return found


@dataclass(frozen=True, slots=True)
class Bypass:
    """A path that enters the guarded state with only ``done`` stages behind it.

    ``culprit`` is the hop that first skipped ahead (arrived at a later stage's state, or
    at the guarded state, before the stages in between were done).
    """

    path: tuple[Hop, ...]
    done: int
    culprit: Hop

    def spelled(self) -> Text:
        """The path as ``proposed -approve-> selected -...-> publishing``, in English and
        Chinese (the hops the engine takes itself say so in each)."""
        hops = [hop.text() for hop in self.path[1:]]
        first = self.path[0].target
        return Text(
            " ".join([first, *(h.en for h in hops)]), " ".join([first, *(h.zh for h in hops)])
        )


def _is_edit(edge: Edge, rounds: Rounds) -> bool:
    """True when firing ``edge`` certainly submits an edit field (a required form field)."""
    return any(
        name in edge.form and edge.form[name].required and edge.form[name].type != "boolean"
        for name in rounds.edit_fields
    )


def _human(wf: CompiledWorkflow, edge: Edge) -> bool:
    return wf.state(edge.source).type == "userTask"


def _advance(
    wf: CompiledWorkflow,
    stages: Sequence[StepKey],
    rounds: Rounds,
    done: int,
    edge: Edge,
    person: bool = True,
) -> int:
    """Stages done after taking ``edge`` with ``done`` behind (the runtime rule's order);
    ``person`` False: the engine takes it (a timer), which never completes a stage."""
    if edge.target in rounds.rework and edge.source != edge.target:
        done = 0
    if done > 0 and person and _human(wf, edge) and _is_edit(edge, rounds):
        done = 0
    if done < len(stages):
        stage = stages[done]
        if (
            person
            and stage.state == edge.source
            and stage.trigger == edge.trigger
            and _human(wf, edge)
            and edge.trigger != ROUTE_TRIGGER
        ):
            done += 1
    return done


def find_bypass(
    wf: CompiledWorkflow,
    enter: str,
    stages: Sequence[StepKey],
    rounds: Rounds,
    usable: Callable[[Edge], bool] = lambda _e: True,
    engine_fired: EngineFired | None = None,
) -> Bypass | None:
    """The shortest path entering ``enter`` without ``stages`` done in order, or None.

    ``usable`` tells whether anyone may take an edge once policies apply (edges nobody
    may fire are left out: no item can take them). ``engine_fired`` lists the userTask
    transitions the engine may also take itself (timers, ``collects:``): taken that way
    they complete no stage, whoever else may take them.
    """
    fired = engine_fired or {}
    start = wf.initial
    done0 = 1 if stages and stages[0].state is None else 0
    first = Hop(None, "start", start, None)
    if start == enter and done0 < len(stages):
        return Bypass((first,), done0, first)
    parents: dict[tuple[str, int], tuple[tuple[str, int] | None, Hop]] = {
        (start, done0): (None, first)
    }
    queue = deque([(start, done0)])
    while queue:
        node = queue.popleft()
        state, done = node
        for edge in wf.edges(state):
            ways: list[tuple[int, Firer | None]] = []
            if usable(edge):
                ways.append((_advance(wf, stages, rounds, done, edge), None))
            for firer in fired.get((edge.source, edge.trigger), ()):
                ways.append((_advance(wf, stages, rounds, done, edge, person=False), firer))
            for after, by in ways:
                hop = Hop(edge.source, edge.trigger, edge.target, edge, by)
                if edge.target == enter and edge.source != enter and after < len(stages):
                    path = [hop]
                    back: tuple[str, int] | None = node
                    while back is not None:
                        parent, parent_hop = parents[back]
                        path.append(parent_hop)
                        back = parent
                    path.reverse()
                    culprit = next(
                        (h for h in path if h.by is not None),
                        _culprit(wf, path, stages, rounds, enter),
                    )
                    return Bypass(tuple(path), after, culprit)
                nxt = (edge.target, after)
                if nxt not in parents:
                    parents[nxt] = (node, hop)
                    queue.append(nxt)
    return None


def _culprit(
    wf: CompiledWorkflow,
    path: Sequence[Hop],
    stages: Sequence[StepKey],
    rounds: Rounds,
    enter: str,
) -> Hop:
    """The first hop that reaches a later stage's state (or ``enter``) too early."""
    done = 1 if stages and stages[0].state is None else 0
    for hop in path[1:]:
        assert hop.edge is not None
        expected = stages[done].state if done < len(stages) else None
        later = {s.state for s in stages[done + 1 :] if s.state is not None} - {expected}
        if hop.target in later or hop.target == enter:
            return hop
        done = _advance(wf, stages, rounds, done, hop.edge)
    return path[-1]


# -- who may take a step ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Takers:
    """Who may take a step: the engine itself, or the roles whose holders may."""

    system: bool
    roles: frozenset[str]

    @property
    def nobody(self) -> bool:
        """True when neither the engine nor any role may take the step."""
        return not self.system and not self.roles


def capacity(roles: frozenset[str], max_holders: Mapping[str, int | None]) -> float:
    """How many different people may hold at least one of ``roles`` (inf when unbounded)."""
    total = 0.0
    for role in roles:
        limit = max_holders.get(role)
        if limit is None:
            return math.inf
        total += limit
    return total


def pair_satisfiable(
    a: Takers, b: Takers, same_step: bool, max_holders: Mapping[str, int | None]
) -> Text | None:
    """None when two different people (or the engine and a person) can take ``a`` and
    ``b``; else why not."""
    if a.nobody or b.nobody:
        return tr("nobody may take one of the steps")
    if same_step:
        if a.system and not a.roles:
            return tr("the engine takes the step every time")
        if capacity(a.roles, max_holders) < 2:
            return tr("only one person may hold {roles}", roles=joined(sorted(a.roles)))
        return None
    if a.system and b.system and not a.roles and not b.roles:
        return tr("the engine takes both steps")
    people = capacity(a.roles | b.roles, max_holders) + (1 if a.system or b.system else 0)
    if people < 2:
        return tr("only one person may hold {roles}", roles=joined(sorted(a.roles | b.roles)))
    return None
