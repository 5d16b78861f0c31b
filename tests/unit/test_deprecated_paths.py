"""Import paths the previous release documented keep working for one release: each name
resolves to the same object at its new home, with a DeprecationWarning naming it; names
that never existed there still raise AttributeError. The lazy exports (no warning) load
their name on first use and keep it."""

from __future__ import annotations

import importlib
import warnings

import pytest

MOVED = [
    ("cmc_workflow.daemon", "Daemon", "cmc_workflow.runner.daemon", "Daemon"),
    ("cmc_workflow.daemon", "EXIT_CODES", "cmc_workflow.runner.daemon", "EXIT_CODES"),
    ("cmc_workflow.scheduler", "Wakeups", "cmc_workflow.runner.wakeups", "Wakeups"),
    ("cmc_workflow.sources", "read_source", "cmc_workflow.located", "read_source"),
    ("cmc_workflow.definition.located", "MAX_NODES", "cmc_workflow.located", "MAX_EXPANDED"),
    ("cmc_workflow.calendar.located", "LocatedDocument", "cmc_workflow.located", "Located"),
    (
        "cmc_workflow.policy",
        "policy_extensions",
        "cmc_workflow.policy.extension",
        "policy_extensions",
    ),
    ("cmc_workflow.policy", "RuleExtension", "cmc_workflow.policy.extension", "RuleExtension"),
    ("cmc_workflow.report", "build_report", "cmc_workflow.reports", "build_report"),
    ("cmc_workflow.report", "ReportOptions", "cmc_workflow.reports", "ReportOptions"),
]


@pytest.mark.parametrize(("old", "name", "new", "target"), MOVED)
def test_a_moved_name_resolves_with_a_warning_naming_its_new_home(
    old: str, name: str, new: str, target: str
) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} .* moved to {new}\.{target}"):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), target)


@pytest.mark.parametrize("old", sorted({old for old, *_ in MOVED}))
def test_a_name_that_never_was_there_is_still_an_attribute_error(old: str) -> None:
    module = importlib.import_module(old)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        getattr(module, "no_such_name")  # noqa: B009
    with pytest.raises(AttributeError):
        getattr(module, "_private")  # noqa: B009


LAZY = [
    ("cmc_workflow", "Engine", "cmc_workflow.engine"),
    ("cmc_workflow.clocks", "Clocks", "cmc_workflow.clocks.extension"),
    ("cmc_workflow.schedules", "Schedules", "cmc_workflow.schedules.extension"),
    ("cmc_workflow.definition", "load_paths", "cmc_workflow.language"),
]


@pytest.mark.parametrize(("package", "name", "home"), LAZY)
def test_a_lazy_export_is_the_object_of_its_home_and_warns_nothing(
    package: str, name: str, home: str
) -> None:
    module = importlib.import_module(package)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(home), name)
    assert vars(module)[name] is value  # kept: the next access is a plain lookup
