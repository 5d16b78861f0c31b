"""Types of the pinned public names, which ``__init__.py`` imports lazily (on first use).

Type checkers read this stub instead of ``__init__.py``; keep the two lists equal
(``tests/unit/test_public_api.py`` checks it).
"""

from cmc_workflow.engine import Engine as Engine
from cmc_workflow.engine import RunReport as RunReport
from cmc_workflow.errors import CmcWorkflowError as CmcWorkflowError
from cmc_workflow.errors import ConflictError as ConflictError
from cmc_workflow.errors import DefinitionError as DefinitionError
from cmc_workflow.errors import EngineError as EngineError
from cmc_workflow.errors import PolicyDenied as PolicyDenied
from cmc_workflow.errors import Problem as Problem
from cmc_workflow.extensions import Extension as Extension
from cmc_workflow.handlers import HandlerContext as HandlerContext
from cmc_workflow.handlers import HandlerRegistry as HandlerRegistry
from cmc_workflow.model import Actor as Actor
from cmc_workflow.model import Allowed as Allowed
from cmc_workflow.model import HistoryEntry as HistoryEntry
from cmc_workflow.model import Item as Item
from cmc_workflow.model import VersionInfo as VersionInfo

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
