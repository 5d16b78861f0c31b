"""The message catalogue: every message marked in the code has its Chinese, the runtime
reader agrees with Babel's, no Chinese is left in code outside the catalogue (but for the
files listed in :data:`DATA`), and the language follows --lang and the locale as gettext
reads it.

A message is written once, in English, as the msgid of ``tr("... {name} ...",
name=value)``, with its Chinese in the ``.po`` under the same ``{names}``
(``docs/translations.md``); a Chinese literal in the code fails the run unless its file is
listed in :data:`DATA` with the reason it is data, not a message.
"""

from __future__ import annotations

import ast
import functools
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cmc_workflow import i18n
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import CATALOGUE, Text, locale_language, read_catalogue, tr

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cmc_workflow"
KEYWORDS = {"tr": None, "N_": None, "zh": None}
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")

DATA = {
    "cmc_workflow/calendar/statutory.py": "the solar term 清明 as the lunar-calendar library "
    "names it (data it is matched against)",
    "cmc_workflow/staff/words.py": "the words of HR's rosters (headings, scope keys, education "
    "levels, date signs): matched against the files people write, written back by the export",
    "cmc_workflow/store/tables.py": "the column comments migrations 0008 and 0010 wrote into "
    "existing databases (工号, 企业微信, 钉钉, 代班人): the tables describe that schema",
    "cmc_workflow/compliance/kinds.py": "the evidence quotes the staff register's scope keys "
    "(渠道, 内容类型, 审核环节) and the content types as the shipped files write them (data; the "
    "matrix is in English)",
    "cmc_workflow/compliance/render.py": "the matrix's column note quotes the level words of the "
    "standard (应/不得, 宜, 可) by which the requirements file is read",
    "cmc_workflow/requirements.py": "the level word 宜 (should) as the requirements file "
    "writes it (data it is matched against)",
    "cmc_workflow/store/migrations/versions/0008_staff_register.py": "column comments a "
    "migration wrote into existing databases: a migration is never edited once released",
    "cmc_workflow/store/migrations/versions/0010_task_operations.py": "the same, for the "
    "task operations migration",
}
"""Files whose Chinese literals are data, not messages: allowed, with the reason."""


@functools.cache
def _marked() -> dict[str, list[str]]:
    """Every msgid marked in the package, with the files that use it (Babel's extractor
    reads the whole package: about 2 s of CPU, once per run)."""
    found: dict[str, list[str]] = {}
    for file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), [("**.py", "python")], keywords=KEYWORDS
    ):
        found.setdefault(str(message), []).append(file)
    return found


@functools.cache
def _catalogue() -> dict[str, tuple[str, bool]]:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    return {str(m.id): (str(m.string), m.fuzzy) for m in catalogue if m.id}


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_marked_message_has_its_chinese() -> None:
    marked = _marked()
    assert len(marked) > 150  # the extractor found the package's messages
    catalogue = _catalogue()
    lacking = [
        f"{m!r} ({', '.join(sorted(set(files)))})"
        for m, files in sorted(marked.items())
        if not catalogue.get(m, ("", False))[0] or catalogue[m][1]
    ]
    assert not lacking, (
        "messages without a (non-fuzzy) Chinese translation; run pybabel extract and "
        "update (docs/translations.md) and translate them:\n" + "\n".join(lacking)
    )


def test_translations_keep_the_placeholders() -> None:
    wrong = [
        f"{msgid!r}: {sorted(_names(msgid))} -> {sorted(_names(text))}"
        for msgid, (text, _) in _catalogue().items()
        if text and not _names(text) <= _names(msgid)
    ]
    assert not wrong, "a translation names a placeholder its msgid does not give:\n" + "\n".join(
        wrong
    )


def test_template_is_up_to_date() -> None:
    template = CATALOGUE.parents[2] / "cmc_workflow.pot"
    with template.open("rb") as handle:
        ids = {str(m.id) for m in read_po(handle) if m.id}
    missing = sorted(set(_marked()) - ids)
    assert not missing, "run pybabel extract (docs/translations.md); new msgids: " + repr(
        missing[:10]
    )


def test_the_runtime_reader_agrees_with_babel() -> None:
    expected = {m: text for m, (text, fuzzy) in _catalogue().items() if text and not fuzzy}
    assert read_catalogue(CATALOGUE) == expected


def test_the_reader_skips_fuzzy_and_untranslated(tmp_path: Path) -> None:
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, fuzzy\nmsgid "a"\nmsgstr "甲"\n\n'
        'msgid "b"\nmsgstr ""\n\n'
        'msgid ""\n"c \\"q\\"\\n"\nmsgstr ""\n"丙"\n"\\t丁"\n',
        encoding="utf-8",
    )
    assert read_catalogue(po) == {'c "q"\n': "丙\t丁"}
    assert read_catalogue(tmp_path / "missing.po") == {}


def _chinese_literals(path: Path) -> int:
    """The string literals in ``path`` holding Chinese, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docs.add(id(body[0].value))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs.add(id(node.value))  # attribute docstrings
    lines = {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and CJK.search(node.value)
    }
    return len(lines)


def test_no_chinese_left_in_code_outside_the_catalogue() -> None:
    found = {
        str(p.relative_to(ROOT)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := _chinese_literals(p)) and str(p.relative_to(ROOT)) not in DATA
    }
    assert not found, (
        "Chinese written in code (file: lines); write the English as tr('...') and the "
        f"Chinese in the .po (docs/translations.md), or list a file of data in DATA: {found}"
    )


def test_locale_is_read_as_gettext_reads_it() -> None:
    assert locale_language({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert locale_language({"LANG": "en_US.UTF-8"}) == "en"
    assert locale_language({"LANGUAGE": "zh_TW:en", "LANG": "en_US.UTF-8"}) == "zh"
    assert locale_language({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert locale_language({"LC_MESSAGES": "zh_CN", "LANG": "en_US"}) == "zh"
    assert locale_language({"LANG": "C.UTF-8"}) == "both"
    assert locale_language({}) == "both"


def test_text_params_and_problems_in_each_language() -> None:
    message = tr("state {target} does not exist", target="'x'")
    assert message == Text("state 'x' does not exist", "状态 'x' 不存在")
    problem = Problem.of(
        "f.yaml", 3, 4, "E-UNKNOWN-STATE", message, tr("known states: {names}", names="a")
    )
    assert (
        problem.text("zh") == "f.yaml:3:4: E-UNKNOWN-STATE 状态 'x' 不存在（提示：已有的状态：a）"
    )
    assert problem.text("en") == (
        "f.yaml:3:4: E-UNKNOWN-STATE state 'x' does not exist (hint: known states: a)"
    )
    assert " | 状态" in problem.text("both")
    untranslated = Problem("f.yaml", 1, 1, "E-X", "only English")
    assert untranslated.text("zh") == "f.yaml:1:1: E-X only English"


def test_set_language_overrides_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    try:
        assert i18n.language() == "zh"
        i18n.set_language("en")
        assert i18n.language() == "en"
    finally:
        i18n.set_language(None)
