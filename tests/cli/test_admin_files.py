"""Which files are read (issue 17): the same folder given twice is read once, calendar
files are recognised by ``validate``, and a folder without any definition file says so,
naming the files that look like one, instead of printing nothing and exiting 0."""

from __future__ import annotations

import shutil
from pathlib import Path

from cmc_workflow.exits import Exit
from tests.helpers.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "calendars" / "example-local-closures.yaml.example"
MINI = """\
id: mini
label: {zh: 小流程, en: Mini}
roles:
  editor: {zh: 编辑, en: Editor}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: finish, target: done, roles: [editor]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def test_one_folder_for_workflows_and_policies_is_no_duplicate(tmp_path: Path) -> None:
    folder = tmp_path / "sv"
    shutil.copytree(ROOT / "workflows", folder)
    shutil.copytree(ROOT / "policies", folder / "policies")
    done = run_cli(
        "policy", "check", "--workflows", "sv", "--policies", "sv", "--json", cwd=tmp_path
    )
    assert done.exit_code == Exit.OK, done.stdout
    assert "E-DUPLICATE-WORKFLOW" not in done.stdout
    again = run_cli("validate", "sv", "sv/", str(folder / "comments.yaml"), cwd=tmp_path)
    assert (again.exit_code, again.stdout) == (Exit.OK, "")


def test_a_real_copy_under_another_name_is_still_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINI, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(MINI, encoding="utf-8")
    done = run_cli("validate", "a.yaml", "b.yaml", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    assert "E-DUPLICATE-WORKFLOW" in done.stdout


def test_validate_recognises_calendar_files(tmp_path: Path) -> None:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(EXAMPLE, calendars / "local.yaml")
    clean = run_cli("validate", "calendars", cwd=tmp_path)
    assert (clean.exit_code, clean.stdout) == (Exit.OK, "")
    (calendars / "more.yaml").write_text(
        "local:\n  closures:\n    - {date: 2025-12-31, name: 再次闭馆}\n", encoding="utf-8"
    )
    twice = run_cli("validate", "calendars", cwd=tmp_path)
    assert twice.exit_code == Exit.PROBLEMS
    assert "E-CALENDAR-DUPLICATE-DATE" in twice.stdout
    assert "E-MISSING-KEY" not in twice.stdout  # not read as a workflow


def test_a_broken_calendar_file_gets_calendar_codes(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(
        "local:\n  closures:\n    - {date: 2025-13-01, name: 闭馆}\n", encoding="utf-8"
    )
    done = run_cli("validate", "local.yaml", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    assert "local.yaml:3:14: E-CALENDAR-DATE" in done.stdout


def test_a_folder_of_near_misses_is_an_error_naming_them(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "x.YAML").write_text(MINI, encoding="utf-8")
    (folder / "y.yaml.txt").write_text(MINI, encoding="utf-8")
    done = run_cli("validate", "new", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    assert "E-NO-FILES" in done.stdout
    assert "new/x.YAML" in done.stdout
    assert "new/y.yaml.txt" in done.stdout
    assert "没有找到定义文件" in done.stdout


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run_cli("validate", "empty", "--format", "json", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    assert [p["code"] for p in done.json()["problems"]] == ["E-NO-FILES"]


def test_a_near_miss_beside_real_files_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "mini.yaml").write_text(MINI, encoding="utf-8")
    (folder / "other.Yml").write_text(MINI, encoding="utf-8")
    done = run_cli("validate", "wf", cwd=tmp_path)
    assert done.exit_code == Exit.OK
    assert "wf/other.Yml:1:1: W-FILE-NAME" in done.stdout
    assert "rename it to other.yaml" in done.stdout


def test_the_bundled_calendar_example_alone_says_how_to_use_it(tmp_path: Path) -> None:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(EXAMPLE, calendars / EXAMPLE.name)
    done = run_cli("validate", "calendars", cwd=tmp_path)
    assert done.exit_code == Exit.PROBLEMS
    assert "copy it to a name ending in .yaml" in done.stdout
