"""The README's two commands are the product's promise: keep them and .ci/run in step."""

from __future__ import annotations

import re

from tests.helpers import ROOT


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = text.split("\n---\n", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", first_screen, flags=re.DOTALL)


def test_first_screen_has_exactly_two_commands() -> None:
    commands = _commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = _commands()[1]
    assert "pytest" in test_command
    assert ".[test]" in test_command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_run_command_uses_the_bundled_definitions() -> None:
    run_command = _commands()[0]
    assert "cmc-workflow run" in run_command
    assert "workflows/" in run_command
