"""The graph of states: every state reachable from the start, and every one able to end."""

from __future__ import annotations

from collections import defaultdict, deque

from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import tr
from cmc_workflow.located import Located


def graph_problems(wf: Workflow, doc: Located) -> list[Problem]:
    out: list[Problem] = []
    edges = {
        name: {t.target for t in s.transitions if t.target in wf.states}
        for name, s in wf.states.items()
    }
    ends = {name for name, s in wf.states.items() if s.type == "endEvent"}
    if wf.start.state in wf.states and wf.states[wf.start.state].type == "endEvent":
        out.append(
            doc.problem(
                ("start", "state"),
                "E-START-IS-END",
                tr("the start state is an endEvent: items would be closed at birth"),
            )
        )
    if not ends:
        out.append(
            doc.problem(
                ("states",),
                "E-NO-END-STATE",
                tr("the workflow has no endEvent, so no item can ever close"),
                tr("add a state of type endEvent"),
                key=True,
            )
        )
        return out
    dangling = wf.start.state not in wf.states or any(
        t.target not in wf.states for s in wf.states.values() for t in s.transitions
    )
    if dangling:
        # an unknown target (E-UNKNOWN-STATE) hides where its edge leads: reachability and
        # trap verdicts would be guesses, so they wait until the reference is fixed
        return out
    reachable = _closure({wf.start.state}, edges)
    reverse: dict[str, set[str]] = defaultdict(set)
    for src, targets in edges.items():
        for dst in targets:
            reverse[dst].add(src)
    can_end = _closure(ends, reverse)
    for name in wf.states:
        if name not in reachable:
            out.append(
                doc.problem(
                    ("states", name),
                    "E-UNREACHABLE-STATE",
                    tr(
                        "state {name} cannot be reached from the start state {state}",
                        name=repr(name),
                        state=repr(wf.start.state),
                    ),
                    tr("add a transition into it, or remove it"),
                    key=True,
                )
            )
        elif name not in can_end:
            out.append(
                doc.problem(
                    ("states", name),
                    "E-TRAP-STATE",
                    tr(
                        "from state {name} no end state can be reached: items would be stuck",
                        name=repr(name),
                    ),
                    tr("add a transition that leads towards an endEvent"),
                    key=True,
                )
            )
    return out


def _closure(seeds: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(seeds)
    queue = deque(seeds)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
