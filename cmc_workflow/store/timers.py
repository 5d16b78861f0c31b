"""The SQL of time: SLA clocks, durable timers, schedule occurrences and runner heartbeats.

Every function runs inside a transaction the caller opened with
:meth:`~cmc_workflow.store.Store.write` or :meth:`~cmc_workflow.store.Store.read`, so what
the clocks write commits or rolls back with the command that caused it (decision 6).

Claiming (decision 7): :func:`claim_due_timer` takes one due timer with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent runners each get a different one
and a runner that dies releases its row with its connection; on SQLite the write
transaction already holds the database lock (``BEGIN IMMEDIATE``), which serializes
claimers. The caller fires the timer and marks it in the same transaction: exactly once.

The poll reads the index ``ix_timers_due`` (status, due_at): finding the next due timer
is one index probe whatever the number of pending timers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cmc_workflow.store.port import (
    CANCELLED,
    CLAIMED,
    FAILED,
    FIRED,
    MISSED,
    PAUSED,
    PENDING,
    RUNNING,
    STALE,
    STARTED,
    STOPPED,
    ClockRow,
    CursorRow,
    DueTimer,
    RunnerRow,
    RunRow,
    TimerRow,
)
from cmc_workflow.store.repository import Store, Tx
from cmc_workflow.store.tables import (
    clocks,
    items,
    outbox,
    runners,
    schedule_cursors,
    schedule_runs,
    timers,
)

__all__ = [
    "CANCELLED",
    "CLAIMED",
    "FAILED",
    "FIRED",
    "MISSED",
    "PAUSED",
    "PENDING",
    "RUNNING",
    "STALE",
    "STARTED",
    "STOPPED",
    "ClockRow",
    "CursorRow",
    "DueTimer",
    "RunRow",
    "RunnerRow",
    "TimerRow",
    "active_clocks",
    "advance_cursor",
    "claim_due_timer",
    "clock",
    "clock_timers",
    "clocks_of",
    "count_pending_outbox",
    "count_timers",
    "cursor",
    "cursors",
    "finish_run",
    "finish_timer",
    "forget_runners",
    "has_stale_runs",
    "heartbeat",
    "insert_clock",
    "insert_run",
    "insert_timers",
    "latest_runs",
    "mark_clock_once",
    "next_due_at",
    "overdue_clocks",
    "provisional_clocks",
    "reclaim_stale_runs",
    "resume_timer",
    "runner_rows",
    "runner_stopped",
    "runs_of",
    "savepoint",
    "set_clock_timers",
    "set_timer_due",
    "timers_of",
    "upcoming_timers",
    "update_clock",
    "write_series",
]


_TIMER_COLUMNS = [timers.c[name] for name in TimerRow.__slots__]
_CLOCK_COLUMNS = [clocks.c[name] for name in ClockRow.__slots__]
_RUN_COLUMNS = [schedule_runs.c[name] for name in RunRow.__slots__]


def _timer(row: Row[Any]) -> TimerRow:
    return TimerRow(**row._mapping)


def _clock(row: Row[Any]) -> ClockRow:
    return ClockRow(**row._mapping)


def _run(row: Row[Any]) -> RunRow:
    return RunRow(**row._mapping)


def _insert(tx: Tx, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return sqlite.insert(table) if tx.sqlite else postgresql.insert(table)


@contextmanager
def write_series(store: Store) -> Iterator[Callable[[], AbstractContextManager[Tx]]]:
    """One pooled connection for a series of write transactions (one per timer), so a
    batch does not check a connection out, and ping it, once per timer. Each call of the
    yielded function opens one transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    # the store's own translation of driver errors (same package)
    with store._translated(), store.engine.connect() as conn:

        @contextmanager
        def transaction() -> Iterator[Tx]:
            with conn.begin():
                yield Tx(conn, store.sqlite)

        yield transaction


@contextmanager
def savepoint(tx: Tx) -> Iterator[None]:
    """A nested transaction: an error inside rolls back only what it wrote."""
    with tx.conn.begin_nested():
        yield


# -- timers ------------------------------------------------------------------------------
def insert_timers(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Arm timers (in the transaction of the change that causes them)."""
    if rows:
        tx.conn.execute(insert(timers), list(rows))


def next_due_at(tx: Tx) -> dt.datetime | None:
    """When the earliest pending timer is due (one probe of ``ix_timers_due``)."""
    value: dt.datetime | None = tx.conn.execute(
        select(timers.c.due_at).where(timers.c.status == PENDING).order_by(timers.c.due_at).limit(1)
    ).scalar_one_or_none()
    return value


_DUE_EXTRA = [
    items.c.workflow_id.label("x_workflow_id"),
    items.c.state.label("x_item_state"),
    items.c.visit.label("x_item_visit"),
    items.c.closed_at.label("x_item_closed_at"),
    clocks.c.status.label("x_clock_status"),
    clocks.c.state.label("x_clock_state"),
    clocks.c.within.label("x_clock_within"),
    clocks.c.due_at.label("x_clock_due_at"),
]


def claim_due_timer(tx: Tx, now: dt.datetime) -> DueTimer | None:
    """Lock one pending timer due at ``now`` for this transaction, earliest first, read
    with its item's state visit and its clock in the same statement.

    PostgreSQL locks the timer *and its item* and skips rows other transactions hold
    (``FOR UPDATE OF timers, items SKIP LOCKED``); SQLite's write lock serializes runners.

    Locking the item with the timer keeps one lock order, item before timers, for every
    transaction: a command (or another runner's timer) that moves an item locks the item
    and then updates its timers and clock. With only the timer locked, two runners
    deadlocked on PostgreSQL: runner B claimed timer T2 of item X while runner A, holding
    X for timer T1, fired a transition that cancels X's pending timers, T2 among them (A
    waits for B's T2, B's own firing waits for A's X).
    """
    query = (
        select(*_TIMER_COLUMNS, *_DUE_EXTRA)
        .select_from(
            timers.join(items, items.c.id == timers.c.item_id).outerjoin(
                clocks, clocks.c.id == timers.c.clock_id
            )
        )
        .where(timers.c.status == PENDING, timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(1)
    )
    if not tx.sqlite:
        query = query.with_for_update(of=[timers, items], skip_locked=True)
    row = tx.conn.execute(query).first()
    if row is None:
        return None
    values = row._mapping
    return DueTimer(
        timer=TimerRow(**{name: values[name] for name in TimerRow.__slots__}),
        workflow_id=values["x_workflow_id"],
        item_state=values["x_item_state"],
        item_visit=values["x_item_visit"],
        item_closed=values["x_item_closed_at"] is not None,
        clock_status=values["x_clock_status"],
        clock_state=values["x_clock_state"],
        clock_within=values["x_clock_within"],
        clock_due_at=values["x_clock_due_at"],
    )


def finish_timer(
    tx: Tx,
    timer_id: int,
    status: str,
    now: dt.datetime,
    runner: str,
    error: str | None = None,
) -> None:
    """Mark a claimed timer fired, stale (its state was left) or failed."""
    tx.conn.execute(
        update(timers)
        .where(timers.c.id == timer_id)
        .values(status=status, done_at=now, runner=runner, error=error)
    )


def clock_timers(tx: Tx, clock_id: int, status: str) -> list[TimerRow]:
    """The timers of a clock in ``status``, earliest first."""
    rows = tx.conn.execute(
        select(*_TIMER_COLUMNS)
        .where(timers.c.clock_id == clock_id, timers.c.status == status)
        .order_by(timers.c.due_at, timers.c.id)
    ).all()
    return [_timer(r) for r in rows]


def set_clock_timers(tx: Tx, clock_id: int, from_status: str, values: dict[str, Any]) -> int:
    """Update every timer of a clock in ``from_status`` (cancel, pause, re-fence)."""
    result = tx.conn.execute(
        update(timers)
        .where(timers.c.clock_id == clock_id, timers.c.status == from_status)
        .values(**values)
    )
    return int(result.rowcount)


def resume_timer(tx: Tx, timer_id: int, due_at: dt.datetime, state: str, visit: int) -> None:
    """Re-arm a paused timer at its moved due time, fenced by the new visit."""
    tx.conn.execute(
        update(timers)
        .where(timers.c.id == timer_id, timers.c.status == PAUSED)
        .values(status=PENDING, due_at=due_at, state=state, visit=visit)
    )


def set_timer_due(tx: Tx, timer_id: int, due_at: dt.datetime) -> None:
    """Move a pending timer (a deadline recomputed on new calendar data)."""
    tx.conn.execute(
        update(timers)
        .where(timers.c.id == timer_id, timers.c.status == PENDING)
        .values(due_at=due_at)
    )


def timers_of(tx: Tx, item_id: int) -> list[TimerRow]:
    """Every timer of an item, in the order armed."""
    rows = tx.conn.execute(
        select(*_TIMER_COLUMNS).where(timers.c.item_id == item_id).order_by(timers.c.id)
    ).all()
    return [_timer(r) for r in rows]


def upcoming_timers(tx: Tx, limit: int) -> list[tuple[TimerRow, str]]:
    """The next pending timers with their item's workflow, earliest first."""
    rows = tx.conn.execute(
        select(*_TIMER_COLUMNS, items.c.workflow_id)
        .join(items, items.c.id == timers.c.item_id)
        .where(timers.c.status == PENDING)
        .order_by(timers.c.due_at)
        .limit(limit)
    ).all()
    return [
        (TimerRow(**{k: v for k, v in r._mapping.items() if k != "workflow_id"}), r.workflow_id)
        for r in rows
    ]


def count_timers(tx: Tx, status: str, due_before: dt.datetime | None = None) -> int:
    """How many timers are in ``status`` (and due by ``due_before``, if given)."""
    query = select(func.count()).select_from(timers).where(timers.c.status == status)
    if due_before is not None:
        query = query.where(timers.c.due_at <= due_before)
    return int(tx.conn.execute(query).scalar_one())


def count_pending_outbox(tx: Tx) -> int:
    """How many side effects wait for delivery."""
    query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
    return int(tx.conn.execute(query).scalar_one())


# -- clocks ------------------------------------------------------------------------------
def insert_clock(tx: Tx, values: dict[str, Any]) -> int:
    """Start a clock; returns its id."""
    new_id: int = tx.conn.execute(insert(clocks).values(values).returning(clocks.c.id)).scalar_one()
    return new_id


def active_clocks(tx: Tx, item_id: int) -> list[ClockRow]:
    """The item's clocks that run or are paused."""
    rows = tx.conn.execute(
        select(*_CLOCK_COLUMNS)
        .where(clocks.c.item_id == item_id, clocks.c.status.in_([RUNNING, PAUSED]))
        .order_by(clocks.c.id)
    ).all()
    return [_clock(r) for r in rows]


def clock(tx: Tx, clock_id: int) -> ClockRow | None:
    """One clock."""
    row = tx.conn.execute(select(*_CLOCK_COLUMNS).where(clocks.c.id == clock_id)).first()
    return _clock(row) if row is not None else None


def update_clock(tx: Tx, clock_id: int, values: dict[str, Any]) -> None:
    """Write a clock's new lifecycle values."""
    tx.conn.execute(update(clocks).where(clocks.c.id == clock_id).values(**values))


def mark_clock_once(tx: Tx, clock_id: int, column: str, now: dt.datetime) -> None:
    """Set ``warned_at``/``escalated_at``/``breached_at`` unless set already."""
    tx.conn.execute(
        update(clocks)
        .where(clocks.c.id == clock_id, clocks.c[column].is_(None))
        .values({column: now})
    )


def clocks_of(tx: Tx, item_id: int) -> list[ClockRow]:
    """Every clock of an item, oldest first."""
    rows = tx.conn.execute(
        select(*_CLOCK_COLUMNS).where(clocks.c.item_id == item_id).order_by(clocks.c.id)
    ).all()
    return [_clock(r) for r in rows]


def provisional_clocks(tx: Tx, limit: int = 100) -> list[ClockRow]:
    """Running or paused clocks whose due time rests on a guessed (provisional) year."""
    rows = tx.conn.execute(
        select(*_CLOCK_COLUMNS)
        .where(clocks.c.status.in_([RUNNING, PAUSED]), clocks.c.provisional.is_(True))
        .order_by(clocks.c.due_at)
        .limit(limit)
    ).all()
    return [_clock(r) for r in rows]


def overdue_clocks(tx: Tx, now: dt.datetime, limit: int = 100) -> list[ClockRow]:
    """Running clocks past their due time (breached, whether or not a timer said so)."""
    rows = tx.conn.execute(
        select(*_CLOCK_COLUMNS)
        .where(clocks.c.status == RUNNING, clocks.c.due_at < now)
        .order_by(clocks.c.due_at)
        .limit(limit)
    ).all()
    return [_clock(r) for r in rows]


# -- schedule occurrences ------------------------------------------------------------------
def cursor(tx: Tx, schedule_id: str, now: dt.datetime) -> CursorRow:
    """The schedule's cursor, created at ``now`` the first time any runner sees it."""
    tx.conn.execute(
        _insert(tx, schedule_cursors)
        .values(schedule_id=schedule_id, since=now, last_due=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["schedule_id"])
    )
    row = tx.conn.execute(
        select(schedule_cursors).where(schedule_cursors.c.schedule_id == schedule_id)
    ).one()
    return CursorRow(**row._mapping)


def cursors(tx: Tx) -> dict[str, CursorRow]:
    """Every schedule cursor, by schedule id."""
    rows = tx.conn.execute(select(schedule_cursors)).all()
    return {r.schedule_id: CursorRow(**r._mapping) for r in rows}


def advance_cursor(tx: Tx, schedule_id: str, due_at: dt.datetime, now: dt.datetime) -> None:
    """Move the cursor forward to ``due_at`` (never backwards)."""
    tx.conn.execute(
        update(schedule_cursors)
        .where(
            schedule_cursors.c.schedule_id == schedule_id,
            (schedule_cursors.c.last_due.is_(None)) | (schedule_cursors.c.last_due < due_at),
        )
        .values(last_due=due_at, updated_at=now)
    )


def insert_run(
    tx: Tx,
    schedule_id: str,
    due_at: dt.datetime,
    status: str,
    now: dt.datetime,
    *,
    runner: str | None = None,
    claimed_until: dt.datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Create the occurrence ``(schedule_id, due_at)`` unless it exists; its id, or None
    when another runner created it first (the unique key decides, without an error)."""
    query = (
        _insert(tx, schedule_runs)
        .values(
            schedule_id=schedule_id,
            due_at=due_at,
            status=status,
            item_id=None,
            runner=runner,
            claimed_until=claimed_until,
            created_at=now,
            finished_at=None if status == CLAIMED else now,
            detail=detail or {},
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
        .returning(schedule_runs.c.id)
    )
    new_id: int | None = tx.conn.execute(query).scalar_one_or_none()
    return new_id


def has_stale_runs(tx: Tx, now: dt.datetime) -> bool:
    """Whether some occurrence was claimed by a runner that did not finish it in time."""
    found = tx.conn.execute(
        select(schedule_runs.c.id)
        .where(schedule_runs.c.status == CLAIMED, schedule_runs.c.claimed_until < now)
        .limit(1)
    ).first()
    return found is not None


def reclaim_stale_runs(
    tx: Tx, now: dt.datetime, runner: str, until: dt.datetime, limit: int = 10
) -> list[RunRow]:
    """Take over occurrences whose claimer died before starting their item."""
    query = (
        select(*_RUN_COLUMNS)
        .where(schedule_runs.c.status == CLAIMED, schedule_runs.c.claimed_until < now)
        .order_by(schedule_runs.c.due_at)
        .limit(limit)
    )
    if not tx.sqlite:
        query = query.with_for_update(skip_locked=True)
    rows = [_run(r) for r in tx.conn.execute(query).all()]
    if rows:
        tx.conn.execute(
            update(schedule_runs)
            .where(schedule_runs.c.id.in_([r.id for r in rows]))
            .values(runner=runner, claimed_until=until)
        )
    return rows


def finish_run(
    tx: Tx,
    run_id: int,
    runner: str,
    status: str,
    now: dt.datetime,
    *,
    item_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Close a claimed occurrence as started (with its item) or failed; False when the
    claim was lost meanwhile (another runner took it over)."""
    values: dict[str, Any] = {
        "status": status,
        "item_id": item_id,
        "finished_at": now,
        "claimed_until": None,
    }
    if detail is not None:
        values["detail"] = detail
    result = tx.conn.execute(
        update(schedule_runs)
        .where(
            schedule_runs.c.id == run_id,
            schedule_runs.c.runner == runner,
            schedule_runs.c.status == CLAIMED,
        )
        .values(**values)
    )
    return result.rowcount == 1


def runs_of(tx: Tx, schedule_id: str, limit: int = 100) -> list[RunRow]:
    """A schedule's latest occurrences, newest first."""
    rows = tx.conn.execute(
        select(*_RUN_COLUMNS)
        .where(schedule_runs.c.schedule_id == schedule_id)
        .order_by(schedule_runs.c.due_at.desc())
        .limit(limit)
    ).all()
    return [_run(r) for r in rows]


def latest_runs(tx: Tx) -> dict[str, RunRow]:
    """Each schedule's latest occurrence."""
    newest = (
        select(schedule_runs.c.schedule_id, func.max(schedule_runs.c.due_at).label("due"))
        .group_by(schedule_runs.c.schedule_id)
        .subquery()
    )
    rows = tx.conn.execute(
        select(*_RUN_COLUMNS).join(
            newest,
            (newest.c.schedule_id == schedule_runs.c.schedule_id)
            & (newest.c.due == schedule_runs.c.due_at),
        )
    ).all()
    return {r.schedule_id: _run(r) for r in rows}


# -- runners -------------------------------------------------------------------------------
def heartbeat(
    tx: Tx,
    runner: str,
    host: str,
    pid: int,
    now: dt.datetime,
    detail: dict[str, Any],
) -> None:
    """Record that ``runner`` is alive (and what its last pass did)."""
    query = _insert(tx, runners).values(
        runner=runner,
        host=host,
        pid=pid,
        started_at=now,
        heartbeat_at=now,
        stopped_at=None,
        detail=detail,
    )
    tx.conn.execute(
        query.on_conflict_do_update(
            index_elements=["runner"],
            set_={"heartbeat_at": now, "detail": detail, "stopped_at": None},
        )
    )


def runner_stopped(tx: Tx, runner: str, now: dt.datetime) -> None:
    """Record a graceful stop."""
    tx.conn.execute(update(runners).where(runners.c.runner == runner).values(stopped_at=now))


def runner_rows(tx: Tx) -> list[RunnerRow]:
    """Every runner that ever reported, latest heartbeat first."""
    rows = tx.conn.execute(select(runners).order_by(runners.c.heartbeat_at.desc())).all()
    return [RunnerRow(**r._mapping) for r in rows]


def forget_runners(tx: Tx, before: dt.datetime) -> int:
    """Delete heartbeats of runners stopped or silent since before ``before``."""
    result = tx.conn.execute(delete(runners).where(runners.c.heartbeat_at < before))
    return int(result.rowcount)
