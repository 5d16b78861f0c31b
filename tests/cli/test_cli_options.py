"""The shared options: one meaning per name on every command, logging configured once."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from cmc_workflow.log import Threshold
from tests.helpers import PUBLISHING, ROOT, UNGUARDED_PUBLISHING
from tests.helpers.cli import run_cli

CLI = ROOT / "cmc_workflow" / "cli"
EDITOR = ["--actor", "wang", "--role", "editor"]
PROPOSAL = {"title": "秋季读书节", "outline": "三场讲座与一次书展", "channels": ["pc"]}


def test_each_shared_option_is_declared_once() -> None:
    """``--workflows``, ``--policies``, ``--json`` and ``--log-level`` are declared in
    cli/options.py only; every command takes them from there."""
    declared: dict[str, list[str]] = {}
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "option"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                declared.setdefault(str(node.args[0].value), []).append(path.name)
    for name in ("--workflows", "--policies", "--json", "--log-level", "--actor", "--data"):
        assert declared[name] == ["options.py"], name


def test_logging_is_configured_only_at_the_entry_point() -> None:
    callers = sorted(
        path.name
        for path in CLI.glob("*.py")
        if "configure_logging(" in path.read_text(encoding="utf-8")
    )
    assert callers == ["__init__.py"]


def test_a_users_level_wins_over_a_commands_default() -> None:
    threshold = Threshold()
    threshold.set("info", explicit=False)  # `run`'s default
    assert threshold.level == "info"
    threshold.set("error", explicit=True)  # --log-level error
    threshold.set("info", explicit=False)  # a later default does not undo it
    assert threshold.level == "error"


def test_the_groups_log_options_reach_a_command_without_its_own(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    common = ["--workflows", str(UNGUARDED_PUBLISHING), "--db", db, "--json"]
    start = ["start", "publishing", *EDITOR, "--data", json.dumps(PROPOSAL), *common]
    quiet = run_cli(*start, cwd=tmp_path)
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""  # warnings and errors only, by default
    done = run_cli("--log-level", "info", "--log-format", "text", *start, cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert done.json()["state"] == "proposed"  # stdout stays one JSON document
    assert "item_started" in done.stderr
    assert not done.stderr.lstrip().startswith("{")  # readable text, not JSON lines


def test_workflows_is_a_folder_or_a_file_and_repeatable_everywhere(tmp_path: Path) -> None:
    other = tmp_path / "defs"
    other.mkdir()
    (other / "publishing.yaml").write_text(PUBLISHING.read_text("utf-8"), "utf-8")
    # graph and explain used to take a folder only
    for args in (["--workflows", str(PUBLISHING)], ["--workflows", str(other)]):
        done = run_cli("graph", "publishing", *args, cwd=tmp_path)
        assert done.exit_code == 0, done.stderr
        assert done.stdout.startswith("stateDiagram-v2")
    missing = run_cli("explain", "publishing", "--workflows", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.exit_code == 2
    assert "does not exist; pass --workflows PATH or set CMC_WORKFLOWS" in missing.stderr
    # without the option the folder ./workflows is used only when it exists
    none = run_cli("policy", "check", cwd=tmp_path)
    assert none.exit_code == 2
    assert "'workflows' does not exist" in none.stderr
