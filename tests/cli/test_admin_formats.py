"""Machine-readable results (issue 17): ``validate``, ``policy check`` and ``who-can`` take
``--format text|json|sarif``, always print one document on stdout (problems or not),
exit by the documented codes, and let warnings pass unless ``--strict``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cmc_workflow.exits import Exit
from tests.helpers.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
POLICIES = ROOT / "policies"
BROKEN = ROOT / "tests" / "broken"
SARIF_SCHEMA = json.loads(
    (ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)


def _sarif_valid(document: Any) -> None:
    validator = jsonschema.validators.validator_for(SARIF_SCHEMA)
    validator.check_schema(SARIF_SCHEMA)
    errors = sorted(validator(SARIF_SCHEMA).iter_errors(document), key=str)
    assert not errors, "\n".join(str(e.message) for e in errors[:5])


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A copy of the bundled workflows and policies, to break one file of."""
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    shutil.copytree(POLICIES, tmp_path / "policies")
    return tmp_path


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- validate ------------------------------------------------------------------------------------
def test_validate_json_is_one_document_with_every_problem(tmp_path: Path) -> None:
    done = run_cli("validate", str(BROKEN / "many_problems.yaml"), "--format", "json", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    document = done.json()
    assert document["ok"] is False
    assert document["exit_code"] == 1
    assert document["counts"]["errors"] == len(document["problems"]) >= 6
    first = document["problems"][0]
    assert set(first) >= {"file", "line", "column", "code", "severity", "message", "hint"}
    assert first["severity"] == "error"


def test_validate_json_of_clean_files_is_a_document_too(tmp_path: Path) -> None:
    done = run_cli("validate", str(WORKFLOWS), str(POLICIES), "--format", "json", cwd=tmp_path)
    assert done.exit_code == Exit.OK
    document = done.json()
    assert (document["ok"], document["problems"]) == (True, [])
    assert "publishing" in document["workflows"]
    assert len(document["files"]) >= 10


def test_validate_sarif_validates_against_the_sarif_schema(bundle: Path) -> None:
    wf = bundle / "workflows" / "publishing.yaml"
    _break(wf, "label: {zh: 内容选题与发布", "label: {zh: “内容选题与发布”")  # a warning
    _break(wf, "    type: userTask\n", "    type： userTask\n")  # an error
    done = run_cli("validate", "workflows", "policies", "--format", "sarif", cwd=bundle)
    assert done.exit_code == Exit.PROBLEMS
    log = done.json()
    _sarif_valid(log)
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "cmc-workflow"
    levels = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert levels == {("E-FULLWIDTH-COLON", "error"), ("W-FULLWIDTH-QUOTE", "warning")}
    located = run["results"][0]["locations"][0]["physicalLocation"]
    assert located["artifactLocation"]["uri"] == "workflows/publishing.yaml"
    assert located["region"]["startLine"] >= 1
    assert "全角" in run["results"][0]["message"]["text"]


def test_validate_sarif_of_clean_files_is_a_valid_empty_log(tmp_path: Path) -> None:
    done = run_cli("validate", str(WORKFLOWS), str(POLICIES), "--format", "sarif", cwd=tmp_path)
    assert done.exit_code == Exit.OK
    _sarif_valid(done.json())
    assert done.json()["runs"][0]["results"] == []


def test_a_warning_passes_unless_strict(bundle: Path) -> None:
    _break(
        bundle / "workflows" / "publishing.yaml",
        "label: {zh: 内容选题与发布",
        "label: {zh: “内容选题与发布”",
    )
    passed = run_cli("validate", "workflows", "policies", cwd=bundle)
    assert passed.exit_code == Exit.OK
    assert "W-FULLWIDTH-QUOTE" in passed.stdout
    strict = run_cli(
        "validate", "workflows", "policies", "--strict", "--format", "json", cwd=bundle
    )
    assert strict.exit_code == Exit.PROBLEMS
    assert strict.json()["counts"] == {"errors": 0, "warnings": 1}


# -- policy check / who-can ----------------------------------------------------------------
def test_policy_check_json_prints_a_document_when_a_file_has_problems(bundle: Path) -> None:
    _break(bundle / "policies" / "publishing.yaml", "workflows:", "workflowz:")
    done = run_cli("policy", "check", "--json", cwd=bundle)
    assert done.exit_code == Exit.PROBLEMS
    document = done.json()
    assert document["ok"] is False
    assert document["problems"]
    assert all(p["file"].startswith("policies/") for p in document["problems"])


def test_policy_check_json_keeps_its_result_keys(tmp_path: Path) -> None:
    done = run_cli(
        "policy", "check", "--workflows", str(WORKFLOWS), "--policies", str(POLICIES),
        "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert done.exit_code == Exit.OK
    document = done.json()
    assert document["ok"] is True
    assert {"workflows", "policy_files", "rules", "unscoped"} <= set(document)


def test_policy_check_sarif_validates(bundle: Path) -> None:
    _break(bundle / "policies" / "publishing.yaml", "workflows:", "workflowz:")
    done = run_cli("policy", "check", "--format", "sarif", cwd=bundle)
    assert done.exit_code == Exit.PROBLEMS
    _sarif_valid(done.json())


def test_who_can_json_prints_a_document_when_a_file_has_problems(bundle: Path) -> None:
    _break(bundle / "workflows" / "faults.yaml", "\nid:", "\nid：")
    done = run_cli("who-can", "publishing", "first_review", "--json", cwd=bundle)
    assert done.exit_code == Exit.PROBLEMS
    document = done.json()
    assert document["ok"] is False
    assert [p["code"] for p in document["problems"]][:1] == ["E-FULLWIDTH-COLON"]


def test_who_can_json_without_problems_keeps_its_result(tmp_path: Path) -> None:
    done = run_cli(
        "who-can", "publishing", "first_review", "--workflows", str(WORKFLOWS),
        "--policies", str(POLICIES), "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert done.exit_code == Exit.OK
    document = done.json()
    assert (document["ok"], document["problems"], document["state"]) == (
        True,
        [],
        "first_review",
    )
    assert document["triggers"]


def test_format_and_json_disagreeing_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(
        "policy", "check", "--workflows", str(WORKFLOWS), "--policies", str(POLICIES),
        "--json", "--format", "sarif", cwd=tmp_path,
    )  # fmt: skip
    assert done.exit_code == Exit.USAGE
    assert "not both" in done.stderr
