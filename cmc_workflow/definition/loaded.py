"""What loading definition files gives: checked workflows with their sources, the other
kinds' models, and every problem found.

Its own module so that the checks (``links``) can name a loaded workflow without importing
the loader, which imports the checks. ``cmc_workflow.definition.loader`` re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.located import Located

__all__ = ["LoadedSet", "LoadedWorkflow"]


@dataclass(frozen=True, slots=True)
class LoadedWorkflow:
    """A checked workflow with its source: what the engine registers as one version."""

    definition: Workflow
    source: str
    file: str
    content_hash: str


@dataclass(slots=True)
class LoadedSet:
    """The outcome of loading several files: good definitions and every problem found."""

    workflows: dict[str, LoadedWorkflow] = field(default_factory=dict)
    others: dict[str, list[tuple[Located, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    located: dict[str, Located] = field(default_factory=dict)
    """The located document of each workflow, by id (to place cross-file problems)."""
    warnings: list[Problem] = field(default_factory=list)
    """What looks wrong but does not stop a file (``W-`` codes)."""
    files: list[str] = field(default_factory=list)
    """Every file read, in order."""
    kinds: dict[str, str] = field(default_factory=dict)
    """The kind of each file read as YAML (``workflow``, ``policy``, ``calendar`` ...)."""
    ids_in: dict[str, list[str]] = field(default_factory=dict)
    """The workflow id each workflow file declares, by file."""
    disabled: dict[str, str] = field(default_factory=dict)
    """Workflows set aside because their file (or one they need) is broken: id -> file."""
    set_aside: list[Problem] = field(default_factory=list)
    """The problems of the files set aside (their workflows are in ``disabled``)."""

    def raise_for_problems(self) -> None:
        """Raise :class:`DefinitionError` when any file had a problem."""
        if self.problems:
            raise DefinitionError(self.problems)
