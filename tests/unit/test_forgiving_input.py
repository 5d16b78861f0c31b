"""Forgiving input (issue 17): Chinese-keyboard slips named at their character with the
fix, files saved in another encoding named, hints that would fix the mistake, and the
YAML parser's wording in plain Chinese and English.

Each case starts from the bundled publishing workflow with one realistic mistake, as an
administrator typing on a Chinese keyboard would make it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmc_workflow import located
from cmc_workflow.errors import Problem
from cmc_workflow.language import iter_yaml_files, load_paths
from cmc_workflow.located import C_LOADER, load_located
from cmc_workflow.located.slips import find_slips
from cmc_workflow.located.source import guess_encoding

ROOT = Path(__file__).resolve().parents[2]
PUBLISHING = (ROOT / "workflows" / "publishing.yaml").read_text(encoding="utf-8")
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


@pytest.fixture(autouse=True, params=["libyaml", "pure"])
def composer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both composers must explain a slip alike."""
    if request.param == "libyaml" and not C_LOADER:
        pytest.skip("PyYAML was built without libyaml")
    if request.param == "pure":
        monkeypatch.setattr(located, "C_LOADER", False)
    return str(request.param)


def _one(text: str, tmp_path: Path, name: str = "wf.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_paths([path]).problems


def _with(old: str, new: str, text: str = MINI) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _line_col(text: str, needle: str) -> tuple[int, int]:
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# -- full-width punctuation ------------------------------------------------------------------
def test_a_full_width_colon_after_a_key_is_named_with_the_fix(tmp_path: Path) -> None:
    text = _with("    type: userTask", "    type： userTask")
    problems = _one(text, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [
        ("E-FULLWIDTH-COLON", *_line_col(text, "："))
    ]
    assert "把全角冒号“：”改成半角冒号“:”" in problems[0].hint_zh
    assert "half-width colon ':'" in problems[0].hint
    assert "'type'" in problems[0].message
    assert "“type”" in problems[0].message_zh


def test_a_full_width_colon_of_a_top_level_key_replaces_the_parser_message(
    tmp_path: Path,
) -> None:
    text = _with("id: mini", "id： mini")  # YAML alone: "could not find expected ':'"
    problems = _one(text, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [("E-FULLWIDTH-COLON", 1, 3)]


def test_a_full_width_colon_inside_braces_is_named(tmp_path: Path) -> None:
    text = _with("{zh: 草稿, en: Draft}", "{zh： 草稿, en: Draft}")
    problems = _one(text, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [
        ("E-FULLWIDTH-COLON", *_line_col(text, "："))
    ]


def test_a_full_width_comma_between_entries_is_named(tmp_path: Path) -> None:
    text = _with(
        "implements: [PUB-1, PUB-2, PUB-3", "implements: [PUB-1， PUB-2, PUB-3", PUBLISHING
    )
    problems = _one(text, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [
        ("E-FULLWIDTH-COMMA", *_line_col(text, "，"))
    ]
    assert "把全角逗号“，”改成半角逗号“,”" in problems[0].hint_zh


def test_a_full_width_space_in_the_indentation_is_named(tmp_path: Path) -> None:
    text = _with("  editor: {zh: 编辑", "\u3000editor: {zh: 编辑")
    problems = _one(text, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [("E-FULLWIDTH-SPACE", 4, 1)]
    assert "全角空格" in problems[0].message_zh
    assert "U+3000" in problems[0].message


def test_a_value_in_full_width_quotes_loads_with_a_warning(tmp_path: Path) -> None:
    text = _with("{zh: 草稿, en: Draft}", "{zh: “草稿”, en: Draft}")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_paths([path])
    assert loaded.problems == []
    assert loaded.workflows["mini"].definition.states["draft"].label.zh == "“草稿”"
    assert [(w.code, w.severity) for w in loaded.warnings] == [("W-FULLWIDTH-QUOTE", "warning")]
    assert (loaded.warnings[0].line, loaded.warnings[0].column) == _line_col(text, "“")


def test_full_width_quotes_that_break_the_line_become_the_error(tmp_path: Path) -> None:
    text = _with("    label: {zh: 草稿, en: Draft}", "    description: “注意: 先写提纲”")
    problems = _one(text, tmp_path)
    assert [(p.code, p.line) for p in problems] == [("E-FULLWIDTH-QUOTE", 9)]


def test_chinese_punctuation_inside_text_is_left_alone() -> None:
    text = (
        "description: >\n  说明：编辑，审核　通过。\n  key： 这一行在块文字里\n"
        "label: {zh: 编辑，审核, en: Edit}\n"
        "note: '引号内 a： b，c'\n"
        "# 注释： 里的 a， b\n"
        "title: 标题：副标题\n"
    )
    assert find_slips(text, "t.yaml") == []
    doc, problems = load_located(text, "t.yaml")
    assert problems == []
    assert doc.warnings == []


def test_a_slip_right_after_a_block_of_text_is_named() -> None:
    """Lines without a full-width mark nor ``|``/``>`` are passed over unread; a block of
    text still hides its slips, and the line that ends it is read."""
    text = (
        "id: mini\n"
        "notes: |\n"
        "  key： 块文字里\n"
        "  [a， b]\n"
        "owner： wang\n"
        "plain: ascii\n"
        "roles: [a， b]\n"
    )
    found = [(p.code, p.line, p.column) for p in find_slips(text, "t.yaml")]
    assert found == [("E-FULLWIDTH-COLON", 5, 6), ("E-FULLWIDTH-COMMA", 7, 10)]


def test_no_bundled_file_has_a_slip() -> None:
    files = iter_yaml_files([ROOT / d for d in ("workflows", "policies", "calendars")])
    found = [str(p) for f in files for p in find_slips(f.read_text(encoding="utf-8"), str(f))]
    assert found == []


# -- encodings -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "named"),
    [("gbk", "GBK"), ("gb18030", "GBK"), ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16")],
)
def test_a_file_in_another_encoding_says_save_as_utf8_and_names_it(
    tmp_path: Path, encoding: str, named: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(PUBLISHING.encode(encoding))
    (problem,) = load_paths([path]).problems
    assert problem.code == "E-READ"
    assert f"looks like {named}" in problem.message
    assert "save the file as UTF-8" in problem.hint
    assert "UTF-8 编码保存" in problem.hint_zh
    assert named in problem.message_zh


def test_guess_encoding_says_nothing_it_cannot_back() -> None:
    assert guess_encoding("caf\xe9 au lait".encode("latin-1")) is None
    assert guess_encoding("繁體中文內容".encode("big5")) in {"Big5", "GBK"}


# -- hints that fix ----------------------------------------------------------------------------
def test_a_label_written_as_text_is_shown_as_the_mapping_it_needs(tmp_path: Path) -> None:
    text = _with("    label: {zh: 草稿, en: Draft}", "    label: 制作中")
    (problem,) = _one(text, tmp_path)
    assert problem.code == "E-TYPE"
    assert "label: {zh: 制作中, en: ...}" in problem.hint
    assert "quote" not in problem.hint
    assert "label: {zh: 制作中, en: ...}" in problem.hint_zh


def test_a_deadline_written_as_text_is_shown_with_within(tmp_path: Path) -> None:
    text = _with(
        "    label: {zh: 草稿, en: Draft}\n",
        "    label: {zh: 草稿, en: Draft}\n    deadline: 2 working days\n",
    )
    (problem,) = _one(text, tmp_path)
    assert problem.code == "E-TYPE"
    assert "deadline: {within: 2 working days}" in problem.hint
    assert "quote" not in problem.hint


def test_a_step_at_a_bare_number_is_shown_as_a_percentage(tmp_path: Path) -> None:
    text = _with("{at: 100%, action: escalate", "{at: 50, action: escalate", PUBLISHING)
    problems = _one(text, tmp_path)
    assert [p.code for p in problems] == ["E-TYPE"]
    assert "'50%'" in problems[0].hint
    assert "'50%'" in problems[0].hint_zh


# -- the parser's wording ----------------------------------------------------------------------
def test_a_misaligned_key_is_explained_without_parser_jargon(tmp_path: Path) -> None:
    text = _with("    label: {zh: 草稿", "   label: {zh: 草稿")
    (problem,) = _one(text, tmp_path)
    assert problem.code == "E-YAML-SYNTAX"
    assert (problem.line, problem.column) == (9, 4)
    for jargon in ("<block end>", "<block mapping start>", "expected"):
        assert jargon not in problem.message
    assert "line 9 is indented by 3 spaces" in problem.message
    assert "column 3 or column 5" in problem.hint
    assert "第 9 行缩进了 3 个空格" in problem.message_zh


def test_a_line_indented_too_far_is_explained(tmp_path: Path) -> None:
    text = _with("    label: {zh: 草稿", "      label: {zh: 草稿")
    (problem,) = _one(text, tmp_path)
    assert "mapping values" not in problem.message
    assert "line 9 is indented further than line 8" in problem.message
    assert "第 9 行比第 8 行缩进得更深" in problem.message_zh


def test_a_key_without_its_colon_is_named_with_the_line_to_fix(tmp_path: Path) -> None:
    text = _with("    type: userTask", "    type userTask")
    (problem,) = _one(text, tmp_path)
    assert "mapping values" not in problem.message
    assert "line 8 has no colon" in problem.message
    assert "'type: userTask'" in problem.hint
    assert "第 8 行的键后面缺少冒号" in problem.message_zh


def test_a_colon_in_a_value_says_to_quote_it(tmp_path: Path) -> None:
    text = _with(
        "    label: {zh: 草稿, en: Draft}\n",
        "    label: {zh: 草稿, en: Draft}\n    description: note: quoted\n",
    )
    (problem,) = _one(text, tmp_path)
    assert "quotes" in problem.hint
    assert "引号" in problem.hint_zh


def test_every_syntax_problem_of_the_broken_cases_has_chinese() -> None:
    broken = sorted((ROOT / "tests" / "broken").glob("yaml_syntax*.yaml"))
    problems = [p for f in broken for p in load_paths([f]).problems]
    assert problems
    assert all(p.message_zh and p.hint_zh for p in problems)


def test_a_full_width_comma_in_braces_is_a_warning_or_the_error_that_breaks_it(
    tmp_path: Path,
) -> None:
    text = _with("{zh: 草稿, en: Draft}", "{zh: 草稿, en: Draft，Sketch}")
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_paths([path])
    assert loaded.problems == []
    assert [w.code for w in loaded.warnings] == ["W-FULLWIDTH-COMMA"]
    broken = _with("{zh: 草稿, en: Draft}", "{zh: 草稿， en: Draft}")
    problems = _one(broken, tmp_path)
    assert [(p.code, p.line, p.column) for p in problems] == [
        ("E-FULLWIDTH-COMMA", *_line_col(broken, "，"))
    ]
