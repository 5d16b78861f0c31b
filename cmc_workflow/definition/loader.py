"""Loading workflow files: located values -> models -> checks.

``load_workflow_text`` is the single entry for one workflow. Walking folders and routing
each file by its ``kind`` is :func:`cmc_workflow.language.load_paths` (still importable
from here). :data:`DEFINITION_CODES` are the codes workflow, policy and schedules files
give to what their models refuse.
"""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from cmc_workflow._exports import lazy
from cmc_workflow.definition.checks import check_workflow
from cmc_workflow.definition.loaded import LoadedSet as LoadedSet  # re-exported
from cmc_workflow.definition.loaded import LoadedWorkflow as LoadedWorkflow  # re-exported
from cmc_workflow.definition.models import (
    IDENT_PATTERN,
    PERCENT_PATTERN,
    REQUIREMENT_PATTERN,
    Workflow,
)
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.i18n import N_, tr
from cmc_workflow.located import Located, load_located
from cmc_workflow.problems import Codes, problems_from_validation

DEFINITION_CODES = Codes(
    patterns={
        IDENT_PATTERN: (
            "E-BAD-ID",
            N_("ids are lower_snake_case: a lowercase letter, then a-z, 0-9 or _"),
        ),
        REQUIREMENT_PATTERN: ("E-BAD-VALUE", N_("requirement ids look like PUB-5")),
        PERCENT_PATTERN: (
            "E-BAD-VALUE",
            N_("a share of the deadline, from '0%' to '100%', quoted or not"),
        ),
    }
)
"""The codes of workflow, policy and schedules files (calendar files have their own)."""

_MOVED = {"load_paths", "iter_yaml_files"}


# walking folders moved to the language module, which imports this one
__getattr__ = lazy(globals(), dict.fromkeys(_MOVED, "cmc_workflow.language"))


def content_hash(text: str) -> str:
    """The version identity of a definition: SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_workflow_doc(doc: Located) -> tuple[Workflow | None, list[Problem]]:
    """Validate and check one located workflow document."""
    if doc.data is None:
        return None, [Problem.of(doc.file, 1, 1, "E-EMPTY", tr("the file is empty"))]
    if not isinstance(doc.data, dict):
        return None, [
            doc.problem(
                (),
                "E-TYPE",
                tr("a workflow file is a mapping with id, label, roles, start, states"),
            )
        ]
    try:
        wf = Workflow.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, Workflow, DEFINITION_CODES)
    return wf, check_workflow(wf, doc)


def load_workflow_text(text: str, file: str = "<string>") -> LoadedWorkflow:
    """Load one workflow from YAML text or raise :class:`DefinitionError` with every problem."""
    doc, problems = load_located(text, file)
    if problems:
        raise DefinitionError(problems)
    wf, problems = load_workflow_doc(doc)
    if problems or wf is None:
        raise DefinitionError(problems)
    return LoadedWorkflow(wf, text, file, content_hash(text))
