"""Stage 4: checked definitions compiled into one ``transitions.Machine`` per version."""

from __future__ import annotations

import hashlib
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


GATEWAY = """\
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: submit, target: route, roles: [editor]}
  route:
    type: exclusiveGateway
    label: {zh: 分流, en: Route}
    transitions:
      - {default: true, target: done}
      - {guard: data.urgent, target: fast}
      - {guard: data.score >= 60, target: slow}
"""


def test_a_gateway_takes_the_first_route_whose_guard_holds() -> None:
    wf = compile_states(GATEWAY)
    assert wf.route("route", scope(urgent=True, score=90)).target == "fast"
    assert wf.route("route", scope(urgent=False, score=90)).target == "slow"


def test_the_gateway_default_is_tried_last_wherever_it_is_written() -> None:
    wf = compile_states(GATEWAY)
    assert wf.route("route", scope(urgent=False, score=10)).target == "done"
    assert wf.route("route", scope()).target == "done"  # missing fields read as null
    assert wf.triggers("route") == []


def test_a_gateway_asked_again_with_an_equal_scope_answers_without_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command asks each gateway twice (its policies, then its walk): the second,
    equal question takes the machine's first answer; any other scope runs the machine,
    and a scope changed after it was asked is not mistaken for the one it was."""
    wf = compile_states(GATEWAY)
    ran: list[dict[str, Any]] = []
    take = wf.take

    def counted(state: str, trigger: str, asked: dict[str, Any]) -> Any:
        ran.append(asked)
        return take(state, trigger, asked)

    monkeypatch.setattr(wf, "take", counted)
    assert wf.route("route", scope(urgent=True)).target == "fast"
    assert wf.route("route", scope(urgent=True)).target == "fast"  # equal: no machine
    assert len(ran) == 1
    assert wf.route("route", scope(urgent=False, score=90)).target == "slow"
    asked = scope(urgent=False, score=10)
    assert wf.route("route", asked).target == "done"
    asked["data"]["urgent"] = True  # changed after: the same object, not the same scope
    assert wf.route("route", asked).target == "fast"
    assert len(ran) == 4
    assert wf.route("route", scope(urgent=True)).target == "fast"  # only the last is kept
    assert len(ran) == 5


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
