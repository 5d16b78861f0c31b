"""The runner daemon: fires due timers, starts scheduled items, delivers the outbox.

``cmc-workflow run --db URL --workflows DIR [--policies DIR] [--calendars DIR] [--once]``
(:mod:`cmc_workflow.cli.run`) builds a :class:`Daemon` from a :class:`DaemonConfig`::

    created -> running -> stopping -> stopped

The passes, the wake-ups, the heartbeat and the clean stop are the
:class:`~cmc_workflow.runner.core.Runner`'s, the same one an application runs in-process
(``Engine.open(..., run_due_work=True)``): each *pass* calls :meth:`Engine.run_due` (the
SLA clocks' due timers, the schedules' due occurrences, then the outbox), and APScheduler 3
is only this process's clock (:mod:`.wakeups`). Any number of daemons and in-process
runners may share one database: every timer and occurrence is claimed in the database,
never in memory, so each fires once; a daemon that dies mid-pass loses only its open
transaction, which rolls back. What is the daemon's own: the definitions and calendars
read from files and their hot reload, signals, exit codes, and its periodic jobs
(:meth:`Daemon.jobs`).

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

from cmc_workflow import _signals
from cmc_workflow.backup.schedule import ScheduledBackup
from cmc_workflow.calendar import CalendarSettings, WorkingCalendar
from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine, system_clock
from cmc_workflow.errors import (
    DatabaseReadOnly,
    DefinitionError,
    Problem,
)
from cmc_workflow.exits import EXIT_CODES as _EXIT_CODES
from cmc_workflow.exits import Exit
from cmc_workflow.handlers import Handler, HandlerRegistry
from cmc_workflow.language import iter_yaml_files, load_paths
from cmc_workflow.log import get_logger
from cmc_workflow.runner.assemble import load_definitions, open_engine
from cmc_workflow.runner.core import DAEMON, PassReport, PeriodicJob, Runner
from cmc_workflow.runner.wakeups import BACKUP_JOB, RELOAD_JOB, BackupTrigger
from cmc_workflow.schedules.extension import Schedules
from cmc_workflow.schedules.language import schedules_from
from cmc_workflow.schedules.recurrence import Schedule
from cmc_workflow.webhooks.extension import Webhooks

log = get_logger("cmc_workflow.daemon")

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
    webhook_key: str | None = None
    """``CMC_WEBHOOK_KEY``: the master key webhook secrets are derived from (if any)."""

    @property
    def definition_paths(self) -> list[Path]:
        """The folders (or files) whose YAML definitions the daemon loads and watches."""
        return [*self.workflows, *self.policies]


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
        extensions=[clocks, schedules, Webhooks(config.webhook_key)],
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
    """One runner process: the daemon-only parts (definitions and calendars from files,
    their hot reload, signals, exit codes) around the :class:`~.core.Runner` that does
    the passes, the wake-ups, the heartbeat and the clean stop.

    Periodic jobs (:attr:`jobs`) run on the runner's worker thread, never during a pass:
    a new one is one more :class:`~.core.PeriodicJob` in that list.
    """

    def __init__(
        self,
        config: DaemonConfig,
        *,
        clock: Callable[[], dt.datetime] = system_clock,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.engine, self.clocks, self.schedules = build_engine(config, clock=clock)
        if self.engine.store.read_only:  # every pass writes: refuse now (exit 3), not
            self.engine.close()  # fail each pass forever
            raise DatabaseReadOnly("a daemon writes timers, items and heartbeats")
        self._definitions = _signature(config.definition_paths)
        self._calendars = _signature([config.calendars]) if config.calendars else ()
        self.core = Runner(
            self.engine,
            kind=DAEMON,
            poll_interval=config.poll_interval,
            batch=config.batch,
            jobs=self.jobs(),
            stop_timeout=None,  # a second signal is the operator's bound (exit 130)
            timezone=config.settings.timezone,
            stop=stop,
            describe={"db": _safe_url(config.db)},
        )

    def jobs(self) -> list[PeriodicJob]:
        """The daemon's periodic jobs besides its passes (each at its own interval)."""
        jobs = [PeriodicJob(RELOAD_JOB, self.config.reload_interval, self._reload_job)]
        if (backup := self.config.backup) is not None:  # on a worker of its own: passes go on
            trigger = BackupTrigger(backup.next_due(self.clock()), backup.every.next_after)
            jobs.append(PeriodicJob(BACKUP_JOB, None, backup.take, trigger, own_worker=True))
        return jobs

    @property
    def runner(self) -> str:
        """This daemon's name in the database (claims, heartbeats)."""
        return self.engine.runner

    @property
    def state(self) -> str:
        """``created``, ``running``, ``stopping`` or ``stopped``."""
        return self.core.state

    # -- passes ------------------------------------------------------------------------------
    def run_pass(self) -> PassReport:
        """One pass over due work (timers, occurrences, outbox); one pass at a time."""
        return self.core.run_pass()

    def run_until_idle(self, max_passes: int = 10_000) -> PassReport:
        """Passes until one finds nothing due (or the daemon is asked to stop)."""
        return self.core.run_until_idle(max_passes)

    def run_once(self) -> PassReport:
        """The ``--once`` mode: do everything due now, then stop (for cron-driven setups)."""
        self.core.bind()
        log.info("daemon_once", runner=self.runner, db=_safe_url(self.config.db))
        try:
            total = self.core.run_once()
            if self.config.backup is not None and self.config.backup.is_due(self.clock()):
                self.config.backup.take()
        finally:
            self.engine.close()
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
        self.core.bind()
        self.core.start()
        try:
            while not self.core.wait_stop(1.0):
                pass  # the main thread only waits for a signal; the clock's thread works
            self.core.stop()  # the pass under way finishes and commits
        finally:
            self.engine.close()
        return EXIT_OK

    def stop(self) -> None:
        """Ask the daemon to stop after the pass under way (safe from signal handlers)."""
        self.core.ask_stop()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self.core.stopping

    # -- hot reload ------------------------------------------------------------------------------
    def _reload_job(self) -> None:
        try:
            self.reload_if_changed()
        except Exception:  # whatever a file did, the running versions stay in force
            log.exception(
                "reload_refused",
                what="definitions",
                problems=[],
                kept="the running versions stay in force",
            )

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
        with self.core.exclusive():
            try:
                changed = self.engine.reload(loaded.workflows)
            except DefinitionError as exc:
                _log_refused("definitions", exc.problems)
                return False
            self.schedules.replace(schedules)
        self.core.reschedule()
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
        with self.core.exclusive():
            self.clocks.set_calendar(calendar)
            self.schedules.replace(self.schedules.schedules, calendar)
            recomputed = self.clocks.recompute_provisional()
        log.info("calendar_reloaded", version=calendar.version, recomputed=recomputed)
        return True

    # -- bookkeeping ------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Record the stop (a daemon stopped before it served) and close the engine."""
        try:
            self.core.stop(timeout=None)
        finally:
            self.engine.close()


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
