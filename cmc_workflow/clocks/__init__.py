"""SLA clocks: deadlines declared on states, run as durable timers (an engine extension).

A state's ``deadline:`` starts a *clock* when an item enters it::

    deadline:
      within: 2 working days            # CMT-2
      steps:
        - {at: 50%, action: warn}
        - {at: 100%, action: escalate, to: channel_lead}
      pause_in: [waiting_for_reader]    # the clock stops counting there
      runs_in: [drafting_reply]         # ... and keeps running there

The clock records the due time, the rule that produced it, the calendar version and the
provisional flag (:class:`~cmc_workflow.calendar.Deadline`); each step becomes a timer row.
Everything is written by :meth:`Clocks.after_change` inside the command's transaction, so
a state change and its timers commit together (decision 6). Timers are fenced by the
item's state visit: a timer whose item has moved on is marked ``stale`` and does nothing.
Leaving the clock's states stops the clock (``met`` or ``breached``) and cancels its
timers; entering a ``pause_in`` state pauses them, and coming back moves them on by the
working time (or, for calendar durations, the elapsed time) the pause lasted.

:meth:`Clocks.run_due` (called by :meth:`Engine.run_due`) claims due timers in bounded
groups, one transaction per group, and applies each one's effect there: ``warn``/``breach``
record on the clock and in the audit log, ``escalate``/``notify`` queue an outbox
notification to a role, ``fire`` takes a transition through :meth:`Runtime.fire_system`
(in a savepoint of its own: a refused step is recorded and the group goes on). A ladder without a
``breach`` step gets one at 100%, so every breach is recorded. A clock's status is also
computed on read (:meth:`Clocks.clocks`): a breach shows even when no daemon ran.

The package: :mod:`~cmc_workflow.clocks.deadlines` (the arithmetic, pure),
:mod:`~cmc_workflow.clocks.status` (the read model), :mod:`~cmc_workflow.clocks.extension`,
:mod:`~cmc_workflow.clocks.firing` and :mod:`~cmc_workflow.clocks.provisional` (the
runtime extension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cmc_workflow._exports import lazy
from cmc_workflow.clocks.deadlines import (
    BREACH_STEP,
    compute_deadline,
    shift,
    step_time,
    subtract_working_time,
    working_time_between,
)

if TYPE_CHECKING:  # the runtime extension, for type checkers; loaded on first use below
    from cmc_workflow.clocks.extension import SYSTEM_ROLE as SYSTEM_ROLE
    from cmc_workflow.clocks.extension import Clocks as Clocks
    from cmc_workflow.clocks.status import ClockView as ClockView
    from cmc_workflow.clocks.status import clock_status as clock_status
    from cmc_workflow.clocks.status import view as view

_RUNTIME = {
    "ClockView": "cmc_workflow.clocks.status",
    "Clocks": "cmc_workflow.clocks.extension",
    "SYSTEM_ROLE": "cmc_workflow.clocks.extension",
    "clock_status": "cmc_workflow.clocks.status",
    "view": "cmc_workflow.clocks.status",
}
"""The runtime names and their modules: imported on first use, so that the pure modules
of this package (their package ``__init__`` runs first) load no store."""


__getattr__ = lazy(globals(), _RUNTIME)


__all__: Sequence[str] = [
    "BREACH_STEP",
    "SYSTEM_ROLE",
    "ClockView",
    "Clocks",
    "clock_status",
    "compute_deadline",
    "shift",
    "step_time",
    "subtract_working_time",
    "view",
    "working_time_between",
]
