"""Stage 4: checked definitions compiled into one ``transitions.Machine`` per version."""

from __future__ import annotations

import ast
import hashlib
import logging
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.compiler import ROUTE_TRIGGER, CompiledWorkflow
from cmc_workflow.definition import load_workflow_text
from cmc_workflow.errors import DefinitionError, GuardRejected, InvalidTrigger

PUBLISHING = Path(__file__).resolve().parents[2] / "workflows" / "publishing.yaml"

HEAD = """\
id: mini
label: {zh: 小流程, en: Mini}
roles: {editor: {zh: 编辑, en: Editor}, lead: {zh: 主编, en: Lead}}
data:
  score: {type: integer, required: false}
  urgent: {type: boolean, required: false}
start: {state: draft, roles: [editor]}
states:
"""
ENDS = """\
  done: {type: endEvent, label: {zh: 完成, en: Done}}
  fast: {type: endEvent, label: {zh: 加急, en: Fast}}
  slow: {type: endEvent, label: {zh: 普通, en: Slow}}
"""


def compile_states(states: str) -> CompiledWorkflow:
    return CompiledWorkflow(load_workflow_text(HEAD + states + ENDS, "mini.yaml"))


def scope(**data: Any) -> dict[str, Any]:
    return {"data": data, "form": {}, "actor": {"id": "wang", "roles": ["editor"]}}


@pytest.fixture(scope="module")
def publishing() -> CompiledWorkflow:
    text = PUBLISHING.read_text(encoding="utf-8")
    return CompiledWorkflow(load_workflow_text(text, str(PUBLISHING)))


def test_one_machine_per_version_with_a_single_shared_token(publishing: CompiledWorkflow) -> None:
    assert publishing.id == "publishing"
    assert publishing.initial == "proposed"
    text = PUBLISHING.read_text(encoding="utf-8")
    assert publishing.content_hash == hashlib.sha256(text.encode()).hexdigest()
    assert len(publishing.machine.models) == 1
    for _ in range(50):
        publishing.take("proposed", "approve", scope())
    assert len(publishing.machine.models) == 1
    assert set(publishing.machine.states) == set(publishing.definition.states)


@pytest.mark.req("PUB-2")
def test_selection_offers_edit_approve_return_delete(publishing: CompiledWorkflow) -> None:
    assert publishing.triggers("proposed") == ["edit", "approve", "return", "delete"]
    assert publishing.take("proposed", "approve", scope()).target == "selected"
    assert publishing.take("proposed", "return", scope()).target == "returned"
    assert publishing.take("proposed", "delete", scope()).target == "deleted"


@pytest.mark.req("PUB-5", "PUB-6")
def test_two_reviews_and_a_sign_off_come_before_publishing(publishing: CompiledWorkflow) -> None:
    path = ["proposed"]
    for trigger in ["approve", "assign", "accept", "submit", "approve", "approve", "sign"]:
        path.append(publishing.take(path[-1], trigger, scope()).target)
    assert path == [
        "proposed",
        "selected",
        "assigned",
        "drafting",
        "first_review",
        "second_review",
        "signoff",
        "publishing",
    ]
    for review in ("first_review", "second_review", "signoff"):
        assert publishing.take(review, "reject", scope()).target == "drafting"
    sign = publishing.edges("signoff")[0]
    assert sign.roles == frozenset({"ops_manager"})


@pytest.mark.req("PUB-11")
def test_published_items_can_be_corrected_or_retracted(publishing: CompiledWorkflow) -> None:
    assert publishing.take("published", "report_error", scope()).target == "correction"
    assert publishing.take("correction", "correct", scope()).target == "correcting"
    assert publishing.take("correction", "retract", scope()).target == "retracted"
    assert publishing.is_end("retracted")
    assert not publishing.is_end("published")


def test_edges_carry_roles_form_notify_and_spec(publishing: CompiledWorkflow) -> None:
    submit = publishing.edges("drafting")[0]
    assert (submit.source, submit.index, submit.trigger, submit.target) == (
        "drafting",
        0,
        "submit",
        "first_review",
    )
    assert submit.roles == frozenset({"editor"})
    assert submit.notify == ("reviewer",)
    assert submit.form["content"].required is True
    assert submit.spec is publishing.definition.states["drafting"].transitions[0]
    assert publishing.state("drafting").type == "userTask"
    assert publishing.edges("no such state") == ()


def test_invalid_trigger_lists_the_possible_triggers(publishing: CompiledWorkflow) -> None:
    with pytest.raises(InvalidTrigger) as caught:
        publishing.take("drafting", "approve", scope())
    assert caught.value.trigger == "approve"
    assert caught.value.state == "drafting"
    assert "possible here: submit" in str(caught.value)
    with pytest.raises(InvalidTrigger) as caught:
        publishing.take("archived", "archive", scope())
    assert "possible here: nothing" in str(caught.value)


def test_the_route_trigger_is_not_a_user_trigger(publishing: CompiledWorkflow) -> None:
    with pytest.raises(InvalidTrigger):
        publishing.take("proposed", ROUTE_TRIGGER, scope())


DRAFT_TO_ROUTE = """\
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - trigger: submit
        target: route
        roles: [editor]
        form: {steps: {type: list}, i: {type: number}}
      - {trigger: finish, target: done, roles: [editor]}
  route:
    type: exclusiveGateway
    label: {zh: 分流, en: Route}
    transitions:
"""
"""A draft that submits to the gateway ``route``, whose transitions follow."""

GATEWAY = (
    DRAFT_TO_ROUTE
    + """\
      - {default: true, target: done}
      - {guard: data.urgent, target: fast}
      - {guard: data.score >= 60, target: slow}
"""
)


def test_a_gateway_takes_the_first_route_whose_guard_holds() -> None:
    wf = compile_states(GATEWAY)
    assert wf.route("route", scope(urgent=True, score=90)).target == "fast"
    assert wf.route("route", scope(urgent=False, score=90)).target == "slow"


def test_the_gateway_default_is_tried_last_wherever_it_is_written() -> None:
    wf = compile_states(GATEWAY)
    assert wf.route("route", scope(urgent=False, score=10)).target == "done"
    assert wf.route("route", scope()).target == "done"  # missing fields read as null
    assert wf.triggers("route") == []


STEPS = (
    DRAFT_TO_ROUTE
    + """\
      - {guard: "data.steps[data.i] == 'fast'", target: fast}
      - {default: true, target: slow}
"""
)


def test_a_gateway_asked_again_tells_equal_numbers_of_other_types_apart() -> None:
    """``1 == 1.0 == True``, but a guard may read them apart (a list takes an integer
    index, ``True`` counts as 1, ``1.0`` reads as null): each question is the machine's
    answer for that scope, never one kept for an equal-looking scope."""
    wf = compile_states(STEPS)
    steps = ["slow", "fast"]
    assert wf.route("route", scope(steps=steps, i=1)).target == "fast"
    assert wf.route("route", scope(steps=steps, i=1.0)).target == "slow"
    assert wf.route("route", scope(steps=steps, i=True)).target == "fast"
    assert wf.route("route", scope(steps=steps, i=0)).target == "slow"
    assert wf.route("route", scope(steps=steps, i=False)).target == "slow"


GUARDED = """\
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: submit, target: fast, roles: [editor], guard: data.urgent}
      - {trigger: submit, target: slow, roles: [editor], guard: not data.urgent}
      - {trigger: finish, target: done, roles: [lead], guard: data.score >= 60}
"""


def test_guards_choose_between_transitions_with_one_trigger() -> None:
    wf = compile_states(GUARDED)
    assert wf.triggers("draft") == ["submit", "finish"]
    assert wf.take("draft", "submit", scope(urgent=True)).target == "fast"
    assert wf.take("draft", "submit", scope(urgent=False)).target == "slow"


def test_guard_rejected_names_the_condition() -> None:
    wf = compile_states(GUARDED)
    with pytest.raises(GuardRejected) as caught:
        wf.take("draft", "finish", scope(score=10))
    assert caught.value.trigger == "finish"
    assert caught.value.state == "draft"
    assert "data.score >= 60" in str(caught.value)
    assert wf.take("draft", "finish", scope(score=60)).target == "done"


def test_ambiguous_triggers_never_reach_the_compiler() -> None:
    states = """\
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: submit, target: fast, roles: [editor]}
      - {trigger: submit, target: slow, roles: [editor]}
"""
    with pytest.raises(DefinitionError) as caught:
        compile_states(states)
    assert "E-AMBIGUOUS-TRIGGER" in caught.value.codes


def test_trigger_names_that_shadow_machine_attributes_still_work() -> None:
    states = """\
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: state, target: done, roles: [editor]}
      - {trigger: trigger, target: fast, roles: [editor]}
      - {trigger: set_state, target: slow, roles: [editor]}
"""
    wf = compile_states(states)
    assert wf.take("draft", "state", scope()).target == "done"
    assert wf.take("draft", "trigger", scope()).target == "fast"
    assert wf.take("draft", "set_state", scope()).target == "slow"


def test_concurrent_commands_on_one_machine_each_get_their_own_answer() -> None:
    wf = compile_states(GUARDED)
    failures: list[str] = []

    def worker(urgent: bool) -> None:
        expected = "fast" if urgent else "slow"
        for _ in range(300):
            got = wf.take("draft", "submit", scope(urgent=urgent)).target
            if got != expected:
                failures.append(got)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


BUNDLED = [
    p
    for p in sorted((Path(__file__).resolve().parents[2] / "workflows").rglob("*.yaml"))
    if p.name != "schedules.yaml"  # the cadences, not a workflow
]
ODD_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, 2, -1, 59, 60, 100, "", "x", [], ["a"]]


def _guard_constants(wf: CompiledWorkflow) -> list[Any]:
    """Every constant the workflow's guards compare with (so that some guards hold)."""
    found: list[Any] = []
    for edges in (wf.edges(state) for state in wf.definition.states):
        for edge in edges:
            if edge.guard is not None:
                tree = ast.parse(edge.guard.source.strip(), mode="eval")
                found += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    return found


def _answer(wf: CompiledWorkflow, state: str, trigger: str, asked: dict[str, Any]) -> Any:
    """What ``take`` gives (the edge, or the refusal's class and message) and where it
    leaves the machine's token."""
    try:
        got: Any = wf.take(state, trigger, asked)
    except (GuardRejected, InvalidTrigger) as exc:
        got = (type(exc).__name__, str(exc))
    return got, dict(vars(wf.machine.model))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_the_quiet_trigger_takes_what_the_librarys_own_trigger_takes(path: Path) -> None:
    """The machine runs without ``transitions``' logging calls unless its logger shows
    them (:func:`cmc_workflow.compiler._trigger_quietly`); both ways give the same edge,
    the same refusal and leave the token in the same state, for every trigger of every
    state of the bundled workflows, over scopes made of the values their guards test."""
    wf = CompiledWorkflow(load_workflow_text(path.read_text(encoding="utf-8"), str(path)))
    values = _guard_constants(wf) + ODD_VALUES
    fields = sorted(
        {f for s in wf.definition.states for e in wf.edges(s) if e.guard for f in e.guard.fields}
    )
    roles = sorted(wf.definition.roles)
    pick = random.Random(path.stem)
    library = logging.getLogger("transitions.core")
    level = library.level
    for state in wf.definition.states:
        triggers = [*wf.triggers(state), ROUTE_TRIGGER, "no_such_trigger"]
        for trigger in triggers:
            for _ in range(12):
                data = {f: pick.choice(values) for f in fields if pick.random() < 0.8}
                asked = {
                    "data": data,
                    "form": dict(data),
                    "actor": {"id": "wang", "roles": pick.sample(roles, k=min(2, len(roles)))},
                }
                quiet = _answer(wf, state, trigger, asked)
                library.setLevel(logging.INFO)
                try:
                    loud = _answer(wf, state, trigger, asked)
                finally:
                    library.setLevel(level)
                assert quiet == loud, (state, trigger, asked)


def test_a_host_listening_to_transitions_gets_its_log_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A host that shows ``transitions``' debug records gets them from every trigger, as
    before the quiet way (which only runs while its logger shows nothing)."""
    wf = compile_states(GATEWAY)
    wf.take("route", ROUTE_TRIGGER, scope(urgent=True))
    assert not [r for r in caplog.records if r.name == "transitions.core"]
    with caplog.at_level(logging.DEBUG, logger="transitions.core"):
        assert wf.take("route", ROUTE_TRIGGER, scope(urgent=True)).target == "fast"
    seen = [r.getMessage() for r in caplog.records if r.name == "transitions.core"]
    assert any("Initiating transition from state route to state fast" in m for m in seen)


def test_each_offer_is_the_states_edges_of_its_trigger_for_every_bundled_workflow() -> None:
    """``offer`` is computed once per version: for every state of every bundled workflow
    and every trigger (offered there or not) it holds exactly the transitions
    ``edges`` filters, in file order, their roles' union, and whether any has a guard."""
    folder = PUBLISHING.parent
    compiled = 0
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "\nstates:" not in text:
            continue  # the folder's other files (schedules, notifications, ...)
        wf = CompiledWorkflow(load_workflow_text(text, str(path)))
        compiled += 1
        triggers = {e.trigger for state in wf.definition.states for e in wf.edges(state)}
        for state in wf.definition.states:
            for trigger in [*sorted(triggers), "no_such_trigger"]:
                found = [e for e in wf.edges(state) if e.trigger == trigger]
                offer = wf.offer(state, trigger)
                assert offer.edges == tuple(found), (path.name, state, trigger)
                assert offer.roles == frozenset().union(*(e.roles for e in found))
                assert offer.guarded == any(e.guard is not None for e in found)
        assert wf.start_roles == frozenset(wf.definition.start.roles)
    assert compiled >= 20


def test_a_trigger_without_guards_is_taken_whatever_the_scope(
    publishing: CompiledWorkflow,
) -> None:
    """``checks.permitted_edge`` hands the machine no scope for a trigger none of whose
    transitions has a guard (nothing would read it): the edge taken is the same."""
    offer = publishing.offer("proposed", "approve")
    assert offer.edges
    assert not offer.guarded
    assert publishing.take("proposed", "approve", {}) == publishing.take(
        "proposed", "approve", scope(score=1)
    )
