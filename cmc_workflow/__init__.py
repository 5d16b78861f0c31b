"""cmc-workflow: YAML-declared workflows that enforce the codes of practice of
cultural-media centers and library self-media accounts.

The public API is pinned by ``tests/unit/test_public_api.py``; everything not exported here
may change between releases. Exceptions live in :mod:`cmc_workflow.errors`.

The names are imported lazily (on first use), so that ``import cmc_workflow.definition``
or the CLI's ``validate`` do not load the engine, SQLAlchemy or APScheduler; type checkers
read the names from ``__init__.pyi`` beside this file, so nothing here imports the engine,
not even under ``TYPE_CHECKING``.
"""

from cmc_workflow._exports import lazy as _lazy

_HOMES = {
    "Actor": "cmc_workflow.model",
    "Allowed": "cmc_workflow.model",
    "CmcWorkflowError": "cmc_workflow.errors",
    "ConflictError": "cmc_workflow.errors",
    "DefinitionError": "cmc_workflow.errors",
    "Engine": "cmc_workflow.engine",
    "EngineError": "cmc_workflow.errors",
    "Extension": "cmc_workflow.extensions",
    "HandlerContext": "cmc_workflow.handlers",
    "HandlerRegistry": "cmc_workflow.handlers",
    "HistoryEntry": "cmc_workflow.model",
    "Item": "cmc_workflow.model",
    "PolicyDenied": "cmc_workflow.errors",
    "Problem": "cmc_workflow.errors",
    "RunReport": "cmc_workflow.engine",
    "VersionInfo": "cmc_workflow.model",
}
"""The module each public name lives in."""

__all__ = sorted(_HOMES)


__getattr__ = _lazy(globals(), _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
