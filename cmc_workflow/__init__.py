"""cmc-workflow: YAML-declared workflows that enforce the codes of practice of
cultural-media centers and library self-media accounts.

The public API is pinned by ``tests/test_public_api.py``; everything not exported here
may change between releases.
"""

from cmc_workflow.errors import CmcWorkflowError, DefinitionError, Problem

__all__ = ["CmcWorkflowError", "DefinitionError", "Problem"]
