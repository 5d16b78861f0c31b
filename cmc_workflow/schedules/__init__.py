"""Periodic schedules: ``kind: schedules`` files whose occurrences start items.

::

    kind: schedules
    timezone: Asia/Shanghai             # default for every schedule below
    schedules:
      daily_patrol:                     # INS-1
        workflow: patrol
        cron: "0 9 * * *"               # minute hour day month weekday, weekdays by name
        missed: latest
      device_inspection:                # INS-2: every 6 months from an anchor date
        workflow: device_inspection
        every: 6 months
        from: 2025-03-01
        at: "09:30"
      monthly_statistics:               # INS-5
        workflow: self_media_statistics
        monthly: last_working_day       # respects holidays and adjusted working days
        at: "16:00"

Cron pitfalls (ARCHITECTURE decision 8) are refused with a located problem
(``E-CRON-PITFALL``): a month step (``*/6`` means January and July, not "every 6 months
from now": write ``every: 6 months`` with ``from:``), days 29–31 (they skip short months),
a day of month together with a weekday (APScheduler ANDs them where crontab ORs them), and
weekday numbers (APScheduler 3 counts 0 as Monday, crontab as Sunday: write ``mon-fri``).

Occurrences are handled by :class:`Schedules`, an engine extension whose ``run_due`` is
called by :meth:`Engine.run_due`. Each occurrence gets one row in ``schedule_runs``, unique
on (schedule, time), so any number of daemons create it once: the runner that inserts
the row claims it and starts the item through the runtime, passing the claim along: the
start marks the row ``started`` in its own transaction; a claim whose runner died is
taken over after a lease. An occurrence later than its ``grace`` (default 1 hour) was
missed (no daemon ran): ``missed: catch_up`` (default) still starts it, ``latest`` starts
only the newest missed one, ``record`` starts none; every occurrence not started is
recorded with status ``missed``, never silently dropped. A schedule first seen by a
database counts from that moment on: nothing before it is due.

The package: :mod:`~cmc_workflow.schedules.language` (the file's models and checks),
:mod:`~cmc_workflow.schedules.recurrence` (when a schedule recurs, pure) and
:mod:`~cmc_workflow.schedules.extension` (the runtime extension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cmc_workflow._exports import lazy
from cmc_workflow.schedules.language import (
    DEFAULT_TIMEZONE,
    TIME_PATTERN,
    ScheduleFile,
    ScheduleSpec,
    check_set,
    load_schedules_doc,
    schedules_from,
)
from cmc_workflow.schedules.recurrence import Occurrence, Schedule, cron_next

if TYPE_CHECKING:  # the runtime extension, for type checkers; loaded on first use below
    from cmc_workflow.schedules.extension import CLAIM_LEASE as CLAIM_LEASE
    from cmc_workflow.schedules.extension import Schedules as Schedules
    from cmc_workflow.schedules.extension import ScheduleStatus as ScheduleStatus

_RUNTIME = {
    "CLAIM_LEASE": "cmc_workflow.schedules.extension",
    "ScheduleStatus": "cmc_workflow.schedules.extension",
    "Schedules": "cmc_workflow.schedules.extension",
}
"""The runtime names and their modules: imported on first use, so that the pure modules
of this package (their package ``__init__`` runs first) load no store."""


__getattr__ = lazy(globals(), _RUNTIME)


__all__: Sequence[str] = [
    "CLAIM_LEASE",
    "DEFAULT_TIMEZONE",
    "TIME_PATTERN",
    "Occurrence",
    "Schedule",
    "ScheduleFile",
    "ScheduleSpec",
    "ScheduleStatus",
    "Schedules",
    "check_set",
    "cron_next",
    "load_schedules_doc",
    "schedules_from",
]
