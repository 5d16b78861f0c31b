"""Deprecated: the report lives in :mod:`cmc_workflow.reports` now; every name this module
gave is still here, with a :class:`DeprecationWarning` on access."""

import cmc_workflow.reports as _new
from cmc_workflow._moved import moved

__getattr__ = moved(__name__, _new, _new.__all__)
