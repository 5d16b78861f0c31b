"""Deprecated: the daemon moved to :mod:`cmc_workflow.runner.daemon`.

Every name still resolves here, with a :class:`DeprecationWarning`; this module goes
away in a later release.
"""

from __future__ import annotations

import warnings
from typing import Any

from cmc_workflow.runner import daemon as _new


def __getattr__(name: str) -> Any:
    value = getattr(_new, name)  # AttributeError for a name the new module lacks
    warnings.warn(
        f"cmc_workflow.daemon.{name} moved to cmc_workflow.runner.daemon.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return value
