"""Every located problem the package makes reads in Chinese: a static check over the
syntax tree, for every file kind at once (workflows, policies, schedules, calendars,
notifications, migration plans, staff rosters), including the codes no broken file of the
tests reaches.

A problem is made by ``Located.problem``, ``Problem.of``, a checker's ``add`` or a
``Problem(...)``; its message and hint must come from the catalogue (``tr(...)`` or a
name holding a :class:`~cmc_workflow.i18n.Text`), never an English string or f-string,
and a ``Problem(...)`` written out must give its ``message_zh``. The dynamic checks (the
broken-file corpus, each kind's broken cases) show that the Chinese is really there.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cmc_workflow"
MAKERS = {"problem", "add"}
"""Methods that make a problem from ``(path, code, message, hint)``."""


def _english(node: ast.expr) -> bool:
    """Whether ``node`` is text written in the code (not from the catalogue)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _english(node.left) or _english(node.right)
    if isinstance(node, ast.IfExp):
        return _english(node.body) or _english(node.orelse)
    return False


def _code_index(call: ast.Call) -> int | None:
    """The index of the positional argument that is a problem code (``"E-..."``)."""
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Constant) and str(arg.value)[:2] in ("E-", "W-"):
            return i
        if isinstance(arg, ast.Name | ast.Attribute) and "code" in ast.unparse(arg).lower():
            return i
    return None


def english_problems() -> list[str]:
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        tree = ast.parse(text)
        located = (
            any(  # the HTTP API has a Problem of its own (a problem document)
                isinstance(n, ast.ImportFrom)
                and n.module == "cmc_workflow.errors"
                and any(a.name == "Problem" for a in n.names)
                for n in ast.walk(tree)
            )
            or file.name == "errors.py"
        )
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            place = f"{file.relative_to(PACKAGE.parent)}:{node.lineno}"
            if name == "Problem" and isinstance(func, ast.Name) and located:
                keywords = {k.arg for k in node.keywords}
                if "message_zh" not in keywords and len(node.args) < 7:
                    found.append(f"{place}: Problem(...) without message_zh")
                continue
            is_of = name == "of" and ast.unparse(func) == "Problem.of"
            if not (is_of or name in MAKERS):
                continue
            code = _code_index(node)
            if code is None:
                continue
            texts = node.args[code + 1 : code + 3]
            texts += [k.value for k in node.keywords if k.arg in ("message", "hint")]
            if any(_english(t) for t in texts):
                found.append(f"{place}: {name}(...) with English text: {ast.unparse(node)[:90]}")
    return found


def test_every_problem_the_package_makes_takes_its_words_from_the_catalogue() -> None:
    found = english_problems()
    assert not found, "\n".join(found)


def test_the_check_finds_an_english_problem() -> None:
    tree = ast.parse('doc.problem(path, "E-X", f"no {x}", "fix it")', mode="eval")
    call = tree.body
    assert isinstance(call, ast.Call)
    assert _code_index(call) == 1
    assert _english(call.args[2])
    assert _english(call.args[3])
    assert not _english(ast.parse('tr("no {x}", x=x)', mode="eval").body)
