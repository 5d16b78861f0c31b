"""The static proof at load time: bypass paths, transitions nobody may fire, and
separation-of-duty rules no assignment of roles can meet."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmc_workflow import Engine
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import DefinitionError, Problem
from tests.helpers import PUBLISHING_POLICIES
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING
from tests.helpers.records import RECORD_WORKFLOWS

# the policies that judge publishing, with the workflows whose records they read
POLICIES = [*RECORD_WORKFLOWS, *PUBLISHING_POLICIES]

SHORTCUT = """\
      - trigger: shortcut
        target: signoff
        roles: [editor]
        label: {zh: 直接送签, en: Straight to sign-off}
"""


def publishing_with(tmp_path: Path, after: str, addition: str) -> Path:
    """A copy of the bundled publishing workflow with ``addition`` inserted after the
    first line that contains ``after``."""
    text = PUBLISHING.read_text(encoding="utf-8")
    cut = text.index("\n", text.index(after)) + 1
    path = tmp_path / "workflows" / "publishing.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text[:cut] + addition + text[cut:], encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def problems(*paths: Path) -> list[Problem]:
    return load_paths(list(paths)).problems


@pytest.mark.req("PUB-5", "PUB-6")
def test_a_shortcut_around_the_reviews_is_refused_with_the_path(tmp_path: Path) -> None:
    workflow = publishing_with(tmp_path, "        notify: [reviewer]", "")
    # insert the shortcut as a second transition of drafting
    text = workflow.read_text(encoding="utf-8")
    anchor = (
        "          original_author: "
        "{type: string, required: false, label: {zh: 原作者, en: Author}}\n"
    )
    assert text.count(anchor) == 1
    workflow.write_text(text.replace(anchor, anchor + SHORTCUT), encoding="utf-8")
    assert problems(workflow) == []  # the workflow alone is fine
    found = problems(workflow, *POLICIES)
    assert [p.code for p in found] == ["E-POLICY-BYPASS"]
    bypass = found[0]
    assert bypass.file == str(workflow)
    assert bypass.line == line_of(workflow, "- trigger: shortcut")
    assert (
        "proposed -approve-> selected -assign-> assigned -accept-> drafting "
        "-shortcut-> signoff -sign-> publishing" in bypass.message
    )
    assert "reviewed_and_signed_off" in bypass.message
    assert "first_review, second_review" in bypass.message
    assert "drafting -shortcut-> signoff" in bypass.hint
    with pytest.raises(DefinitionError) as raised:
        Engine.open(f"sqlite:///{tmp_path / 'cmc.db'}", workflows=workflow, policies=POLICIES)
    assert raised.value.codes == ["E-POLICY-BYPASS"]


@pytest.mark.req("PUB-5")
def test_a_gateway_route_around_a_review_is_a_bypass(tmp_path: Path) -> None:
    text = PUBLISHING.read_text(encoding="utf-8")
    text = text.replace(
        "      - trigger: submit\n        target: first_review\n",
        "      - trigger: submit\n        target: triage\n",
    )
    text = text.replace(
        "  first_review:\n",
        "  triage:\n"
        "    type: exclusiveGateway\n"
        "    label: {zh: 分流, en: Triage}\n"
        "    transitions:\n"
        "      - {target: second_review, guard: data.repost == true}\n"
        "      - {target: first_review, default: true}\n\n"
        "  first_review:\n",
        1,
    )
    workflow = tmp_path / "publishing.yaml"
    workflow.write_text(text, encoding="utf-8")
    assert problems(workflow) == []
    found = problems(workflow, *POLICIES)
    assert [p.code for p in found] == ["E-POLICY-BYPASS"]
    assert "drafting -submit-> triage -(route)-> second_review -approve-> signoff" in (
        found[0].message
    )
    assert found[0].line == line_of(workflow, "{target: second_review, guard")


@pytest.mark.req("PUB-5")
def test_a_certain_edit_after_the_approvals_is_a_bypass_an_optional_one_is_not(
    tmp_path: Path,
) -> None:
    def touch_up(required: str) -> str:
        return (
            "      - trigger: touch_up\n"
            "        target: signoff\n"
            "        roles: [ops_manager]\n"
            "        form:\n"
            f"          title: {{type: string, required: {required}}}\n"
        )

    workflow = publishing_with(tmp_path, "        implements: [PUB-6]", touch_up("true"))
    found = problems(workflow, *POLICIES)
    assert [p.code for p in found] == ["E-POLICY-BYPASS"]
    assert "signoff -touch_up-> signoff -sign-> publishing" in found[0].message
    workflow = publishing_with(tmp_path, "        implements: [PUB-6]", touch_up("false"))
    assert problems(workflow, *POLICIES) == []  # the runtime rule decides (see the engine tests)


@pytest.mark.req("PUB-5")
def test_the_bundled_correction_path_is_not_a_bypass() -> None:
    # correction -correct-> publishing re-enters publishing: the approvals of the round
    # that published the item still stand, so the proof accepts it
    assert problems(PUBLISHING, *POLICIES) == []


UNSAT = """\
kind: policy
id: case
label: {{zh: 例, en: Case}}
roles:
  ops_manager: {{label: {{zh: 运营管理岗, en: Operations manager}}, max_holders: {holders}}}
workflows:
  publishing:
    steps:
      signer: {{state: signoff, trigger: sign, label: {{zh: 签发人, en: signer}}}}
      corrector: {{state: correction, trigger: correct, label: {{zh: 更正人, en: corrector}}}}
      engine: {{state: publishing, trigger: done, label: {{zh: 系统, en: engine}}}}
    distinct_actors:
      - {{id: x, steps: [{steps}]{pairs}}}
"""


@pytest.mark.parametrize(
    ("holders", "steps", "pairs", "code", "why"),
    [
        (1, "signer, corrector", "", "E-POLICY-UNSATISFIABLE", "only one person may hold"),
        (2, "signer, corrector", "", None, None),
        (1, "signer", ", pairs: [[signer, signer]]", "E-POLICY-UNSATISFIABLE", "only one"),
        (5, "engine", ", pairs: [[engine, engine]]", "E-POLICY-UNSATISFIABLE", "engine takes"),
        (1, "engine, signer", "", None, None),
    ],
)
def test_separation_no_assignment_of_roles_can_meet(
    tmp_path: Path, holders: int, steps: str, pairs: str, code: str | None, why: str | None
) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(UNSAT.format(holders=holders, steps=steps, pairs=pairs), encoding="utf-8")
    found = problems(PUBLISHING, path)
    if code is None:
        assert found == []
        return
    assert [p.code for p in found] == [code]
    assert why is not None
    assert why in found[0].message
    assert found[0].line == line_of(path, "- {id: x")
