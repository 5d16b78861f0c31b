"""cmc-workflow: YAML-declared workflows that enforce the codes of practice of
cultural-media centers and library self-media accounts.

The public API is pinned by ``tests/test_public_api.py``; everything not exported here
may change between releases. Exceptions live in :mod:`cmc_workflow.errors`.
"""

# first of all: importing `_signals` arms SIGTERM/SIGINT when this process is
# `cmc-workflow run`, so that a signal during the imports below stops it cleanly
from cmc_workflow import _signals as _signals

# `schedules` registers the loader of `kind: schedules` files, so that a workflows/ folder
# holding a schedules file loads wherever cmc_workflow is imported
from cmc_workflow import schedules as _schedules  # noqa: F401
from cmc_workflow.engine import Engine, RunReport
from cmc_workflow.errors import (
    CmcWorkflowError,
    ConflictError,
    DefinitionError,
    EngineError,
    PolicyDenied,
    Problem,
)
from cmc_workflow.extensions import Extension
from cmc_workflow.handlers import HandlerContext, HandlerRegistry
from cmc_workflow.model import Actor, Allowed, HistoryEntry, Item, VersionInfo

__all__ = [
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
