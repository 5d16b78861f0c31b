"""The public API is pinned: adding or removing a name here is a deliberate, reviewed change.

Everything not exported by ``cmc_workflow`` (and the exception tree in
``cmc_workflow.errors``) may change between releases.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import cmc_workflow
from cmc_workflow import Actor, errors
from tests.helpers import PUBLISHING, ROOT

PUBLIC = [
    "Actor",
    "Allowed",
    "CmcWorkflowError",
    "ConflictError",
    "DefinitionError",
    "Engine",
    "EngineError",
    "Extension",
    "HandlerContext",
    "HandlerRegistry",
    "HistoryEntry",
    "Item",
    "PolicyDenied",
    "Problem",
    "RunReport",
    "VersionInfo",
]


def test_all_is_pinned_and_sorted() -> None:
    assert cmc_workflow.__all__ == PUBLIC
    assert sorted(PUBLIC) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_importable_and_documented(name: str) -> None:
    module = importlib.import_module("cmc_workflow")
    value = getattr(module, name)
    doc = inspect.getdoc(value)
    assert doc, f"cmc_workflow.{name} has no docstring"
    assert value.__module__.startswith("cmc_workflow.")


def test_nothing_else_public_leaks_from_the_package() -> None:
    # dir(), not vars(): the names are imported lazily, on first use
    exported = {
        name
        for name in dir(cmc_workflow)
        if not name.startswith("_") and not inspect.ismodule(getattr(cmc_workflow, name))
    }
    assert exported == set(PUBLIC)


def test_every_exception_derives_from_the_one_root() -> None:
    raised = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
    ]
    assert len(raised) > 10
    for exc in raised:
        assert issubclass(exc, errors.CmcWorkflowError), exc
        assert inspect.getdoc(exc), f"{exc.__name__} has no docstring"
        assert exc.__name__ in (errors.__doc__ or ""), f"{exc.__name__} is not in the tree"


@pytest.mark.parametrize(
    "method",
    [
        "open",
        "close",
        "start",
        "fire",
        "allowed",
        "get",
        "history",
        "inbox",
        "run_due",
        "deliver_outbox",
        "versions",
        "fire_system",
    ],
)
def test_the_engine_contract_is_documented(method: str) -> None:
    assert inspect.getdoc(getattr(cmc_workflow.Engine, method)), f"Engine.{method}"


def test_the_embedding_guides_complete_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\n\n```python\n(.*?)```", guide, re.DOTALL)
    assert example is not None, "docs/engine.md lost its complete example"
    shutil.copytree(PUBLISHING.parent, tmp_path / "workflows")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    exec(compile(example.group(1), "docs/engine.md", "exec"), {})  # the guide's own code
    out = capsys.readouterr().out
    assert "1 proposed 已报题" in out
    assert "refused:" in out
    assert "{'reason': 'is required'}" in out
    assert "selected 2" in out


def test_the_type_stub_names_what_the_package_exports() -> None:
    """``__init__.pyi`` gives type checkers the names ``__init__.py`` loads lazily."""
    import ast

    stub = ast.parse((ROOT / "cmc_workflow" / "__init__.pyi").read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in stub.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert sorted(imported) == PUBLIC
    for node in stub.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                module = importlib.import_module(node.module or "")
                assert getattr(module, alias.name) is getattr(cmc_workflow, alias.asname or "")


@pytest.mark.parametrize("roles", ["editor", b"editor"])
def test_roles_given_as_one_text_are_refused_not_split_into_letters(roles: Any) -> None:
    with pytest.raises(TypeError, match="not one text"):
        Actor("wang", roles=roles)


def test_a_role_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(TypeError, match="every role is a name"):
        Actor("wang", roles=["editor", 7])  # type: ignore[list-item]
    assert Actor("wang", ("editor",)).roles == {"editor"}
