"""Stage 1: YAML text -> plain values with the place of every key and value."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmc_workflow import located
from cmc_workflow.located import C_LOADER, Mark, load_located, read_source

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(
    path
    for folder in ("workflows", "policies", "calendars", "tests/broken")
    for path in (ROOT / folder).rglob("*")
    if path.suffix in (".yaml", ".yml")
)


@pytest.fixture(autouse=True, params=["libyaml", "pure"])
def composer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with both composers: they must read alike."""
    if request.param == "libyaml" and not C_LOADER:
        pytest.skip("PyYAML was built without libyaml")
    if request.param == "pure":
        monkeypatch.setattr(located, "C_LOADER", False)
    return str(request.param)


def load(text: str) -> tuple[object, list[tuple[str, int, int]]]:
    doc, problems = load_located(text, "t.yaml")
    return doc.data, [(p.code, p.line, p.column) for p in problems]


def test_values_and_marks_of_a_nested_document() -> None:
    doc, problems = load_located("a:\n  b: [1, two]\n  c: {d: true}\n", "t.yaml")
    assert problems == []
    assert doc.data == {"a": {"b": [1, "two"], "c": {"d": True}}}
    assert doc.values[("a", "b")] == Mark(2, 6)
    assert doc.values[("a", "b", 1)] == Mark(2, 10)
    assert doc.keys[("a", "c")] == Mark(3, 3)
    assert doc.values[("a", "c", "d")] == Mark(3, 10)


def test_mark_falls_back_to_the_nearest_ancestor() -> None:
    doc, _ = load_located("a:\n  b: 1\n", "t.yaml")
    assert doc.mark(("a", "b", "missing", 3)) == Mark(2, 6)
    assert doc.mark(("a", "b"), key=True) == Mark(2, 3)
    assert doc.mark(("nowhere",)) == doc.values[()]


def test_problem_is_placed_at_the_path() -> None:
    doc, _ = load_located("a:\n  b: 1\n", "t.yaml")
    problem = doc.problem(("a", "b"), "E-X", "message", "hint", key=True)
    assert (problem.file, problem.line, problem.column) == ("t.yaml", 2, 3)
    assert str(problem) == "t.yaml:2:3: E-X message (hint: hint)"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: true", True),
        ("v: False", False),
        ("v: ~", None),
        ("v: null", None),
        ("v: 12", 12),
        ("v: 1_000", 1000),
        ("v: 0x1F", 31),
        ("v: 0", 0),
        ("v: -7", -7),
        ("v: 2.5", 2.5),
        ("v: 2025-09-26", dt.date(2025, 9, 26)),
        ("v: 2025-09-26 15:00:00", dt.datetime(2025, 9, 26, 15, 0)),
        ("v: 'on'", "on"),
        ('v: "010"', "010"),
        ("v: '1:30'", "1:30"),
        ("v: plain words", "plain words"),
        ("v: |\n  two\n  lines\n", "two\nlines\n"),
    ],
)
def test_scalars_keep_their_yaml_core_meaning(text: str, value: object) -> None:
    data, problems = load(text)
    assert problems == []
    assert data == {"v": value}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("v: on", "E-YAML-BOOL"),
        ("v: off", "E-YAML-BOOL"),
        ("v: yes", "E-YAML-BOOL"),
        ("v: No", "E-YAML-BOOL"),
        ("v: 010", "E-YAML-OCTAL"),
        ("v: -017", "E-YAML-OCTAL"),
        ("v: 1:30", "E-YAML-SEXAGESIMAL"),
        ("v: 190:20:30.15", "E-YAML-SEXAGESIMAL"),
    ],
)
def test_yaml_11_ambiguous_scalars_stay_text_and_are_remembered(text: str, code: str) -> None:
    # one policy for every file kind: the YAML 1.2 reading (text); a model that wants a
    # boolean or a number reports the trap's code at this place (see test_broken_definitions)
    doc, problems = load_located(text, "t.yaml")
    assert problems == []
    assert doc.data == {"v": text.removeprefix("v: ")}
    assert doc.ambiguous == {("v",): code}
    assert doc.values[("v",)] == Mark(1, 4)


def test_an_ambiguous_key_stays_text_and_is_remembered() -> None:
    doc, problems = load_located("on: x\nTrue: y\n'off': z\n", "t.yaml")
    assert problems == []
    assert doc.data == {"on": "x", "True": "y", "off": "z"}
    assert doc.ambiguous_keys == {("on",): "E-YAML-BOOL"}
    assert doc.ambiguous == {}


@pytest.mark.parametrize(
    ("text", "code", "column"),
    [
        ("v: !!python/object:os.system x", "E-YAML-TAG", 4),
        ("v: !!binary aGk=", "E-YAML-TAG", 4),
        ("v: !local x", "E-YAML-TAG", 4),
        ("a: &x {b: 1}\nc: {<<: *x}", "E-YAML-MERGE", 5),
        ("? [a]\n: 1", "E-YAML-KEY", 3),
    ],
)
def test_unsafe_forms_are_refused(text: str, code: str, column: int) -> None:
    _, problems = load(text)
    assert [p[0] for p in problems] == [code]
    assert problems[0][2] == column


def test_the_trap_value_is_kept_as_text_so_later_stages_do_not_see_a_number() -> None:
    data, problems = load("a: 010\nb: 1:30\nc: on\n")
    assert data == {"a": "010", "b": "1:30", "c": "on"}
    assert problems == []


def test_duplicate_keys_are_refused_at_the_second_occurrence() -> None:
    data, problems = load("a: 1\nb: 2\na: 3\n")
    assert problems == [("E-DUPLICATE-KEY", 3, 1)]
    assert data == {"a": 1, "b": 2}


def test_every_problem_of_a_document_is_reported() -> None:
    _, problems = load("a: !!binary aGk=\nb: {<<: {}}\na: 1\n")
    assert [p[0] for p in problems] == ["E-YAML-TAG", "E-YAML-MERGE", "E-DUPLICATE-KEY"]


def test_syntax_error_is_placed_and_explained() -> None:
    doc, problems = load_located("a: {b: 1\nc: 2\n", "t.yaml")
    assert [(p.code, p.line) for p in problems] == [("E-YAML-SYNTAX", 2)]
    assert "started at line 1" in problems[0].message
    assert doc.data is None


def test_a_tab_indent_gets_a_hint_about_tabs() -> None:
    _, problems = load_located("a:\n\tb: 1\n", "t.yaml")
    assert problems[0].code == "E-YAML-SYNTAX"
    assert "tab" in problems[0].hint


def test_control_characters_are_placed() -> None:
    _, problems = load("a: 1\nb: x\x07\n")
    assert problems == [("E-YAML-SYNTAX", 2, 5)]


def test_several_documents_are_refused() -> None:
    _, problems = load("a: 1\n---\nb: 2\n")
    assert problems == [("E-YAML-MULTIDOC", 3, 1)]


def test_empty_text_has_no_data_and_no_problem() -> None:
    assert load("") == (None, [])
    assert load("# nothing\n") == (None, [])


def test_aliases_repeat_values_and_marks_point_at_the_anchor() -> None:
    doc, problems = load_located("a: &x {b: 1}\nc: *x\n", "t.yaml")
    assert problems == []
    assert doc.data == {"a": {"b": 1}, "c": {"b": 1}}
    assert doc.values[("c", "b")] == Mark(1, 11)


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: {c: *x}}\n"])
def test_recursive_aliases_are_refused(text: str) -> None:
    _, problems = load(text)
    assert [p[0] for p in problems] == ["E-YAML-ALIAS"]


def test_an_alias_bomb_is_refused_quickly() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    _, problems = load(text)
    assert [p[0] for p in problems] == ["E-YAML-ALIAS"]


@pytest.mark.parametrize(
    ("text", "offset", "column"),
    [
        ("g: data.x >=\n", 5, 9),
        ("g: 'data.x >='\n", 5, 10),
        ('g: "data.x >="\n', 5, 10),
    ],
)
def test_column_in_points_inside_one_line_scalars(text: str, offset: int, column: int) -> None:
    doc, _ = load_located(text, "t.yaml")
    assert doc.column_in(("g",), offset) == Mark(1, column)


@pytest.mark.parametrize(
    "text", ['g: "a\\tb"\n', "g: 'it''s'\n", "g: >\n  folded\n  text\n", "g: plain\n  more\n"]
)
def test_column_in_falls_back_to_the_start_when_text_is_not_verbatim(text: str) -> None:
    doc, _ = load_located(text, "t.yaml")
    assert doc.column_in(("g",), 3) == doc.mark(("g",))


def test_the_corpus_reads_alike_with_both_composers(composer: str) -> None:
    if composer == "pure":
        pytest.skip("compared once, from the libyaml run")
    assert len(CORPUS) > 80
    for path in CORPUS:
        text, problems = read_source(path)
        assert text is not None, problems
        fast, fast_problems = load_located(text, str(path))
        pure, pure_problems = load_located(text, str(path), pure=True)
        assert fast_problems == pure_problems, path
        for part in ("data", "values", "keys", "inline", "ambiguous", "ambiguous_keys"):
            assert getattr(fast, part) == getattr(pure, part), (path, part)
        assert fast.aliases == pure.aliases, path


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2, 3]\nb: {c: d}\n",
        "a: &x {b: 1}\nc: *x\nd: [*x, *x]\n",
        "a: {b: 1\nc: 2\n",
        "a:\n\tb: 1\n",
        "a: 1\nb: x\x07\n",
        "a: 1\n---\nb: 2\n",
        "a: 'it''s'\nb: \"\\t\"\nc: >\n  folded\n  text\nd: 标题 and 中文\n",
        "a: " + "[" * 1200 + "]" * 1200 + "\n",
        "\n".join(f"{'  ' * i}k{i}:" for i in range(1100)) + " x\n",
    ],
)
def test_texts_read_alike_with_both_composers(text: str, composer: str) -> None:
    if composer == "pure":
        pytest.skip("compared once, from the libyaml run")
    fast, fast_problems = load_located(text, "t.yaml")
    pure, pure_problems = load_located(text, "t.yaml", pure=True)
    assert fast_problems == pure_problems
    assert (fast.data, fast.values, fast.keys, fast.inline) == (
        pure.data,
        pure.values,
        pure.keys,
        pure.inline,
    )


def test_an_alias_bomb_costs_no_more_than_its_text() -> None:
    # 9 levels of 10 aliases each: 10**9 values once expanded
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
    )
    started = time.perf_counter()
    _, problems = load_located(text, "bomb.yaml")
    assert [p.code for p in problems] == ["E-YAML-ALIAS"]
    assert time.perf_counter() - started < 30  # about 0.1 s; only an expansion reaches this


def test_importing_the_definition_package_loads_no_engine_dependency(composer: str) -> None:
    if composer == "pure":
        pytest.skip("one subprocess is enough")
    code = (
        "import sys, cmc_workflow.definition, cmc_workflow.located, cmc_workflow.problems\n"
        "heavy = ('sqlalchemy', 'alembic', 'apscheduler', 'transitions', 'click')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(
    ("module", "name", "target"),
    [
        ("cmc_workflow.sources", "read_source", "read_source"),
        ("cmc_workflow.sources", "MAX_FILE_BYTES", "MAX_FILE_BYTES"),
        ("cmc_workflow.definition.located", "load_located", "load_located"),
        ("cmc_workflow.definition.located", "MAX_NODES", "MAX_EXPANDED"),
        ("cmc_workflow.calendar.located", "LocatedDocument", "Located"),
    ],
)
def test_the_old_readers_are_deprecated_names_of_the_one_reader(
    module: str, name: str, target: str, composer: str
) -> None:
    if composer == "pure":
        pytest.skip("nothing to compose")
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"moved to cmc_workflow.located.{target}"):
        value = getattr(old, name)
    assert value is getattr(located, target)
    with pytest.raises(AttributeError):
        getattr(old, "_Builder")  # noqa: B009  # a private name is not re-exported


_NESTED = "a: &a " + "[" * 30 + "1" + "]" * 30 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30
REFUSALS = {
    "E-YAML-TAG": "v: !!binary aGk=\n",
    "E-YAML-MERGE": "a: &x {b: 1}\nc: {<<: *x}\n",
    "E-YAML-KEY": "? [a]\n: 1\n",
    "E-DUPLICATE-KEY": "a: 1\na: 2\n",
    "E-YAML-ALIAS": "a: &x [*x]\n",
    "E-YAML-MULTIDOC": "a: 1\n---\nb: 2\n",
    "E-YAML-DEPTH": "a: " + "[" * 70 + "]" * 70 + "\n",
    "E-YAML-DEPTH through aliases": _NESTED + "\nc: " + "[" * 30 + "*b" + "]" * 30 + "\n",
    "E-YAML-NODES": "a: [" + "0, " * 20_001 + "]\n",
    "E-YAML-ANCHORS": "".join(f"a{i}: &a{i} 1\n" for i in range(1_001)),
    "E-FILE-SIZE": "a: " + "x" * located.MAX_FILE_BYTES + "\n",
    "E-FULLWIDTH-COLON": "id\uff1a x\n",
    "E-FULLWIDTH-COMMA": "roles: [a\uff0c b]\n",
    "E-FULLWIDTH-SPACE": "a:\u30001\n",
    "W-FULLWIDTH-QUOTE": "label: \u201cquoted\u201d\n",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_every_refusal_of_the_reader_says_it_in_chinese_too(case: str) -> None:
    """Each problem the reader gives, message and hint, in Chinese from the catalogue
    (an administrator in a Chinese locale reads only that)."""
    doc, problems = load_located(REFUSALS[case], "t.yaml")
    found = [*problems, *doc.warnings]
    assert [p.code for p in found] == [case.split()[0]]
    (problem,) = found
    for chinese in (problem.message_zh, problem.hint_zh):
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), problem
    assert "bytes" not in problem.text("zh")


def test_a_file_refused_before_it_is_parsed_says_why_in_chinese_too(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("label: 编辑\n".encode("gbk"))
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * located.MAX_FILE_BYTES, encoding="utf-8")
    expected = {
        folder: ("E-FILE-KIND", "目录的名字像 YAML 文件"),
        gbk: ("E-READ", "看起来是 GBK 编码"),
        big: ("E-FILE-SIZE", f"文件过大（{big.stat().st_size:,} 字节）"),
        tmp_path / "missing.yaml": ("E-READ", "无法读取文件"),
    }
    for path, (code, chinese) in expected.items():
        text, problems = read_source(path)
        assert text is None
        assert [(p.code, chinese in p.message_zh) for p in problems] == [(code, True)], problems
        assert problems[0].hint_zh
