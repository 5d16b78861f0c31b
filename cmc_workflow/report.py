"""Deprecated: the report lives in :mod:`cmc_workflow.reports` now; every name this module
gave is still here, with a :class:`DeprecationWarning` on access."""

from cmc_workflow._exports import moved

__getattr__ = moved(__name__, "cmc_workflow.reports")
