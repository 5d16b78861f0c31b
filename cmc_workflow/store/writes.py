"""The values both stores write where the contract fixes them, computed once so that the
memory store and the SQL store cannot drift apart (schedule occurrences, runner
heartbeats, clock marks).

Like :mod:`cmc_workflow.store.port`, this module imports the standard library only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cmc_workflow.store.port import CLAIMED, MARKS

__all__ = ["checked_mark", "finished_run", "heartbeat_values", "new_run", "new_runner"]


def new_run(
    schedule_id: str,
    due_at: dt.datetime,
    status: str,
    now: dt.datetime,
    runner: str | None,
    claimed_until: dt.datetime | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    """The row :meth:`~cmc_workflow.store.port.StoreTx.insert_run` creates: open while
    claimed, finished at once when it is born missed or failed."""
    return {
        "schedule_id": schedule_id,
        "due_at": due_at,
        "status": status,
        "item_id": None,
        "runner": runner,
        "claimed_until": claimed_until,
        "created_at": now,
        "finished_at": None if status == CLAIMED else now,
        "detail": detail or {},
    }


def finished_run(
    status: str, now: dt.datetime, item_id: int | None, detail: dict[str, Any] | None
) -> dict[str, Any]:
    """What :meth:`~cmc_workflow.store.port.StoreTx.finish_run` writes over a claimed
    occurrence (its ``detail`` only when one is given)."""
    values: dict[str, Any] = {
        "status": status,
        "item_id": item_id,
        "finished_at": now,
        "claimed_until": None,
    }
    if detail is not None:
        values["detail"] = detail
    return values


def new_runner(
    runner: str, host: str, pid: int, now: dt.datetime, detail: dict[str, Any]
) -> dict[str, Any]:
    """A runner's row at its first heartbeat."""
    return {
        "runner": runner,
        "host": host,
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now,
        "stopped_at": None,
        "detail": detail,
    }


def heartbeat_values(now: dt.datetime, detail: dict[str, Any]) -> dict[str, Any]:
    """What a later heartbeat writes over the runner's row (a restart clears its stop)."""
    return {"heartbeat_at": now, "detail": detail, "stopped_at": None}


def checked_mark(column: str) -> None:
    """Refuse a clock mark that :meth:`~cmc_workflow.store.port.StoreTx.mark_clock_once`
    does not set."""
    if column not in MARKS:
        raise TypeError(f"a clock has no mark {column!r}")
