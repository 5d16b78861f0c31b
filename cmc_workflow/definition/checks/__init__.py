"""Stage 3 of loading: the static checks a well-typed workflow must still pass.

Each check has its own stable code, documented in ``docs/workflow-language.md``. The
checks only read the model and the located document (for places); they never raise.
One module per concern: :mod:`.structure` (names that point nowhere, the shape of each
state, guards), :mod:`.fields` (form fields and the data they fill), :mod:`.deadlines`
(deadlines and clocks) and :mod:`.graph` (reachability of the states).
"""

from __future__ import annotations

from cmc_workflow.definition.checks.deadlines import deadline_problems
from cmc_workflow.definition.checks.fields import form_problems
from cmc_workflow.definition.checks.graph import graph_problems
from cmc_workflow.definition.checks.structure import (
    guard_problems,
    reference_problems,
    state_shape_problems,
)
from cmc_workflow.definition.links import check_links
from cmc_workflow.definition.models import Workflow
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located

__all__ = ["check_workflow"]


def check_workflow(wf: Workflow, doc: Located) -> list[Problem]:
    """Every problem of ``wf``, placed with ``doc``."""
    problems: list[Problem] = []
    problems += reference_problems(wf, doc)
    problems += state_shape_problems(wf, doc)
    problems += guard_problems(wf, doc)
    problems += form_problems(wf, doc)
    problems += deadline_problems(wf, doc)
    problems += graph_problems(wf, doc)
    problems += check_links(wf, doc)
    return problems
