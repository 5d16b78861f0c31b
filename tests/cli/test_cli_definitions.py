"""The definition commands: validate, schema, graph, explain (and the diagram renderers)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cmc_workflow.cli import main
from cmc_workflow.definition import load_workflow_text
from cmc_workflow.definition.models import Workflow
from cmc_workflow.definition.schema import render_schema
from cmc_workflow.diagram import edge_label, explain_table, to_dot, to_mermaid, width

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
PUBLISHING = WORKFLOWS / "publishing.yaml"
BROKEN = Path(__file__).resolve().parents[1] / "broken"

GATEWAY = """\
id: triage
label: {zh: "分诊: 留言", en: Triage}
roles: {editor: {zh: 编辑, en: Editor}}
handlers: {send: {description: Sends it.}}
data:
  urgent: {type: boolean, required: false}
  channel: {type: choice, choices: [wechat, weibo], required: false}
start: {state: end, roles: [editor]}
states:
  end:
    type: userTask
    label: {zh: "收到 \\"留言\\"", en: Received}
    deadline:
      within: 2 working days
      pause_in: [waiting]
      steps:
        - {at: 50%, action: warn}
        - {before: 4 working hours, action: notify, to: editor}
        - {after: 3 days, action: fire, trigger: route}
    transitions:
      - trigger: route
        target: check
        roles: [editor]
        form:
          reason: {type: text}
          note: {type: string, required: false}
      - {trigger: wait, target: waiting, roles: [editor]}
  waiting:
    type: userTask
    label: {zh: 等待, en: Waiting}
    transitions:
      - {trigger: resume, target: end, roles: [editor]}
  check:
    type: exclusiveGateway
    label: {zh: 判断, en: Check}
    transitions:
      - {guard: data.urgent == true, target: sending}
      - {default: true, target: closed, label: {zh: 常规, en: Normal}}
  sending:
    type: serviceTask
    label: {zh: 发送中, en: Sending}
    handler: send
    transitions:
      - {trigger: sent, target: closed}
  closed: {type: endEvent, label: {zh: 已关闭, en: Closed}}
"""


@pytest.fixture(scope="module")
def publishing() -> Workflow:
    return load_workflow_text(PUBLISHING.read_text(encoding="utf-8"), str(PUBLISHING)).definition


@pytest.fixture(scope="module")
def triage() -> Workflow:
    return load_workflow_text(GATEWAY, "triage.yaml").definition


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- validate ------------------------------------------------------------------------------


def test_validate_is_silent_and_exits_0_on_the_bundled_workflows() -> None:
    result = run("validate", str(WORKFLOWS), str(ROOT / "policies"))
    assert (result.exit_code, result.output) == (0, "")


def test_validate_lists_every_problem_as_file_line_col_code() -> None:
    result = run("validate", str(BROKEN / "many_problems.yaml"), str(BROKEN / "yaml_octal.yaml"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith(f"{BROKEN / 'many_problems.yaml'}:22:25: E-UNKNOWN-ROLE ")
    assert any(":3:10: E-YAML-OCTAL " in line for line in lines)


# --- schema --------------------------------------------------------------------------------


def test_schema_prints_the_generated_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert result.output == render_schema()
    assert json.loads(result.output)["$schema"] == "http://json-schema.org/draft-07/schema#"


# --- graph ---------------------------------------------------------------------------------


def test_graph_and_explain_draw_a_workflow_that_starts_others_alone() -> None:
    """A workflow whose transitions start or gather items of others is drawn on its own:
    whether those others exist is validate's business, not the drawing's."""
    for command in ("graph", "explain"):
        result = run(command, str(WORKFLOWS / "comments.yaml"))
        assert result.exit_code == 0, result.output
        assert "consultation" in result.output


@pytest.mark.req("PUB-2", "PUB-5", "PUB-6")
def test_graph_mermaid_of_publishing_by_id(publishing: Workflow) -> None:
    result = run("graph", "publishing", "--workflows", str(WORKFLOWS))
    assert result.exit_code == 0
    text = result.output
    assert text == to_mermaid(publishing)
    assert text.startswith("stateDiagram-v2\n")
    assert '    state "初审" as first_review\n' in text
    assert "    [*] --> proposed\n" in text
    assert "    first_review --> second_review : 初审通过\n" in text
    # no account and no self-media channel: out at the sign-off (ACC-2)
    assert "    signoff --> publishing : 签发 [len(data.accounts) == 0 and 'wechat' not in" in text
    assert "    publishing --> published : done\n" in text  # no label: the trigger
    for end in ("archived", "retracted", "deleted"):
        assert f"    {end} --> [*]\n" in text


def test_graph_by_path_and_in_dot(publishing: Workflow) -> None:
    result = run("graph", str(PUBLISHING), "--format", "dot")
    assert result.exit_code == 0
    assert result.output == to_dot(publishing)
    assert result.output.startswith('digraph "publishing" {\n')
    assert '"first_review" -> "second_review" [label="初审通过"];' in result.output
    assert '"[start]" -> "proposed";' in result.output
    assert '"archived" -> "[end]";' in result.output
    assert result.output.rstrip().endswith("}")


def test_graph_in_english() -> None:
    result = run("graph", str(PUBLISHING), "--lang", "en")
    assert '    state "First review" as first_review\n' in result.output


def test_graph_of_a_broken_file_prints_its_problems_and_exits_1() -> None:
    result = run("graph", str(BROKEN / "trap_state.yaml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert ":15:3: E-TRAP-STATE " in result.stderr


def test_graph_of_a_broken_workflow_found_by_id(tmp_path: Path) -> None:
    shutil.copy(BROKEN / "unreachable_state.yaml", tmp_path / "mini.yaml")
    result = run("graph", "mini", "--workflows", str(tmp_path))
    assert result.exit_code == 1
    assert "E-UNREACHABLE-STATE" in result.stderr


def test_graph_of_a_duplicated_id_reports_the_duplicate(tmp_path: Path) -> None:
    for file in (BROKEN / "duplicate_workflow").iterdir():
        shutil.copy(file, tmp_path / file.name)
    result = run("graph", "mini", "--workflows", str(tmp_path))
    assert result.exit_code == 1
    assert "E-DUPLICATE-WORKFLOW" in result.stderr


def test_graph_of_an_unknown_id_names_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["graph", "nope", "--workflows", str(WORKFLOWS)])
    assert result.exit_code == 2
    assert "no workflow 'nope'" in result.stderr
    assert "publishing" in result.stderr


def test_graph_with_a_missing_workflows_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["graph", "x", "--workflows", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_mermaid_gateways_are_choices_and_labels_are_escaped(triage: Workflow) -> None:
    text = to_mermaid(triage)
    assert "    state s_end <<choice>>" not in text  # only gateways are choices
    assert "    state check <<choice>>\n" in text
    assert '    state "收到 #quot;留言#quot;" as s_end\n' in text  # 'end' is a Mermaid keyword
    assert "    [*] --> s_end\n" in text
    assert "    check --> sending : data.urgent == true\n" in text
    assert "    check --> closed : 常规\n" in text
    assert "    %% triage: 分诊#58; 留言\n" in text
    assert "    class sending service\n" in text


def test_dot_marks_gateways_services_and_default_routes(triage: Workflow) -> None:
    text = to_dot(triage)
    assert '"check" [shape=diamond, label="判断"];' in text
    assert '"end" [shape=box, style="rounded", label="收到 \\"留言\\""];' in text
    assert '"sending" [shape=box, style="rounded,dashed", label="发送中"];' in text
    assert '"check" -> "closed" [label="常规", style=bold];' in text


def test_edge_labels(triage: Workflow, publishing: Workflow) -> None:
    check = triage.states["check"]
    assert edge_label(check, check.transitions[0]) == "data.urgent == true"
    assert edge_label(check, check.transitions[1], "en") == "Normal"
    review = publishing.states["first_review"]
    assert edge_label(review, review.transitions[1], "en") == "Reject"


# --- explain -------------------------------------------------------------------------------


@pytest.mark.req("PUB-5", "PUB-6")
def test_explain_publishing_is_a_table_of_who_may_do_what(publishing: Workflow) -> None:
    result = run("explain", "publishing", "--workflows", str(WORKFLOWS))
    assert result.exit_code == 0
    text = result.output
    assert text == explain_table(publishing)
    assert text.startswith("publishing v2: 内容选题与发布 / Editorial publishing\n")
    header = next(line for line in text.splitlines() if line.startswith("state "))
    for column in ("type", "label zh / en", "requirements", "trigger -> target", "roles"):
        assert column in header
    for column in ("guard", "form fields", "deadline"):
        assert column in header
    assert "sign -> publishing" in text
    assert "truthful (boolean, required)" in text
    assert "comment (text, optional)" in text
    assert "within 2 working days" in text
    assert "at 100%: escalate -> channel_lead" in text
    assert "PUB-5, PUB-8" in text
    assert "handler:" in text
    assert "  publish_to_channels" in text


def test_explain_columns_line_up_after_chinese_labels(publishing: Workflow) -> None:
    # the requirements column comes right after the Chinese labels: it must start at the
    # same display column on every line (CJK characters take two columns in a terminal)
    text = explain_table(publishing)
    table = text[text.index("\nstate ") :].splitlines()
    starts = {width(line[: line.index("PUB-")]) for line in table if "PUB-" in line}
    assert len(starts) == 1


def test_explain_shows_gateways_services_guards_and_all_step_kinds(triage: Workflow) -> None:
    text = explain_table(triage)
    assert "(route) -> sending" in text
    assert "data.urgent == true" in text
    assert "default" in text
    assert "(engine)" in text
    assert "sent -> closed" in text
    assert "reason (text, required)" in text
    assert "note (string, optional)" in text
    assert "at 50%: warn" in text
    assert "4 working hours before: notify -> editor" in text
    assert "after 3 days: fire (route)" in text
    assert "paused in waiting" in text
    assert "(end)" in text
    assert "start: end, started by editor" in text


def test_explain_of_a_broken_file_exits_1() -> None:
    result = run("explain", str(BROKEN / "gateway_no_default.yaml"))
    assert result.exit_code == 1
    assert "E-GATEWAY-NO-DEFAULT" in result.stderr


def test_width_counts_cjk_as_two_columns() -> None:
    assert width("abc") == 3
    assert width("初审") == 4
    assert width("初审 ok") == 7


# --- as a subprocess, like an administrator runs it ---------------------------------------


CLI = [sys.executable, "-c", "from cmc_workflow.cli import main; main()"]


def test_the_command_line_runs_validate_and_graph_as_a_process() -> None:
    ok = subprocess.run(
        [*CLI, "validate", str(WORKFLOWS), str(ROOT / "policies")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stdout) == (0, "")
    graph = subprocess.run(
        [*CLI, "graph", "publishing", "--workflows", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert graph.returncode == 0
    assert graph.stdout.startswith("stateDiagram-v2")
    bad = subprocess.run(
        [*CLI, "graph", str(BROKEN / "empty.yaml")], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "E-EMPTY" in bad.stderr


# --- the reference's complete example ------------------------------------------------------


def test_the_docs_complete_example_loads_clean_and_draws() -> None:
    docs = (ROOT / "docs" / "workflow-language.md").read_text(encoding="utf-8")
    start = docs.index("## A complete small example")
    body = docs[docs.index("```yaml\n", start) + 8 : docs.index("```\n", start + 40)]
    wf = load_workflow_text(body, "docs-example.yaml").definition
    assert wf.id == "comment_reply"
    assert "    state route <<choice>>\n" in to_mermaid(wf)
