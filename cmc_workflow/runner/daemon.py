# Over 400 lines: one daemon lifecycle (passes, serving, hot reload, stop) sharing its locks.
"""The runner daemon: fires due timers, starts scheduled items, delivers the outbox.

``cmc-workflow run --db URL --workflows DIR [--policies DIR] [--calendars DIR] [--once]``
(:mod:`cmc_workflow.cli.run`) builds a :class:`Daemon` from a :class:`DaemonConfig`::

    created -> running -> stopping -> stopped

Each *pass* calls :meth:`Engine.run_due`: the SLA clocks' due timers (:class:`Clocks`),
the schedules' due occurrences (:class:`Schedules`), then the outbox; passes repeat while
they find work. APScheduler 3 is only this process's clock (:mod:`.wakeups`):
it wakes the daemon at the next due time, every poll interval, and at each schedule's
occurrences. Any number of daemons may share one database: every timer and occurrence is
claimed in the database, never in memory, so each fires once; a daemon that dies mid-pass
loses only its open transaction, which rolls back.

Hot reload: every ``reload_interval`` seconds the daemon compares the modification times
of the definition files and of ``calendars/``; on a change it loads everything again. A
file with problems is logged with each problem (``file:line:col: CODE message``) and the
running versions stay in force; a clean set becomes current for new items (running items
keep their version, decision 3), new schedules replace the old ones, and a new calendar
applies to new clocks (provisional ones are recomputed).

Signals: SIGTERM or SIGINT stops gracefully (the pass under way finishes, its
transaction commits, the heartbeat says ``stopped``); a second signal exits at once with
130 (the open transaction rolls back). Exit codes: :data:`cmc_workflow.exits.EXIT_CODES`.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from cmc_workflow import _signals
from cmc_workflow.backup.schedule import ScheduledBackup
from cmc_workflow.calendar import CalendarSettings, WorkingCalendar
from cmc_workflow.calendar.working import next_year_warning
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine, system_clock
from cmc_workflow.errors import (
    CmcWorkflowError,
    ConflictError,
    DatabaseReadOnly,
    DefinitionError,
    Problem,
)
from cmc_workflow.exits import EXIT_CODES as _EXIT_CODES
from cmc_workflow.exits import Exit
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.language import iter_yaml_files, load_paths
from cmc_workflow.runner.assemble import load_definitions, open_engine
from cmc_workflow.runner.wakeups import BackupTrigger, Wakeups
from cmc_workflow.schedules.extension import Schedules
from cmc_workflow.schedules.language import schedules_from
from cmc_workflow.schedules.recurrence import Schedule

log = structlog.get_logger("cmc_workflow.daemon")

EXIT_OK = Exit.OK
EXIT_DEFINITION = Exit.PROBLEMS
EXIT_USAGE = Exit.USAGE
EXIT_DATABASE = Exit.DATABASE
EXIT_CRASH = Exit.CRASH
EXIT_FORCED = Exit.FORCED
EXIT_CODES: Mapping[int, str] = {
    code: meaning
    for code, meaning in _EXIT_CODES.items()
    if code in (EXIT_OK, EXIT_DEFINITION, EXIT_USAGE, EXIT_DATABASE, EXIT_CRASH, EXIT_FORCED)
}
"""The exit statuses ``cmc-workflow run`` uses (rows of :data:`cmc_workflow.exits.EXIT_CODES`)."""


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """Everything a daemon needs; built by the CLI from options and ``CMC_*`` variables.

    ``poll_interval`` bounds how late work armed by *other* processes is noticed;
    ``batch`` bounds the timers fired (and outbox rows delivered) per pass.
    """

    db: str
    workflows: tuple[Path, ...]
    policies: tuple[Path, ...] = ()
    calendars: Path | None = None
    handlers: HandlerRegistry | Mapping[str, Handler] | None = None
    settings: CalendarSettings = field(default_factory=CalendarSettings)
    poll_interval: float = 5.0
    reload_interval: float = 2.0
    batch: int = 500
    runner: str | None = None
    migrate: bool | None = None
    backup: ScheduledBackup | None = None
    """``--backup-dir``/``--backup-every``/``--backup-keep``: backups taken on a schedule."""

    @property
    def definition_paths(self) -> list[Path]:
        """The folders (or files) whose YAML definitions the daemon loads and watches."""
        return [*self.workflows, *self.policies]


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


def load_calendar(config: DaemonConfig) -> WorkingCalendar:
    """The working-day calendar of ``config`` (official data plus ``calendars/`` files)."""
    if config.calendars is None:
        return WorkingCalendar(config.settings)
    return WorkingCalendar.from_directory(config.calendars, config.settings)


def build_engine(
    config: DaemonConfig, *, clock: Callable[[], dt.datetime] = system_clock
) -> tuple[Engine, Clocks, Schedules]:
    """The engine a daemon runs: the definitions of ``config`` with the SLA clocks and
    the periodic schedules plugged in. Raises :class:`DefinitionError` (every problem of
    every file) or :class:`~cmc_workflow.errors.StoreError`."""
    calendar = load_calendar(config)
    loaded = load_definitions(config.definition_paths)  # once: the engine and the schedules
    clocks = Clocks(calendar, batch=config.batch)
    schedules = Schedules.from_loaded(loaded, calendar)
    engine = open_engine(
        config.db,
        loaded,
        calendar=calendar,
        clock=clock,
        handlers=config.handlers,
        migrate=config.migrate,
        runner=config.runner or f"{socket.gethostname()}:{os.getpid()}",
        extensions=[clocks, schedules],
    )
    return engine, clocks, schedules


def _signature(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """What the hot reload compares: each YAML file with its mtime and size."""
    found = []
    for path in iter_yaml_files(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


class Daemon:
    """One runner process: passes over due work, woken by its own APScheduler clock."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        clock: Callable[[], dt.datetime] = system_clock,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.state = "created"
        self.engine, self.clocks, self.schedules = build_engine(config, clock=clock)
        if self.engine.store.read_only:  # every pass writes: refuse now (exit 3), not
            self.engine.close()  # fail each pass forever
            raise DatabaseReadOnly("a daemon writes timers, items and heartbeats")
        self._stop = stop if stop is not None else threading.Event()
        self._pass_lock = threading.Lock()
        self._definitions = _signature(config.definition_paths)
        self._calendars = _signature([config.calendars]) if config.calendars else ()
        self._wakeups: Wakeups | None = None
        # jobs call the scheduler (to move the wake-up) under this lock, and never once
        # closing is set: APScheduler's shutdown holds its job-store lock while it waits
        # for the running job, so a job calling it then would deadlock the stop
        self._control = threading.Lock()
        self._closing = False
        self._host = socket.gethostname()
        self._last: dict[str, Any] = {}
        self._calendar_checked: dt.date | None = None

    @property
    def runner(self) -> str:
        """This daemon's name in the database (claims, heartbeats)."""
        return self.engine.runner

    # -- passes ------------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        """One pass over due work (timers, occurrences, outbox); one pass at a time."""
        with self._pass_lock:
            report = self.engine.run_due(limit=self.config.batch)
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

    def _warn_next_year(self) -> None:
        """Once a day, from November on: log when next year has no calendar data yet."""
        calendar = self.clocks.calendar
        today = self.clock().astimezone(calendar.settings.tz).date()
        if today == self._calendar_checked:
            return
        self._calendar_checked = today
        missing = calendar.missing_next_year(today)
        if missing is not None:
            english, chinese = next_year_warning(missing)
            log.warning(
                "calendar_next_year_missing", year=missing, message=english, message_zh=chinese
            )

    def run_until_idle(self, max_passes: int = 10_000) -> PassReport:
        """Passes until one finds nothing due (or the daemon is asked to stop)."""
        total = PassReport()
        for _ in range(max_passes):
            done = self.run_pass()
            total += done
            if done.idle or self._stop.is_set():
                break
        return total

    def run_once(self) -> PassReport:
        """The ``--once`` mode: do everything due now, then stop (for cron-driven setups)."""
        self.state = "running"
        self._bind()
        log.info("daemon_once", runner=self.runner, db=_safe_url(self.config.db))
        try:
            total = self.run_until_idle()
            if self.config.backup is not None and self.config.backup.is_due(self.clock()):
                self.config.backup.take()
        finally:
            self._finish()
        log.info(
            "daemon_once_done",
            due_work=total.due_work,
            delivered=total.delivered,
            failed=total.failed,
            passes=total.passes,
        )
        return total

    # -- serving -------------------------------------------------------------------------------
    def serve(self) -> int:
        """Run until :meth:`stop`; returns the exit code (0)."""
        self.state = "running"
        self._bind()
        wakeups = self._wakeups = Wakeups(
            self._job,
            poll_interval=self.config.poll_interval,
            reload_interval=self.config.reload_interval,
            timezone=self.config.settings.timezone,
        )
        wakeups.set_schedules(self.schedules.schedules, lambda: self.clocks.calendar)
        if (backup := self.config.backup) is not None:
            first = backup.next_due(self.clock())
            wakeups.set_backup(BackupTrigger(first, backup.every.next_after))
        wakeups.start()
        wakeups.wake_at(self.clock())
        log.info(
            "daemon_started",
            runner=self.runner,
            db=_safe_url(self.config.db),
            workflows=self.engine.workflows,
            schedules=[s.id for s in self.schedules.schedules],
            poll_interval=self.config.poll_interval,
        )
        while not self._stop.wait(timeout=1.0):
            pass  # the main thread only waits for a signal; the clock's thread works
        self.state = "stopping"
        log.info("daemon_stopping", runner=self.runner)
        with self._control:
            self._closing = True
        wakeups.shutdown(wait=True)  # the pass under way finishes and commits
        self._finish()
        log.info("daemon_stopped", runner=self.runner)
        return EXIT_OK

    def stop(self) -> None:
        """Ask the daemon to stop after the pass under way (safe from signal handlers)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def _job(self, reason: str) -> None:
        """What every APScheduler job runs, on the scheduler's single worker thread."""
        if self._stop.is_set():
            return
        self._bind(wake=reason)  # contextvars do not flow into the pool's thread
        if reason == "backup" and self.config.backup is not None:
            self.config.backup.take()  # on its own worker; a failure is logged
            return
        if reason == "reload":
            try:
                self.reload_if_changed()
            except Exception:  # whatever a file did, the running versions stay in force
                log.exception(
                    "reload_refused",
                    what="definitions",
                    problems=[],
                    kept="the running versions stay in force",
                )
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
        now = self.clock()
        candidates = [self.clocks.next_due(), self.schedules.next_due(now)]
        due = [c for c in candidates if c is not None]
        with self._control:
            if self._wakeups is not None and not self._closing:
                self._wakeups.wake_at(max(min(due), now) if due else None)

    # -- hot reload ------------------------------------------------------------------------------
    def reload_if_changed(self) -> bool:
        """Load the definitions (and calendars) again if a file changed; True when a new
        set is in force. Problems are logged and the running versions stay in force."""
        changed = False
        definitions = _signature(self.config.definition_paths)
        if definitions != self._definitions:
            self._definitions = definitions
            changed |= self._reload_definitions()
        if self.config.calendars is not None:
            calendars = _signature([self.config.calendars])
            if calendars != self._calendars:
                self._calendars = calendars
                changed |= self._reload_calendar()
        return changed

    def _reload_definitions(self) -> bool:
        loaded: LoadedSet = load_paths(self.config.definition_paths)
        problems: list[Problem] = list(loaded.problems)
        schedules: list[Schedule] = []
        if not problems:
            schedules, problems = schedules_from(loaded)
        if problems:
            _log_refused("definitions", problems)
            return False
        with self._pass_lock:
            try:
                changed = self.engine.reload(loaded.workflows)
            except DefinitionError as exc:
                _log_refused("definitions", exc.problems)
                return False
            self.schedules.replace(schedules)
        with self._control:
            if self._wakeups is not None and not self._closing:
                self._wakeups.set_schedules(self.schedules.schedules, lambda: self.clocks.calendar)
        log.info(
            "reloaded",
            changed=changed,
            schedules=[s.id for s in schedules],
        )
        return True

    def _reload_calendar(self) -> bool:
        try:
            calendar = load_calendar(self.config)
        except DefinitionError as exc:
            _log_refused("calendars", exc.problems)
            return False
        with self._pass_lock:
            self.clocks.set_calendar(calendar)
            self.schedules.replace(self.schedules.schedules, calendar)
            recomputed = self.clocks.recompute_provisional()
        log.info("calendar_reloaded", version=calendar.version, recomputed=recomputed)
        return True

    # -- bookkeeping ------------------------------------------------------------------------------
    def _bind(self, **extra: str) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(runner=self.runner, **extra)

    def _heartbeat(self, done: PassReport) -> None:
        now = self.clock()
        if not done.idle:
            self._last = {
                "at": now.astimezone(dt.UTC).isoformat(),
                "due_work": done.due_work,
                "delivered": done.delivered,
                "failed": done.failed,
            }
        detail = {
            "state": self.state,
            "last_work": self._last,
            "poll_interval": self.config.poll_interval,
            "workflows": self.engine.workflows,
        }
        with self.engine.store.write() as tx:
            tx.heartbeat(self.runner, self._host, os.getpid(), now, detail)

    def _finish(self) -> None:
        try:
            with self.engine.store.write() as tx:
                tx.runner_stopped(self.runner, self.clock())
        except CmcWorkflowError as exc:  # the database is gone: nothing more to record
            log.warning("stop_not_recorded", error=str(exc))
        finally:
            self.engine.close()
            self.state = "stopped"


def _log_refused(what: str, problems: Sequence[Problem]) -> None:
    log.error(
        "reload_refused",
        what=what,
        problems=[str(p) for p in problems],
        kept="the running versions stay in force",
    )


def _safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the store, not here
        return "<unparsable url>"


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT stop ``daemon`` gracefully; a second one exits at once (130)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if daemon.stopping:
            os._exit(EXIT_FORCED)
        daemon.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def run(config: DaemonConfig, *, once: bool = False) -> int:
    """Build and run a daemon; returns its exit code (see :data:`EXIT_CODES`).

    SIGTERM/SIGINT are handled from the start (:mod:`cmc_workflow._signals`, armed when
    the package is imported by ``cmc-workflow run``, else here): a signal before or while
    the daemon is built stops it right after, with 0, before any pass.
    """
    from cmc_workflow.errors import StoreError

    started = time.monotonic()
    stop = _signals.install()
    if stop.is_set():
        log.info("daemon_stopped", runner=None, before="start-up")
        return EXIT_OK
    try:
        daemon = Daemon(config, stop=stop)
    except DefinitionError as exc:
        for problem in exc.problems:
            log.error("definition_problem", problem=str(problem))
        return EXIT_DEFINITION
    except StoreError as exc:
        log.error("database_unavailable", error=str(exc), db=_safe_url(config.db))
        return EXIT_DATABASE
    log.debug("daemon_built", seconds=round(time.monotonic() - started, 3))
    if stop.is_set():  # signalled while it was being built: nothing has run yet
        daemon._finish()
        log.info("daemon_stopped", runner=daemon.runner, before="start-up")
        return EXIT_OK
    try:
        if once:
            daemon.run_once()  # a signal stops it after the pass under way
            return EXIT_OK
        return daemon.serve()
    except StoreError as exc:
        log.error("database_failed", error=str(exc))
        return EXIT_DATABASE
    except Exception:  # logged with its traceback; the exit code says it crashed
        log.exception("daemon_crashed")
        return EXIT_CRASH
