"""The clock status read model: a stored clock as callers see it at a given time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow.store import port
from cmc_workflow.store.port import ClockRow


@dataclass(frozen=True, slots=True)
class ClockView:
    """A clock as of ``now``: its stored facts and its status computed from them.

    ``status`` is ``running``, ``warning`` (a warning step passed), ``paused``,
    ``breached`` (past due, whether or not a timer recorded it yet), ``met`` or
    ``breached`` once stopped (``stopped`` is then True).
    """

    id: int
    item_id: int
    workflow: str
    state: str
    at_state: str
    status: str
    stopped: bool
    within: str
    started_at: dt.datetime
    due_at: dt.datetime
    rule: str
    calendar_version: str
    provisional: bool
    warned_at: dt.datetime | None
    escalated_at: dt.datetime | None
    breached_at: dt.datetime | None
    stopped_at: dt.datetime | None
    paused_at: dt.datetime | None
    detail: Mapping[str, Any]

    @property
    def overdue(self) -> bool:
        """True when the clock's deadline was (or is being) missed."""
        return self.status == "breached"


def clock_status(row: ClockRow, now: dt.datetime) -> str:
    """The status of a stored clock at ``now`` (see :class:`ClockView`)."""
    if row.status == port.STOPPED:
        return row.outcome or "met"
    if row.breached_at is not None:
        return "breached"
    if row.status == port.PAUSED:
        return "paused"
    if now > row.due_at:
        return "breached"
    if row.warned_at is not None or (row.warn_at is not None and now >= row.warn_at):
        return "warning"
    return "running"


def view(row: ClockRow, now: dt.datetime) -> ClockView:
    """The :class:`ClockView` of a stored clock at ``now``."""
    return ClockView(
        id=row.id,
        item_id=row.item_id,
        workflow=row.workflow_id,
        state=row.state,
        at_state=row.at_state,
        status=clock_status(row, now),
        stopped=row.status == port.STOPPED,
        within=row.within,
        started_at=row.started_at,
        due_at=row.due_at,
        rule=row.rule,
        calendar_version=row.calendar_version,
        provisional=row.provisional,
        warned_at=row.warned_at,
        escalated_at=row.escalated_at,
        breached_at=row.breached_at,
        stopped_at=row.stopped_at,
        paused_at=row.paused_at,
        detail=row.detail,
    )
