"""Fail closed: a guarded effect (publication, the release to the self-media accounts, an
emergency plan put in force) runs only where a policy guards it, and a truncated or
emptied policy file is a load error, never a silent relaxation.

The issue "No way around the rules" found that ``head -n 6 policies/publishing.yaml``
validated, that 68 of the 136 line-prefix cuts of that file validated (41 without a
review rule), and that a workflow no policy names ran its publish handler with no
review. These tests take every cut and every unguarded load through the public loader,
``cmc-workflow validate`` and ``Engine.open``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cmc_workflow import Engine
from cmc_workflow.cli import main
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import DefinitionError
from cmc_workflow.handlers import HandlerRegistry
from tests.helpers import POLICIES, PUBLISHING, PUBLISHING_POLICIES, WORKFLOWS
from tests.helpers.records import RECORD_WORKFLOWS

PUBLISHING_POLICY = POLICIES / "publishing.yaml"
ROLES = POLICIES / "roles.yaml"
PLANS = WORKFLOWS / "emergency_plans.yaml"
DRILL = WORKFLOWS / "inspections" / "ins_09_emergency_drill.yaml"


def _only_trivia(lines: list[str]) -> bool:
    """True when ``lines`` hold nothing but blank lines and comments."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)


@pytest.mark.req("PUB-5", "PUB-6", "ACC-2")
def test_no_cut_of_the_publishing_policy_loads_unless_it_drops_only_trailing_trivia(
    tmp_path: Path,
) -> None:
    lines = PUBLISHING_POLICY.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "publishing.yaml"
    loading: list[int] = []
    for k in range(len(lines) + 1):
        cut.write_text("".join(lines[:k]), encoding="utf-8")
        loaded = load_paths([PUBLISHING, *RECORD_WORKFLOWS, ROLES, cut])
        if not loaded.problems:
            loading.append(k)
    # the whole file loads; a cut loads only when what it drops is blank lines and comments
    assert len(lines) in loading
    assert all(_only_trivia(lines[k:]) for k in loading), [
        (k, lines[k]) for k in loading if not _only_trivia(lines[k:])
    ]
    print(f"{len(loading)} of {len(lines) + 1} cuts load")  # the figure for the report


@pytest.mark.req("PUB-5", "PUB-6")
def test_the_first_six_lines_of_the_policy_are_refused(
    tmp_path: Path,
) -> None:
    head = tmp_path / "publishing.yaml"
    text = PUBLISHING_POLICY.read_text(encoding="utf-8")
    head.write_text("".join(text.splitlines(keepends=True)[:6]), encoding="utf-8")
    paths = [PUBLISHING, *RECORD_WORKFLOWS, ROLES, head]
    result = CliRunner().invoke(main, ["validate", *map(str, paths)])
    assert result.exit_code != 0
    assert "E-POLICY-EMPTY" in result.output
    with pytest.raises(DefinitionError) as caught:
        Engine.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            workflows=[PUBLISHING, *RECORD_WORKFLOWS],
            policies=[ROLES, head],
        )
    assert "E-POLICY-EMPTY" in caught.value.codes  # no engine: nobody acts at all


@pytest.mark.req("PUB-5", "PUB-6")
def test_a_workflow_no_policy_names_does_not_load_with_its_publish_handler(
    tmp_path: Path,
) -> None:
    # policies loaded, none of them for publishing
    loaded = load_paths([PUBLISHING, *RECORD_WORKFLOWS, ROLES, POLICIES / "training.yaml"])
    unguarded = [p for p in loaded.problems if p.code == "E-POLICY-UNGUARDED-EFFECT"]
    text = PUBLISHING.read_text(encoding="utf-8").splitlines()
    places = {(p.line, text[p.line - 1].strip()) for p in unguarded}
    assert any(line.startswith("handler: publish_to_channels") for _n, line in places), places
    assert any(line.startswith("effects: [account_release]") for _n, line in places), places
    assert all("guarded effect" in p.message and "受控" in p.message_zh for p in unguarded)
    # no policy at all: the same
    with pytest.raises(DefinitionError) as caught:
        Engine.open(f"sqlite:///{tmp_path / 'x.db'}", workflows=PUBLISHING)
    assert "E-POLICY-UNGUARDED-EFFECT" in caught.value.codes
    # the bundled policies guard it
    assert not load_paths([PUBLISHING, *RECORD_WORKFLOWS, *PUBLISHING_POLICIES]).problems


@pytest.mark.req("PUB-5")
def test_a_requirement_the_workflow_declares_needs_its_rule(tmp_path: Path) -> None:
    text = PUBLISHING_POLICY.read_text(encoding="utf-8")
    start = text.index("    attestations:\n")
    end = text.index("    distinct_actors:\n")
    without = tmp_path / "publishing.yaml"
    without.write_text(text[:start] + text[end:], encoding="utf-8")
    loaded = load_paths([PUBLISHING, *RECORD_WORKFLOWS, ROLES, without])
    problems = [p for p in loaded.problems if p.code == "E-POLICY-REQUIREMENT-UNENFORCED"]
    assert len(problems) == 1, loaded.problems
    assert "PUB-5" in problems[0].message
    assert "attestations" in problems[0].message
    assert (problems[0].file, problems[0].line) == (str(PUBLISHING), 15)


@pytest.mark.req("EMG-2")
def test_an_emergency_plan_is_put_in_force_only_under_the_authoritys_approval_rule(
    tmp_path: Path,
) -> None:
    emergency = (POLICIES / "emergency.yaml").read_text(encoding="utf-8")
    plans = [PLANS, DRILL, WORKFLOWS / "hot_event_notice.yaml", ROLES]
    assert not load_paths([*plans, POLICIES / "emergency.yaml"]).problems
    # the approval no longer pinned to the authority: EMG-2 is not enforced
    unpinned = tmp_path / "emergency.yaml"
    unpinned.write_text(
        emergency.replace(
            "review: {approve: [authority], reject: [authority]}", "review: {reject: [authority]}"
        ),
        encoding="utf-8",
    )
    loaded = load_paths([*plans, unpinned])
    codes = [p.code for p in loaded.problems]
    assert codes == ["E-POLICY-REQUIREMENT-UNENFORCED"], loaded.problems
    assert "EMG-2" in loaded.problems[0].message


QUICK_PUBLISH = """\
id: quick_publish
version: 1
label: {zh: 快速发布, en: Quick publishing}
roles:
  editor: {zh: 编辑, en: Editor}
handlers:
  publish_to_channels:
    description: the bundled publishing handler, declared again without its effects
data:
  title: {type: string, label: {zh: 标题, en: Title}}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: send, target: sending, roles: [editor], label: {zh: 发出, en: Send}}
  sending:
    type: serviceTask
    label: {zh: 发布中, en: Sending}
    handler: publish_to_channels
    transitions:
      - {trigger: done, target: sent, default: true, label: {zh: 完成, en: Done}}
  sent:
    type: endEvent
    label: {zh: 已发布, en: Sent}
"""


@pytest.mark.req("PUB-5", "PUB-6")
def test_a_workflow_of_its_own_cannot_run_the_publish_handler_unguarded(tmp_path: Path) -> None:
    """A new workflow that runs ``publish_to_channels`` and declares no effect of its own
    publishes all the same: the handler's effects come with its name, from every workflow
    that declares them, and from the embedding system that registers the handler."""
    quick = tmp_path / "quick_publish.yaml"
    quick.write_text(QUICK_PUBLISH, encoding="utf-8")
    alone = load_paths([quick])
    assert alone.problems == []  # nobody said what the handler does ...
    # ... until the bundled publishing workflow, loaded beside it, says so
    loaded = load_paths([quick, PUBLISHING, *RECORD_WORKFLOWS, *PUBLISHING_POLICIES])
    refused = [p for p in loaded.problems if Path(p.file).name == "quick_publish.yaml"]
    assert [p.code for p in refused] == ["E-POLICY-UNGUARDED-EFFECT"], loaded.problems
    assert (
        refused[0].line == QUICK_PUBLISH.splitlines().index("    handler: publish_to_channels") + 1
    )

    # the embedding system declares what its handler does: alone, the workflow is refused
    handlers = HandlerRegistry()
    handlers.register("publish_to_channels", lambda ctx: None, effects=["publication"])
    with pytest.raises(DefinitionError) as caught:
        Engine.open(f"sqlite:///{tmp_path / 'q.db'}", workflows=quick, handlers=handlers)
    assert caught.value.codes == ["E-HANDLER-EFFECT-UNDECLARED"]
    assert "publication" in str(caught.value)
    # declared, it needs the policy that guards it (fail closed)
    quick.write_text(
        QUICK_PUBLISH.replace(
            "declared again without its effects\n",
            "declared again without its effects\n    effects: [publication]\n",
        ),
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError) as guarded:
        Engine.open(f"sqlite:///{tmp_path / 'q.db'}", workflows=quick, handlers=handlers)
    assert "E-POLICY-UNGUARDED-EFFECT" in guarded.value.codes
