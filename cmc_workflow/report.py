"""Deprecated: the report lives in :mod:`cmc_workflow.reports` now; every name this module
gave is still here, with a :class:`DeprecationWarning` on access."""

from __future__ import annotations

import warnings
from typing import Any

import cmc_workflow.reports as _new


def __getattr__(name: str) -> Any:
    if name not in _new.__all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"cmc_workflow.report.{name} moved to cmc_workflow.reports.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_new, name)
