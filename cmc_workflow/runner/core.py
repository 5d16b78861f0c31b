# Over 400 lines: one runner lifecycle (passes, clock, stop, fork) sharing its locks.
"""The runner: passes over due work, woken by this process's own APScheduler clock.

One implementation for every host. The daemon (``cmc-workflow run``, :mod:`.daemon`)
and an application that embeds the engine (:meth:`Engine.runner
<cmc_workflow.engine.Engine.runner>`, ``Engine.open(..., run_due_work=True)``) both run a
:class:`Runner`::

    created -> running -> stopping -> stopped

Each *pass* calls :meth:`Engine.run_due <cmc_workflow.engine.Engine.run_due>`: the SLA
clocks' due timers, the schedules' due occurrences, then the outbox; passes repeat while
they find work, one at a time. The clock (:mod:`.wakeups`) wakes the runner at the next
due time, every ``poll_interval`` seconds (work armed by other processes), at each
schedule's occurrences, and for each :class:`PeriodicJob` (the daemon's hot reload). Every
pass writes this runner's heartbeat row (``cmc-workflow status``), with its ``kind``
(``daemon`` or ``in-process``).

Any number of runners, in any number of processes, may share one database: every timer
and occurrence is claimed in the database (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), never in memory, so each fires once. A pass is a series of
transactions; a runner that dies mid-pass loses only the open one, which rolls back.

:meth:`Runner.stop` stops the clock, waits (bounded by ``stop_timeout``) for the pass under
way to finish and commit, writes the engine's pending delivery marks and records the stop
in the heartbeat row. The engine stays open: it is its owner's to close.

This module sees the engine only through :class:`DueWork` (what a runner needs of it), so
that the engine can start a runner without an import cycle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import structlog

from cmc_workflow.calendar.working import next_year_warning
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.errors import CmcWorkflowError, ConflictError, DatabaseReadOnly
from cmc_workflow.extensions import Extension
from cmc_workflow.i18n import tr
from cmc_workflow.log import get_logger
from cmc_workflow.runner.wakeups import Wakeups
from cmc_workflow.schedules.extension import Schedules
from cmc_workflow.store import StorePort

log = get_logger("cmc_workflow.runner")

DAEMON = "daemon"
IN_PROCESS = "in-process"
STOP_TIMEOUT = 30.0
"""Seconds :meth:`Runner.stop` waits by default for the pass under way in a host process."""

PASS_JOB = frozenset({"poll", "wake", "schedule"})
"""The reasons the clock gives for a pass (the other jobs are :class:`PeriodicJob` s)."""


class DueReport(Protocol):
    """What one :meth:`DueWork.run_due` did."""

    @property
    def extensions(self) -> int: ...  # timers fired and occurrences started
    @property
    def delivered(self) -> int: ...
    @property
    def failed(self) -> int: ...


class DueWork(Protocol):
    """The engine as a runner sees it (:class:`~cmc_workflow.engine.Engine` is one)."""

    @property
    def runner(self) -> str: ...
    @property
    def store(self) -> StorePort: ...
    @property
    def extensions(self) -> tuple[Extension, ...]: ...
    @property
    def clock(self) -> Callable[[], dt.datetime]: ...
    @property
    def workflows(self) -> list[str]: ...
    def run_due(self, limit: int = 100) -> DueReport: ...
    def flush_delivery_marks(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """Work a runner does every ``every`` seconds besides its passes (the daemon's hot
    reload, a backup): ``run`` is called on the runner's worker thread, never during a
    pass, and never once the runner is stopping. An exception is logged and the job runs
    again at its next time.

    ``trigger`` (an APScheduler trigger) replaces ``every`` for a job with its own
    calendar; ``own_worker`` runs it on a worker thread of its own (threaded runners),
    so that a long job (a backup copying a large database) never holds up the passes."""

    name: str
    every: float | None
    run: Callable[[], object]
    trigger: Any = None
    own_worker: bool = False


@dataclass(frozen=True, slots=True)
class PassReport:
    """What passes did: timers and occurrences handled, outbox rows delivered or failed."""

    due_work: int = 0
    delivered: int = 0
    failed: int = 0
    passes: int = 0

    @property
    def idle(self) -> bool:
        """True when nothing was due."""
        return self.due_work == 0 and self.delivered == 0 and self.failed == 0

    def __add__(self, other: PassReport) -> PassReport:
        return PassReport(
            self.due_work + other.due_work,
            self.delivered + other.delivered,
            self.failed + other.failed,
            self.passes + other.passes,
        )


E = TypeVar("E", bound=Extension)

_RUNNING: weakref.WeakSet[Runner] = weakref.WeakSet()
"""Runners whose clock runs in this process (to tell a forked child it has none)."""


def _after_fork_in_child() -> None:
    """A thread does not survive ``fork()``: a runner started before a server forked its
    workers is dead in each of them. Say so, and let the child start its own."""
    for runner in list(_RUNNING):
        runner._lost_in_fork()
    _RUNNING.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _find(extensions: Sequence[Extension], kind: type[E]) -> E | None:
    return next((e for e in extensions if isinstance(e, kind)), None)


class Runner:
    """Passes over the due work of ``engine``, woken by this process's APScheduler clock.

    Use it as a context manager: ``with`` runs the clock on a thread of its own (any
    host); ``async with`` runs it on the running event loop (asyncio hosts), each pass in
    a worker thread so the loop never waits on the database. :meth:`start` and
    :meth:`stop` do the same by hand.
    """

    def __init__(
        self,
        engine: DueWork,
        *,
        kind: str = IN_PROCESS,
        poll_interval: float = 5.0,
        batch: int = 500,
        jobs: Sequence[PeriodicJob] = (),
        stop_timeout: float | None = STOP_TIMEOUT,
        timezone: str | None = None,
        stop: threading.Event | None = None,
        describe: Mapping[str, Any] | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        if engine.store.read_only:  # every pass writes: refuse now, not fail each pass
            raise DatabaseReadOnly("a runner writes timers, items and heartbeats")
        self.engine = engine
        self.kind = kind
        self.poll_interval = poll_interval
        self.batch = batch
        self.stop_timeout = stop_timeout
        self.clocks = _find(engine.extensions, Clocks)
        self.schedules = _find(engine.extensions, Schedules)
        calendar = self.clocks.calendar if self.clocks is not None else None
        self._timezone = timezone or (
            calendar.settings.timezone if calendar is not None else "Asia/Shanghai"
        )
        self._jobs = {job.name: job for job in jobs}
        clash = set(self._jobs) & PASS_JOB
        if clash:
            raise ValueError(f"periodic job names clash with the runner's own: {sorted(clash)}")
        self.state = "created"
        self._stop = stop if stop is not None else threading.Event()
        self._describe = dict(describe or {})
        self._events = "daemon" if kind == DAEMON else "runner"  # the daemon's log names
        # held by every job from its check of the stop to its end: stop() takes it to know
        # that nothing runs any more (and that nothing will start: the stop is set first)
        self._busy = threading.Lock()
        self._pass_lock = threading.Lock()  # one pass at a time, and no reload during one
        # jobs call the scheduler (to move the wake-up) under this lock, and never once
        # closing is set: a scheduler's shutdown may wait for the running job
        self._control = threading.Lock()
        self._closing = False
        self._wakeups: Wakeups | None = None
        self._host = socket.gethostname()
        self._last: dict[str, Any] = {}
        self._calendar_checked: dt.date | None = None

    @property
    def runner(self) -> str:
        """This runner's name in the database (claims, heartbeats)."""
        return self.engine.runner

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for."""
        return self._stop.is_set()

    # -- passes --------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        """One pass over due work (timers, occurrences, outbox); one pass at a time."""
        with self._pass_lock:
            report = self.engine.run_due(limit=self.batch)
            done = PassReport(report.extensions, report.delivered, report.failed, 1)
            if not done.idle:
                log.info(
                    "pass",
                    due_work=done.due_work,
                    delivered=done.delivered,
                    failed=done.failed,
                )
            self._heartbeat(done)
            self._warn_next_year()
            return done

    def run_until_idle(self, max_passes: int = 10_000) -> PassReport:
        """Passes until one finds nothing due (or the runner is asked to stop)."""
        total = PassReport()
        for _ in range(max_passes):
            done = self.run_pass()
            total += done
            if done.idle or self._stop.is_set():
                break
        return total

    def run_once(self) -> PassReport:
        """Do everything due now, then stop (a cron-driven host, ``cmc-workflow run
        --once``): the passes run on the calling thread, no clock is started."""
        self._begin()
        try:
            with self._busy:
                return self.run_until_idle()
        finally:
            self.stop(timeout=None)

    def exclusive(self) -> threading.Lock:
        """The lock passes hold: hold it to change what passes read (a reload)."""
        return self._pass_lock

    def _warn_next_year(self) -> None:
        """Once a day, from November on: log when next year has no calendar data yet."""
        if self.clocks is None:
            return
        calendar = self.clocks.calendar
        today = self.engine.clock().astimezone(calendar.settings.tz).date()
        if today == self._calendar_checked:
            return
        self._calendar_checked = today
        missing = calendar.missing_next_year(today)
        if missing is not None:
            english, chinese = next_year_warning(missing)
            log.warning(
                "calendar_next_year_missing", year=missing, message=english, message_zh=chinese
            )

    # -- the clock -----------------------------------------------------------------------
    def start(self, *, loop: asyncio.AbstractEventLoop | None = None) -> Self:
        """Start the clock (on ``loop`` in an asyncio host) and plan a pass at once."""
        self._begin()
        self._heartbeat(PassReport())  # status shows the runner before its first pass
        return self._start_clock(loop)

    def _begin(self) -> None:
        if self.state != "created":
            raise RuntimeError(f"a runner starts once; this one is {self.state}")
        self.state = "running"

    def _start_clock(self, loop: asyncio.AbstractEventLoop | None) -> Self:
        wakeups = self._wakeups = Wakeups(
            self._job,
            poll_interval=self.poll_interval,
            timezone=self._timezone,
            loop=loop,
        )
        for job in self._jobs.values():
            if job.trigger is not None:
                wakeups.at(job.name, job.trigger, own_worker=job.own_worker)
            elif job.every is not None:
                wakeups.every(job.name, job.every)
        self.reschedule()
        wakeups.start()
        _RUNNING.add(self)
        wakeups.wake_at(self.engine.clock())
        log.info(
            f"{self._events}_started",
            runner=self.runner,
            kind=self.kind,
            **self._describe,
            workflows=self.engine.workflows,
            schedules=[s.id for s in self.schedules.schedules] if self.schedules else [],
            poll_interval=self.poll_interval,
        )
        return self

    def reschedule(self) -> None:
        """Wake at the occurrences of the schedules in force (after a reload)."""
        if self.schedules is None:
            return
        clocks, schedules = self.clocks, self.schedules
        with self._control:
            if self._wakeups is not None and not self._closing:
                self._wakeups.set_schedules(
                    schedules.schedules,
                    lambda: clocks.calendar if clocks is not None else schedules.calendar,
                )

    def wait_stop(self, timeout: float | None = None) -> bool:
        """Wait until a stop is asked for (True) or ``timeout`` seconds pass (False)."""
        return self._stop.wait(timeout)

    def ask_stop(self) -> None:
        """Ask for a stop after the pass under way (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float | None = -1.0) -> bool:
        """Stop: no new pass starts, the pass under way finishes and commits (waiting at
        most ``timeout`` seconds; negative, the default: :attr:`stop_timeout`; None: as
        long as it takes), the pending delivery marks are written and the heartbeat says
        ``stopped``. Returns False when the pass under way did not finish in time: it goes
        on in its thread and commits or rolls back as a whole. Stopping twice is harmless.
        """
        if self.state == "stopped":
            return True
        limit = self.stop_timeout if timeout is not None and timeout < 0 else timeout
        served = self._wakeups is not None  # the clock ran: its stop is logged
        self._stop.set()
        self.state = "stopping"
        with self._control:
            self._closing = True
        if self._wakeups is not None:
            self._wakeups.shutdown(wait=False)
        began = time.monotonic()
        finished = self._busy.acquire(timeout=-1 if limit is None else limit)
        if served:  # logged once the pass under way is over: its own events come first
            log.info(
                f"{self._events}_stopping",
                runner=self.runner,
                kind=self.kind,
                waited=round(time.monotonic() - began, 3),
            )
        if not finished:
            log.warning(
                f"{self._events}_stop_timeout",
                runner=self.runner,
                seconds=limit,
                note="the pass under way goes on; it commits or rolls back as a whole",
            )
        try:
            self._record_stop()
        finally:
            if finished:
                self._busy.release()
        if served:
            log.info(f"{self._events}_stopped", runner=self.runner, kind=self.kind)
        return finished

    def _lost_in_fork(self) -> None:
        """In a forked child: the clock's thread stayed in the parent. This copy records
        nothing (the parent's runner is alive and keeps its heartbeat row)."""
        self.state = "stopped"
        self._wakeups = None
        self._busy = threading.Lock()  # a copy of a lock the parent's pass may have held
        self._pass_lock = threading.Lock()
        message = tr(
            "a runner does not survive fork(): open the engine and start its runner in each "
            "worker after the fork (docs/how-to-embed.md)"
        )
        log.warning(
            "runner_lost_in_fork", runner=self.runner, message=message.en, message_zh=message.zh
        )

    def _record_stop(self) -> None:
        _RUNNING.discard(self)
        self.state = "stopped"
        try:
            self.engine.flush_delivery_marks()
            now = self.engine.clock()
            with self.engine.store.write() as tx:
                tx.heartbeat(self.runner, self._host, os.getpid(), now, self._detail())
                tx.runner_stopped(self.runner, now)
        except CmcWorkflowError as exc:  # the database is gone: nothing more to record
            log.warning("stop_not_recorded", error=str(exc))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        self._begin()
        await asyncio.to_thread(self._heartbeat, PassReport())  # never on the loop
        return self._start_clock(asyncio.get_running_loop())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    async def stop_async(self, timeout: float | None = -1.0) -> bool:
        """:meth:`stop` for an asyncio host: waits in a thread, never on the loop."""
        return await asyncio.to_thread(self.stop, timeout)

    # -- what the clock runs ---------------------------------------------------------------
    def _job(self, reason: str) -> None:
        """What every clock job runs, on the runner's single worker thread (a job with a
        worker of its own on that worker, beside the passes)."""
        own = self._jobs.get(reason)
        if own is not None and own.own_worker:
            if self._stop.is_set():
                return
            self.bind(wake=reason)
            try:
                own.run()
            except Exception:  # logged with its traceback; it runs again next time
                log.exception("job_failed", job=own.name)
            return
        with self._busy:
            if self._stop.is_set():
                return
            self.bind(wake=reason)  # contextvars do not flow into the worker's thread
            job = self._jobs.get(reason)
            if job is not None:
                try:
                    job.run()
                except Exception:  # logged with its traceback; it runs again next time
                    log.exception("job_failed", job=job.name)
                return
            try:
                self.run_until_idle()
                self._plan_wakeup()
            except ConflictError as exc:  # lost a race (or a deadlock) to another runner
                log.warning("pass_conflict", error=str(exc), retry="at the next wake-up")
                self._plan_wakeup()  # the work is still due: wake again at once
            except CmcWorkflowError as exc:
                log.error("pass_failed", error=str(exc), error_type=type(exc).__name__)
            except Exception:  # a bug must not stop the clock; log it with its traceback
                log.exception("pass_crashed")

    def _plan_wakeup(self) -> None:
        now = self.engine.clock()
        due = []
        if self.clocks is not None:
            due.append(self.clocks.next_due())
        if self.schedules is not None:
            due.append(self.schedules.next_due(now))
        known = [d for d in due if d is not None]
        with self._control:
            if self._wakeups is not None and not self._closing:
                self._wakeups.wake_at(max(min(known), now) if known else None)

    # -- bookkeeping ---------------------------------------------------------------------
    def bind(self, **extra: str) -> None:
        """Bind this runner's name (and ``extra``) to the structured log of this thread."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(runner=self.runner, **extra)

    def _heartbeat(self, done: PassReport) -> None:
        now = self.engine.clock()
        if not done.idle:
            self._last = {
                "at": now.astimezone(dt.UTC).isoformat(),
                "due_work": done.due_work,
                "delivered": done.delivered,
                "failed": done.failed,
            }
        if self.state == "stopped":  # a pass that outlived a bounded stop: keep the stop
            return
        with self.engine.store.write() as tx:
            tx.heartbeat(self.runner, self._host, os.getpid(), now, self._detail())

    def _detail(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "last_work": self._last,
            "poll_interval": self.poll_interval,
            "workflows": self.engine.workflows,
        }
