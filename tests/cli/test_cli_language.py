"""What an administrator reads follows the locale and ``--lang``, end to end: the real
program, started as a child process with ``LANG=zh_CN.UTF-8``, reads the tutorial's
mistake (docs/tutorial.md) and a refusal of ``fire`` in Chinese (two child processes:
about a second each, more on a busy machine); ``--lang`` wins over the locale (checked
in-process); the JSON keeps both languages whatever is shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile("[\u4e00-\u9fff]")


def _tutorial_workflow(folder: Path) -> Path:
    """The tutorial's equipment loan, with its mistake (``target: returnd``)."""
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    yaml_text = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "target: returned" in yaml_text
    folder.mkdir()
    path = folder / "equipment_loan.yaml"
    path.write_text(yaml_text.replace("target: returned", "target: returnd"), encoding="utf-8")
    return path


def _run(*args: str, lang: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CMC_") and k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
    }
    if lang is not None:
        env["LANG"] = lang
    return subprocess.run(
        [sys.executable, "-m", "cmc_workflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,  # a cap for a hung child, far above the second or two it takes
        check=False,
    )


def _locale(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)


def test_validate_reads_in_the_locale_language(tmp_path: Path) -> None:
    _tutorial_workflow(tmp_path / "wf")
    chinese = _run("validate", "wf/", lang="zh_CN.UTF-8", cwd=tmp_path)
    assert chinese.returncode == 1
    assert chinese.stdout.strip() == (
        "wf/equipment_loan.yaml:36:17: E-UNKNOWN-STATE 状态 'returnd' 不存在"
        "（提示：已有的状态：on_loan, refused, requested, returned）"
    )


def test_lang_overrides_the_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (the child process above shows the locale is read at start)."""
    _tutorial_workflow(tmp_path / "wf")
    _locale(monkeypatch, "zh_CN.UTF-8")
    chinese = run_cli("validate", "wf/", cwd=tmp_path)
    assert "状态 'returnd' 不存在" in chinese.stdout
    english = run_cli("validate", "--lang", "en", "wf/", cwd=tmp_path)
    assert english.exit_code == 1
    assert "state 'returnd' does not exist (hint: known states:" in english.stdout
    assert not CJK.search(english.stdout + english.stderr)
    assert run_cli("--lang", "en", "validate", "wf/", cwd=tmp_path).stdout == english.stdout
    assert run_cli("validate", "wf/", cwd=tmp_path).stdout == chinese.stdout  # not sticky
    _locale(monkeypatch, "en_US.UTF-8")
    assert run_cli("validate", "wf/", cwd=tmp_path).stdout == english.stdout
    assert "状态" in run_cli("validate", "--lang", "zh", "wf/", cwd=tmp_path).stdout
    (problem,) = run_cli("validate", "--format", "json", "wf/", cwd=tmp_path).json()["problems"]
    assert (problem["code"], problem["message"], problem["message_zh"]) == (
        "E-UNKNOWN-STATE",
        "state 'returnd' does not exist",
        "状态 'returnd' 不存在",
    )


def test_fire_refusals_read_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = _tutorial_workflow(tmp_path / "wf")
    fixed.write_text(
        fixed.read_text(encoding="utf-8").replace("target: returnd", "target: returned"),
        encoding="utf-8",
    )
    common = ["--workflows", "wf/", "--db", "sqlite:///loan.db"]
    started = run_cli(
        "start", "equipment_loan", "--actor", "li", "--role", "staff", "--json",
        "--data", '{"device": "camera", "days": 2}', *common, cwd=tmp_path,
    )  # fmt: skip
    assert started.exit_code == 0, started.stderr
    item = str(started.json()["id"])

    wrong_role = _run(
        "fire", item, "approve", "--actor", "li", "--role", "staff", *common,
        lang="zh_CN.UTF-8", cwd=tmp_path,
    )  # fmt: skip
    assert wrong_role.returncode == 2
    assert wrong_role.stderr.strip() == (
        "已拒绝（NotPermitted）：li 无权在 'requested' 执行 'approve'：需要以下角色之一："
        "['keeper']，其角色为：['staff']"
    )
    _locale(monkeypatch, "zh_CN.UTF-8")
    wrong_state = run_cli(
        "fire", item, "return", "--actor", "wang", "--role", "keeper", *common, cwd=tmp_path
    )
    assert wrong_state.exit_code == 2
    assert wrong_state.stderr.startswith("已拒绝（InvalidTrigger）：在状态 'requested' 中不能执行")
    english = run_cli(
        "fire", item, "approve", "--actor", "li", "--role", "staff", "--lang", "en", *common,
        cwd=tmp_path,
    )  # fmt: skip
    assert english.stderr.startswith("refused (NotPermitted): li may not fire 'approve'")
    assert not CJK.search(english.stderr)
    shown_en = run_cli("show", item, "--lang", "en", *common, cwd=tmp_path)
    assert "Row version" in shown_en.stdout
    assert "Equipment loan (equipment_loan)" in shown_en.stdout
    assert not CJK.search(shown_en.stdout.replace("设备", ""))  # the data is the user's
    shown_zh = run_cli("show", item, *common, cwd=tmp_path)
    assert "行版本" in shown_zh.stdout
    assert "设备借用 (equipment_loan)" in shown_zh.stdout
