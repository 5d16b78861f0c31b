"""The SQL of time: SLA clocks, durable timers, schedule occurrences and runner heartbeats.
(Over 400 lines: one method per operation on four tables, mirrored by memory_time.py.)

Every method runs inside a transaction the caller opened with
:meth:`~cmc_workflow.store.Store.write` or :meth:`~cmc_workflow.store.Store.read`, so what
the clocks write commits or rolls back with the command that caused it (decision 6).

Claiming (decision 7): :meth:`TimeQueries.claim_due_timers` takes a bounded batch of due
timers with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent runners each get
different ones and a runner that dies releases its rows with its connection; on SQLite the
write transaction already holds the database lock (``BEGIN IMMEDIATE``), which serializes
claimers. The caller fires the timers and marks them in the same transaction (one commit
for the batch): exactly once.

The statements of the hot path (arming, stopping and firing) are built once at module
level with bind parameters, like those of :mod:`~cmc_workflow.store.repository`.

The poll reads the index ``ix_timers_due`` (status, due_at): finding the next due timer
is one index probe whatever the number of pending timers.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite

from cmc_workflow.store.fast import Appends, KeptUpdate
from cmc_workflow.store.port import (
    CANCELLED,
    CLAIMED,
    CLOCK_COLUMNS,
    FAILED,
    FIRED,
    MISSED,
    PAUSED,
    PENDING,
    RUNNING,
    STALE,
    STARTED,
    STOPPED,
    TIMER_COLUMNS,
    ClockRow,
    CursorRow,
    DueTimer,
    NewClock,
    NewTimer,
    RunnerRow,
    RunRow,
    TimerRow,
    checked_columns,
    row_values,
    stop_leaving,
)
from cmc_workflow.store.tables import (
    UTCDateTime,
    clocks,
    items,
    outbox,
    runners,
    schedule_cursors,
    schedule_runs,
    timers,
)
from cmc_workflow.store.writes import (
    checked_mark,
    finished_run,
    heartbeat_values,
    new_run,
    new_runner,
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
    "TimeQueries",
    "TimerRow",
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


def _insert(on_sqlite: bool, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if on_sqlite:
        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql  # only on PostgreSQL: it costs a SQLite start

    return postgresql.insert(table)


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

# The statements of the hot path, built once (see docs/performance-history.md, "What changed"):
# arming and stopping a clock runs in every command that enters or leaves a state with a
# deadline, and the daemon claims and finishes timers by the thousand. Values travel as
# bind parameters; an UPDATE without ``.values()`` sets the columns its parameters name.
_NEXT_DUE = (
    select(timers.c.due_at).where(timers.c.status == PENDING).order_by(timers.c.due_at).limit(1)
)
_DUE_JOIN = timers.join(items, items.c.id == timers.c.item_id).outerjoin(
    clocks, clocks.c.id == timers.c.clock_id
)
_DUE = select(*_TIMER_COLUMNS, *_DUE_EXTRA).select_from(_DUE_JOIN)
_CLAIM_DUE = (
    _DUE.where(
        timers.c.status == PENDING,
        timers.c.due_at <= bindparam("b_now", type_=UTCDateTime),
    )
    .order_by(timers.c.due_at)
    .limit(bindparam("b_limit", type_=Integer))
)
_CLAIM_DUE_LOCKED = _CLAIM_DUE.with_for_update(of=[timers, items], skip_locked=True)
_NOT_SKIPPED = items.c.workflow_id.not_in(bindparam("b_skip", expanding=True))
_NEXT_DUE_SKIPPING = (
    select(timers.c.due_at)
    .select_from(timers.join(items, items.c.id == timers.c.item_id))
    .where(timers.c.status == PENDING, _NOT_SKIPPED)
    .order_by(timers.c.due_at)
    .limit(1)
)
_CLAIM_DUE_SKIPPING = _CLAIM_DUE.where(_NOT_SKIPPED)
_CLAIM_DUE_SKIPPING_LOCKED = _CLAIM_DUE_SKIPPING.with_for_update(
    of=[timers, items], skip_locked=True
)
_DUE_AGAIN = _DUE.where(
    timers.c.id == bindparam("b_id"),
    timers.c.status == PENDING,
    timers.c.due_at <= bindparam("b_now", type_=UTCDateTime),
)
_FINISH_TIMER = update(timers).where(timers.c.id == bindparam("b_id"))
_CLOCK_TIMERS = (
    select(*_TIMER_COLUMNS)
    .where(timers.c.clock_id == bindparam("b_clock"), timers.c.status == bindparam("b_status"))
    .order_by(timers.c.due_at, timers.c.id)
)
_SET_CLOCK_TIMERS = update(timers).where(
    timers.c.clock_id == bindparam("b_clock"), timers.c.status == bindparam("b_from")
)
_KEPT_SET_CLOCK_TIMERS = KeptUpdate(_SET_CLOCK_TIMERS, "timers")
"""A clock's timers' UPDATE kept with a batch's appends (SQLite)."""
_CANCEL_CLOCK_TIMERS = (
    update(timers)
    .where(
        timers.c.clock_id.in_(bindparam("b_clocks", expanding=True)),
        timers.c.status.in_([PENDING, PAUSED]),
    )
    .values(status=CANCELLED, done_at=bindparam("b_now", type_=UTCDateTime))
)
_CANCEL_ONE_CLOCK_TIMERS = (
    update(timers)
    .where(
        timers.c.clock_id == bindparam("b_clock"),
        or_(timers.c.status == PENDING, timers.c.status == PAUSED),
    )
    .values(status=CANCELLED, done_at=bindparam("b_now", type_=UTCDateTime))
)
# stopping a clock: met or breached, ``breached_at`` kept when a timer recorded it first
_STOP_CLOCK = (
    update(clocks)
    .where(clocks.c.id == bindparam("b_clock"))
    .values(
        status=STOPPED,
        stopped_at=bindparam("b_now", type_=UTCDateTime),
        paused_at=None,
        outcome=bindparam("b_outcome"),
        breached_at=func.coalesce(clocks.c.breached_at, bindparam("b_breached", type_=UTCDateTime)),
    )
)
# PostgreSQL: the clock's UPDATE as a data-modifying CTE of its timers' cancelling UPDATE,
# one round trip instead of two (SQLite has no such CTE: two statements there)
_STOPPED = _STOP_CLOCK.returning(clocks.c.id).cte("stopped")
_STOP_CLOCK_CANCELLING = (
    update(timers)
    .where(
        timers.c.clock_id == select(_STOPPED.c.id).scalar_subquery(),
        or_(timers.c.status == PENDING, timers.c.status == PAUSED),
    )
    .values(status=CANCELLED, done_at=bindparam("b_now", type_=UTCDateTime))
    .add_cte(_STOPPED)
)


# PostgreSQL: leaving a state, in one statement: lock the item's running or paused clocks
# (`old`), stop those whose state is not kept (lateness as `clock_late`, in SQL), cancel
# their timers, and return every one of them as it was
@functools.cache
def _leave() -> Any:
    """The statement, built on first use: a SQLite start does not import the PostgreSQL
    dialect (its array type names the states kept)."""
    from sqlalchemy.dialects import postgresql

    old = (
        select(*_CLOCK_COLUMNS)
        .where(
            clocks.c.item_id == bindparam("b_item"),
            or_(clocks.c.status == RUNNING, clocks.c.status == PAUSED),
        )
        .with_for_update()
        .cte("old")
    )
    at = bindparam("b_at", type_=UTCDateTime)
    now = bindparam("b_now", type_=UTCDateTime)
    overdue = and_(old.c.status == RUNNING, old.c.due_at < at)
    left = (
        update(clocks)
        .where(
            clocks.c.id == old.c.id,
            not_(old.c.state == any_(bindparam("b_keep", type_=postgresql.ARRAY(String)))),
        )
        .values(
            status=STOPPED,
            stopped_at=now,
            paused_at=None,
            outcome=case((or_(old.c.breached_at.is_not(None), overdue), "breached"), else_="met"),
            breached_at=case(
                (and_(old.c.breached_at.is_(None), overdue), now), else_=old.c.breached_at
            ),
        )
        .returning(clocks.c.id)
        .cte("left_clocks")
    )
    left_timers = (
        update(timers)
        .where(
            timers.c.clock_id.in_(select(left.c.id)),
            or_(timers.c.status == PENDING, timers.c.status == PAUSED),
        )
        .values(status=CANCELLED, done_at=now)
        .cte("left_timers")
    )
    leave = (
        select(*(old.c[name] for name in ClockRow.__slots__))
        .add_cte(left, left_timers)
        .order_by(old.c.id)
    )
    return leave


_RESUME_TIMER = update(timers).where(timers.c.id == bindparam("b_id"), timers.c.status == PAUSED)
_SET_TIMER_DUE = update(timers).where(timers.c.id == bindparam("b_id"), timers.c.status == PENDING)
_INSERT_TIMERS = insert(timers)
_INSERT_CLOCK = insert(clocks).returning(clocks.c.id)
_INSERT_CLOCKS = insert(clocks)  # with their ids, reserved ahead (a batch's kept appends)
_LARGEST_CLOCK_ID = select(func.max(clocks.c.id).label("largest"))
_ACTIVE_CLOCKS = (
    select(*_CLOCK_COLUMNS)
    .where(
        clocks.c.item_id == bindparam("b_item"),
        # not IN: a literal IN list is expanded per call (no prebuilt SQL on the fast path)
        or_(clocks.c.status == RUNNING, clocks.c.status == PAUSED),
    )
    .order_by(clocks.c.id)
)
_CLOCK = select(*_CLOCK_COLUMNS).where(clocks.c.id == bindparam("b_id"))
_UPDATE_CLOCK = update(clocks).where(clocks.c.id == bindparam("b_id"))
_KEPT_UPDATE_CLOCK = KeptUpdate(_UPDATE_CLOCK, "clocks")
"""A clock's UPDATE kept with a batch's appends (SQLite)."""
_MARK_CLOCK = {
    column: update(clocks)
    .where(clocks.c.id == bindparam("b_id"), clocks.c[column].is_(None))
    .values({column: bindparam("b_now", type_=UTCDateTime)})
    for column in ("warned_at", "escalated_at", "breached_at")
}

_EMPTY_AT_START = frozenset(
    {
        "paused_at",
        "stopped_at",
        "warned_at",
        "escalated_at",
        "breached_at",
        "outcome",
        "done_at",
        "runner",
        "error",
    }
)
"""The columns of a new clock or timer that stay empty until it pauses, stops, warns or
is done: not bound when empty (SQLite's start, :meth:`TimeQueries._start_clock_sqlite`)."""
_TIMER_EMPTY_AT_START = ("done_at", "runner", "error")
"""The columns of :data:`_EMPTY_AT_START` a timer has."""
_ARMED_TIMER = frozenset(NewTimer.__slots__) - {"clock_id", *_TIMER_EMPTY_AT_START}
"""The fields of a timer as a clock's start arms it (the engine's clocks give exactly
these): every field of :class:`NewTimer` but the clock's id, which the start adds, and
those empty until the timer is done, which default to NULL."""
_STARTED_CLOCK = frozenset(NewClock.__slots__) - _EMPTY_AT_START
"""The fields of a clock as the engine starts it: every field of :class:`NewClock` but
those empty until it pauses, stops or warns, which default to NULL."""

_ARMED: dict[tuple[tuple[str, ...], tuple[str, ...], int], Any] = {}


def _armed(clock_keys: tuple[str, ...], timer_keys: tuple[str, ...], count: int) -> Any:
    """PostgreSQL: a clock's INSERT as a data-modifying CTE of the INSERT of its
    ``count`` timers, which take its id (one round trip instead of two); returns the
    clock's id (once per timer). Built once per shape (a handful: the ladders' lengths)
    and kept."""
    key = (clock_keys, timer_keys, count)
    found = _ARMED.get(key)
    if found is None:
        armed = (
            insert(clocks)
            .values({k: bindparam(f"c_{k}", type_=clocks.c[k].type) for k in clock_keys})
            .returning(clocks.c.id)
            .cte("armed")
        )
        clock_id = select(armed.c.id).scalar_subquery()
        rows = [
            {
                **{k: bindparam(f"t{i}_{k}", type_=timers.c[k].type) for k in timer_keys},
                "clock_id": clock_id,
            }
            for i in range(count)
        ]
        found = _ARMED[key] = (
            insert(timers).values(rows).add_cte(armed).returning(timers.c.clock_id)
        )
    return found


def _due(row: Row[Any]) -> DueTimer:
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


class TimeQueries(Appends):
    """The SQL of clocks, timers, schedule occurrences and runners, as methods of the
    SQL transaction (:class:`~cmc_workflow.store.repository.SqlTx` inherits them); each
    does what :class:`~cmc_workflow.store.port.StoreTx` documents."""

    sqlite: bool

    def insert_timers(self, rows: Sequence[NewTimer | Mapping[str, Any]]) -> None:
        if rows:
            self._append(_INSERT_TIMERS, "timers", [row_values(NewTimer, r) for r in rows])

    def next_due_at(self, skip: Sequence[str] = ()) -> dt.datetime | None:
        """One probe of the index ``ix_timers_due`` (joined with the items when some
        workflows are skipped)."""
        if skip:
            query = self._conn.execute(_NEXT_DUE_SKIPPING, {"b_skip": list(skip)})
        else:
            query = self._conn.execute(_NEXT_DUE)
        value: dt.datetime | None = query.scalar_one_or_none()
        return value

    def claim_due_timer(self, now: dt.datetime) -> DueTimer | None:
        """The first of :meth:`claim_due_timers` with a limit of one."""
        found = self.claim_due_timers(now, 1)
        return found[0] if found else None

    def claim_due_timers(
        self, now: dt.datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[DueTimer]:
        """PostgreSQL locks the timers *and their items* and skips rows other transactions
        hold (``FOR UPDATE OF timers, items SKIP LOCKED``), so concurrent runners claim
        disjoint sets and none waits for another; SQLite's write lock serializes runners.
        The locks are the claim: they last until the transaction ends, and a runner that
        dies releases them with its connection (no lease to expire).

        Locking the items with the timers keeps one lock order, item before timers, for
        every transaction: a command (or another runner's timer) that moves an item locks
        the item and then updates its timers and clock. With only the timer locked, two
        runners deadlocked on PostgreSQL: runner B claimed timer T2 of item X while runner
        A, holding X for timer T1, fired a transition that cancels X's pending timers, T2
        among them (A waits for B's T2, B's own firing waits for A's X)."""
        if skip:
            query = _CLAIM_DUE_SKIPPING if self.sqlite else _CLAIM_DUE_SKIPPING_LOCKED
            params: dict[str, Any] = {"b_now": now, "b_limit": limit, "b_skip": list(skip)}
        else:
            query = _CLAIM_DUE if self.sqlite else _CLAIM_DUE_LOCKED
            params = {"b_now": now, "b_limit": limit}
        rows = self._conn.execute(query, params).all()
        return [_due(r) for r in rows]

    def due_timer(self, timer_id: int, now: dt.datetime) -> DueTimer | None:
        """A timer this transaction claimed, read again: None once it is no longer pending
        and due (an earlier step of the same batch cancelled, paused or moved it)."""
        row = self._conn.execute(_DUE_AGAIN, {"b_id": timer_id, "b_now": now}).first()
        return _due(row) if row is not None else None

    def finish_timer(
        self,
        timer_id: int,
        status: str,
        now: dt.datetime,
        runner: str,
        error: str | None = None,
    ) -> None:
        self.finish_timers([(timer_id, status, error)], now, runner)

    def finish_timers(
        self, done: Sequence[tuple[int, str, str | None]], now: dt.datetime, runner: str
    ) -> None:
        """One statement for the whole batch (executemany)."""
        if done:
            self._conn.execute(
                _FINISH_TIMER,
                [
                    {
                        "b_id": timer_id,
                        "status": status,
                        "done_at": now,
                        "runner": runner,
                        "error": error,
                    }
                    for timer_id, status, error in done
                ],
            )

    def clock_timers(self, clock_id: int, status: str) -> list[TimerRow]:
        rows = self._conn.execute(_CLOCK_TIMERS, {"b_clock": clock_id, "b_status": status})
        return [_timer(r) for r in rows]

    def set_clock_timers(
        self, clock_id: int, from_status: str, values: Mapping[str, Any]
    ) -> int | None:
        """In a batch that keeps its appends (SQLite), kept with them (None: how many it
        changes is known at the flush) and written by one executemany with the batch's
        other such UPDATEs, after the timers kept before it."""
        checked_columns(values, TIMER_COLUMNS, "a timer")
        params = {"b_clock": clock_id, "b_from": from_status, **values}
        if self._keeps_updates():
            self._keep_update(_KEPT_SET_CLOCK_TIMERS, params)
            return None
        self.flush_appends(("timers",))  # (kept timers first)
        return self._changed(_SET_CLOCK_TIMERS, params)

    def cancel_clock_timers(self, clock_ids: Sequence[int], now: dt.datetime) -> int:
        """One UPDATE for every pending or paused timer of the clocks (index
        ``ix_timers_clock``)."""
        if not clock_ids:
            return 0
        if len(clock_ids) == 1:  # the usual case: one clock stops (a prebuilt statement)
            return self._changed(_CANCEL_ONE_CLOCK_TIMERS, {"b_clock": clock_ids[0], "b_now": now})
        result = self._conn.execute(
            _CANCEL_CLOCK_TIMERS, {"b_clocks": list(clock_ids), "b_now": now}
        )
        return int(result.rowcount)

    def stop_clock(
        self, clock_id: int, outcome: str, now: dt.datetime, breached: bool = False
    ) -> int:
        """One statement on PostgreSQL (the clock's UPDATE in a CTE of the timers'), two on
        SQLite."""
        values = {
            "b_clock": clock_id,
            "b_now": now,
            "b_outcome": outcome,
            "b_breached": now if breached else None,
        }
        if self.sqlite:
            self._changed(_STOP_CLOCK, values)
            return self._changed(_CANCEL_ONE_CLOCK_TIMERS, values)
        return self._changed(_STOP_CLOCK_CANCELLING, values)

    def stop_clocks_leaving(
        self, item_id: int, keep: Sequence[str], now: dt.datetime, at: dt.datetime
    ) -> list[ClockRow]:
        """One statement on PostgreSQL (``_leave()``); on SQLite, whose ``RETURNING`` shows
        no old values, the read and a :meth:`stop_clock` per clock stopped."""
        if self.sqlite:
            return stop_leaving(self.stop_clock, self.active_clocks(item_id), keep, now, at)
        self.flush_appends(("clocks", "timers"))  # a batch's kept appends first
        values = {"b_item": item_id, "b_keep": list(keep), "b_now": now, "b_at": at}
        return [ClockRow(**r) for r in self._rows(_leave(), values)]

    def resume_timer(self, timer_id: int, due_at: dt.datetime, state: str, visit: int) -> None:
        self._conn.execute(
            _RESUME_TIMER,
            {"b_id": timer_id, "status": PENDING, "due_at": due_at, "state": state, "visit": visit},
        )

    def set_timer_due(self, timer_id: int, due_at: dt.datetime) -> None:
        self._conn.execute(_SET_TIMER_DUE, {"b_id": timer_id, "due_at": due_at})

    def timers_of(self, item_id: int) -> list[TimerRow]:
        rows = self._conn.execute(
            select(*_TIMER_COLUMNS).where(timers.c.item_id == item_id).order_by(timers.c.id)
        ).all()
        return [_timer(r) for r in rows]

    def upcoming_timers(self, limit: int) -> list[tuple[TimerRow, str]]:
        rows = self._conn.execute(
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

    def count_timers(self, status: str, due_before: dt.datetime | None = None) -> int:
        query = select(func.count()).select_from(timers).where(timers.c.status == status)
        if due_before is not None:
            query = query.where(timers.c.due_at <= due_before)
        return int(self._conn.execute(query).scalar_one())

    def count_pending_outbox(self) -> int:
        query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        return int(self._conn.execute(query).scalar_one())

    def insert_clock(self, values: NewClock | Mapping[str, Any]) -> int:
        """In a batch that keeps its appends (SQLite), the clock is kept with them under
        an id reserved ahead (:meth:`~cmc_workflow.store.fast.Appends._reserved_id`): its
        timers need the id, not the row. Every read or change of the clocks table here
        writes the kept clocks first (:meth:`_clocks_written`)."""
        row = row_values(NewClock, values)
        clock_id = self._reserved_id("clocks", _LARGEST_CLOCK_ID)
        if clock_id is None:
            return self._insert_returning_id(_INSERT_CLOCK, row)
        self._append(_INSERT_CLOCKS, "clocks", [{"id": clock_id, **row}])
        return clock_id

    def start_clock(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        """One statement on PostgreSQL (the clock's INSERT in a CTE of its timers'), two
        on SQLite and while a batch keeps its appends (the timers go with the batch's)."""
        if self.sqlite and self._fast is not None:
            if self._appending is None:
                return self._start_clock_sqlite(values, timers)
            return self._start_clock_kept(values, timers)
        if (
            not self.sqlite
            and self._appending is None
            and timers
            and isinstance(values, Mapping)
            and values.keys() == _STARTED_CLOCK
            and all(timer.keys() == _ARMED_TIMER for timer in timers)
        ):
            # PostgreSQL, the engine's shape (see _start_clock_sqlite): bound as given,
            # the empty columns left to their default, NULL (no row_values: 4 rows a start)
            clock: Mapping[str, Any] = values
            rows: Sequence[Mapping[str, Any]] = timers
        else:
            clock = row_values(NewClock, values)
            if self.sqlite or self._appending is not None or not timers:
                clock_id = self.insert_clock(clock)
                self.insert_timers([{**row, "clock_id": clock_id} for row in timers])
                return clock_id
            full = [row_values(NewTimer, {**row, "clock_id": None}) for row in timers]
            for armed in full:
                del armed["clock_id"]
            rows = full
        statement = _armed(tuple(clock), tuple(rows[0]), len(rows))
        parameters = {f"c_{key}": value for key, value in clock.items()}
        for i, row in enumerate(rows):
            parameters.update({f"t{i}_{key}": value for key, value in row.items()})
        found = self._first(statement, parameters)
        assert found is not None
        return int(found["clock_id"])

    def _start_clock_kept(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        """SQLite, in a batch that keeps its appends: the clock kept under the id reserved
        for it (:meth:`~cmc_workflow.store.fast.Appends._reserved_id`), its timers kept
        naming it, as :meth:`_start_clock_sqlite` leaves out the columns a new row leaves
        empty (NULL either way, without a conversion each at the flush). A clock and
        timers in the engine's shape (:data:`_STARTED_CLOCK`, :data:`_ARMED_TIMER`) are
        kept as they are, as :meth:`_start_clock_sqlite` binds them: the same rows,
        without :func:`row_values` (about 7 µs a row on the round-7 machine)."""
        clock_id = self._reserved_id("clocks", _LARGEST_CLOCK_ID)
        assert clock_id is not None  # SQLite on the driver's cursor, appends kept
        if isinstance(values, Mapping) and values.keys() == _STARTED_CLOCK:
            row: dict[str, Any] = {"id": clock_id, **values}
        else:
            row = {"id": clock_id}
            for key, value in row_values(NewClock, values).items():
                if value is not None or key not in _EMPTY_AT_START:
                    row[key] = value
        self._append(_INSERT_CLOCKS, "clocks", [row])
        self._kept_timers(clock_id, timers)
        return clock_id

    def _kept_timers(self, clock_id: int, timers: Sequence[Mapping[str, Any]]) -> None:
        """Keep a new clock's timers, naming it, without the columns a new timer leaves
        empty (:data:`_TIMER_EMPTY_AT_START`; a row that sets one keeps it, and the flush
        writes rows of other columns by an executemany of their own)."""
        if not timers:
            return
        if all(timer.keys() == _ARMED_TIMER for timer in timers):
            self._append(_INSERT_TIMERS, "timers", [{**t, "clock_id": clock_id} for t in timers])
            return
        rows = []
        for timer in timers:
            values = row_values(NewTimer, {**timer, "clock_id": clock_id})
            for key in _TIMER_EMPTY_AT_START:
                if values[key] is None:
                    del values[key]
            rows.append(values)
        self._append(_INSERT_TIMERS, "timers", rows)

    def _start_clock_sqlite(
        self, values: NewClock | Mapping[str, Any], timers: Sequence[Mapping[str, Any]]
    ) -> int:
        """SQLite, one command on the driver's cursor: the clock's plain INSERT, whose id
        the cursor tells (``lastrowid``, no ``RETURNING`` row to fetch and decode), then
        its timers' INSERT. The columns a new row leaves empty (:data:`_EMPTY_AT_START`,
        when empty) are not bound: NULL either way, without a conversion each.

        A clock and timers given as the engine's clocks give them (a mapping of exactly
        :data:`_STARTED_CLOCK`, timers of exactly :data:`_ARMED_TIMER`) are bound as
        they are: they hold every field without a default and none of the empty ones,
        so there are no defaults to fill in and nothing to leave out. Any other shape
        is completed and checked field by field (:func:`row_values`)."""
        assert self._fast is not None
        if isinstance(values, Mapping) and values.keys() == _STARTED_CLOCK:
            row: Mapping[str, Any] = values
        else:
            clock = row_values(NewClock, values)
            row = {k: v for k, v in clock.items() if v is not None or k not in _EMPTY_AT_START}
        clock_id = self._fast(_INSERT_CLOCKS, list(row)).inserted_id(self._conn, row)
        if not timers:
            return clock_id
        if all(timer.keys() == _ARMED_TIMER for timer in timers):
            self._append(_INSERT_TIMERS, "timers", [{**t, "clock_id": clock_id} for t in timers])
            return clock_id
        rows = [row_values(NewTimer, {**timer, "clock_id": clock_id}) for timer in timers]
        # one executemany binds the same keys for every row: leave out only the columns
        # empty in all of them
        empty = [k for k in _EMPTY_AT_START if all(r.get(k, 0) is None for r in rows)]
        for found in rows:
            for key in empty:
                del found[key]
        self._append(_INSERT_TIMERS, "timers", rows)
        return clock_id

    def active_clocks(self, item_id: int) -> list[ClockRow]:
        return [ClockRow(**r) for r in self._rows(_ACTIVE_CLOCKS, {"b_item": item_id})]

    def clock(self, clock_id: int) -> ClockRow | None:
        row = self._conn.execute(_CLOCK, {"b_id": clock_id}).first()
        return _clock(row) if row is not None else None

    def update_clock(self, clock_id: int, values: Mapping[str, Any]) -> None:
        """In a batch that keeps its appends (SQLite), kept with them and written by one
        executemany with the batch's other clock UPDATEs before any read of the clocks
        (:meth:`~cmc_workflow.store.fast.Appends._keep_update`)."""
        checked_columns(values, CLOCK_COLUMNS, "a clock")
        if not values:
            return
        if self._keeps_updates():
            self._keep_update(_KEPT_UPDATE_CLOCK, {"b_id": clock_id, **values})
            return
        self.flush_appends(("clocks",))  # (kept clocks first)
        self._changed(_UPDATE_CLOCK, {"b_id": clock_id, **values})

    def mark_clock_once(self, clock_id: int, column: str, now: dt.datetime) -> None:
        checked_mark(column)
        self._conn.execute(_MARK_CLOCK[column], {"b_id": clock_id, "b_now": now})

    def clocks_of(self, item_id: int) -> list[ClockRow]:
        rows = self._conn.execute(
            select(*_CLOCK_COLUMNS).where(clocks.c.item_id == item_id).order_by(clocks.c.id)
        ).all()
        return [_clock(r) for r in rows]

    def provisional_clocks(self, limit: int = 100) -> list[ClockRow]:
        rows = self._conn.execute(
            select(*_CLOCK_COLUMNS)
            .where(clocks.c.status.in_([RUNNING, PAUSED]), clocks.c.provisional.is_(True))
            .order_by(clocks.c.due_at)
            .limit(limit)
        ).all()
        return [_clock(r) for r in rows]

    def overdue_clocks(self, now: dt.datetime, limit: int = 100) -> list[ClockRow]:
        rows = self._conn.execute(
            select(*_CLOCK_COLUMNS)
            .where(clocks.c.status == RUNNING, clocks.c.due_at < now)
            .order_by(clocks.c.due_at)
            .limit(limit)
        ).all()
        return [_clock(r) for r in rows]

    def cursor(self, schedule_id: str, now: dt.datetime) -> CursorRow:
        self._conn.execute(
            _insert(self.sqlite, schedule_cursors)
            .values(schedule_id=schedule_id, since=now, last_due=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["schedule_id"])
        )
        row = self._conn.execute(
            select(schedule_cursors).where(schedule_cursors.c.schedule_id == schedule_id)
        ).one()
        return CursorRow(**row._mapping)

    def cursors(self) -> dict[str, CursorRow]:
        rows = self._conn.execute(select(schedule_cursors)).all()
        return {r.schedule_id: CursorRow(**r._mapping) for r in rows}

    def advance_cursor(self, schedule_id: str, due_at: dt.datetime, now: dt.datetime) -> None:
        self._conn.execute(
            update(schedule_cursors)
            .where(
                schedule_cursors.c.schedule_id == schedule_id,
                (schedule_cursors.c.last_due.is_(None)) | (schedule_cursors.c.last_due < due_at),
            )
            .values(last_due=due_at, updated_at=now)
        )

    def insert_run(
        self,
        schedule_id: str,
        due_at: dt.datetime,
        status: str,
        now: dt.datetime,
        *,
        runner: str | None = None,
        claimed_until: dt.datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int | None:
        query = (
            _insert(self.sqlite, schedule_runs)
            .values(new_run(schedule_id, due_at, status, now, runner, claimed_until, detail))
            .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
            .returning(schedule_runs.c.id)
        )
        new_id: int | None = self._conn.execute(query).scalar_one_or_none()
        return new_id

    def has_stale_runs(self, now: dt.datetime) -> bool:
        found = self._conn.execute(
            select(schedule_runs.c.id)
            .where(schedule_runs.c.status == CLAIMED, schedule_runs.c.claimed_until < now)
            .limit(1)
        ).first()
        return found is not None

    def reclaim_stale_runs(
        self, now: dt.datetime, runner: str, until: dt.datetime, limit: int = 10
    ) -> list[RunRow]:
        query = (
            select(*_RUN_COLUMNS)
            .where(schedule_runs.c.status == CLAIMED, schedule_runs.c.claimed_until < now)
            .order_by(schedule_runs.c.due_at)
            .limit(limit)
        )
        if not self.sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = [_run(r) for r in self._conn.execute(query).all()]
        if rows:
            self._conn.execute(
                update(schedule_runs)
                .where(schedule_runs.c.id.in_([r.id for r in rows]))
                .values(runner=runner, claimed_until=until)
            )
        return rows

    def finish_run(
        self,
        run_id: int,
        runner: str,
        status: str,
        now: dt.datetime,
        *,
        item_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        result = self._conn.execute(
            update(schedule_runs)
            .where(
                schedule_runs.c.id == run_id,
                schedule_runs.c.runner == runner,
                schedule_runs.c.status == CLAIMED,
            )
            .values(finished_run(status, now, item_id, detail))
        )
        return result.rowcount == 1

    def runs_of(self, schedule_id: str, limit: int = 100) -> list[RunRow]:
        rows = self._conn.execute(
            select(*_RUN_COLUMNS)
            .where(schedule_runs.c.schedule_id == schedule_id)
            .order_by(schedule_runs.c.due_at.desc())
            .limit(limit)
        ).all()
        return [_run(r) for r in rows]

    def latest_runs(self) -> dict[str, RunRow]:
        newest = (
            select(schedule_runs.c.schedule_id, func.max(schedule_runs.c.due_at).label("due"))
            .group_by(schedule_runs.c.schedule_id)
            .subquery()
        )
        rows = self._conn.execute(
            select(*_RUN_COLUMNS).join(
                newest,
                (newest.c.schedule_id == schedule_runs.c.schedule_id)
                & (newest.c.due == schedule_runs.c.due_at),
            )
        ).all()
        return {r.schedule_id: _run(r) for r in rows}

    def heartbeat(
        self,
        runner: str,
        host: str,
        pid: int,
        now: dt.datetime,
        detail: dict[str, Any],
    ) -> None:
        query = _insert(self.sqlite, runners).values(new_runner(runner, host, pid, now, detail))
        self._conn.execute(
            query.on_conflict_do_update(
                index_elements=["runner"], set_=heartbeat_values(now, detail)
            )
        )

    def runner_stopped(self, runner: str, now: dt.datetime) -> None:
        self._conn.execute(update(runners).where(runners.c.runner == runner).values(stopped_at=now))

    def runner_rows(self) -> list[RunnerRow]:
        rows = self._conn.execute(select(runners).order_by(runners.c.heartbeat_at.desc())).all()
        return [RunnerRow(**r._mapping) for r in rows]

    def forget_runners(self, before: dt.datetime) -> int:
        result = self._conn.execute(delete(runners).where(runners.c.heartbeat_at < before))
        return int(result.rowcount)
