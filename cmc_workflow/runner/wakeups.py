"""APScheduler 3 as each process's clock: wake-ups, polls and periodic schedules.

ARCHITECTURE decision 7: durable time lives in our own tables (timers, schedule
occurrences); APScheduler only tells *this* process when to look. Each runner (the daemon
or a runner inside a host application, :mod:`.core`) runs its own scheduler with an
in-memory job store (never a shared one: two schedulers on one store run jobs twice) and
one worker thread, so its passes never overlap: a
:class:`~apscheduler.schedulers.background.BackgroundScheduler` in threaded hosts, an
:class:`~apscheduler.schedulers.asyncio.AsyncIOScheduler` on an asyncio host's event loop,
whose jobs hand the pass to the same single worker thread (the loop never waits on the
database). Its jobs carry no state and decide nothing: a job
firing late, twice, or not at all only delays a pass; the database says what is due.

Jobs:

- ``poll`` every ``poll_interval`` seconds: timers armed by other processes and outbox rows
  are found within one interval;
- ``wake``: one date job at the next known due time (earliest timer or occurrence), moved
  after every pass, so a timer fires on time without a fast poll;
- ``reload`` every ``reload_interval`` seconds: the daemon's hot reload check; any other
  periodic job of the runner is added the same way (:meth:`Wakeups.every`);
- ``schedule:<id>`` per periodic schedule, at its occurrences, computed by the schedule's
  own rules (:class:`ScheduleTrigger`): cron, every N months from an anchor, the last
  working day of the month. Decision 8's cron pitfalls are refused where schedules load;
- ``backup`` (``run --backup-dir``): the scheduled backup (:class:`BackupTrigger`), on a
  worker of its own, so that a long copy never delays a pass.

Structured-logging context does not flow into APScheduler's pool thread (decision 12):
the daemon binds it inside each job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor as Worker
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.log import get_logger
from cmc_workflow.schedules.recurrence import Schedule

log = get_logger("cmc_workflow.scheduler")

POLL_JOB = "poll"
WAKE_JOB = "wake"
RELOAD_JOB = "reload"
BACKUP_JOB = "backup"
SCHEDULE_PREFIX = "schedule:"

Job = Callable[[str], None]
"""What a job runs: the daemon's handler, told why it woke (``poll``, ``wake``, ...)."""


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """An APScheduler trigger that asks a :class:`Schedule` for its next occurrence."""

    def __init__(self, schedule: Schedule, calendar: Callable[[], WorkingCalendar]) -> None:
        self.schedule = schedule
        self.calendar = calendar

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        """The first occurrence after the previous one (or at/after ``now``)."""
        after = previous_fire_time or now - dt.timedelta(microseconds=1)
        found = self.schedule.next_after(after, self.calendar())
        return None if found is None else found.due

    def __str__(self) -> str:
        return self.schedule.describe()


class BackupTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """Fires at ``first``, then at ``next_after(previous)`` (the backup schedule's rule)."""

    def __init__(
        self, first: dt.datetime, next_after: Callable[[dt.datetime], dt.datetime | None]
    ) -> None:
        self.first = first
        self.next_after = next_after

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        """``first``, then the schedule's next time after the previous one."""
        if previous_fire_time is None:
            return self.first
        return self.next_after(previous_fire_time)

    def __str__(self) -> str:
        return f"backup from {self.first.isoformat()}"


class _ToStructlog(logging.Handler):
    """Sends APScheduler's stdlib log records to structlog: errors only, since its
    warnings (a skipped or late run) do not matter here: the database says what is due."""

    def emit(self, record: logging.LogRecord) -> None:
        log.log(record.levelno, "apscheduler", message=record.getMessage())


class Wakeups:
    """This process's clock: an APScheduler 3 scheduler that calls ``job`` when to look.

    ``job`` runs on the scheduler's single worker thread with the reason it woke. With
    ``loop`` (an asyncio host's event loop) the scheduler is APScheduler's asyncio one and
    each job hands ``job`` to a worker thread of its own, one at a time.
    """

    def __init__(
        self,
        job: Job,
        *,
        poll_interval: float,
        reload_interval: float | None = None,
        timezone: str = BUSINESS_TIMEZONE,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._job: Callable[[str], Any] = job
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        self._worker: Worker | None = None
        self._scheduler: BaseScheduler
        if loop is None:
            self._scheduler = BackgroundScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(max_workers=1)},
                job_defaults=defaults,
                timezone=timezone,
            )
        else:
            worker = self._worker = Worker(max_workers=1, thread_name_prefix="cmc-runner")

            async def in_worker(reason: str) -> None:
                try:
                    running = loop.run_in_executor(worker, job, reason)
                except RuntimeError:  # the worker is shut down: the runner is stopping
                    return
                await running

            self._job = in_worker
            self._scheduler = AsyncIOScheduler(
                jobstores={"default": MemoryJobStore()},
                job_defaults=defaults,
                timezone=timezone,
                event_loop=loop,
            )
        self._schedule_jobs: set[str] = set()
        apscheduler_log = logging.getLogger("apscheduler")
        if not any(isinstance(h, _ToStructlog) for h in apscheduler_log.handlers):
            apscheduler_log.addHandler(_ToStructlog(logging.ERROR))
            apscheduler_log.setLevel(logging.ERROR)
            apscheduler_log.propagate = False
        self._add(POLL_JOB, IntervalTrigger(seconds=poll_interval))
        if reload_interval is not None:
            self._add(RELOAD_JOB, IntervalTrigger(seconds=reload_interval))

    def _add(self, job_id: str, trigger: Any, **options: Any) -> None:
        self._scheduler.add_job(
            self._job,
            trigger,
            args=[job_id.split(":", 1)[0] if job_id.startswith(SCHEDULE_PREFIX) else job_id],
            id=job_id,
            name=job_id,
            replace_existing=True,
            **options,
        )

    def every(self, name: str, seconds: float) -> None:
        """Call the job with ``name`` every ``seconds`` (a periodic job of the runner)."""
        self._add(name, IntervalTrigger(seconds=seconds))

    def start(self) -> None:
        """Start the clock (its thread, or its timer on the event loop)."""
        self._scheduler.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the clock; with ``wait`` the job running now finishes first (in threaded
        hosts; an asyncio host's worker is left to finish on its own)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait and self._worker is None)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    def wake_at(self, when: dt.datetime | None) -> None:
        """Run a pass at ``when`` (at once if it is past); None drops the wake-up."""
        if when is None:
            if self._scheduler.get_job(WAKE_JOB) is not None:
                self._scheduler.remove_job(WAKE_JOB)
            return
        self._add(WAKE_JOB, DateTrigger(run_date=when))

    def at(self, name: str, trigger: Any, *, own_worker: bool = False) -> None:
        """Call the job with ``name`` at the times of ``trigger``; with ``own_worker`` on a
        worker thread of its own (threaded clocks; an asyncio host's jobs share its worker)."""
        if own_worker and self._worker is None:
            self._scheduler.add_executor(ThreadPoolExecutor(max_workers=1), alias=name)
            self._add(name, trigger, executor=name)
        else:
            self._add(name, trigger)

    def set_schedules(
        self, schedules: Iterable[Schedule], calendar: Callable[[], WorkingCalendar]
    ) -> None:
        """One job per enabled schedule, at its occurrences (replacing the previous set)."""
        wanted = {f"{SCHEDULE_PREFIX}{s.id}": s for s in schedules if s.spec.enabled}
        for job_id in self._schedule_jobs - set(wanted):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.remove_job(job_id)
        for job_id, schedule in wanted.items():
            self._add(job_id, ScheduleTrigger(schedule, calendar))
        self._schedule_jobs = set(wanted)

    def jobs(self) -> list[tuple[str, dt.datetime | None]]:
        """Each job and when it runs next (None until the clock started)."""
        return [(job.id, getattr(job, "next_run_time", None)) for job in self._scheduler.get_jobs()]
