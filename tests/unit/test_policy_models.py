"""Loading policy files: the bundled ones load; broken ones fail with located, stable codes.

Every broken case names the exact code and the place: the line and column of a marker
text in the file (so the expectation reads like the file), reported by ``load_paths``,
which ``cmc-workflow validate`` and ``Engine.open`` share.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import Problem
from cmc_workflow.policy import build_policy_set
from cmc_workflow.policy.schema import policy_schema, render_policy_schema
from tests.helpers import ROOT
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING
from tests.helpers.chinese import assert_reads_in_chinese

POLICIES = ROOT / "policies"
SCHEMA = ROOT / "schema" / "policy.schema.json"

HEAD = """\
kind: policy
id: case
label: {zh: 例, en: Case}
"""

STEPS = """\
workflows:
  publishing:
    steps:
      author: {state: drafting, trigger: submit, label: {zh: 撰稿人, en: author}}
      first: {state: first_review, trigger: approve, label: {zh: 初审人, en: first reviewer}}
      second: {state: second_review, trigger: approve, label: {zh: 复审人, en: second reviewer}}
"""


FIGURES = (
    "    confirm_figures:\n      - {id: x, steps: [first], figures: self_media_year,"
    " period: calendar_year_before, "
)


def problems_of(tmp_path: Path, *texts: str) -> list[Problem]:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"p{i}.yaml").write_text(text, encoding="utf-8")
    return load_paths([PUBLISHING, folder]).problems


def at(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column where ``marker`` first appears in ``text``."""
    offset = text.index(marker)
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def test_bundled_policies_load_with_the_bundled_workflows() -> None:
    loaded = load_paths([ROOT / "workflows", POLICIES])
    assert loaded.problems == []
    ids = {model.id for _doc, model in loaded.others["policy"]}
    assert {"roles", "publishing", "comments", "faults", "emergency"} <= ids
    policy, problems = build_policy_set(loaded)
    assert problems == []
    publishing = [r.id for r in policy.rules_for("publishing")]
    assert [r for r in publishing if r in PUBLISHING_RULES] == PUBLISHING_RULES


PUBLISHING_RULES = [
    "permissions",
    "repost_names_its_source",
    "no_monetization",
    "review_checklist",
    "author_does_not_review",
    "distinct_reviewers",
    "reviewed_and_signed_off",
]
"""The publishing rules of issue 4, in judging order (later issues add more)."""


def test_role_inheritance_of_the_bundle() -> None:
    policy, problems = build_policy_set(load_paths([ROOT / "workflows", POLICIES]))
    assert problems == []
    assert policy.roles.closure("ops_manager") == {"ops_manager", "ops_assistant"}
    assert policy.roles.declared["reviewer"].label.zh == "审核人"


CASES = [
    pytest.param(
        HEAD + STEPS + "    distinct_actors:\n      - {id: x, stepz: [author, first]}\n",
        "E-UNKNOWN-KEY",
        "stepz",
        id="unknown-key",
    ),
    pytest.param(
        HEAD + STEPS + "    distinct_actors:\n      - {id: x, steps: [author, frist]}\n",
        "E-POLICY-UNKNOWN-STEP",
        "frist",
        id="unknown-step",
    ),
    pytest.param(
        HEAD + STEPS + "    forbid_data:\n      - {id: x, when: data.monetization === true}\n",
        "E-GUARD-SYNTAX",
        "= true}",
        id="condition-syntax",
    ),
    pytest.param(
        HEAD + STEPS + "    forbid_data:\n      - {id: x, when: data.monetisation == true}\n",
        "E-POLICY-FIELD",
        "data.monetisation",
        id="condition-field",
    ),
    pytest.param(
        HEAD + STEPS + "    forbid_data:\n      - {id: x}\n",
        "E-POLICY-RULE",
        "{id: x}",
        id="forbid-says-nothing",
    ),
    pytest.param(
        HEAD + "workflows:\n  publshing: {}\n",
        "E-POLICY-UNKNOWN-WORKFLOW",
        "publshing",
        id="unknown-workflow",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    steps:\n"
        "      x: {state: drafted, trigger: submit, label: {zh: 甲, en: x}}\n",
        "E-UNKNOWN-STATE",
        "drafted",
        id="unknown-state",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    steps:\n"
        "      x: {state: drafting, trigger: sumbit, label: {zh: 甲, en: x}}\n",
        "E-POLICY-UNKNOWN-TRIGGER",
        "sumbit",
        id="unknown-trigger",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    steps:\n"
        "      x: {trigger: submit, label: {zh: 甲, en: x}}\n",
        "E-POLICY-STEP",
        "x: {",
        id="step-without-state",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    permissions:\n"
        "      signoff: {sign: [ops_manager, channel_lead]}\n",
        "E-POLICY-WIDENS",
        "channel_lead]",
        id="widening-permission",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    start: [editr]\n",
        "E-UNKNOWN-ROLE",
        "editr",
        id="unknown-role",
    ),
    pytest.param(
        HEAD + "roles:\n  a: {label: {zh: 甲, en: A}, inherits: [b]}\n"
        "  b: {label: {zh: 乙, en: B}, inherits: [a]}\n",
        "E-POLICY-ROLE-CYCLE",
        "a: {",
        id="role-cycle",
    ),
    pytest.param(
        HEAD + "roles:\n  a: {label: {zh: 甲, en: A}, inherits: [a]}\n",
        "E-POLICY-ROLE-CYCLE",
        "a]",
        id="role-inherits-itself",
    ),
    pytest.param(
        HEAD + STEPS + "    forbid_data:\n      - {id: same, when: data.repost == true}\n"
        "      - {id: same, when: data.monetization == true}\n",
        "E-POLICY-DUPLICATE",
        "same, when: data.monetization",
        id="duplicate-rule-id",
    ),
    pytest.param(
        HEAD + STEPS + "    attestations:\n"
        "      - {id: x, steps: [first], require_true: [truthful, comment]}\n",
        "E-POLICY-FIELD",
        "comment]",
        id="attest-non-boolean",
    ),
    pytest.param(
        HEAD + STEPS + "    requires_record:\n      - {id: x, steps: [first], workflow: training,"
        " states: [passed], field: trainee}\n",
        "E-POLICY-UNKNOWN-WORKFLOW",
        "training",
        id="record-workflow-missing",
    ),
    pytest.param(
        HEAD + STEPS + "    requires_record:\n      - {id: x, steps: [first], workflow: publishing,"
        " states: [published], field: title, covers: {record: nope, item: data.channels}}\n",
        "E-POLICY-FIELD",
        "nope",
        id="covers-unknown-record-field",
    ),
    pytest.param(
        HEAD + STEPS + "    requires_record:\n      - {id: x, steps: [first], workflow: publishing,"
        " states: [published], field: title, covers: {record: channels, item: actor}}\n",
        "E-POLICY-FIELD",
        "actor}",
        id="covers-item-not-a-data-field",
    ),
    pytest.param(
        HEAD + STEPS + "    required_stages:\n      - {id: x, enter: publishd, stages: [first]}\n",
        "E-UNKNOWN-STATE",
        "publishd",
        id="stages-unknown-state",
    ),
    pytest.param(
        HEAD + "workflows:\n  publishing:\n    permissions:\n      signoff: {sign: []}\n",
        "E-POLICY-NO-ROLE-CAN-FIRE",
        "[]}",
        id="nobody-may-fire",
    ),
    pytest.param(
        HEAD + "scoping:\n  - {id: x, roles: [editor], attribute: desk, field: desk}\n",
        None,
        None,
        id="global-scoping-skips-workflows-without-the-field",
    ),
    pytest.param(
        HEAD + "scoping:\n  - {id: x, roles: [editor], attribute: desk, field: desk,"
        " workflows: [publishing]}\n",
        "E-POLICY-FIELD",
        "desk, workflows",
        id="listed-workflow-lacks-scoping-field",
    ),
    pytest.param(
        HEAD + STEPS + FIGURES + "record: year_results, confirm: comment}\n",
        "E-POLICY-FIELD",
        "comment}",
        id="confirm-figures-not-a-boolean",
    ),
    pytest.param(
        HEAD + STEPS + FIGURES + "record: title, confirm: truthful}\n",
        "E-POLICY-FIELD",
        "title, confirm",
        id="confirm-figures-record-is-a-field",
    ),
    pytest.param(
        HEAD + STEPS + FIGURES + "record: r, confirm: truthful, matches: {truthful: likes}}\n",
        "E-POLICY-FIELD",
        "likes",
        id="confirm-figures-unknown-figure",
    ),
    pytest.param(
        "kind: policy\nid: case\n",
        "E-MISSING-KEY",
        "kind",
        id="missing-label",
    ),
]


@pytest.mark.parametrize(("text", "code", "marker"), CASES)
def test_broken_policy_is_refused_at_the_place(
    tmp_path: Path, text: str, code: str | None, marker: str | None
) -> None:
    found = problems_of(tmp_path, text)
    assert_reads_in_chinese(found)
    if code is None:
        assert found == []
        return
    assert marker is not None
    assert [p.code for p in found] == [code], found
    assert (found[0].line, found[0].column) == at(text, marker), found[0]
    assert found[0].file.endswith("p0.yaml")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        HEAD
        + STEPS
        + "    distinct_actors:\n      - {id: a, steps: [author, nobody]}\n"
        + "    forbid_data:\n      - {id: b, when: data.nothing == 1, steps: [ghost]}\n"
    )
    codes = sorted(p.code for p in problems_of(tmp_path, text))
    assert codes == ["E-POLICY-UNKNOWN-STEP", "E-POLICY-UNKNOWN-STEP"]


def test_a_rule_id_is_unique_across_files(tmp_path: Path) -> None:
    one = HEAD + STEPS + "    forbid_data:\n      - {id: shared, when: data.repost == true}\n"
    two = (
        HEAD.replace("id: case", "id: other")
        + "workflows:\n  publishing:\n    forbid_data:\n"
        + "      - {id: shared, when: data.monetization == true}\n"
    )
    found = problems_of(tmp_path, one, two)
    assert [(p.code, Path(p.file).name) for p in found] == [("E-POLICY-DUPLICATE", "p1.yaml")]


def test_a_role_is_declared_once(tmp_path: Path) -> None:
    one = HEAD + "roles:\n  desk: {label: {zh: 值班, en: Desk}}\n"
    two = HEAD.replace("id: case", "id: other") + "roles:\n  desk: {label: {zh: 值班, en: Desk}}\n"
    found = problems_of(tmp_path, one, two)
    assert [(p.code, Path(p.file).name) for p in found] == [("E-POLICY-DUPLICATE", "p1.yaml")]


def test_the_checked_in_policy_schema_is_fresh() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == render_policy_schema(), (
        "regenerate: cmc-workflow policy schema > schema/policy.schema.json"
    )


def test_bundled_policies_validate_against_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in sorted(POLICIES.glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
        assert errors == [], path


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft7Validator(policy_schema())
    bad = {
        "kind": "policy",
        "id": "x",
        "label": {"zh": "甲", "en": "x"},
        "workflows": {"publishing": {"distinct_actors": [{"id": "y", "stepz": []}]}},
    }
    assert list(validator.iter_errors(bad))
