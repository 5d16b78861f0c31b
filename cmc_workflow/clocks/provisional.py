"""Provisional clocks, recomputed once the calendar data of their years arrived."""

from __future__ import annotations

import datetime as dt

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks.deadlines import BREACH_STEP, compute_deadline, step_time
from cmc_workflow.clocks.firing import utc
from cmc_workflow.definition.models import Deadline as DeadlineSpec
from cmc_workflow.definition.models import DeadlineStep, parse_duration
from cmc_workflow.log import get_logger
from cmc_workflow.store import port
from cmc_workflow.store.port import ClockRow, StoreTx

log = get_logger("cmc_workflow.clocks")


def recompute(calendar: WorkingCalendar, tx: StoreTx, row: ClockRow, now: dt.datetime) -> int:
    """Recompute one provisional running clock and its pending timers on ``calendar``;
    returns 1 when it changed (0: an ``until`` clock, which counts no calendar)."""
    if "until " in row.within:
        return 0  # bound by a date of the item's data: recomputing could pass it
    within = parse_duration(row.within)
    steps = [DeadlineStep.model_validate(s) for s in row.detail.get("steps", [])]
    spec = DeadlineSpec(within=within, steps=steps)
    deadline = compute_deadline(calendar, row.started_at, within)
    for timer in tx.clock_timers(row.id, port.PENDING):
        if timer.step == BREACH_STEP:
            when = deadline.due
        else:
            step = spec.steps[timer.step]
            when = step_time(calendar, step, within, row.started_at, deadline.due)
        tx.set_timer_due(timer.id, when)
    warns = [
        step_time(calendar, s, within, row.started_at, deadline.due)
        for s in spec.steps
        if s.action == "warn"
    ]
    tx.update_clock(
        row.id,
        {
            "due_at": deadline.due,
            "warn_at": min(warns) if warns else None,
            "rule": deadline.rule,
            "calendar_version": deadline.calendar_version,
            "provisional": deadline.provisional,
            "detail": {
                **row.detail,
                "deadline": deadline.as_record(),
                "recomputed_at": utc(now),
                "previous_due": row.due_at.isoformat(),
            },
        },
    )
    log.info(
        "deadline_recomputed",
        item_id=row.item_id,
        state=row.state,
        due=deadline.due.isoformat(),
        previous=row.due_at.isoformat(),
        provisional=deadline.provisional,
    )
    return 1
