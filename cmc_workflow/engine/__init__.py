"""The engine: the :class:`Engine` façade, its composition root
(:func:`~cmc_workflow.engine.facade.assemble`) and the modules a command runs through.

Extensions never see this package: they get the
:class:`~cmc_workflow.extensions.Runtime` port (:mod:`cmc_workflow.engine.runtime`).
"""

from __future__ import annotations

from cmc_workflow.engine.assembly import runtime_extensions
from cmc_workflow.engine.batch import MAX_BATCH, FireEntry, Outcome, Refusal, StartEntry
from cmc_workflow.engine.context import (
    MAX_INLINE_CHAIN,
    MAX_LINK_DEPTH,
    OUTBOX_LEASE,
    OUTBOX_MAX_BACKOFF,
    Clock,
    CommandContext,
)
from cmc_workflow.engine.delivery import RunReport
from cmc_workflow.engine.facade import Engine, assemble, system_clock
from cmc_workflow.engine.queries import ItemPage
from cmc_workflow.engine.runtime import EngineRuntime

__all__ = [
    "MAX_BATCH",
    "MAX_INLINE_CHAIN",
    "MAX_LINK_DEPTH",
    "OUTBOX_LEASE",
    "OUTBOX_MAX_BACKOFF",
    "Clock",
    "CommandContext",
    "Engine",
    "EngineRuntime",
    "FireEntry",
    "ItemPage",
    "Outcome",
    "Refusal",
    "RunReport",
    "StartEntry",
    "assemble",
    "runtime_extensions",
    "system_clock",
]
