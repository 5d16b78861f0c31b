"""What the compliance matrix is made of: citations of requirement ids, and issues.

A :class:`Citation` says that one thing — a workflow element, a policy rule, a schedule,
a module of the engine, a test — cites one requirement id. The collectors
(:mod:`~cmc_workflow.compliance.citations`, :mod:`~cmc_workflow.compliance.markers`) make
them; :mod:`~cmc_workflow.compliance.matrix` puts them against the requirement list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["element", "policy", "schedule", "engine", "test"]
"""Where a citation comes from: a workflow element (workflow, start, state, transition,
deadline, ``starts``/``collects`` entry), a policy file or rule, a schedule, the engine's
own guarantees (:mod:`~cmc_workflow.compliance.guarantees`), or a test marker."""

SOURCES: tuple[Source, ...] = ("element", "policy", "schedule", "engine", "test")
"""Every source, in the order the matrix shows them."""

DEFINITION_SOURCES: tuple[Source, ...] = ("element", "policy", "schedule", "engine")
"""The sources that carry a requirement out (a test only exercises it)."""


@dataclass(frozen=True, slots=True)
class Citation:
    """One thing citing one requirement id.

    ``name`` reads as a phrase (``publishing: state first_review``,
    ``tests/engine/test_audit.py::test_chain``); ``file`` is relative to the folder the report was
    made from, with ``/`` separators (empty for the engine's guarantees); ``line`` is known
    for tests only (definition files are named, not placed, so that the matrix stays stable
    while they are edited).
    """

    requirement: str
    source: Source
    name: str
    file: str
    line: int | None = None
    workflow: str | None = None
    """The workflow the element, rule or schedule belongs to (or starts), if one."""


@dataclass(frozen=True, slots=True)
class Issue:
    """Something wrong with the citations themselves (an unknown id, a bad marker)."""

    message: str
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if where and self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message
