"""Deprecated: the wake-ups moved to :mod:`cmc_workflow.runner.wakeups`.

Every name still resolves here, with a :class:`DeprecationWarning`; this module goes
away in a later release.
"""

from __future__ import annotations

import warnings
from typing import Any

from cmc_workflow.runner import wakeups as _new


def __getattr__(name: str) -> Any:
    value = getattr(_new, name)  # AttributeError for a name the new module lacks
    warnings.warn(
        f"cmc_workflow.scheduler.{name} moved to cmc_workflow.runner.wakeups.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return value
