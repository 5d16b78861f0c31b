"""The public API is pinned: adding or removing a name here is a deliberate, reviewed change.

Everything not exported by ``cmc_workflow`` (and the exception tree in
``cmc_workflow.errors``) may change between releases.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

import cmc_workflow
from cmc_workflow import errors

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
    exported = {
        name
        for name, value in vars(cmc_workflow).items()
        if not name.startswith("_") and not inspect.ismodule(value)
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
