"""Deprecated: reading YAML sources within limits is now :mod:`cmc_workflow.located`.

Importing a name from here still works for one release and emits a DeprecationWarning.
"""

from cmc_workflow._exports import moved

__getattr__ = moved(__name__, "cmc_workflow.located")
