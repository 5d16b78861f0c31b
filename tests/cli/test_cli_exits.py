"""The one exit-code table: every exit of the command line and the runner uses a code of
:data:`cmc_workflow.exits.EXIT_CODES`, and ``docs/cli.md`` shows exactly that table."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from cmc_workflow.exits import EXIT_CODES, Exit
from cmc_workflow.runner import daemon
from tests.helpers import ROOT

PACKAGE = ROOT / "cmc_workflow"
SCANNED = sorted(
    [
        *(PACKAGE / "cli").glob("*.py"),
        *(PACKAGE / "runner").glob("*.py"),
        PACKAGE / "_signals.py",
    ]
)
EXITS = {"exit", "_exit", "SystemExit", "fail"}
"""``sys.exit``, ``ctx.exit``, ``os._exit``, ``SystemExit`` and the CLI's ``fail``."""


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _named(node: ast.expr, module: object) -> bool:
    """True when ``node`` names a code of the table (never a bare number)."""
    if isinstance(node, ast.IfExp):
        return _named(node.body, module) and _named(node.orelse, module)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "Exit" and node.attr in Exit.__members__
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "Exit"  # Exit(value) raises for a code not in the table
    if isinstance(node, ast.Name):  # a module constant such as EXIT_FORCED
        value = getattr(module, node.id, None)
        return isinstance(value, int) and not isinstance(value, bool) and value in EXIT_CODES
    return False


def _exits(path: Path) -> list[tuple[int, ast.Call]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in EXITS:
            found.append((node.lineno, node))
    return found


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_exit_uses_a_code_of_the_table(path: Path) -> None:
    module = importlib.import_module(_module_name(path))
    bad = [
        f"{path.name}:{line}: {ast.unparse(call)}"
        for line, call in _exits(path)
        if not call.args or not _named(call.args[0], module)
    ]
    assert not bad, "exit with a code that is not a name of cmc_workflow.exits.Exit:\n" + "\n".join(
        bad
    )


def test_the_scan_sees_the_exits_it_checks() -> None:
    """The scan is not vacuous: it finds the exits of modules known to have them."""
    counts = {p.name: len(_exits(p)) for p in SCANNED}
    assert counts["daemon.py"] >= 1
    assert counts["time.py"] >= 2
    assert counts["exits.py"] >= 4
    assert not _named(ast.parse("1", mode="eval").body, object())
    assert not _named(ast.parse("Exit.NOPE", mode="eval").body, object())


def test_code_1_means_one_thing_and_each_code_one_name() -> None:
    assert len({int(code) for code in EXIT_CODES}) == len(EXIT_CODES) == len(Exit)
    assert set(EXIT_CODES) == set(Exit)


def test_the_daemon_codes_are_rows_of_the_table() -> None:
    assert daemon.EXIT_CODES.items() <= EXIT_CODES.items()


def _docs_table() -> dict[int, tuple[str, str]]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("<!-- exit-codes -->")[1]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(code): (name, meaning) for code, name, meaning in rows}


def test_docs_cli_shows_the_table() -> None:
    assert _docs_table() == {
        int(code): (code.name, meaning) for code, meaning in EXIT_CODES.items()
    }
