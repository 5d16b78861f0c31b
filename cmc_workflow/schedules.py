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
the row claims it and starts the item; the item's start marks the row ``started`` in the
start's own transaction (:meth:`Schedules.after_change`); a claim whose runner died is
taken over after a lease. An occurrence later than its ``grace`` (default 1 hour) was
missed (no daemon ran): ``missed: catch_up`` (default) still starts it, ``latest`` starts
only the newest missed one, ``record`` starts none; every occurrence not started is
recorded with status ``missed``, never silently dropped. A schedule first seen by a
database counts from that moment on: nothing before it is due.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import structlog
from pydantic import Field, StringConstraints, ValidationError

from cmc_workflow import cron
from cmc_workflow.calendar import WorkingCalendar, add_months
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.definition.loader import DEFINITION_CODES, LoadedSet, LoadedWorkflow
from cmc_workflow.definition.models import (
    DurationField,
    Ident,
    Label,
    Model,
    RequirementId,
    parse_duration,
)
from cmc_workflow.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    Problem,
)
from cmc_workflow.extensions import Change, Extension
from cmc_workflow.located import Located
from cmc_workflow.model import engine_actor
from cmc_workflow.problems import problems_from_validation
from cmc_workflow.store import Tx
from cmc_workflow.store import timers as sql

if TYPE_CHECKING:
    from cmc_workflow.engine import Engine

log = structlog.get_logger("cmc_workflow.schedules")

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DEFAULT_TIMEZONE = "Asia/Shanghai"
CLAIM_LEASE = dt.timedelta(minutes=5)
"""How long a runner may take between claiming an occurrence and starting its item before
another runner takes the occurrence over."""

_ONE_MICROSECOND = dt.timedelta(microseconds=1)


# -- the file format ------------------------------------------------------------------------
class ScheduleSpec(Model):
    """One periodic schedule: when it recurs and which workflow each occurrence starts."""

    workflow: Ident = Field(description="the workflow an occurrence starts an item of")
    label: Label | None = None
    description: str | None = None
    implements: list[RequirementId] = Field(default_factory=list)
    cron: str | None = Field(
        default=None, description="'minute hour day month weekday', weekdays by name"
    )
    every: DurationField | None = Field(
        default=None, description="a calendar interval: N days, weeks or months (with from:)"
    )
    from_: dt.date | None = Field(
        default=None, alias="from", description="the anchor date of every: (its first run)"
    )
    monthly: Literal["last_working_day", "first_working_day"] | None = Field(
        default=None, description="once a month, on its last or first working day"
    )
    at: Annotated[str, StringConstraints(pattern=TIME_PATTERN)] | None = Field(
        default=None, description="local time of day, 'HH:MM' (quoted); default 09:00"
    )
    timezone: str | None = Field(default=None, description="IANA zone; default the file's")
    missed: Literal["catch_up", "latest", "record"] = Field(
        default="catch_up",
        description="occurrences missed while no daemon ran: start all, start the newest, "
        "or only record them",
    )
    grace: DurationField = Field(
        default_factory=lambda: parse_duration("1 hour"),
        description="how late an occurrence may start before it counts as missed",
    )
    role: Ident = Field(default="system", description="the role the scheduler starts items as")
    data: dict[str, Any] = Field(default_factory=dict, description="the started item's data")
    occurrence_field: Ident | None = Field(
        default=None, description="a datetime data field that receives the occurrence's time"
    )
    on_day_off: Literal["run", "skip", "next_working_day"] = Field(
        default="run",
        description="cron only: an occurrence on a day off (a weekend or public holiday of "
        "the working-day calendar; adjusted working weekends are working days) runs anyway, "
        "is skipped, or moves to the next working day at the same time (several merge)",
    )
    enabled: bool = True


class ScheduleFile(Model):
    """A ``kind: schedules`` file."""

    kind: Literal["schedules"]
    timezone: str = DEFAULT_TIMEZONE
    description: str | None = None
    schedules: dict[Ident, ScheduleSpec]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """When a schedule recurs, and whether a guessed calendar year decided it."""

    due: dt.datetime
    provisional: bool = False


_MAX_DAYS_OFF = 400
"""How many days off in a row a working-days-only schedule looks past (a year and more)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule, ready to compute its occurrences."""

    id: str
    spec: ScheduleSpec
    timezone: str
    file: str

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The schedule's timezone."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def time_of_day(self) -> dt.time:
        """The local time of day of calendar-interval and monthly schedules."""
        hour, minute = (self.spec.at or "09:00").split(":")
        return dt.time(int(hour), int(minute))

    def describe(self) -> str:
        """The rule in words, e.g. ``every 6 months from 2025-03-01 at 09:30``."""
        spec = self.spec
        if spec.cron is not None:
            return f"cron '{spec.cron}' ({self.timezone})"
        at = f"at {self.time_of_day:%H:%M} ({self.timezone})"
        if spec.every is not None:
            return f"every {spec.every} from {spec.from_} {at}"
        return f"monthly on the {str(spec.monthly).replace('_', ' ')} {at}"

    def next_after(self, after: dt.datetime, calendar: WorkingCalendar) -> Occurrence | None:
        """The first occurrence strictly after ``after`` (None: the rule has ended)."""
        spec = self.spec
        if spec.cron is not None:
            trigger = _cron(spec.cron, self.timezone)
            found = trigger.next_fire(after)
            if found is None or spec.on_day_off == "run":
                return None if found is None else Occurrence(found)
            guessed = False
            for _day in range(_MAX_DAYS_OFF):
                local = found.astimezone(self.tz)
                answer = calendar.is_working_day(local.date())
                guessed = guessed or answer.provisional
                if answer:
                    return Occurrence(found, guessed)
                if spec.on_day_off == "next_working_day":
                    moved = calendar.next_working_day(local.date())
                    when = dt.datetime.combine(moved.value, local.timetz())
                    return Occurrence(when, guessed or moved.provisional)
                # skipped: go on from the next day's midnight, not minute by minute
                midnight = dt.datetime.combine(
                    local.date() + dt.timedelta(days=1), dt.time(), self.tz
                )
                found = trigger.first_at_or_after(midnight)
                if found is None:
                    return None
            return None
        local = after.astimezone(self.tz)
        if spec.every is not None:
            assert spec.from_ is not None  # the checks require from: with every:
            return self._next_interval(local, spec.from_, spec.every.amount, spec.every.unit)
        return self._next_monthly(local, calendar)

    def _at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.time_of_day, tzinfo=self.tz)

    def _next_interval(self, local: dt.datetime, anchor: dt.date, n: int, unit: str) -> Occurrence:
        if unit == "months":
            months = (local.year - anchor.year) * 12 + local.month - anchor.month
            k = max(0, months // n - 1)
            while self._at(add_months(anchor, n * k)) <= local:
                k += 1
            return Occurrence(self._at(add_months(anchor, n * k)))
        step = n * (7 if unit == "weeks" else 1)
        k = max(0, (local.date() - anchor).days // step - 1)
        while self._at(anchor + dt.timedelta(days=step * k)) <= local:
            k += 1
        return Occurrence(self._at(anchor + dt.timedelta(days=step * k)))

    def _next_monthly(self, local: dt.datetime, calendar: WorkingCalendar) -> Occurrence:
        year, month = local.year, local.month
        for _ in range(24):
            if self.spec.monthly == "last_working_day":
                answer = calendar.last_working_day_of_month(year, month)
            else:
                before_first = dt.date(year, month, 1) - dt.timedelta(days=1)
                answer = calendar.next_working_day(before_first)
            when = self._at(answer.value)
            if when > local:
                return Occurrence(when, answer.provisional)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise AssertionError("a month without a working day")  # pragma: no cover

    def occurrences(
        self, after: dt.datetime, until: dt.datetime, calendar: WorkingCalendar, limit: int
    ) -> list[Occurrence]:
        """The occurrences in ``(after, until]``, oldest first, at most ``limit``."""
        found: list[Occurrence] = []
        cursor = after
        while len(found) < limit:
            nxt = self.next_after(cursor, calendar)
            if nxt is None or nxt.due > until:
                break
            found.append(nxt)
            cursor = nxt.due
        return found


@functools.lru_cache(maxsize=256)
def _cron(expr: str, timezone: str) -> cron.Cron:
    """A parsed cron expression, cached: schedules ask for the same few again and again."""
    return cron.parse(expr, timezone)


# -- loading and checking ---------------------------------------------------------------------
def _known_timezone(value: str) -> bool:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _cron_problems(expr: str, path: tuple[str | int, ...], doc: Located) -> list[Problem]:
    fields = expr.split()
    try:
        cron.parse(expr, DEFAULT_TIMEZONE)
    except cron.CronSyntaxError as exc:
        return [
            doc.problem(
                path,
                "E-CRON-SYNTAX",
                f"cron {expr!r}: {exc}",
                "five fields: minute hour day-of-month month weekday, e.g. '0 9 * * mon-fri'",
            )
        ]
    _minute, _hour, day, month, weekday = fields
    out: list[Problem] = []

    def pitfall(message: str, hint: str) -> None:
        out.append(doc.problem(path, "E-CRON-PITFALL", f"cron {expr!r}: {message}", hint))

    if "/" in month:
        pitfall(
            f"the month step {month!r} counts from January, not from today "
            "('*/6' is January and July)",
            "write every: 6 months with from: <first date>",
        )
    if any(ch.isdigit() for ch in weekday):
        pitfall(
            f"weekday numbers {weekday!r} are ambiguous: APScheduler 3 counts 0 as Monday, "
            "crontab as Sunday",
            "write weekday names: mon, tue, wed, thu, fri, sat, sun (e.g. mon-fri)",
        )
    if day not in ("*", "?") and weekday not in ("*", "?"):
        pitfall(
            f"day {day!r} and weekday {weekday!r} must both match here (crontab would take "
            "either), so months can be skipped",
            "restrict the day or the weekday, not both; for 'last working day' use "
            "monthly: last_working_day",
        )
    numbers = [int(n) for n in day.replace("-", ",").replace("/", ",").split(",") if n.isdigit()]
    if any(n >= 29 for n in numbers):
        pitfall(
            f"day {day!r} does not exist in every month, so those months are skipped",
            "use monthly: last_working_day, or every: 1 month from: a date (kept at month end)",
        )
    return out


def load_schedules_doc(doc: Located) -> tuple[ScheduleFile | None, list[Problem]]:
    """Validate one located ``kind: schedules`` document (the loader registered for it)."""
    try:
        model = ScheduleFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, ScheduleFile, DEFINITION_CODES)
    problems: list[Problem] = []
    if not _known_timezone(model.timezone):
        problems.append(
            doc.problem(("timezone",), "E-BAD-VALUE", f"unknown timezone {model.timezone!r}")
        )
    for name, spec in model.schedules.items():
        base: tuple[str | int, ...] = ("schedules", name)
        kinds = [k for k in ("cron", "every", "monthly") if getattr(spec, k) is not None]
        if len(kinds) != 1:
            problems.append(
                doc.problem(
                    base,
                    "E-SCHEDULE-TRIGGER",
                    f"schedule {name!r} needs exactly one of cron:, every:, monthly: "
                    f"(has {', '.join(kinds) or 'none'})",
                    "e.g. cron: '0 9 * * *', or every: 6 months with from: 2025-03-01, "
                    "or monthly: last_working_day",
                    key=True,
                )
            )
        if spec.on_day_off != "run" and spec.cron is None:
            problems.append(
                doc.problem(
                    (*base, "on_day_off"),
                    "E-MISPLACED-KEY",
                    "on_day_off: applies to cron: schedules",
                    "monthly: first_working_day / last_working_day already falls on working "
                    "days; remove on_day_off:",
                    key=True,
                )
            )
        if spec.cron is not None:
            problems += _cron_problems(spec.cron, (*base, "cron"), doc)
            if spec.at is not None:
                problems.append(
                    doc.problem(
                        (*base, "at"),
                        "E-MISPLACED-KEY",
                        "a cron expression carries its own time of day",
                        "remove at:, or put the time in the cron's minute and hour",
                        key=True,
                    )
                )
        if spec.every is not None:
            if spec.every.unit not in ("days", "weeks", "months"):
                problems.append(
                    doc.problem(
                        (*base, "every"),
                        "E-SCHEDULE-EVERY",
                        f"every: {spec.every} is not a calendar interval",
                        "use days, weeks or months; for working days use monthly: or a "
                        "cron with weekday names",
                    )
                )
            if spec.from_ is None:
                problems.append(
                    doc.problem(
                        base,
                        "E-SCHEDULE-EVERY",
                        f"every: {spec.every} needs from: <date>, the anchor it counts from",
                        "e.g. from: 2025-03-01 (counted from the anchor, so days never drift)",
                        key=True,
                    )
                )
        elif spec.from_ is not None:
            problems.append(
                doc.problem(
                    (*base, "from"),
                    "E-MISPLACED-KEY",
                    "from: is the anchor of every:",
                    "remove from:, or add every: <interval>",
                    key=True,
                )
            )
        if spec.timezone is not None and not _known_timezone(spec.timezone):
            problems.append(
                doc.problem(
                    (*base, "timezone"), "E-BAD-VALUE", f"unknown timezone {spec.timezone!r}"
                )
            )
        if spec.grace.is_working_time:
            problems.append(
                doc.problem(
                    (*base, "grace"),
                    "E-BAD-VALUE",
                    f"grace: {spec.grace} must be elapsed time",
                    "e.g. 30 minutes, 2 hours or 1 day",
                )
            )
    return model, problems


def schedules_from(
    loaded: LoadedSet, workflows: Mapping[str, LoadedWorkflow] | None = None
) -> tuple[list[Schedule], list[Problem]]:
    """The schedules of every ``kind: schedules`` file in ``loaded``, checked against the
    workflows they start (``workflows`` defaults to the ones loaded with them)."""
    known = loaded.workflows if workflows is None else workflows
    schedules: list[Schedule] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for doc, model in loaded.others.get("schedules", []):
        assert isinstance(model, ScheduleFile)
        for name, spec in model.schedules.items():
            base: tuple[str | int, ...] = ("schedules", name)
            if name in seen:
                problems.append(
                    doc.problem(
                        base,
                        "E-DUPLICATE-SCHEDULE",
                        f"schedule {name!r} is already defined in {seen[name]}",
                        key=True,
                    )
                )
                continue
            seen[name] = doc.file
            found = _check_target(name, spec, known, doc)
            problems += found
            if not found:
                schedules.append(Schedule(name, spec, spec.timezone or model.timezone, doc.file))
    return schedules, problems


def _set_check(loaded: LoadedSet) -> list[Problem]:
    """The cross-file problems of schedules, for ``load_paths`` (so ``validate`` and
    ``Engine.open`` report them with their places)."""
    return schedules_from(loaded)[1]


def _check_target(
    name: str, spec: ScheduleSpec, known: Mapping[str, LoadedWorkflow], doc: Located
) -> list[Problem]:
    base: tuple[str | int, ...] = ("schedules", name)
    target = known.get(spec.workflow)
    if target is None:
        return [
            doc.problem(
                (*base, "workflow"),
                "E-UNKNOWN-WORKFLOW",
                f"schedule {name!r} starts workflow {spec.workflow!r}, which is not loaded",
                f"loaded workflows: {', '.join(sorted(known)) or 'none'}",
            )
        ]
    wf = target.definition
    out: list[Problem] = []
    if spec.role not in wf.start.roles:
        out.append(
            doc.problem(
                (*base, "role") if "role" in spec.model_fields_set else base,
                "E-SCHEDULE-ROLE",
                f"workflow {wf.id!r} may not be started by role {spec.role!r}",
                f"add {spec.role!r} to its start: roles (and roles:), or set role: to one of "
                f"{sorted(wf.start.roles)}",
                key="role" not in spec.model_fields_set,
            )
        )
    values = dict(spec.data)
    if spec.occurrence_field is not None:
        field = wf.data.get(spec.occurrence_field)
        if field is None or field.type != "datetime":
            out.append(
                doc.problem(
                    (*base, "occurrence_field"),
                    "E-SCHEDULE-DATA",
                    f"{wf.id!r} has no datetime data field {spec.occurrence_field!r}",
                    "declare it under the workflow's data: with type: datetime",
                )
            )
        values[spec.occurrence_field] = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    _clean, errors = validate_values(wf.data, values) if wf.data else ({}, [])
    if not wf.data and spec.data:
        out.append(
            doc.problem(
                (*base, "data"),
                "E-SCHEDULE-DATA",
                f"workflow {wf.id!r} declares no data, so data: cannot be given",
            )
        )
    for error in errors:
        if error.field == spec.occurrence_field:
            continue
        out.append(
            doc.problem(
                (*base, "data", error.field) if error.field in spec.data else (*base, "data"),
                "E-SCHEDULE-DATA",
                f"data for {wf.id!r}: {error}",
            )
        )
    return out


# -- running occurrences ------------------------------------------------------------------------
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
        self._engine: Engine | None = None
        self._pending = threading.local()

    @classmethod
    def from_loaded(cls, loaded: LoadedSet, calendar: WorkingCalendar) -> Schedules:
        """The schedules of ``loaded``; raises :class:`DefinitionError` with every problem."""
        schedules, problems = schedules_from(loaded)
        if problems:
            raise DefinitionError(problems)
        return cls(schedules, calendar)

    def bind(self, engine: Engine) -> None:
        """Remember the engine (its store, clock, runner name and ``start``)."""
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine this extension is bound to."""
        if self._engine is None:
            raise RuntimeError("Schedules is not bound: pass it to Engine.open(extensions=[...])")
        return self._engine

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
        engine = self.engine
        done = 0
        with engine.store.read() as tx:  # the common case writes nothing
            cursors = sql.cursors(tx)
            abandoned = sql.has_stale_runs(tx, now)
        stale: list[sql.RunRow] = []
        if abandoned:
            with engine.store.write() as tx:
                stale = sql.reclaim_stale_runs(tx, now, engine.runner, now + self.lease)
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
        self, schedule: Schedule, cursor: sql.CursorRow | None, now: dt.datetime
    ) -> int:
        engine = self.engine
        if cursor is None:
            with engine.store.write() as tx:
                cursor = sql.cursor(tx, schedule.id, now)
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
            with engine.store.write() as tx:
                run_id = sql.insert_run(
                    tx,
                    schedule.id,
                    occurrence.due,
                    sql.CLAIMED if start else sql.MISSED,
                    now,
                    runner=engine.runner,
                    claimed_until=now + self.lease if start else None,
                    detail=detail if start else {**detail, "policy": schedule.spec.missed},
                )
                sql.advance_cursor(tx, schedule.id, occurrence.due, now)
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
        engine = self.engine
        data = dict(schedule.spec.data)
        if schedule.spec.occurrence_field is not None:
            data[schedule.spec.occurrence_field] = occurrence.due.astimezone(schedule.tz)
        actor = engine_actor(f"schedule:{schedule.id}", {schedule.spec.role})
        self._pending.claim = (run_id, engine.runner, detail)
        try:
            item = engine.start(schedule.spec.workflow, actor=actor, data=data)
        except ConflictError:
            if getattr(self._pending, "lost", False):
                log.warning("occurrence_claim_lost", schedule=schedule.id, run_id=run_id)
                return
            raise  # a busy database: the claim's lease lets a runner retry it later
        except EngineError as exc:  # refused for good (roles, data, policy): say so
            self._fail(run_id, engine.clock(), str(exc))
            log.error(
                "occurrence_failed",
                schedule=schedule.id,
                due=_utc(occurrence.due),
                error=str(exc),
            )
            return
        finally:
            self._pending.claim = None
            self._pending.lost = False
        log.info(
            "occurrence_started",
            schedule=schedule.id,
            workflow=schedule.spec.workflow,
            due=_utc(occurrence.due),
            item_id=item.id,
            missed=detail.get("missed", False),
        )

    def _fail(self, run_id: int, now: dt.datetime, error: str) -> None:
        engine = self.engine
        with engine.store.write() as tx:
            sql.finish_run(
                tx, run_id, engine.runner, sql.FAILED, now, detail={"error": error[:4000]}
            )

    def after_change(self, tx: Tx, change: Change) -> None:
        """Mark the occurrence being started as ``started``, in the start's transaction."""
        claim = getattr(self._pending, "claim", None)
        if claim is None or change.kind != "start":
            return
        run_id, runner, detail = claim
        self._pending.claim = None  # only the item this occurrence starts
        if not sql.finish_run(
            tx, run_id, runner, sql.STARTED, change.now, item_id=change.item_id, detail=detail
        ):
            self._pending.lost = True
            raise ConflictError(
                f"occurrence {run_id} was taken over by another runner; not starting it twice"
            )

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
        with self.engine.store.read() as tx:
            cursors = sql.cursors(tx)
            latest = sql.latest_runs(tx)
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

    def runs(self, schedule_id: str, limit: int = 100) -> list[sql.RunRow]:
        """A schedule's latest occurrences, newest first."""
        with self.engine.store.read() as tx:
            return sql.runs_of(tx, schedule_id, limit)


def _elapsed(duration: Any) -> dt.timedelta:
    unit = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}
    return dt.timedelta(minutes=duration.amount * unit.get(duration.unit, 60))


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


__all__: Sequence[str] = [
    "Occurrence",
    "Schedule",
    "ScheduleFile",
    "ScheduleSpec",
    "ScheduleStatus",
    "Schedules",
    "load_schedules_doc",
    "schedules_from",
]
