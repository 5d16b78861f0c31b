"""The workflow language: located YAML loading, models, guards, forms and static checks."""

from cmc_workflow.definition.guards import Guard, GuardSyntaxError, compile_guard
from cmc_workflow.definition.loader import (
    LoadedSet,
    LoadedWorkflow,
    content_hash,
    load_paths,
    load_workflow_text,
    register_kind,
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
    "register_kind",
]
