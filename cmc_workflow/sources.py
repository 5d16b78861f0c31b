"""Deprecated: reading YAML sources within limits is now :mod:`cmc_workflow.located`.

Importing a name from here still works for one release and emits a DeprecationWarning.
"""

from __future__ import annotations

import warnings
from typing import Any

import cmc_workflow.located as _located

_RENAMED: dict[str, str] = {}  # same names


def __getattr__(name: str) -> Any:
    target = _RENAMED.get(name, name)
    if target.startswith("_") or not hasattr(_located, target):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} is deprecated; use cmc_workflow.located.{target}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_located, target)
