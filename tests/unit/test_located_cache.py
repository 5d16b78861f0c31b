"""``load_located`` parses a text once per process (the bundle is loaded by every
``Engine.open``): the same text, file and loader give the same located document, a new
text is parsed again, and each caller gets a problems list of its own."""

from __future__ import annotations

import pytest

from cmc_workflow import located
from cmc_workflow.located import forget_parsed, load_located


def test_the_same_text_is_parsed_once_and_a_changed_text_again() -> None:
    forget_parsed()
    text = "id: demo\nlabel: {zh: 演示, en: Demo}\n"
    first, _ = load_located(text, "demo.yaml")
    again, _ = load_located(text, "demo.yaml")
    assert again is first
    changed, _ = load_located(text.replace("Demo", "Demo 2"), "demo.yaml")
    assert changed is not first
    assert changed.data["label"]["en"] == "Demo 2"
    # the file's name is part of what is parsed: problems and marks name it
    elsewhere, _ = load_located(text, "other.yaml")
    assert elsewhere is not first
    assert elsewhere.file == "other.yaml"


def test_each_caller_gets_its_own_problems() -> None:
    forget_parsed()
    broken = "id: demo\nlabel： x\n"  # a full-width colon
    _, problems = load_located(broken, "demo.yaml")
    assert [p.code for p in problems] == ["E-FULLWIDTH-COLON"]
    problems.clear()
    _, again = load_located(broken, "demo.yaml")
    assert [p.code for p in again] == ["E-FULLWIDTH-COLON"]


def test_the_pure_loader_is_not_answered_from_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    if not located.C_LOADER:
        pytest.skip("PyYAML was built without libyaml")
    forget_parsed()
    text = "id: demo\nstates: {a: 1}\n"
    composed: list[str] = []
    real = located.compose_pure

    def counting(source: str, file: str) -> object:
        composed.append(file)
        return real(source, file)

    monkeypatch.setattr(located, "compose_pure", counting)
    load_located(text, "demo.yaml")
    load_located(text, "demo.yaml", pure=True)
    load_located(text, "demo.yaml", pure=True)  # kept
    assert composed == ["demo.yaml"]
