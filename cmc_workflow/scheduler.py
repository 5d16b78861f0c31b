"""Deprecated: the wake-ups moved to :mod:`cmc_workflow.runner.wakeups`.

Every name still resolves here, with a :class:`DeprecationWarning`; this module goes
away in a later release.
"""

from cmc_workflow._exports import moved

__getattr__ = moved(__name__, "cmc_workflow.runner.wakeups")
