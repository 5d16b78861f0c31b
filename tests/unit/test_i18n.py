"""The message catalogue: every message marked in the code has its Chinese, the runtime
reader agrees with Babel's, no Chinese is left in code outside the catalogue (but for the
files listed below), and the language follows --lang and the locale as gettext reads it.

The rule for code written with the older convention (an English and a Chinese literal
side by side: ``Problem(..., message_zh=...)``, ``reason_zh=...``, ``(en, zh)`` tuples)
is in ``docs/translations.md``: write the English once as the msgid of
``tr("... {name} ...", name=value)``, put the Chinese in the ``.po`` with the same
``{names}``, and lower the file's count in :data:`PENDING` (the test says by how much).
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

PENDING = {
    "cmc_workflow/webhooks/subscriptions.py": 6,
    "cmc_workflow/webhooks/signing.py": 1,
    "cmc_workflow/console/texts.py": 72,
    "cmc_workflow/console/sessions.py": 2,
    "cmc_workflow/console/passwords.py": 4,
    "cmc_workflow/console/app.py": 5,
    "cmc_workflow/cli/webhook.py": 6,
    "cmc_workflow/cli/time.py": 2,
    "cmc_workflow/cli/console.py": 2,
    "cmc_workflow/api/subscriptions.py": 4,
    "cmc_workflow/api/reference.py": 1,
    "cmc_workflow/api/app.py": 31,
    "cmc_workflow/api/identity.py": 1,
    "cmc_workflow/api/problems.py": 26,
    "cmc_workflow/api/shapes.py": 9,
    "cmc_workflow/api/tokens.py": 1,
    "cmc_workflow/backup/check.py": 17,
    "cmc_workflow/backup/files.py": 10,
    "cmc_workflow/backup/postgres.py": 8,
    "cmc_workflow/backup/schedule.py": 1,
    "cmc_workflow/backup/sqlite.py": 2,
    "cmc_workflow/backup/take.py": 4,
    "cmc_workflow/bpmn/mapping.py": 21,
    "cmc_workflow/bpmn/timers.py": 19,
    "cmc_workflow/cli/audit.py": 2,
    "cmc_workflow/cli/backup.py": 10,
    "cmc_workflow/cli/batch.py": 7,
    "cmc_workflow/cli/bpmn.py": 4,
    "cmc_workflow/cli/calendar.py": 2,
    "cmc_workflow/cli/db.py": 1,
    "cmc_workflow/cli/findings.py": 1,
    "cmc_workflow/cli/migrate.py": 8,
    "cmc_workflow/cli/notify.py": 11,
    "cmc_workflow/cli/options.py": 3,
    "cmc_workflow/cli/policy.py": 4,
    "cmc_workflow/cli/report.py": 70,
    "cmc_workflow/cli/run.py": 1,
    "cmc_workflow/cli/serve.py": 2,
    "cmc_workflow/cli/staff.py": 20,
    "cmc_workflow/cli/task.py": 7,
    "cmc_workflow/cli/token.py": 6,
    "cmc_workflow/cli/versions.py": 4,
    "cmc_workflow/inputs.py": 17,
    "cmc_workflow/located/limits.py": 6,
    "cmc_workflow/located/slips.py": 8,
    "cmc_workflow/located/source.py": 16,
    "cmc_workflow/located/values.py": 2,
    "cmc_workflow/migration/diff.py": 10,
    "cmc_workflow/migration/judge.py": 13,
    "cmc_workflow/model.py": 5,
    "cmc_workflow/staff/catalogue.py": 16,
    "cmc_workflow/staff/contacts.py": 7,
    "cmc_workflow/staff/identity.py": 4,
    "cmc_workflow/staff/register.py": 22,
    "cmc_workflow/staff/roster.py": 50,
    "cmc_workflow/store/audit.py": 1,
    "cmc_workflow/store/database.py": 2,
    "cmc_workflow/store/repository.py": 1,
    "cmc_workflow/store/tables.py": 4,
    "cmc_workflow/store/verification.py": 35,
}
"""Files still written with the older convention (English and Chinese literals side by
side), with their count of Chinese literals: each may only go down (see the module doc)."""


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
    grown = {f: (n, PENDING.get(f, 0)) for f, n in found.items() if n > PENDING.get(f, 0)}
    assert not grown, (
        "Chinese written in code (lines: now, allowed); write the English as tr('...') and "
        f"the Chinese in the .po (docs/translations.md): {grown}"
    )
    shrunk = {f: (found.get(f, 0), n) for f, n in PENDING.items() if found.get(f, 0) < n}
    assert not shrunk, f"fewer Chinese lines than PENDING allows: lower PENDING to {shrunk}"


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
