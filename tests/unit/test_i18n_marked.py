"""Every message the code marks reaches the catalogue, also where Babel's extractor does
not look.

Babel reads ``tr("...")`` and ``N_("...")`` calls token by token: a call inside an
f-string (``f"{H(N_('Data'))}"``) or nested in the arguments of another call inside a
``tr()`` is not always extracted, so the message never reaches the template, the
translator never sees it, and a Chinese reader is shown the English. This test finds the
calls in the syntax tree instead and asks the catalogue (the ``.po``) for each.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cmc_workflow.i18n import CATALOGUE, read_catalogue

PACKAGE = Path(__file__).resolve().parents[2] / "cmc_workflow"
MARKERS = {"tr", "N_", "zh"}


def _marked(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in MARKERS
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_the_syntax_tree_finds_marks_babel_misses(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "x = tr('{a}', a=Text('', ';'.join(tr('inner {b}', b=1).zh for _ in ())))\n"
        "y = f\"{H(N_('in an f-string'))}\"\n",
        encoding="utf-8",
    )
    assert sorted(m for _, m in _marked(sample)) == ["in an f-string", "inner {b}", "{a}"]


def test_every_marked_literal_is_in_the_catalogue() -> None:
    catalogue = read_catalogue(CATALOGUE)
    missing = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {message!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, message in _marked(path)
        if message not in catalogue
    ]
    assert not missing, (
        "marked messages the catalogue lacks (Babel did not extract them: write the "
        "call outside the f-string or the nested call, then run pybabel extract and "
        "update, docs/translations.md):\n" + "\n".join(missing)
    )
