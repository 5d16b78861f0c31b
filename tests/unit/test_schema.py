"""The JSON Schema for editors: fresh, draft-07 only, and agreeing with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from cmc_workflow.definition.schema import (
    DRAFT_07,
    DRAFT_07_KEYWORDS,
    _keywords,
    render_schema,
    workflow_schema,
)
from cmc_workflow.located import load_located

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "schema" / "workflow.schema.json"
BROKEN = Path(__file__).resolve().parents[1] / "broken"


def data_of(path: Path) -> Any:
    doc, problems = load_located(path.read_text(encoding="utf-8"), str(path))
    assert problems == []
    return doc.data


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    return Draft7Validator(workflow_schema())


def test_the_checked_in_schema_is_fresh() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render_schema(), (
        "schema/workflow.schema.json is stale: regenerate it with "
        "`cmc-workflow schema > schema/workflow.schema.json`"
    )


def test_render_is_stable_and_ends_with_a_newline() -> None:
    text = render_schema()
    assert text == render_schema()
    assert text.endswith("}\n")
    assert json.loads(text) == workflow_schema()


def test_the_schema_is_a_valid_draft_07_document() -> None:
    schema = workflow_schema()
    assert schema["$schema"] == DRAFT_07
    Draft7Validator.check_schema(schema)
    assert "$defs" not in schema
    assert "definitions" in schema
    assert "$defs" not in render_schema()


def test_only_draft_07_keywords_are_used() -> None:
    assert _keywords(workflow_schema()) <= DRAFT_07_KEYWORDS


def test_every_reference_resolves_within_the_document() -> None:
    schema = workflow_schema()
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert refs
    for ref in refs:
        assert ref.startswith("#/definitions/")
        assert ref.removeprefix("#/definitions/") in schema["definitions"]


def test_id_keyed_mappings_refuse_keys_that_are_not_ids() -> None:
    states = workflow_schema()["properties"]["states"]
    assert states["propertyNames"]["pattern"] == "^[a-z][a-z0-9_]*$"
    assert states["additionalProperties"] == {"$ref": "#/definitions/State"}
    assert "patternProperties" not in states


def test_publishing_validates(validator: Draft7Validator) -> None:
    errors = list(validator.iter_errors(data_of(ROOT / "workflows" / "publishing.yaml")))
    assert errors == []


@pytest.mark.parametrize(
    ("case", "where"),
    [
        ("unknown_key.yaml", ["states", "draft"]),
        ("missing_key.yaml", ["states", "done"]),
        ("type.yaml", ["states", "draft", "transitions", 0, "roles"]),
        ("bad_id.yaml", ["states"]),
        ("bad_value.yaml", ["states", "done", "type"]),
        ("bad_duration.yaml", ["states", "draft", "deadline"]),
        ("bad_value_requirement.yaml", ["implements", 1]),
        ("bad_value_version.yaml", ["version"]),
        ("many_model_problems.yaml", []),
    ],
)
def test_broken_shapes_fail_schema_validation_at_the_same_path(
    validator: Draft7Validator, case: str, where: list[Any]
) -> None:
    errors = list(validator.iter_errors(data_of(BROKEN / case)))
    assert errors, f"{case} should not validate"
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors), [
        (list(e.absolute_path), e.message) for e in errors
    ]


def test_graph_problems_are_beyond_the_schema(validator: Draft7Validator) -> None:
    # the schema checks shapes; reachability is for `cmc-workflow validate`
    assert list(validator.iter_errors(data_of(BROKEN / "unreachable_state.yaml"))) == []
