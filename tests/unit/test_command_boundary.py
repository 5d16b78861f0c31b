"""The command boundary's shortcuts (issue 12): an id normalised once while remembered,
an actor admitted once per object, clean data not walked, and a workflow's trigger and
assignee lookups computed once. Each gives what the long way gives."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmc_workflow import inputs, model
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition import load_workflow_text
from cmc_workflow.engine import checks
from cmc_workflow.errors import IdentityRefused
from cmc_workflow.model import Actor
from tests.helpers.json_values import json_values

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def _reference_id(value: str) -> str:
    """normal_id as it was written before it remembered ids."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return re.sub(r"\s+", " ", text).strip()


def test_an_id_asked_again_is_not_normalised_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = unicodedata.normalize

    def counted(form: Any, text: str) -> str:
        calls.append(text)
        return real(form, text)

    monkeypatch.setattr(model.unicodedata, "normalize", counted)
    fresh = f"Ｗａｎｇ {uuid.uuid4().hex}"  # never asked before in this process
    first = model.normal_id(fresh)
    asked = len(calls)
    assert model.normal_id(fresh) == first
    assert asked == 2
    assert len(calls) == asked


@given(st.text(max_size=12))
def test_a_remembered_id_is_the_id_as_a_person_reads_it(value: str) -> None:
    assert model.normal_id(value) == _reference_id(value)
    assert model.normal_id(value) == _reference_id(value)  # and again, remembered


def test_an_actor_admitted_once_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[object] = []
    real = inputs.id_problem

    def counted(value: object) -> Any:
        checked.append(value)
        return real(value)

    monkeypatch.setattr(inputs, "id_problem", counted)
    actor = Actor(f"wang-{uuid.uuid4().hex[:8]}", {"editor"})
    assert inputs.admitted(actor) is actor
    assert inputs.admitted(actor) is actor  # the command's second look: no checks again
    assert checked == [actor.id]
    twin = Actor(actor.id, {"editor"})  # equal, but another object: checked
    assert inputs.admitted(twin) is twin
    assert checked == [actor.id, actor.id]


def test_a_normalised_actor_is_remembered_as_given_back() -> None:
    typed = Actor(f"  Ｗａｎｇ-{uuid.uuid4().hex[:8]}", {"editor"})
    taken = inputs.admitted(typed)
    assert taken is not typed
    assert taken.id == model.normal_id(typed.id)
    assert inputs.admitted(taken) is taken
    assert inputs.admitted(typed) is not typed  # the caller's object is normalised again
    with pytest.raises(IdentityRefused):
        inputs.admitted(Actor("system", {"editor"}))  # refusals are not remembered
    with pytest.raises(IdentityRefused):
        inputs.admitted(Actor("system", {"editor"}))


def test_clean_data_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    def walked(*_args: object) -> None:
        raise AssertionError("walked")

    monkeypatch.setattr(inputs, "_walk", walked)
    data = {"title": "图书馆之夜", "n": 3, "x": 2.5, "ok": True, "none": None, "l": [{"a": []}]}
    assert inputs.data_problems("data", data) == []


_BAD_TEXT = st.sampled_from(["\0", "\ud800", "a\udfffb", "tab\tand\nline"])


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"k": value}
    return value


@given(
    json_values()
    | st.dictionaries(_BAD_TEXT | st.text(max_size=3), _BAD_TEXT | json_values(), max_size=3)
    | st.sampled_from([float("nan"), float("inf"), b"bytes", {1, 2}, [float("-inf")]])
    | st.integers(min_value=30, max_value=34).map(_nested)
)
def test_the_shortcut_finds_what_the_walk_finds(value: Any) -> None:
    data = {"v": value}
    walked: list[Any] = []
    inputs._walk("data", data, 0, walked)
    assert inputs.data_problems("data", data) == walked


def _publishing() -> CompiledWorkflow:
    path = WORKFLOWS / "publishing.yaml"
    return CompiledWorkflow(load_workflow_text(path.read_text(encoding="utf-8"), str(path)))


def test_the_states_offering_a_trigger_and_its_reuse_elsewhere() -> None:
    wf = _publishing()
    names = {e.trigger for s in wf.definition.states for e in wf.edges(s)}
    assert "approve" in names
    for trigger in [*names, "no_such_trigger"]:
        offering = {s for s in wf.definition.states for e in wf.edges(s) if e.trigger == trigger}
        assert wf.offering(trigger) == offering
        for state in wf.definition.states:
            elsewhere = any(
                e.trigger == trigger
                for s in wf.definition.states
                if s != state
                for e in wf.edges(s)
            )
            assert checks.reused_elsewhere(wf, state, trigger) == elsewhere
    assert len(wf.offering("approve")) > 1  # the reviews' approve: a repeat can land there


def test_the_assignee_fields_of_a_workflow() -> None:
    wf = _publishing()
    expected = {s.assignee for s in wf.definition.states.values() if s.assignee}
    assert expected
    assert wf.assignee_fields == expected
