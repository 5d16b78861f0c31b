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

:meth:`Clocks.run_due` (called by :meth:`Engine.run_due`) claims due timers one at a time,
each in its own transaction, and applies its effect there: ``warn``/``breach`` record on
the clock and in the audit log, ``escalate``/``notify`` queue an outbox notification to a
role, ``fire`` takes a transition through :meth:`Engine.fire_system`. A ladder without a
``breach`` step gets one at 100%, so every breach is recorded. A clock's status is also
computed on read (:meth:`Clocks.clocks`): a breach shows even when no daemon ran.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from cmc_workflow.calendar import Deadline, WorkingCalendar, add_months
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.forms import read_moment
from cmc_workflow.definition.models import Deadline as DeadlineSpec
from cmc_workflow.definition.models import DeadlineStep, Duration, parse_duration
from cmc_workflow.errors import CmcWorkflowError, PolicyDenied
from cmc_workflow.extensions import Change, Extension, Visit
from cmc_workflow.model import SYSTEM
from cmc_workflow.store import Tx
from cmc_workflow.store import timers as sql
from cmc_workflow.store.timers import ClockRow, TimerRow

if TYPE_CHECKING:
    from cmc_workflow.engine import Engine

log = structlog.get_logger("cmc_workflow.clocks")

SYSTEM_ROLE = "system"
"""The role of the engine itself (timers, schedules): never reminded."""

BREACH_STEP = -1
"""The step index of the implicit breach at 100% (ladders without a ``breach`` step)."""

_ZERO = dt.timedelta(0)


# -- deadline arithmetic on top of the working-day calendar --------------------------------
def compute_deadline(calendar: WorkingCalendar, start: dt.datetime, within: Duration) -> Deadline:
    """The end of ``within`` counted from ``start``, by the rule its unit calls for.

    Working days and working hours follow the working-day calendar; days, weeks and months
    are Civil Code periods (receipt day not counted, a last day off moves to the next
    working day); hours and minutes are elapsed time.
    """
    n = within.amount
    if within.unit == "working_days":
        return calendar.add_working_days(start, n)
    if within.unit == "working_hours":
        return calendar.add_working_hours(start, n)
    if within.unit == "days":
        return calendar.add_calendar_days(start, n)
    if within.unit == "weeks":
        found = calendar.add_calendar_days(start, 7 * n)
        return dataclasses.replace(found, rule=f"{within} = {found.rule}")
    if within.unit == "months":
        local = start.astimezone(calendar.settings.tz)
        last = add_months(local.date(), n)
        found = calendar.add_calendar_days(start, (last - local.date()).days)
        return dataclasses.replace(found, rule=f"{within} (to {last}) = {found.rule}")
    minutes = n * 60 if within.unit == "hours" else n
    return calendar.add_calendar_time(start, dt.timedelta(minutes=minutes))


def _window(calendar: WorkingCalendar, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The working interval of a working day (the whole day without business hours)."""
    tz = calendar.settings.tz
    hours = calendar.settings.business_hours
    if hours is None:
        return (
            dt.datetime.combine(day, dt.time(0), tzinfo=tz),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz),
        )
    return (
        dt.datetime.combine(day, hours.opens, tzinfo=tz),
        dt.datetime.combine(day, hours.closes, tzinfo=tz),
    )


def working_time_between(calendar: WorkingCalendar, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """The working time (business hours of working days) between ``a`` and ``b``."""
    if b <= a:
        return _ZERO
    tz = calendar.settings.tz
    day, last = a.astimezone(tz).date(), b.astimezone(tz).date()
    total = _ZERO
    while day <= last:
        if calendar.is_working(day):
            opens, closes = _window(calendar, day)
            span = min(b, closes) - max(a, opens)
            if span > _ZERO:
                total += span
        day += dt.timedelta(days=1)
    return total


def subtract_working_time(
    calendar: WorkingCalendar, end: dt.datetime, amount: dt.timedelta
) -> dt.datetime:
    """The instant ``amount`` of working time before ``end``."""
    tz = calendar.settings.tz
    remaining = amount
    day = end.astimezone(tz).date()
    for _ in range(3660):
        if calendar.is_working(day):
            opens, closes = _window(calendar, day)
            top = min(end, closes)
            available = top - opens
            if available > _ZERO:
                if remaining <= available:
                    return (top - remaining).astimezone(tz)
                remaining -= available
        day -= dt.timedelta(days=1)
    return end - amount  # pragma: no cover - a calendar without working days


def _uses_working_time(within: Duration) -> bool:
    return within.unit in ("working_days", "working_hours")


def step_time(
    calendar: WorkingCalendar,
    step: DeadlineStep,
    within: Duration,
    start: dt.datetime,
    due: dt.datetime,
) -> dt.datetime:
    """When a ladder step happens for a clock started at ``start`` and due at ``due``.

    ``at: 'P%'`` is that share of the clock's span, in working time for working-time
    deadlines; ``after:`` counts like ``within`` from the start; ``before:`` counts back
    from the due time. A time before the start is moved to the start.
    """
    tz = calendar.settings.tz
    if step.at is not None:
        share = int(step.at.rstrip("%"))
        if share >= 100:
            return due
        if share <= 0:
            return start
        if _uses_working_time(within):
            total = working_time_between(calendar, start, due)
            found = calendar.add_working_hours(start, total * share / 100).due
            return min(found, due)
        return start + (due - start) * share / 100
    if step.after is not None:
        return compute_deadline(calendar, start, step.after).due
    assert step.before is not None  # the checks require exactly one of at/after/before
    before = step.before
    n = before.amount
    if before.unit == "working_hours":
        found = subtract_working_time(calendar, due, dt.timedelta(hours=n))
    elif before.unit == "working_days":
        local = due.astimezone(tz)
        last = (local - dt.timedelta(microseconds=1)).date()
        day = last
        for _ in range(n):
            day = calendar.previous_working_day(day).value
        found = dt.datetime.combine(local.date() - (last - day), local.timetz())
    elif before.unit == "months":
        local = due.astimezone(tz)
        found = dt.datetime.combine(add_months(local.date(), -n), local.timetz())
    else:
        unit = {"days": 1440, "weeks": 10080, "hours": 60, "minutes": 1}[before.unit]
        found = due - dt.timedelta(minutes=n * unit)
    return max(found, start)


def shift(
    calendar: WorkingCalendar,
    when: dt.datetime,
    within: Duration,
    paused_from: dt.datetime,
    paused_to: dt.datetime,
) -> dt.datetime:
    """Move a due time on by a pause: by the working time the pause covered for
    working-time clocks, by the elapsed time for calendar clocks."""
    if not _uses_working_time(within):
        return when + (paused_to - paused_from)
    amount = working_time_between(calendar, paused_from, paused_to)
    if amount <= _ZERO:
        return when
    return calendar.add_working_hours(when, amount).due


# -- what callers read -----------------------------------------------------------------------
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
    if row.status == sql.STOPPED:
        return row.outcome or "met"
    if row.breached_at is not None:
        return "breached"
    if row.status == sql.PAUSED:
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
        stopped=row.status == sql.STOPPED,
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


@dataclass(frozen=True, slots=True)
class _Related:
    """The states of a workflow version that any clock cares about."""

    states: frozenset[str]


class Clocks(Extension):
    """The SLA clocks of every item, as an engine extension.

    ::

        calendar = WorkingCalendar.from_directory("calendars/")
        clocks = Clocks(calendar)
        engine = Engine.open(url, workflows="workflows/", extensions=[clocks])
        engine.run_due()                    # fires due timers, then delivers the outbox
        clocks.clocks(item.id)              # [ClockView(status="warning", ...)]

    ``batch`` bounds how many timers one :meth:`run_due` call fires (the rest wait for
    the next pass, so a daemon stays responsive to signals and reloads).
    """

    def __init__(self, calendar: WorkingCalendar, *, batch: int = 500) -> None:
        self.calendar = calendar
        self.batch = batch
        self._engine: Engine | None = None
        self._related: dict[str, _Related] = {}

    # -- wiring ----------------------------------------------------------------------------
    def bind(self, engine: Engine) -> None:
        """Remember the engine (for its store, clock and :meth:`Engine.fire_system`)."""
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine this extension is bound to."""
        if self._engine is None:
            raise RuntimeError("Clocks is not bound: pass it to Engine.open(extensions=[...])")
        return self._engine

    def set_calendar(self, calendar: WorkingCalendar) -> None:
        """Use a new calendar for clocks started from now on (e.g. after a reload)."""
        self.calendar = calendar

    # -- arming and cancelling, inside the command's transaction ---------------------------
    def after_change(self, tx: Tx, change: Change) -> None:
        """Start, pause, resume, re-fence or stop the item's clocks after a change."""
        wf = change.workflow
        related = self._states_of(wf)
        if change.left is None and change.kind != "start":
            return  # a self-loop: the item stays where it is, its clocks run on
        left = change.left.state if change.left is not None else None
        final = change.final
        if left not in related.states and final.state not in related.states:
            return
        active = sql.active_clocks(tx, change.item_id) if change.kind != "start" else []
        kept: set[str] = set()
        for row in active:
            spec = wf.state(row.state).deadline if row.state in wf.definition.states else None
            if spec is None:
                self._stop(tx, row, change.now)
            elif change.left is not None and change.left.state == final.state == row.state:
                # left the state and came back through gateways in this one command: a new
                # visit, so a new clock (e.g. a plan in force that opens its drill, EMG-4)
                self._stop(tx, row, change.now)
            elif final.state == row.state or final.state in spec.runs_in:
                self._continue(tx, row, spec, final, change.now)
                kept.add(row.state)
            elif final.state in spec.pause_in:
                self._pause(tx, row, final, change.now)
                kept.add(row.state)
            else:
                self._stop(tx, row, change.now)
        spec = wf.state(final.state).deadline
        if spec is not None and final.state not in kept and not wf.is_end(final.state):
            start = _counted_from(spec, change.data, change.now)
            deadline = self._deadline(spec, change.data, start)
            if deadline is not None:
                self._start(tx, wf, change.item_id, final, spec, start, deadline)
            else:
                log.info(
                    "deadline_without_date",
                    item_id=change.item_id,
                    state=final.state,
                    field=spec.until,
                )

    def _deadline(
        self, spec: DeadlineSpec, data: Mapping[str, Any], start: dt.datetime
    ) -> Deadline | None:
        """When a clock starting at ``start`` is due: ``within`` counted from the start, or
        the ``until`` date of the item's data (None: the item names no such date)."""
        if spec.within is not None:
            return compute_deadline(self.calendar, start, spec.within)
        assert spec.until is not None  # the checks require one of within/until
        due = _date_due(data.get(spec.until), self.calendar.settings.tz)
        if due is None:
            return None
        return Deadline(
            start=start,
            due=due,
            rule=f"until data.{spec.until} ({due.isoformat()})",
            calendar_version=self.calendar.version,
        )

    def _states_of(self, wf: CompiledWorkflow) -> _Related:
        found = self._related.get(wf.content_hash)
        if found is None:
            names: set[str] = set()
            for name, state in wf.definition.states.items():
                if state.deadline is not None:
                    names |= {name, *state.deadline.pause_in, *state.deadline.runs_in}
            found = self._related[wf.content_hash] = _Related(frozenset(names))
        return found

    def _start(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        item_id: int,
        at: Visit,
        spec: DeadlineSpec,
        now: dt.datetime,
        deadline: Deadline,
    ) -> None:
        due = deadline.due
        span = _span(spec)
        times = [step_time(self.calendar, s, span, now, due) for s in spec.steps]
        warns = [t for s, t in zip(spec.steps, times, strict=True) if s.action == "warn"]
        clock_id = sql.insert_clock(
            tx,
            {
                "item_id": item_id,
                "workflow_id": wf.id,
                "state": at.state,
                "at_state": at.state,
                "visit": at.visit,
                "status": sql.RUNNING,
                "within": str(spec.within) if spec.within is not None else spec.span,
                "started_at": now,
                "due_at": due,
                "warn_at": min(warns) if warns else None,
                "rule": deadline.rule,
                "calendar_version": deadline.calendar_version,
                "provisional": deadline.provisional,
                "detail": {
                    "deadline": deadline.as_record(),
                    "steps": [s.model_dump(mode="json", exclude_none=True) for s in spec.steps],
                    "implements": list(spec.implements),
                    "pauses": [],
                },
            },
        )
        # a warning without `to:` reminds whoever the task waits on: each role that may
        # act in the state gets one timer (one notification)
        roles: set[str] = set().union(*(e.roles for e in wf.edges(at.state)))
        waiting: list[str | None] = [*sorted(roles - {SYSTEM_ROLE})] or [None]
        rows = [
            self._timer(item_id, clock_id, at, j, step.action, role, step.trigger, when, now)
            for j, (step, when) in enumerate(zip(spec.steps, times, strict=True))
            for role in (waiting if step.action == "warn" and step.to is None else [step.to])
        ]
        if not any(step.action == "breach" for step in spec.steps):
            rows.append(
                self._timer(item_id, clock_id, at, BREACH_STEP, "breach", None, None, due, now)
            )
        sql.insert_timers(tx, rows)
        if deadline.provisional:
            log.warning(
                "provisional_deadline",
                item_id=item_id,
                workflow=wf.id,
                state=at.state,
                due=due.isoformat(),
                guessed_years=sorted(deadline.guessed_years),
                rule=deadline.rule,
            )

    @staticmethod
    def _timer(
        item_id: int,
        clock_id: int,
        at: Visit,
        step: int,
        action: str,
        role: str | None,
        trigger: str | None,
        when: dt.datetime,
        now: dt.datetime,
    ) -> dict[str, Any]:
        return {
            "item_id": item_id,
            "clock_id": clock_id,
            "state": at.state,
            "visit": at.visit,
            "step": step,
            "action": action,
            "role": role,
            "trigger": trigger,
            "due_at": when,
            "status": sql.PENDING,
            "created_at": now,
        }

    def _continue(
        self, tx: Tx, row: ClockRow, spec: DeadlineSpec, at: Visit, now: dt.datetime
    ) -> None:
        """The item is (back) where the clock runs: resume it, or move the timers' fence."""
        if row.status == sql.PAUSED and row.paused_at is not None:
            within = _span(spec)
            paused_from = row.paused_at
            moved = {
                t.id: shift(self.calendar, t.due_at, within, paused_from, now)
                for t in sql.clock_timers(tx, row.id, sql.PAUSED)
            }
            for timer_id, when in moved.items():
                sql.resume_timer(tx, timer_id, when, at.state, at.visit)
            pauses = [
                *row.detail.get("pauses", []),
                {"from": _utc(paused_from), "to": _utc(now), "in": row.at_state},
            ]
            sql.update_clock(
                tx,
                row.id,
                {
                    "status": sql.RUNNING,
                    "paused_at": None,
                    "at_state": at.state,
                    "visit": at.visit,
                    "due_at": shift(self.calendar, row.due_at, within, paused_from, now),
                    "warn_at": None
                    if row.warn_at is None
                    else shift(self.calendar, row.warn_at, within, paused_from, now),
                    "detail": {**row.detail, "pauses": pauses},
                },
            )
            return
        sql.set_clock_timers(tx, row.id, sql.PENDING, {"state": at.state, "visit": at.visit})
        sql.update_clock(tx, row.id, {"at_state": at.state, "visit": at.visit})

    def _pause(self, tx: Tx, row: ClockRow, at: Visit, now: dt.datetime) -> None:
        values: dict[str, Any] = {"at_state": at.state, "visit": at.visit}
        if row.status == sql.RUNNING:
            sql.set_clock_timers(tx, row.id, sql.PENDING, {"status": sql.PAUSED, "state": at.state})
            values.update(status=sql.PAUSED, paused_at=now)
            if now > row.due_at and row.breached_at is None:
                values["breached_at"] = now  # it was overdue before the pause began
                self._audit_breach(tx, row, now, "overdue when paused")
        sql.update_clock(tx, row.id, values)

    def _stop(self, tx: Tx, row: ClockRow, now: dt.datetime) -> None:
        late = row.breached_at is not None or (row.status == sql.RUNNING and now > row.due_at)
        values: dict[str, Any] = {
            "status": sql.STOPPED,
            "stopped_at": now,
            "paused_at": None,
            "outcome": "breached" if late else "met",
        }
        if late and row.breached_at is None:
            values["breached_at"] = now  # no timer recorded it in time: record it now
            self._audit_breach(tx, row, now, "overdue when the item moved on")
        sql.update_clock(tx, row.id, values)
        for status in (sql.PENDING, sql.PAUSED):
            sql.set_clock_timers(tx, row.id, status, {"status": sql.CANCELLED, "done_at": now})

    def _audit_breach(self, tx: Tx, row: ClockRow, now: dt.datetime, why: str) -> None:
        tx.insert_audit(
            _audit_values(
                now,
                row.workflow_id,
                row.item_id,
                f"deadline:{row.state}:breach",
                f"deadline of {row.state!r} ({row.within}) breached: {why}; due "
                f"{row.due_at.isoformat()}",
                {"clock_id": row.id, "action": "breach", "due_at": row.due_at.isoformat()},
            )
        )

    # -- firing due timers -------------------------------------------------------------------
    def next_due(self) -> dt.datetime | None:
        """When the earliest pending timer is due (for the scheduler's wake-up)."""
        with self.engine.store.read() as tx:
            return sql.next_due_at(tx)

    def run_due(self, now: dt.datetime) -> int:
        """Fire the timers due at ``now``, each in its own transaction; returns how many
        were claimed (fired, found stale, or failed)."""
        engine = self.engine
        with engine.store.read() as tx:
            first = sql.next_due_at(tx)
        if first is None or first > now:
            return 0  # the common case: one index probe, no write lock
        done = 0
        with sql.write_series(engine.store) as transaction:
            while done < self.batch:
                with transaction() as tx:
                    due = sql.claim_due_timer(tx, now)
                    if due is None:
                        break
                    status, error = self._fire(tx, due, now)
                    sql.finish_timer(tx, due.timer.id, status, engine.clock(), engine.runner, error)
                done += 1
                self._log(due.timer, status, error)
        return done

    @staticmethod
    def _log(timer: TimerRow, status: str, error: str | None) -> None:
        log.info(
            "timer_fired" if status == sql.FIRED else f"timer_{status}",
            timer_id=timer.id,
            item_id=timer.item_id,
            action=timer.action,
            state=timer.state,
            due=timer.due_at.isoformat(),
            error=error,
        )

    def _fire(self, tx: Tx, due: sql.DueTimer, now: dt.datetime) -> tuple[str, str | None]:
        """Apply a claimed timer's effect in ``tx``; returns its final status and error.

        The fence is read with the claim: a timer whose item left the state visit (or
        whose clock stopped) is ``stale``. A ``fire`` step goes through
        :meth:`Engine.fire_system`, which locks the item and checks the fence again; the
        other effects only append (audit, outbox) and mark the clock.
        """
        timer = due.timer
        if due.item_closed or due.item_state != timer.state or due.item_visit != timer.visit:
            return sql.STALE, None
        if timer.clock_id is not None and due.clock_status != sql.RUNNING:
            return sql.STALE, None
        clock_state = due.clock_state or timer.state
        rule = f"deadline:{clock_state}:{timer.action}"
        late = now - timer.due_at
        reason = f"timer {timer.id}: {timer.action} of the deadline of {clock_state!r}"
        if due.clock_due_at is not None:
            reason += f" ({due.clock_within}, due {due.clock_due_at.isoformat()})"
        detail = {
            "timer_id": timer.id,
            "clock_id": timer.clock_id,
            "action": timer.action,
            "step": timer.step,
            "timer_due_at": timer.due_at.isoformat(),
            "late_seconds": round(late.total_seconds(), 3),
        }
        if timer.action == "fire":
            assert timer.trigger is not None  # the checks require a trigger on fire steps
            try:
                with sql.savepoint(tx):
                    self.engine.fire_system(
                        timer.item_id,
                        timer.trigger,
                        state=timer.state,
                        visit=timer.visit,
                        reason=reason,
                        tx=tx,
                    )
            except PolicyDenied as exc:
                # a policy refuses the engine's step like a person's: the savepoint rolled
                # it back, the item stays where it is, the refusal names the rule
                tx.insert_audit(
                    _audit_values(
                        now,
                        due.workflow_id,
                        timer.item_id,
                        exc.rule,
                        f"{reason}: {exc}",
                        {**detail, "deadline": rule, "reason_zh": exc.reason_zh},
                        outcome="refused",
                        trigger=timer.trigger,
                    )
                )
                log.warning(
                    "timer_refused",
                    item_id=timer.item_id,
                    timer_id=timer.id,
                    trigger=timer.trigger,
                    rule=exc.rule,
                )
                return sql.FAILED, str(exc)[:4000]
            except CmcWorkflowError as exc:
                tx.insert_audit(
                    _audit_values(
                        now,
                        due.workflow_id,
                        timer.item_id,
                        rule,
                        f"{reason}: {exc}",
                        detail,
                        outcome="failed",
                        trigger=timer.trigger,
                    )
                )
                return sql.FAILED, str(exc)[:4000]
            return sql.FIRED, None
        column = {"warn": "warned_at", "breach": "breached_at", "escalate": "escalated_at"}
        if timer.clock_id is not None and timer.action in column:
            sql.mark_clock_once(tx, timer.clock_id, column[timer.action], now)
        if timer.role is not None:
            tx.insert_outbox(
                [
                    {
                        "item_id": timer.item_id,
                        "kind": "notify",
                        "name": timer.role,
                        "payload": {
                            "workflow": due.workflow_id,
                            "state": timer.state,
                            "visit": timer.visit,
                            "reason": reason,
                            "deadline": {
                                "action": timer.action,
                                "due_at": _utc(due.clock_due_at) if due.clock_due_at else None,
                                "within": due.clock_within,
                            },
                        },
                        "idempotency_key": f"timer:{timer.id}:{timer.action}:{timer.role}",
                        "created_at": now,
                        "available_at": now,
                        "attempts": 0,
                    }
                ]
            )
        tx.insert_audit(_audit_values(now, due.workflow_id, timer.item_id, rule, reason, detail))
        return sql.FIRED, None

    # -- reading -------------------------------------------------------------------------------
    def clocks(self, item_id: int, now: dt.datetime | None = None) -> list[ClockView]:
        """The item's clocks, oldest first, with their status as of ``now`` (default: the
        engine's clock)."""
        at = now or self.engine.clock()
        with self.engine.store.read() as tx:
            rows = sql.clocks_of(tx, item_id)
        return [view(r, at) for r in rows]

    def timers(self, item_id: int) -> list[TimerRow]:
        """The item's timers, in the order armed, whatever their status."""
        with self.engine.store.read() as tx:
            return sql.timers_of(tx, item_id)

    def provisional(self, limit: int = 100) -> list[ClockView]:
        """Running clocks whose due time rests on a year without calendar data."""
        now = self.engine.clock()
        with self.engine.store.read() as tx:
            rows = sql.provisional_clocks(tx, limit)
        return [view(r, now) for r in rows]

    def recompute_provisional(self, now: dt.datetime | None = None) -> int:
        """Recompute provisional running clocks with the current calendar (after a year's
        data arrived in ``calendars/``); returns how many changed. Clocks that paused keep
        their times, since their pauses were counted on the old data."""
        at = now or self.engine.clock()
        changed = 0
        with self.engine.store.write() as tx:
            for row in sql.provisional_clocks(tx, limit=10_000):
                if row.status != sql.RUNNING or row.detail.get("pauses"):
                    continue
                if row.calendar_version == self.calendar.version:
                    continue
                changed += self._recompute(tx, row, at)
        return changed

    def _recompute(self, tx: Tx, row: ClockRow, now: dt.datetime) -> int:
        if row.within.startswith("until "):
            return 0  # a date of the item's data: no calendar arithmetic to redo
        within = parse_duration(row.within)
        steps = [DeadlineStep.model_validate(s) for s in row.detail.get("steps", [])]
        spec = DeadlineSpec(within=within, steps=steps)
        deadline = compute_deadline(self.calendar, row.started_at, within)
        for timer in sql.clock_timers(tx, row.id, sql.PENDING):
            if timer.step == BREACH_STEP:
                when = deadline.due
            else:
                step = spec.steps[timer.step]
                when = step_time(self.calendar, step, within, row.started_at, deadline.due)
            sql.set_timer_due(tx, timer.id, when)
        warns = [
            step_time(self.calendar, s, within, row.started_at, deadline.due)
            for s in spec.steps
            if s.action == "warn"
        ]
        sql.update_clock(
            tx,
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
                    "recomputed_at": _utc(now),
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


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def _audit_values(
    now: dt.datetime,
    workflow: str,
    item_id: int,
    rule: str,
    reason: str,
    detail: dict[str, Any],
    *,
    outcome: str = "accepted",
    trigger: str | None = None,
) -> dict[str, Any]:
    """An audit record of a deadline step, written as the system actor."""
    return {
        "at": now,
        "actor": SYSTEM.id,
        "roles": sorted(SYSTEM.roles),
        "command": "timer",
        "workflow_id": workflow,
        "item_id": item_id,
        "trigger": trigger,
        "outcome": outcome,
        "rule": rule,
        "reason": reason,
        "detail": detail,
    }


__all__: Sequence[str] = [
    "BREACH_STEP",
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


def _counted_from(spec: DeadlineSpec, data: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    """When a starting clock counts from: the ``counts_from`` data field when it holds an
    aware datetime not after ``now`` (a message registered after it arrived), else now."""
    if spec.counts_from is None:
        return now
    value = read_moment(data.get(spec.counts_from))
    if isinstance(value, dt.datetime) and value <= now:
        return value
    return now


_ELAPSED = Duration(1, "days")
"""The span unit of an ``until`` clock: its shares and pauses count elapsed time."""


def _span(spec: DeadlineSpec) -> Duration:
    """The duration whose unit decides how a clock's shares are counted."""
    return spec.within if spec.within is not None else _ELAPSED


def _date_due(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """The due instant a data value names: an aware datetime itself, a date the end of
    that day (00:00 of the next, in the calendar's timezone); else None."""
    moment = read_moment(value)
    if moment is None or isinstance(moment, dt.datetime):
        return moment
    return dt.datetime.combine(moment + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
