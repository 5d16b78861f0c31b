"""``CompiledWorkflow.take`` reads the transition from the compiled graph; it must answer
what the state machine answers (``take_by_machine``): the same edge, or the same refusal
(:class:`InvalidTrigger`, :class:`GuardRejected`, with the same message), for every
trigger of every state of every bundled workflow, over data that makes each guard both
hold and fail."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.compiler import ROUTE_TRIGGER, CompiledWorkflow
from cmc_workflow.definition import load_workflow_text
from cmc_workflow.errors import EngineError
from tests.unit.test_compiler import GATEWAY, compile_states

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
FILES = sorted(p for p in WORKFLOWS.rglob("*.yaml") if p.name != "schedules.yaml")
SCOPES_PER_TRIGGER = 40


def test_every_bundled_workflow_is_here() -> None:
    assert len(FILES) >= 38  # schedules.yaml is the one file that is not a workflow


ROLES = ["editor", "ops_assistant", "system", "director"]


def values_in(guards: list[str]) -> tuple[set[str], list[Any], list[Any]]:
    """The fields the guards read, the values in them (every literal, one either side of
    every number, the actors' ids and roles), and a few plain values of every type."""
    fields = set(re.findall(r"\b(?:data|form)\.(\w+)", " ".join(guards)))
    literal: list[Any] = ["wang", "li", *ROLES]
    for guard in guards:
        for text in re.findall(r"'([^']*)'|\"([^\"]*)\"", guard):
            literal.append(text[0] or text[1])
        for number in re.findall(r"-?\d+(?:\.\d+)?", guard):
            n = float(number) if "." in number else int(number)
            literal += [n, n - 1, n + 1]
    return fields, literal, [None, True, False, 0, 1, -1, "", "x", [], ["x"]]


def scopes(wf: CompiledWorkflow, rng: random.Random) -> list[dict[str, Any]]:
    guards = [e.spec.guard for s in wf.definition.states for e in wf.edges(s) if e.spec.guard]
    fields, literal, plain = values_in(guards)

    def value() -> Any:
        return rng.choice(literal if rng.random() < 0.6 else plain)

    found = [{"data": {}, "form": {}, "actor": {"id": "wang", "roles": ["editor"]}}]
    for _ in range(SCOPES_PER_TRIGGER):
        data = {f: value() for f in fields if rng.random() < 0.8}
        form = {f: value() for f in fields if rng.random() < 0.8}
        roles = rng.sample(ROLES, k=rng.randint(0, 2))
        actor = {"id": rng.choice(["wang", "li"]), "roles": roles}
        found.append({"data": data, "form": form, "actor": actor})
    return found


def answer(take: Any, state: str, trigger: str, scope: dict[str, Any]) -> Any:
    """The edge taken (the very object: its place in the graph), or the refusal."""
    try:
        edge = take(state, trigger, scope)
    except EngineError as exc:
        return (type(exc), str(exc), exc.trigger, exc.state)
    return ("taken", id(edge), edge.source, edge.index)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_take_answers_as_the_machine(path: Path) -> None:
    wf = CompiledWorkflow(load_workflow_text(path.read_text(encoding="utf-8"), str(path)))
    rng = random.Random(path.stem)
    both_ways = 0
    for state in wf.definition.states:
        triggers = [*dict.fromkeys(e.trigger for e in wf.edges(state)), "no_such_trigger"]
        if ROUTE_TRIGGER not in triggers:
            triggers.append(ROUTE_TRIGGER)
        for trigger in triggers:
            seen = set()
            for scope in scopes(wf, rng):
                direct = answer(wf.take, state, trigger, scope)
                assert direct == answer(wf.take_by_machine, state, trigger, scope), (
                    state,
                    trigger,
                    scope,
                )
                seen.add(direct[:2])
            both_ways += len(seen) > 1
    guarded = any(e.guard for s in wf.definition.states for e in wf.edges(s))
    if guarded:  # the data made at least one guarded choice go more than one way
        assert both_ways > 0


def test_a_default_route_written_first_is_tried_last_by_both() -> None:
    wf = compile_states(GATEWAY)  # the default route first in the file
    rng = random.Random(0)
    for scope in scopes(wf, rng):
        direct = answer(wf.take, "route", ROUTE_TRIGGER, scope)
        assert direct == answer(wf.take_by_machine, "route", ROUTE_TRIGGER, scope)
    assert wf.take("route", ROUTE_TRIGGER, {"data": {"urgent": True}}).target == "fast"
