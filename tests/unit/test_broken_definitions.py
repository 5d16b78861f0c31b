"""The corpus of broken definitions: every code and YAML trap, at its exact place.

Each file under ``tests/broken/`` says what it must produce in comment lines::

    # expect: E-UNREACHABLE-STATE 14:3      (code, line and column; one line per problem)
    # expect-hint: did you mean 'label'?    (a text some problem's hint must contain)

A folder is one case loaded together (``duplicate_workflow/``: the same id in two files);
its files carry their own expectations. The problems found must be exactly the expected
ones: no fewer (each trap is caught where it is) and no more (no noise around it).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from cmc_workflow.definition import load_paths, load_workflow_text
from cmc_workflow.errors import DefinitionError, Problem

BROKEN = Path(__file__).resolve().parents[1] / "broken"
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "workflow-language.md"
EXPECT = re.compile(r"^# expect: (E-[A-Z0-9-]+) (\d+):(\d+)\s*$", re.MULTILINE)
EXPECT_HINT = re.compile(r"^# expect-hint: (.+?)\s*$", re.MULTILINE)

Place = tuple[str, str, int, int]  # file name, code, line, column
CASES = sorted(BROKEN.iterdir())


def _files(case: Path) -> list[Path]:
    return sorted(case.rglob("*.yaml")) if case.is_dir() else [case]


def _expected(case: Path) -> list[Place]:
    found: list[Place] = []
    for file in _files(case):
        for code, line, column in EXPECT.findall(file.read_text(encoding="utf-8")):
            found.append((file.name, code, int(line), int(column)))
    return found


def _places(problems: tuple[Problem, ...] | list[Problem]) -> list[Place]:
    return [(Path(p.file).name, p.code, p.line, p.column) for p in problems]


def test_the_corpus_is_large_and_every_case_expects_something() -> None:
    assert len(CASES) >= 30
    for case in CASES:
        assert _expected(case), f"{case.name} has no '# expect: CODE LINE:COL' line"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_problem_is_reported_with_its_code_and_place(case: Path) -> None:
    loaded = load_paths([case])

    assert Counter(_places(loaded.problems)) == Counter(_expected(case))
    for problem in loaded.problems:
        assert problem.message, problem
        assert problem.file.endswith(".yaml")
    for file in _files(case):
        for hint in EXPECT_HINT.findall(file.read_text(encoding="utf-8")):
            assert any(hint in p.hint for p in loaded.problems), (hint, loaded.problems)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.is_file()], ids=[c.name for c in CASES if c.is_file()]
)
def test_load_workflow_text_reports_the_same_problems(case: Path) -> None:
    text = case.read_text(encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_workflow_text(text, str(case))
    assert Counter(_places(caught.value.problems)) == Counter(_expected(case))


def test_all_problems_of_a_file_are_reported_together() -> None:
    loaded = load_paths([BROKEN / "many_problems.yaml"])
    assert len({p.code for p in loaded.problems}) >= 6
    shapes = load_paths([BROKEN / "many_model_problems.yaml"])
    assert len({p.code for p in shapes.problems}) >= 5


def test_problems_come_in_file_order_in_the_error() -> None:
    text = (BROKEN / "many_problems.yaml").read_text(encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_workflow_text(text, "many_problems.yaml")
    lines = [p.line for p in caught.value.problems]
    assert lines == sorted(lines)


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    for source in (ROOT / "cmc_workflow" / "definition").glob("*.py"):
        codes |= set(re.findall(r'"(E-[A-Z0-9-]+)"', source.read_text(encoding="utf-8")))
    return codes


def test_every_code_the_language_emits_has_a_broken_case() -> None:
    covered = {code for case in CASES for _, code, _, _ in _expected(case)}
    # E-READ needs an unreadable file, E-INVALID is the catch-all no known input reaches;
    # both are unit-tested in test_loader_fuzz.py / test_checks.py instead
    missing = _codes_in_source() - covered - {"E-READ", "E-INVALID"}
    assert not missing, f"add a case under tests/broken/ for {sorted(missing)}"


def test_every_code_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    undocumented = sorted(c for c in _codes_in_source() if f"### {c}" not in docs)
    assert not undocumented, f"document {undocumented} in docs/workflow-language.md"


CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")


def test_every_problem_of_the_corpus_reads_in_chinese() -> None:
    """Administrators read Chinese first: every problem the corpus raises (the corpus
    covers every code the language emits) has a Chinese message, and a Chinese hint where
    it has a hint."""
    lacking = [
        f"{case.name}: {p.code} {p.message!r} / {p.message_zh!r} / hint {p.hint_zh!r}"
        for case in CASES
        for p in load_paths([case]).problems
        if not CJK.search(p.message_zh or "") or (p.hint and not CJK.search(p.hint_zh or ""))
    ]
    assert not lacking, "\n".join(lacking)


def test_a_missing_top_level_key_is_asked_for_in_chinese_without_english_words() -> None:
    """The hint of a key missing at the top of a file names the place in Chinese too
    (it read "请在 the file 中加上“start:”")."""
    (problem,) = load_paths([BROKEN / "missing_key_top.yaml"]).problems
    assert problem.code == "E-MISSING-KEY"
    assert problem.hint_zh == "请在 文件顶层 中加上“start:”"
    assert problem.hint == "add 'start:' to the file"
