"""Stage 3: the static checks a well-typed workflow must still pass.

The broken corpus (``test_broken_definitions.py``) pins each code to its place; these tests
pin what the checks accept, and the rules' finer points.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmc_workflow.definition.checks import check_workflow
from cmc_workflow.definition.loader import load_workflow_doc
from cmc_workflow.definition.models import Workflow
from cmc_workflow.located import load_located
from cmc_workflow.problems import problems_from_validation

PUBLISHING = Path(__file__).resolve().parents[2] / "workflows" / "publishing.yaml"

BASE: dict[str, Any] = {
    "id": "mini",
    "label": {"zh": "小流程", "en": "Mini"},
    "roles": {"editor": {"zh": "编辑", "en": "Editor"}, "lead": {"zh": "主编", "en": "Lead"}},
    "handlers": {"publish": {"description": "Sends the item out."}},
    "data": {"urgent": {"type": "boolean", "required": False}},
    "start": {"state": "draft", "roles": ["editor"]},
    "states": {
        "draft": {
            "type": "userTask",
            "label": {"zh": "草稿", "en": "Draft"},
            "transitions": [{"trigger": "submit", "target": "done", "roles": ["editor"]}],
        },
        "done": {"type": "endEvent", "label": {"zh": "完成", "en": "Done"}},
    },
}


def codes(doc: dict[str, Any]) -> list[str]:
    located, problems = load_located(yaml.safe_dump(doc, allow_unicode=True), "t.yaml")
    assert problems == []
    wf, problems = load_workflow_doc(located)
    assert wf is not None, problems
    return sorted(p.code for p in problems)


def with_states(**states: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["states"].update(states)
    return doc


def state(kind: str, *transitions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "label": {"zh": "状态", "en": "State"}, **extra} | (
        {"transitions": list(transitions)} if transitions else {}
    )


def test_the_minimal_workflow_is_clean() -> None:
    assert codes(BASE) == []


def test_publishing_passes_every_check() -> None:
    located, problems = load_located(PUBLISHING.read_text(encoding="utf-8"), str(PUBLISHING))
    assert problems == []
    wf = Workflow.model_validate(located.data)
    assert check_workflow(wf, located) == []


def test_one_trigger_twice_with_different_guards_is_not_ambiguous() -> None:
    doc = with_states(
        draft=state(
            "userTask",
            {"trigger": "submit", "target": "done", "roles": ["editor"], "guard": "data.urgent"},
            {
                "trigger": "submit",
                "target": "done",
                "roles": ["editor"],
                "guard": "not data.urgent",
            },
        )
    )
    assert codes(doc) == []


def test_one_guarded_and_one_unguarded_trigger_is_ambiguous() -> None:
    doc = with_states(
        draft=state(
            "userTask",
            {"trigger": "submit", "target": "done", "roles": ["editor"], "guard": "data.urgent"},
            {"trigger": "submit", "target": "done", "roles": ["editor"]},
        )
    )
    assert codes(doc) == ["E-AMBIGUOUS-TRIGGER"]


def test_a_service_task_with_one_outcome_needs_no_default() -> None:
    doc = with_states(
        draft=state("userTask", {"trigger": "submit", "target": "send", "roles": ["editor"]}),
        send=state("serviceTask", {"trigger": "sent", "target": "done"}, handler="publish"),
    )
    assert codes(doc) == []


def test_a_service_task_with_two_defaults_is_refused() -> None:
    doc = with_states(
        draft=state("userTask", {"trigger": "submit", "target": "send", "roles": ["editor"]}),
        send=state(
            "serviceTask",
            {"trigger": "sent", "target": "done", "default": True},
            {"trigger": "failed", "target": "draft", "default": True},
            handler="publish",
        ),
    )
    assert codes(doc) == ["E-SERVICE-NO-DEFAULT"]


def test_a_gateway_with_guards_and_one_default_is_clean() -> None:
    doc = with_states(
        draft=state("userTask", {"trigger": "submit", "target": "route", "roles": ["editor"]}),
        route=state(
            "exclusiveGateway",
            {"guard": "data.urgent", "target": "done"},
            {"default": True, "target": "draft"},
        ),
    )
    assert codes(doc) == []


def test_gateway_routes_may_read_form_fields_of_any_transition() -> None:
    doc = with_states(
        draft=state(
            "userTask",
            {
                "trigger": "submit",
                "target": "route",
                "roles": ["editor"],
                "form": {"score": {"type": "integer"}},
            },
        ),
        route=state(
            "exclusiveGateway",
            {"guard": "form.score >= 60", "target": "done"},
            {"default": True, "target": "draft"},
        ),
    )
    assert codes(doc) == []


def test_guard_fields_are_not_checked_when_nothing_is_declared() -> None:
    doc = copy.deepcopy(BASE)
    doc["data"] = {}
    doc["states"]["draft"]["transitions"][0]["guard"] = "data.anything == 1"
    assert codes(doc) == []


def test_misplaced_gateway_keys_are_each_reported() -> None:
    doc = with_states(
        draft=state("userTask", {"trigger": "submit", "target": "route", "roles": ["editor"]}),
        route=state(
            "exclusiveGateway",
            {
                "guard": "data.urgent",
                "target": "done",
                "trigger": "go",
                "roles": ["editor"],
                "form": {"x": {"type": "string"}},
            },
            {"default": True, "target": "done"},
        ),
    )
    assert codes(doc) == ["E-MISPLACED-KEY"] * 3


def test_deadline_references_are_checked() -> None:
    doc = copy.deepcopy(BASE)
    doc["states"]["draft"]["deadline"] = {
        "within": "2 working days",
        "pause_in": ["nowhere"],
        "steps": [
            {"at": "50%", "action": "notify", "to": "boss"},
            {"before": "4 working hours", "action": "fire", "trigger": "submit"},
            {"after": "1 day", "action": "breach"},
        ],
    }
    assert codes(doc) == ["E-UNKNOWN-ROLE", "E-UNKNOWN-STATE"]


def test_deadline_on_a_gateway_is_refused_like_on_an_end() -> None:
    doc = with_states(
        draft=state("userTask", {"trigger": "submit", "target": "route", "roles": ["editor"]}),
        route=state(
            "exclusiveGateway",
            {"default": True, "target": "done"},
            deadline={"within": "1 day"},
        ),
    )
    assert codes(doc) == ["E-DEADLINE-ON-END"]


def test_notify_and_start_roles_must_be_declared() -> None:
    doc = copy.deepcopy(BASE)
    doc["start"]["roles"] = ["editor", "guest"]
    doc["states"]["draft"]["transitions"][0]["notify"] = ["lead", "boss"]
    assert codes(doc) == ["E-UNKNOWN-ROLE", "E-UNKNOWN-ROLE"]


def test_a_cycle_that_can_still_end_is_not_a_trap() -> None:
    doc = with_states(
        draft=state(
            "userTask",
            {"trigger": "submit", "target": "review", "roles": ["editor"]},
        ),
        review=state(
            "userTask",
            {"trigger": "reject", "target": "draft", "roles": ["lead"]},
            {"trigger": "approve", "target": "done", "roles": ["lead"]},
        ),
    )
    assert codes(doc) == []


def test_a_cycle_with_no_way_out_is_a_trap_for_each_state() -> None:
    doc = with_states(
        draft=state(
            "userTask",
            {"trigger": "submit", "target": "done", "roles": ["editor"]},
            {"trigger": "hold", "target": "a", "roles": ["editor"]},
        ),
        a=state("userTask", {"trigger": "next", "target": "b", "roles": ["editor"]}),
        b=state("userTask", {"trigger": "back", "target": "a", "roles": ["editor"]}),
    )
    assert codes(doc) == ["E-TRAP-STATE", "E-TRAP-STATE"]


def test_an_unknown_target_suspends_the_reachability_verdicts() -> None:
    doc = copy.deepcopy(BASE)
    doc["states"]["draft"]["transitions"][0]["target"] = "dnoe"
    # without the typo, 'done' is reachable and 'draft' can end: no guesses either way
    assert codes(doc) == ["E-UNKNOWN-STATE"]


def test_checks_report_the_file_of_the_document() -> None:
    doc = copy.deepcopy(BASE)
    doc["states"]["draft"]["transitions"][0]["roles"] = ["ghost"]
    located, _ = load_located(yaml.safe_dump(doc), "where/it/is.yaml")
    _, problems = load_workflow_doc(located)
    assert [p.file for p in problems] == ["where/it/is.yaml"]


def test_an_unexpected_pydantic_error_becomes_e_invalid_with_its_place() -> None:
    class Even(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        n: int = Field(multiple_of=2)

    located, _ = load_located("n: 3\n", "t.yaml")
    with pytest.raises(ValidationError) as caught:
        Even.model_validate(located.data)
    problems = problems_from_validation(caught.value, located, Even)
    assert [(p.code, p.line, p.column) for p in problems] == [("E-INVALID", 1, 4)]


class _Switches(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = True
    count: int = 0
    name: str = ""
    note: str = ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("enabled: off\n", [("E-YAML-BOOL", 1, 10, "write true/false")]),
        ("count: 010\n", [("E-YAML-OCTAL", 1, 8, "drop the leading zero")]),
        ("count: 1:30\n", [("E-YAML-SEXAGESIMAL", 1, 8, "quote it ('1:30')")]),
        ("on: 1\n", [("E-YAML-BOOL", 1, 1, "quote it ('on')")]),
        ("enabled: 'off'\n", [("E-TYPE", 1, 10, "quote text")]),  # quoted: text, meant
        ("name: no\nnote: 010\n", []),  # text where text belongs: the words written
    ],
)
def test_a_yaml_11_form_read_as_text_is_named_where_the_model_refuses_text(
    text: str, expected: list[tuple[str, int, int, str]]
) -> None:
    located, problems = load_located(text, "t.yaml")
    assert problems == []
    try:
        _Switches.model_validate(located.data)
    except ValidationError as exc:
        found = problems_from_validation(exc, located, _Switches)
    else:
        found = []
    assert [(p.code, p.line, p.column) for p in found] == [e[:3] for e in expected]
    for problem, (*_, hint) in zip(found, expected, strict=True):
        assert hint in problem.hint


def test_an_unknown_key_without_a_close_match_lists_the_known_keys() -> None:
    located, _ = load_located(yaml.safe_dump({**BASE, "zzz": 1}), "t.yaml")
    _, problems = load_workflow_doc(located)
    assert [p.code for p in problems] == ["E-UNKNOWN-KEY"]
    assert problems[0].hint.startswith("known keys: kind, id")
