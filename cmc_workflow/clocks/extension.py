"""The runtime :class:`Clocks` extension: arms, pauses, resumes and stops an item's clocks
inside each accepted change's transaction, fires due timers through the runtime port, and
reads clocks back (see the package's documentation)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow.calendar import Deadline, WorkingCalendar
from cmc_workflow.clocks.deadlines import (
    BREACH_STEP,
    before_due,
    compute_deadline,
    counted_from,
    date_due,
    shift,
    span,
    step_time,
)
from cmc_workflow.clocks.firing import audit_values, fire_due, judged_at, utc
from cmc_workflow.clocks.provisional import recompute
from cmc_workflow.clocks.status import ClockView, view
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.models import Deadline as DeadlineSpec
from cmc_workflow.extensions import Change, Extension, Runtime, Visit
from cmc_workflow.i18n import joined, tr
from cmc_workflow.log import get_logger
from cmc_workflow.store import port
from cmc_workflow.store.port import ClockRow, StoreTx, TimerRow

log = get_logger("cmc_workflow.clocks")

SYSTEM_ROLE = "system"
"""The role of the engine itself (timers, schedules): never reminded."""


_RECENT = 256
"""How many answers of the deadline arithmetic :class:`Clocks` keeps (see ``_recent``)."""

_BY_RECEIPT_DAY = frozenset({"working_days", "days", "weeks", "months"})
"""The units of a ``within`` whose period ends by the day of receipt, not its time."""


@dataclass(frozen=True, slots=True)
class _Ladder:
    """What the timers of a clock started in one state of one workflow version are, but
    their times (a function of the version and the state, kept by :meth:`Clocks._ladder`):
    its ``within`` as recorded, each timer's step, action, role and trigger in the order
    they are armed, the steps that warn, whether a breach timer is added at the due time,
    and each step's time when it needs no arithmetic (``at:`` 100 % or more: the due time;
    0 % or less: the start; :func:`~cmc_workflow.clocks.deadlines.step_time`)."""

    spec: DeadlineSpec  # kept, so that its id stays its own while the ladder is kept
    within: str
    rungs: tuple[tuple[int, str, str | None, str | None], ...]
    warns: tuple[int, ...]
    breach: bool
    fixed: tuple[str | None, ...]  # per step: "due", "start" or None (counted)


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every clock of one spec due at one instant shares, whatever its start (kept by
    :meth:`Clocks._shared`): each ``before:`` step's time before it is moved to the
    clock's start (None for the other steps; :func:`~cmc_workflow.clocks.deadlines.before_due`)
    and the deadline's record but its start (``Deadline.record_but_start``). Read only:
    the record is a clock's detail, only ever written as JSON."""

    before: tuple[dt.datetime | None, ...]
    record: dict[str, object]


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
    the next pass, so a daemon stays responsive to signals and reloads); ``group`` bounds
    how many of them one transaction fires and commits together (the items of a group
    stay locked until it commits, so a command on one of them waits that long).
    """

    def __init__(self, calendar: WorkingCalendar, *, batch: int = 500, group: int = 100) -> None:
        if batch < 1 or group < 1:
            raise ValueError("batch and group must be at least 1")
        self.calendar = calendar
        self.batch = batch
        self.group = group
        self._runtime: Runtime | None = None
        self._related: dict[str, _Related] = {}
        self._keeps: dict[tuple[str, str], tuple[str, ...]] = {}
        self._ladders: dict[tuple[str, str, int], _Ladder] = {}
        # the last answers of the deadline arithmetic, by (calendar, spec or step, what the
        # answer depends on): the messages of a batch start at the batch's one `now`, or
        # count from their receipt the same day, so they share their due time and their
        # steps' times. Pure functions of the key; the calendar and the spec are kept with
        # the answer, so that their ids stay theirs while it is kept.
        self._recent: dict[tuple[object, ...], tuple[object, object, Any]] = {}
        self.disabled: dict[str, str] = {}
        """The workflows whose file is broken (``LoadedSet.disabled``: id to file): their
        timers are left pending, with a warning at each pass, until the file is fixed."""

    # -- wiring ----------------------------------------------------------------------------
    def bind(self, runtime: Runtime) -> None:
        """Remember the runtime (its transactions, clock and system steps)."""
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        """The runtime this extension is bound to."""
        if self._runtime is None:
            raise RuntimeError("Clocks is not bound: pass it to Engine.open(extensions=[...])")
        return self._runtime

    def set_calendar(self, calendar: WorkingCalendar) -> None:
        """Use a new calendar for clocks started from now on (e.g. after a reload)."""
        self.calendar = calendar

    # -- arming and cancelling, inside the command's transaction ---------------------------
    def after_change(self, tx: StoreTx, change: Change) -> None:
        """Start, pause, resume, re-fence or stop the item's clocks after a change."""
        wf = change.workflow
        related = self._states_of(wf)
        if change.left is None and change.kind != "start":
            return  # a self-loop: the item stays where it is, its clocks run on
        left = change.left.state if change.left is not None else None
        final = change.final
        if left not in related.states and final.state not in related.states:
            return
        kept: set[str] = set()
        # a clock runs or pauses only while its item is in one of the related states: an
        # item that was elsewhere has none (entering a deadline from a plain state)
        if left is not None and left in related.states:
            # when a `fire` step moved the item, the act happened at the step's own due
            # time (the daemon's poll comes later): the clocks it stops or pauses are
            # judged then
            kept = self._leave(tx, change, left, judged_at(change))
        spec = wf.state(final.state).deadline
        if spec is not None and final.state not in kept and not wf.is_end(final.state):
            start = counted_from(spec, change.data, change.now)
            found = self._deadline(spec, change.data, start)
            if found is not None:
                self._start(tx, wf, change.item_id, final, spec, start, *found)
            else:
                log.info(
                    "deadline_without_date",
                    item_id=change.item_id,
                    state=final.state,
                    field=spec.until,
                )

    def _leave(
        self, tx: StoreTx, change: Change, left: str, judged: dt.datetime | None
    ) -> set[str]:
        """Stop, pause or go on with the clocks of an item that left ``left`` (a related
        state); returns the states whose clocks go on (running or paused)."""
        wf, final = change.workflow, change.final
        kept: set[str] = set()
        if left != final.state:
            # the clocks of the states that neither run nor pause in the new one stop, in
            # the same store operation that reads them (one round trip on PostgreSQL)
            keep = self._keeping(wf, final.state)
            at = judged or change.now
            for row in tx.stop_clocks_leaving(change.item_id, keep, change.now, at):
                if row.state not in keep:
                    if port.clock_late(row, at) and row.breached_at is None:
                        self._audit_breach(tx, row, change.now, "overdue when the item moved on")
                    continue
                spec = wf.state(row.state).deadline
                assert spec is not None  # a kept state has a deadline
                if final.state == row.state or final.state in spec.runs_in:
                    self._continue(tx, row, spec, final, change.now)
                else:
                    self._pause(tx, row, final, change.now, judged)
                kept.add(row.state)
            return kept
        for row in tx.active_clocks(change.item_id):
            spec = wf.state(row.state).deadline if row.state in wf.definition.states else None
            if spec is None or final.state == row.state:
                # left the state and came back through gateways in this one command: a
                # new visit, so a new clock (e.g. a plan in force that opens its drill,
                # EMG-4)
                self._stop(tx, row, change.now, judged)
            elif final.state in spec.runs_in:
                self._continue(tx, row, spec, final, change.now)
                kept.add(row.state)
            elif final.state in spec.pause_in:
                self._pause(tx, row, final, change.now, judged)
                kept.add(row.state)
            else:
                self._stop(tx, row, change.now, judged)
        return kept

    def _deadline(
        self, spec: DeadlineSpec, data: Mapping[str, Any], start: dt.datetime
    ) -> tuple[Deadline, dt.datetime] | None:
        """When a clock starting at ``start`` is due: ``within`` counted from the start, the
        ``until`` date of the item's data, or the earlier of the two when both are given
        (None: an ``until``-only deadline whose item names no such date); with the start
        the clock's deadline records (a counted deadline is kept and shared by the clocks
        due alike, ``_counted``: its own ``start`` may be another clock's, and is not
        read)."""
        counted = self._counted(spec, start) if spec.within else None
        if spec.until is None:
            return counted
        due = date_due(data.get(spec.until), self.calendar.settings.tz)
        if due is None or (counted is not None and counted[0].due <= due):
            return counted
        before = f", before {counted[0].due.isoformat()} ({spec.within})" if counted else ""
        deadline = Deadline(
            start=start,
            due=due,
            rule=f"until data.{spec.until} ({due.isoformat()})" + before,
            calendar_version=self.calendar.version,
        )
        return deadline, start

    def _counted(self, spec: DeadlineSpec, start: dt.datetime) -> tuple[Deadline, dt.datetime]:
        """``compute_deadline`` of the spec's ``within`` from ``start`` (kept, see
        ``_recent``), and the start it records for this clock (``start`` in the calendar's
        zone, as ``compute_deadline`` gives it). A period of days, weeks or months ends by
        the day of receipt alone (the receipt day is not counted; with
        ``after_hours_counts_next_day`` a receipt after close of business counts from the
        next working day): messages received the same day share their due time, only the
        recorded start is theirs. The answer kept is returned as it is, whoever's start it
        holds (a new ``Deadline`` per clock cost more than the rest of this method)."""
        within = spec.within
        assert within is not None
        local = start.astimezone(self.calendar.settings.tz)
        if within.unit in _BY_RECEIPT_DAY:
            hours = self.calendar.settings.business_hours
            after_close = hours is not None and local.time() >= hours.closes
            key: tuple[object, ...] = (
                "day",
                id(self.calendar),
                id(spec),
                local.date(),
                after_close,
            )
        else:
            # the zone and fold too: equal times of one zone compare equal whatever
            # their fold (the two 02:30s of a night whose clocks go back)
            key = ("within", id(self.calendar), id(spec), start, start.tzinfo, start.fold)
        found = self._recent.get(key)
        if found is None:
            found = self._kept(key, spec, compute_deadline(self.calendar, start, within))
        answer: Deadline = found[2]
        return answer, local

    def _step_times(
        self,
        spec: DeadlineSpec,
        now: dt.datetime,
        due: dt.datetime,
        fixed: tuple[str | None, ...],
        before: tuple[dt.datetime | None, ...],
    ) -> list[dt.datetime]:
        """When each step of the spec's ladder happens for a clock from ``now`` to ``due``:
        a step whose time needs no arithmetic by ``fixed`` (:class:`_Ladder`), a
        ``before:`` step by its time for the due time (``before``, :class:`_Shared`),
        moved to the start; an ``at:`` or ``after:`` step counted from the start (kept,
        see ``_recent``: the messages of a batch start at its one ``now``)."""
        unit = span(spec)
        times = []
        for i, step in enumerate(spec.steps):
            kind = fixed[i]
            if kind is not None:
                times.append(due if kind == "due" else now)
                continue
            found_before = before[i]
            if found_before is not None:
                times.append(max(found_before, now))
                continue
            key = ("step", id(self.calendar), id(step), id(spec), now, due)
            found = self._recent.get(key)
            if found is None:
                found = self._kept(key, step, step_time(self.calendar, step, unit, now, due))
            times.append(found[2])
        return times

    def _shared(self, spec: DeadlineSpec, deadline: Deadline) -> _Shared:
        """What the clocks of ``spec`` due at ``deadline.due`` share (kept, see
        ``_recent``): a function of the calendar, the spec and every field of the
        deadline but its start. The due time's zone and fold are part of the key: an
        equal instant in another zone is written otherwise in the record."""
        due = deadline.due
        key = (
            "shared",
            id(self.calendar),
            id(spec),
            due,
            due.tzinfo,
            due.fold,
            deadline.rule,
            deadline.calendar_version,
            deadline.guessed_years,
        )
        found = self._recent.get(key)
        if found is None:
            shared = _Shared(
                before=tuple(
                    None if step.before is None else before_due(self.calendar, step, due)
                    for step in spec.steps
                ),
                record=deadline.record_but_start(),
            )
            found = self._kept(key, spec, shared)
        answer: _Shared = found[2]
        return answer

    def _ladder(self, wf: CompiledWorkflow, state: str, spec: DeadlineSpec) -> _Ladder:
        """The timers a clock of ``spec`` started in ``state`` arms, but their times (kept
        per workflow version, state and spec: every clock started there shares it)."""
        key = (wf.content_hash, state, id(spec))
        found = self._ladders.get(key)
        if found is not None and found.spec is spec:
            return found
        # a warning without `to:` reminds whoever the task waits on: each role that may
        # act in the state gets one timer (one notification)
        roles: set[str] = set().union(*(e.roles for e in wf.edges(state)))
        waiting: list[str | None] = [*sorted(roles - {SYSTEM_ROLE})] or [None]
        rungs = tuple(
            (j, step.action, role, step.trigger)
            for j, step in enumerate(spec.steps)
            for role in (waiting if step.action == "warn" and step.to is None else [step.to])
        )
        fixed: list[str | None] = []
        for step in spec.steps:
            share = int(step.at.rstrip("%")) if step.at is not None else None
            fixed.append(
                None
                if share is None
                else "due"
                if share >= 100
                else "start"
                if share <= 0
                else None
            )
        found = self._ladders[key] = _Ladder(
            spec=spec,
            within=str(spec.within) if spec.until is None else spec.span,
            rungs=rungs,
            warns=tuple(j for j, step in enumerate(spec.steps) if step.action == "warn"),
            breach=not any(step.action == "breach" for step in spec.steps),
            fixed=tuple(fixed),
        )
        return found

    def _steps_record(self, spec: DeadlineSpec) -> list[dict[str, Any]]:
        """The spec's steps as a clock's detail records them (kept, see ``_recent``: the
        spec is frozen; the list is only ever read, as JSON)."""
        key = ("steps", id(spec))
        found = self._recent.get(key)
        if found is None:
            dumped = [s.model_dump(mode="json", exclude_none=True) for s in spec.steps]
            found = self._kept(key, spec, dumped)
        answer: list[dict[str, Any]] = found[2]
        return answer

    def _kept(
        self, key: tuple[object, ...], spec: object, answer: Any
    ) -> tuple[object, object, Any]:
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        found = self._recent[key] = (self.calendar, spec, answer)
        return found

    def _keeping(self, wf: CompiledWorkflow, state: str) -> tuple[str, ...]:
        """The states whose clock runs on or pauses when the item enters ``state`` (its
        own, and those that list it in ``runs_in`` or ``pause_in``): any other clock
        stops there."""
        key = (wf.content_hash, state)
        found = self._keeps.get(key)
        if found is None:
            found = self._keeps[key] = tuple(
                sorted(
                    name
                    for name, s in wf.definition.states.items()
                    if s.deadline is not None
                    and (
                        name == state or state in s.deadline.runs_in or state in s.deadline.pause_in
                    )
                )
            )
        return found

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
        tx: StoreTx,
        wf: CompiledWorkflow,
        item_id: int,
        at: Visit,
        spec: DeadlineSpec,
        now: dt.datetime,
        deadline: Deadline,
        recorded: dt.datetime,
    ) -> None:
        """Start a clock of ``spec`` for the item at ``at``, counted from ``now``, due by
        ``deadline`` (whose fields but its start are this clock's; ``recorded`` is the
        start its record names, :meth:`_deadline`), and arm its timers."""
        due = deadline.due
        ladder = self._ladder(wf, at.state, spec)
        shared = self._shared(spec, deadline)
        times = self._step_times(spec, now, due, ladder.fixed, shared.before)
        warns = [times[j] for j in ladder.warns]
        clock: dict[str, Any] = {
            "item_id": item_id,
            "workflow_id": wf.id,
            "state": at.state,
            "at_state": at.state,
            "visit": at.visit,
            "status": port.RUNNING,
            "within": ladder.within,
            "started_at": now,
            "due_at": due,
            "warn_at": min(warns) if warns else None,
            "rule": deadline.rule,
            "calendar_version": deadline.calendar_version,
            "provisional": deadline.provisional,
            "detail": {
                "deadline": {"start": recorded.isoformat(), **shared.record},
                "steps": self._steps_record(spec),
                "implements": list(spec.implements),
                "pauses": [],
            },
        }
        state, visit = at.state, at.visit
        # the timers as the store takes them (NewTimer's fields but the clock's id and
        # those empty until the timer is done), built here: one dict each, no call
        rows = [
            {
                "item_id": item_id,
                "state": state,
                "visit": visit,
                "step": j,
                "action": action,
                "role": role,
                "trigger": trigger,
                "due_at": times[j],
                "status": port.PENDING,
                "created_at": now,
            }
            for j, action, role, trigger in ladder.rungs
        ]
        if ladder.breach:
            rows.append(
                {
                    "item_id": item_id,
                    "state": state,
                    "visit": visit,
                    "step": BREACH_STEP,
                    "action": "breach",
                    "role": None,
                    "trigger": None,
                    "due_at": due,
                    "status": port.PENDING,
                    "created_at": now,
                }
            )
        tx.start_clock(clock, rows)  # one round trip on PostgreSQL
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

    def _continue(
        self, tx: StoreTx, row: ClockRow, spec: DeadlineSpec, at: Visit, now: dt.datetime
    ) -> None:
        """The item is (back) where the clock runs: resume it, or move the timers' fence."""
        if row.status == port.PAUSED and row.paused_at is not None:
            within = span(spec)
            paused_from = row.paused_at
            moved = {
                t.id: shift(self.calendar, t.due_at, within, paused_from, now)
                for t in tx.clock_timers(row.id, port.PAUSED)
            }
            for timer_id, when in moved.items():
                tx.resume_timer(timer_id, when, at.state, at.visit)
            pauses = [
                *row.detail.get("pauses", []),
                {"from": utc(paused_from), "to": utc(now), "in": row.at_state},
            ]
            tx.update_clock(
                row.id,
                {
                    "status": port.RUNNING,
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
        tx.set_clock_timers(row.id, port.PENDING, {"state": at.state, "visit": at.visit})
        tx.update_clock(row.id, {"at_state": at.state, "visit": at.visit})

    def _pause(
        self, tx: StoreTx, row: ClockRow, at: Visit, now: dt.datetime, judged: dt.datetime | None
    ) -> None:
        values: dict[str, Any] = {"at_state": at.state, "visit": at.visit}
        if row.status == port.RUNNING:
            tx.set_clock_timers(row.id, port.PENDING, {"status": port.PAUSED, "state": at.state})
            values.update(status=port.PAUSED, paused_at=now)
            if (judged or now) > row.due_at and row.breached_at is None:
                values["breached_at"] = now  # it was overdue before the pause began
                self._audit_breach(tx, row, now, "overdue when paused")
        tx.update_clock(row.id, values)

    def _stop(
        self, tx: StoreTx, row: ClockRow, now: dt.datetime, judged: dt.datetime | None
    ) -> None:
        """Stop the clock (met or breached) and cancel its pending or paused timers: one
        store operation, one round trip on PostgreSQL.

        Lateness is judged at ``judged`` when a ``fire`` step made the change (its own due
        time), else at ``now``; an act at the due instant is in time."""
        late = port.clock_late(row, judged or now)
        recorded = late and row.breached_at is None  # no timer recorded it in time: now
        if recorded:
            self._audit_breach(tx, row, now, "overdue when the item moved on")
        tx.stop_clock(row.id, "breached" if late else "met", now, breached=recorded)

    def _audit_breach(self, tx: StoreTx, row: ClockRow, now: dt.datetime, why: str) -> None:
        tx.insert_audit(
            audit_values(
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
        with self.runtime.read() as tx:
            return tx.next_due_at(sorted(self.disabled))

    def run_due(self, now: dt.datetime) -> int:
        """Fire the timers due at ``now``, up to :attr:`batch`, a group of at most
        :attr:`group` per transaction (group commit); returns how many were claimed (fired,
        found stale, or failed).

        Each group is claimed, fired and marked in one transaction (:func:`fire_due`): a
        timer's ``fire`` step runs in its own savepoint, so a refused or failing step rolls
        back only its own writes and is recorded as failed, while the others commit. A
        crash mid-group rolls the whole group back: every timer of it is pending again and
        the next pass, of this runner or another, claims it."""
        runtime = self.runtime
        skip = sorted(self.disabled)
        with runtime.read() as tx:
            first = tx.next_due_at(skip)
            if skip:
                self._warn_disabled(tx.next_due_at(), first, now)
        if first is None or first > now:
            return 0  # the common case: one index probe, no write lock
        done = 0
        with runtime.write_series() as transaction:
            while done < self.batch:
                limit = min(self.group, self.batch - done)
                with transaction() as tx:
                    fired = fire_due(runtime, tx, now, limit, skip)
                done += len(fired)
                for timer, status, error in fired:
                    self._log(timer, status, error)
                if len(fired) < limit:
                    break  # nothing more was due (or a step moved some on): the next pass
        return done

    def _warn_disabled(
        self, earliest: dt.datetime | None, first: dt.datetime | None, now: dt.datetime
    ) -> None:
        """Warn, at every pass, while a due timer waits on a disabled workflow."""
        if earliest is None or earliest > now or (first is not None and first <= earliest):
            return
        files = sorted(set(self.disabled.values()))
        message = tr(
            "timers of the disabled workflows {ids} are due but wait until their file is "
            "fixed ({files}); the other workflows run as usual",
            ids=joined(sorted(self.disabled)),
            files=joined(files),
        )
        log.warning(
            "timers_waiting_on_disabled_workflows",
            workflows=sorted(self.disabled),
            files=files,
            message=message.en,
            message_zh=message.zh,
        )

    @staticmethod
    def _log(timer: TimerRow, status: str, error: str | None) -> None:
        log.info(
            "timer_fired" if status == port.FIRED else f"timer_{status}",
            timer_id=timer.id,
            item_id=timer.item_id,
            action=timer.action,
            state=timer.state,
            due=timer.due_at.isoformat(),
            error=error,
        )

    # -- reading -------------------------------------------------------------------------------
    def clocks(self, item_id: int, now: dt.datetime | None = None) -> list[ClockView]:
        """The item's clocks, oldest first, with their status as of ``now`` (default: the
        engine's clock)."""
        at = now or self.runtime.now()
        with self.runtime.read() as tx:
            rows = tx.clocks_of(item_id)
        return [view(r, at) for r in rows]

    def timers(self, item_id: int) -> list[TimerRow]:
        """The item's timers, in the order armed, whatever their status."""
        with self.runtime.read() as tx:
            return tx.timers_of(item_id)

    def provisional(self, limit: int = 100) -> list[ClockView]:
        """Running clocks whose due time rests on a year without calendar data."""
        now = self.runtime.now()
        with self.runtime.read() as tx:
            rows = tx.provisional_clocks(limit)
        return [view(r, now) for r in rows]

    def recompute_provisional(self, now: dt.datetime | None = None) -> int:
        """Recompute provisional running clocks with the current calendar (after a year's
        data arrived in ``calendars/``); returns how many changed. Clocks that paused keep
        their times, since their pauses were counted on the old data."""
        at = now or self.runtime.now()
        changed = 0
        with self.runtime.write() as tx:
            for row in tx.provisional_clocks(limit=10_000):
                if row.status != port.RUNNING or row.detail.get("pauses"):
                    continue
                if row.calendar_version == self.calendar.version:
                    continue
                changed += recompute(self.calendar, tx, row, at)
        return changed
