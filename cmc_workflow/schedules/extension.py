"""The runtime :class:`Schedules` extension: starts an item for every occurrence of every
schedule, once across all runners (see the package's documentation)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.errors import ConflictError, DefinitionError, EngineError
from cmc_workflow.extensions import Change, Extension, Runtime
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import engine_actor
from cmc_workflow.schedules.language import schedules_from
from cmc_workflow.schedules.recurrence import Occurrence, Schedule
from cmc_workflow.store import port
from cmc_workflow.store.port import StoreTx

log = get_logger("cmc_workflow.schedules")

CLAIM_LEASE = dt.timedelta(minutes=5)
"""How long a runner may take between claiming an occurrence and starting its item before
another runner takes the occurrence over."""


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """A schedule as the ``status`` command shows it."""

    id: str
    workflow: str
    rule: str
    since: dt.datetime | None
    last_due: dt.datetime | None
    last_status: str | None
    last_item: int | None
    next_due: dt.datetime | None
    provisional: bool


class Schedules(Extension):
    """Starts an item for every occurrence of every schedule, once across all runners.

    Build it with :meth:`from_loaded` (or from :class:`Schedule` objects) and pass it to
    ``Engine.open(..., extensions=[...])``; :meth:`Engine.run_due` then calls
    :meth:`run_due`. ``limit`` bounds the occurrences one schedule handles per pass.
    """

    def __init__(
        self,
        schedules: Iterable[Schedule],
        calendar: WorkingCalendar,
        *,
        lease: dt.timedelta = CLAIM_LEASE,
        limit: int = 100,
    ) -> None:
        self.schedules: tuple[Schedule, ...] = tuple(schedules)
        self.calendar = calendar
        self.lease = lease
        self.limit = limit
        self._runtime: Runtime | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedSet, calendar: WorkingCalendar) -> Schedules:
        """The schedules of ``loaded``; raises :class:`DefinitionError` with every problem."""
        schedules, problems = schedules_from(loaded)
        if problems:
            raise DefinitionError(problems)
        return cls(schedules, calendar)

    def bind(self, runtime: Runtime) -> None:
        """Remember the runtime (its transactions, clock, runner name and system starts)."""
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        """The runtime this extension is bound to."""
        if self._runtime is None:
            raise RuntimeError("Schedules is not bound: pass it to Engine.open(extensions=[...])")
        return self._runtime

    def replace(
        self, schedules: Iterable[Schedule], calendar: WorkingCalendar | None = None
    ) -> None:
        """Use a new set of schedules (after a reload); cursors and history are kept."""
        self.schedules = tuple(schedules)
        if calendar is not None:
            self.calendar = calendar

    # -- the pass ------------------------------------------------------------------------------
    def run_due(self, now: dt.datetime) -> int:
        """Handle every occurrence due by ``now``: start it, or record it missed; returns
        how many occurrences this runner handled."""
        runtime = self.runtime
        done = 0
        with runtime.read() as tx:  # the common case writes nothing
            cursors = tx.cursors()
            abandoned = tx.has_stale_runs(now)
        stale: list[port.RunRow] = []
        if abandoned:
            with runtime.write() as tx:
                stale = tx.reclaim_stale_runs(now, runtime.runner, now + self.lease)
        by_id = {s.id: s for s in self.schedules}
        for run in stale:
            schedule = by_id.get(run.schedule_id)
            if schedule is None:
                self._fail(run.id, now, "the schedule is no longer defined")
            else:
                log.warning("occurrence_taken_over", schedule=run.schedule_id, due=_utc(run.due_at))
                self._start(schedule, run.id, Occurrence(run.due_at), dict(run.detail))
            done += 1
        for schedule in self.schedules:
            if schedule.spec.enabled:
                done += self._run_schedule(schedule, cursors.get(schedule.id), now)
        return done

    def _run_schedule(
        self, schedule: Schedule, cursor: port.CursorRow | None, now: dt.datetime
    ) -> int:
        runtime = self.runtime
        if cursor is None:
            with runtime.write() as tx:
                cursor = tx.cursor(schedule.id, now)
        after = cursor.last_due or cursor.since
        due = schedule.occurrences(after, now, self.calendar, self.limit)
        grace = _elapsed(schedule.spec.grace)
        done = 0
        for occurrence in due:
            late = now - occurrence.due
            missed = late > grace
            start = not missed or schedule.spec.missed == "catch_up"
            if missed and schedule.spec.missed == "latest":
                following = schedule.next_after(occurrence.due, self.calendar)
                start = following is None or following.due > now
            detail: dict[str, Any] = {
                "rule": schedule.describe(),
                "late_seconds": round(late.total_seconds(), 3),
                "missed": missed,
                "provisional": occurrence.provisional,
            }
            with runtime.write() as tx:
                run_id = tx.insert_run(
                    schedule.id,
                    occurrence.due,
                    port.CLAIMED if start else port.MISSED,
                    now,
                    runner=runtime.runner,
                    claimed_until=now + self.lease if start else None,
                    detail=detail if start else {**detail, "policy": schedule.spec.missed},
                )
                tx.advance_cursor(schedule.id, occurrence.due, now)
            if run_id is None:
                continue  # another runner has this occurrence
            done += 1
            if start:
                self._start(schedule, run_id, occurrence, detail)
            else:
                log.warning(
                    "occurrence_missed",
                    schedule=schedule.id,
                    due=_utc(occurrence.due),
                    policy=schedule.spec.missed,
                )
        return done

    def _start(
        self, schedule: Schedule, run_id: int, occurrence: Occurrence, detail: dict[str, Any]
    ) -> None:
        runtime = self.runtime
        data = dict(schedule.spec.data)
        if schedule.spec.occurrence_field is not None:
            data[schedule.spec.occurrence_field] = occurrence.due.astimezone(schedule.tz)
        actor = engine_actor(f"schedule:{schedule.id}", {schedule.spec.role})
        claim = _Claim(run_id, runtime.runner, detail)
        try:
            item = runtime.start_system(schedule.spec.workflow, actor=actor, data=data, claim=claim)
        except ConflictError:
            if claim.lost:
                log.warning("occurrence_claim_lost", schedule=schedule.id, run_id=run_id)
                return
            raise  # a busy database: the claim's lease lets a runner retry it later
        except EngineError as exc:  # refused for good (roles, data, policy): say so
            self._fail(run_id, runtime.now(), str(exc))
            log.error(
                "occurrence_failed",
                schedule=schedule.id,
                due=_utc(occurrence.due),
                error=str(exc),
            )
            return
        log.info(
            "occurrence_started",
            schedule=schedule.id,
            workflow=schedule.spec.workflow,
            due=_utc(occurrence.due),
            item_id=item.id,
            missed=detail.get("missed", False),
        )

    def _fail(self, run_id: int, now: dt.datetime, error: str) -> None:
        runtime = self.runtime
        with runtime.write() as tx:
            tx.finish_run(run_id, runtime.runner, port.FAILED, now, detail={"error": error[:4000]})

    # -- reading ---------------------------------------------------------------------------------
    def next_due(self, now: dt.datetime) -> dt.datetime | None:
        """The earliest occurrence of any enabled schedule after ``now``."""
        times = [
            found.due
            for s in self.schedules
            if s.spec.enabled and (found := s.next_after(now, self.calendar)) is not None
        ]
        return min(times) if times else None

    def status(self, now: dt.datetime) -> list[ScheduleStatus]:
        """Every schedule with its latest occurrence and the next one."""
        with self.runtime.read() as tx:
            cursors = tx.cursors()
            latest = tx.latest_runs()
        out = []
        for s in self.schedules:
            cursor = cursors.get(s.id)
            last = latest.get(s.id)
            nxt = s.next_after(now, self.calendar) if s.spec.enabled else None
            out.append(
                ScheduleStatus(
                    id=s.id,
                    workflow=s.spec.workflow,
                    rule=s.describe(),
                    since=cursor.since if cursor else None,
                    last_due=last.due_at if last else None,
                    last_status=last.status if last else None,
                    last_item=last.item_id if last else None,
                    next_due=nxt.due if nxt else None,
                    provisional=nxt.provisional if nxt else False,
                )
            )
        return out

    def runs(self, schedule_id: str, limit: int = 100) -> list[port.RunRow]:
        """A schedule's latest occurrences, newest first."""
        with self.runtime.read() as tx:
            return tx.runs_of(schedule_id, limit)


class _Claim:
    """An occurrence's claim, settled in the transaction that starts its item: the run
    is marked ``started`` with the item, or (taken over by another runner meanwhile)
    the start is refused and :attr:`lost` says why."""

    def __init__(self, run_id: int, runner: str, detail: dict[str, Any]) -> None:
        self.run_id = run_id
        self.runner = runner
        self.detail = detail
        self.lost = False

    def __call__(self, tx: StoreTx, change: Change) -> None:
        """Mark the run started by the item ``change`` started (the start's claim)."""
        if not tx.finish_run(
            self.run_id,
            self.runner,
            port.STARTED,
            change.now,
            item_id=change.item_id,
            detail=self.detail,
        ):
            self.lost = True
            raise ConflictError(
                tr(
                    "occurrence {run_id} was taken over by another runner; not starting it twice",
                    run_id=self.run_id,
                )
            )


def _elapsed(duration: Any) -> dt.timedelta:
    unit = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}
    return dt.timedelta(minutes=duration.amount * unit.get(duration.unit, 60))


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()
