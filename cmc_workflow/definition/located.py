"""Deprecated: the located-YAML reader is now :mod:`cmc_workflow.located`.

Importing a name from here still works for one release and emits a DeprecationWarning.
``MAX_NODES`` here meant the expanded node count: ``MAX_EXPANDED`` there.
"""

from cmc_workflow._exports import moved

__getattr__ = moved(__name__, "cmc_workflow.located", renamed={"MAX_NODES": "MAX_EXPANDED"})
