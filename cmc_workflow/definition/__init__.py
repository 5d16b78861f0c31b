"""The workflow language: models, guards, forms and static checks.

Reading YAML is :mod:`cmc_workflow.located`; walking folders of definition files of every
kind is :func:`cmc_workflow.language.load_paths`, re-exported here (lazily: the language
table imports the policy and schedules kinds, which this package does not need).
"""

from __future__ import annotations

from cmc_workflow._exports import lazy
from cmc_workflow.definition.guards import Guard, GuardSyntaxError, compile_guard
from cmc_workflow.definition.loader import (
    LoadedSet,
    LoadedWorkflow,
    content_hash,
    load_workflow_text,
)
from cmc_workflow.definition.models import Duration, FieldSpec, State, Transition, Workflow

__all__ = [
    "Duration",
    "FieldSpec",
    "Guard",
    "GuardSyntaxError",
    "LoadedSet",
    "LoadedWorkflow",
    "State",
    "Transition",
    "Workflow",
    "compile_guard",
    "content_hash",
    "load_paths",
    "load_workflow_text",
]


__getattr__ = lazy(globals(), {"load_paths": "cmc_workflow.language"})
