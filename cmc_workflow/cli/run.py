"""``cmc-workflow run``: the daemon (:mod:`cmc_workflow.runner.daemon`).

``cmc-workflow run --db URL --workflows PATH [--policies PATH] [--calendars DIR] [--once]``
fires due timers, starts scheduled items and delivers the outbox until SIGTERM/SIGINT;
with ``--backup-dir DIR`` it also backs the database up on a schedule
(``--backup-every``, ``--backup-keep``: :mod:`cmc_workflow.backup.schedule`).
Its exit statuses are rows of :data:`cmc_workflow.exits.EXIT_CODES`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from cmc_workflow.backup.schedule import ScheduledBackup, parse_every
from cmc_workflow.cli.exits import Exit
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    CalendarChoice,
    calendar_options,
    db_option,
    log_level_option,
    need,
    policies_option,
    workflows_option,
)
from cmc_workflow.handlers import HandlerRegistry
from cmc_workflow.i18n import N_, tr


def _resolve_handlers(spec: str | None) -> HandlerRegistry | None:
    """``module:attr`` naming a HandlerRegistry, a mapping of handlers, or a callable
    returning either."""
    if spec is None:
        return None
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(
            str(tr("{spec}: write module:attribute", spec=repr(spec))), param_hint="--handlers"
        )
    try:
        value: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--handlers") from None
    if callable(value) and not isinstance(value, HandlerRegistry | Mapping):
        try:
            value = value()
        except Exception as exc:  # the embedding system's factory: report, do not crash
            raise click.BadParameter(
                str(
                    tr(
                        "{spec}() failed: {name}: {exc}",
                        spec=repr(spec),
                        name=type(exc).__name__,
                        exc=exc,
                    )
                ),
                param_hint="--handlers",
            ) from None
    if isinstance(value, HandlerRegistry):
        return value
    if isinstance(value, Mapping):
        return HandlerRegistry(dict(value))
    raise click.BadParameter(
        str(
            tr(
                "{spec} is a {name}, not a HandlerRegistry or a mapping",
                spec=repr(spec),
                name=type(value).__name__,
            )
        ),
        param_hint="--handlers",
    )


def _seconds_option(
    name: str, dest: str, default: float, envvar: str, help_text: str
) -> Callable[[Any], Any]:
    """An interval of the daemon's loop, in seconds (at least 0.05)."""
    return click.option(
        name,
        dest,
        default=default,
        show_default=True,
        envvar=envvar,
        type=click.FloatRange(min=0.05),
        help=help_text,
    )


def _backup(
    db: str,
    folder: Path | None,
    every: str,
    keep: int | None,
    pg_dump: str | None,
    cal: CalendarChoice,
) -> ScheduledBackup | None:
    """The scheduled backup of ``--backup-dir``/``--backup-every``/``--backup-keep``."""
    if folder is None:
        if keep is not None:
            raise click.BadParameter(str(tr("needs --backup-dir")), param_hint="--backup-keep")
        return None
    try:
        schedule = parse_every(every, cal.settings().timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--backup-every") from None
    return ScheduledBackup(db, folder, schedule, keep, pg_dump)


# -- the command ---------------------------------------------------------------------------------
@click.command(
    cls=Command,
    help=N_(
        "Run the daemon: fire due timers, start scheduled items, deliver the outbox.\n\n"
        "Logs are JSON lines on stderr. SIGTERM/SIGINT stop it gracefully. Exit codes: "
        "0 stopped (or --once done), 1 definition problems at start, 2 bad command "
        "line, 3 database unavailable or out of date, 4 crashed, 130 forced by a second "
        "signal."
    ),
)
@db_option
@workflows_option
@policies_option
@calendar_options
@click.option("--once", is_flag=True, help=N_("Do what is due now, then exit (for cron)."))
@click.option(
    "--handlers",
    "handlers_spec",
    default=None,
    envvar="CMC_HANDLERS",
    help=N_("module:attribute of the HandlerRegistry (or mapping) of serviceTask handlers."),
)
@_seconds_option(
    "--poll",
    "poll_interval",
    5.0,
    "CMC_POLL",
    N_("Seconds between polls for work armed by other processes."),
)
@_seconds_option(
    "--reload-interval",
    "reload_interval",
    2.0,
    "CMC_RELOAD_INTERVAL",
    N_("Seconds between checks of the definition files for changes."),
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    envvar="CMC_BATCH",
    type=click.IntRange(min=1),
    help=N_("Timers fired (and outbox rows delivered) per pass."),
)
@click.option("--runner", default=None, envvar="CMC_RUNNER", help=N_("This daemon's name."))
@click.option(
    "--migrate/--no-migrate",
    default=None,
    envvar="CMC_MIGRATE",
    help=N_("Upgrade the database schema at start (default: only a fresh SQLite file)."),
)
@click.option(
    "--backup-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="CMC_BACKUP_DIR",
    help=N_("Take backups into this folder on a schedule (point it at off-site storage)."),
)
@click.option(
    "--backup-every",
    default="1d",
    show_default=True,
    envvar="CMC_BACKUP_EVERY",
    help=N_(
        "With --backup-dir: a duration (30m, 6h, 1d, 1w) or five crontab fields "
        "in --timezone ('0 2 * * *')."
    ),
)
@click.option(
    "--backup-keep",
    type=click.IntRange(min=1),
    default=None,
    envvar="CMC_BACKUP_KEEP",
    help=N_("With --backup-dir: keep the newest N backups, remove older ones [default: all]."),
)
@click.option(
    "--pg-dump",
    default=None,
    envvar="CMC_PG_DUMP",
    help=N_("The pg_dump program for PostgreSQL backups [default: found on PATH]."),
)
@log_level_option("info")
def run(
    db: str,
    workflows: list[str],
    policies: list[str],
    cal: CalendarChoice,
    once: bool,
    handlers_spec: str | None,
    poll_interval: float,
    reload_interval: float,
    batch: int,
    runner: str | None,
    migrate: bool | None,
    backup_dir: Path | None,
    backup_every: str,
    backup_keep: int | None,
    pg_dump: str | None,
) -> None:
    from cmc_workflow.runner import daemon

    config = daemon.DaemonConfig(
        db=db,
        workflows=tuple(Path(p) for p in need(workflows, "--workflows", "workflows")),
        policies=tuple(Path(p) for p in policies),
        calendars=cal.folder(),
        handlers=_resolve_handlers(handlers_spec),
        settings=cal.settings(),
        poll_interval=poll_interval,
        reload_interval=reload_interval,
        batch=batch,
        runner=runner,
        migrate=migrate,
        backup=_backup(db, backup_dir, backup_every, backup_keep, pg_dump, cal),
        # a secret: from the environment only, never a command-line option
        webhook_key=os.environ.get("CMC_WEBHOOK_KEY") or None,
    )
    code = daemon.run(config, once=once)
    if code == Exit.PROBLEMS:
        click.echo("the definitions have problems (logged above); nothing was run", err=True)
    sys.exit(Exit(code))


COMMANDS: list[click.Command] = [run]
