"""Mutated YAML never escapes the language's own error, and every problem has a place.

Hypothesis takes ``workflows/publishing.yaml`` and breaks it the way hands and editors do:
lines deleted, duplicated, swapped, re-indented, truncated; YAML 1.1 traps (``on``,
``010``, ``1:30``), anchors and aliases, tags, merge keys, tabs and stray characters
inserted. Whatever comes out, :func:`load_workflow_text` either returns a workflow (which
must then compile) or raises :class:`DefinitionError` whose problems are all placed
inside the file and carry an ``E-`` code.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, example, given, settings

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition import load_paths, load_workflow_text
from cmc_workflow.errors import DefinitionError

SOURCE = (Path(__file__).resolve().parents[2] / "workflows" / "publishing.yaml").read_text(
    encoding="utf-8"
)
LINES = SOURCE.splitlines()

TOKENS = [
    "on",
    "off",
    "no",
    "yes",
    "Yes",
    "010",
    "0o17",
    "1:30",
    "190:20:30",
    "&a ",
    "*a",
    "&a [*a]",
    "!!python/object:os.system ",
    "!!python/object/apply:os.system ['ls'] ",
    "!!binary ",
    "!custom ",
    "<<: *a",
    "<<: {a: 1}",
    "\t",
    ": ",
    "- ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    '"',
    "'",
    "#",
    "|",
    ">",
    "---",
    "...",
    "%YAML 1.1",
    "~",
    "null",
    ".inf",
    "2025-09-26",
    "2025-13-45",
    "1e3",
    "0x1F",
    "9" * 5000,
    "\x00",
    "\x07",
    "\ufeff",
    "\u3000",
    "训",
    "data.x ==",
    "__import__('os')",
    "state",
    "trigger",
]

Mutation = tuple[str, int, int, str]

mutations = st.tuples(
    st.sampled_from(
        ["delete", "duplicate", "swap", "indent", "insert", "replace_value", "new_line"]
    ),
    st.integers(min_value=0, max_value=len(LINES) - 1),
    st.integers(min_value=-4, max_value=80),
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)),
)


def mutate(lines: list[str], mutation: Mutation) -> list[str]:
    """Apply one mutation; indexes wrap around so every draw means something."""
    kind, index, amount, token = mutation
    if not lines:
        return [token]
    out = list(lines)
    i = index % len(out)
    if kind == "delete":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap":
        j = (i + amount) % len(out)
        out[i], out[j] = out[j], out[i]
    elif kind == "indent":
        line = out[i]
        stripped = line.lstrip(" ")
        width = max(0, len(line) - len(stripped) + max(-4, min(amount, 4)))
        out[i] = " " * width + stripped
    elif kind == "insert":
        col = max(0, amount) % (len(out[i]) + 1)
        out[i] = out[i][:col] + token + out[i][col:]
    elif kind == "replace_value":
        key, sep, _ = out[i].partition(": ")
        out[i] = f"{key}{sep or ': '}{token}"
    else:  # new_line
        indent = " " * (max(0, amount) % 10)
        out.insert(i, f"{indent}{token}")
    return out


def assert_well_formed(exc: DefinitionError, text: str) -> None:
    """Every problem has an ``E-`` code, a short message and a place inside ``text``."""
    assert exc.problems, "a DefinitionError without problems"
    last_line = text.count("\n") + 2
    for problem in exc.problems:
        assert problem.code.startswith("E-"), problem
        assert problem.line >= 1, problem
        assert problem.column >= 1, problem
        assert problem.line <= last_line, problem
        assert problem.file == "mutated.yaml"
        assert len(problem.message) < 1000, problem


def check(text: str) -> None:
    """The property: only DefinitionError escapes, and problems are well formed."""
    try:
        loaded = load_workflow_text(text, "mutated.yaml")
    except DefinitionError as exc:
        assert_well_formed(exc, text)
        return
    CompiledWorkflow(loaded)  # whatever passes the checks must compile


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=4), st.integers(min_value=0, max_value=100))
@example([("insert", 2, 4, "&a [*a]")], 100)
@example([("replace_value", 45, 0, "on")], 100)
@example([("insert", 0, 0, "\x00")], 100)
def test_mutated_publishing_yaml_fails_only_with_definition_error(
    edits: list[Mutation], keep_percent: int
) -> None:
    lines = LINES
    for edit in edits:
        lines = mutate(lines, edit)
    text = "\n".join(lines) + "\n"
    if keep_percent < 100:  # sometimes cut the file short, mid-line
        text = text[: len(text) * keep_percent // 100]
    check(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_only_with_definition_error(text: str) -> None:
    check(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n# only a comment\n",
        "a: &x [*x]\n",
        "a: &x {b: *x}\n",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
            for i in range(8)
        ),
        "- 1\n- 2\n",
        "just text\n",
        "id: [unclosed\n",
        "\ufeffid: x\n",
        "id: x\r\nlabel: {zh: a, en: b}\r\n",
    ],
    ids=[
        "empty",
        "comment",
        "self-alias-list",
        "self-alias-map",
        "alias-bomb",
        "list",
        "scalar",
        "unclosed",
        "bom",
        "crlf",
    ],
)
def test_hostile_documents_are_refused_with_places(text: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_workflow_text(text, "mutated.yaml")
    assert_well_formed(caught.value, text)


def test_an_unreadable_file_is_reported_as_e_read(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("id: caf\xe9\n".encode("latin-1"))
    loaded = load_paths([bad])
    assert [(p.code, p.line, p.column) for p in loaded.problems] == [("E-READ", 1, 1)]
