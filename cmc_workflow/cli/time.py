"""Commands about time: ``run`` (the daemon), ``status`` (its health) and ``calendar``.

- ``cmc-workflow run --db URL --workflows DIR [--policies DIR] [--calendars DIR] [--once]``
  runs the daemon (:mod:`cmc_workflow.daemon`; exit codes in ``daemon.EXIT_CODES``);
- ``cmc-workflow status --db URL`` shows the runners' heartbeats, the next due timers,
  the lag of the oldest due timer, pending outbox rows, overdue and provisional clocks and
  each schedule's last and next occurrence; ``--max-lag SECONDS`` exits 1 when the daemons
  fall behind (for a health check);
- ``cmc-workflow calendar status [YEARS]`` says where each year's working days come from;
- ``cmc-workflow calendar add-days DATE N`` prints the end of N working days after DATE
  with the rule applied.

Options can also come from ``CMC_*`` environment variables (named in ``--help``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from cmc_workflow.calendar.answers import Deadline
from cmc_workflow.cli.calendars import (
    calendar_options,
    calendar_settings,
    calendars_path,
    working_calendar,
)
from cmc_workflow.cli.items import db_option, emit_json, json_option, table
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.engine import system_clock
from cmc_workflow.errors import CmcWorkflowError, StoreError
from cmc_workflow.handlers import HandlerRegistry
from cmc_workflow.log import configure_logging
from cmc_workflow.schedules import Schedule, schedules_from
from cmc_workflow.store import Store
from cmc_workflow.store import timers as sql

EXIT_BEHIND = 1
EXIT_DATABASE = 3


def _resolve_handlers(spec: str | None) -> HandlerRegistry | None:
    """``module:attr`` naming a HandlerRegistry, a mapping of handlers, or a callable
    returning either."""
    if spec is None:
        return None
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"{spec!r}: write module:attribute", param_hint="--handlers")
    try:
        value: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--handlers") from None
    if callable(value) and not isinstance(value, HandlerRegistry | Mapping):
        try:
            value = value()
        except Exception as exc:  # the embedding system's factory: report, do not crash
            raise click.BadParameter(
                f"{spec!r}() failed: {type(exc).__name__}: {exc}", param_hint="--handlers"
            ) from None
    if isinstance(value, HandlerRegistry):
        return value
    if isinstance(value, Mapping):
        return HandlerRegistry(dict(value))
    raise click.BadParameter(
        f"{spec!r} is a {type(value).__name__}, not a HandlerRegistry or a mapping",
        param_hint="--handlers",
    )


# -- run -----------------------------------------------------------------------------------
@click.command()
@db_option
@click.option(
    "--workflows",
    "workflows_dirs",
    multiple=True,
    default=("workflows",),
    show_default=True,
    envvar="CMC_WORKFLOWS",
    type=click.Path(exists=True),
    help="Folder (or file) of workflow and schedule definitions; repeatable.",
)
@click.option(
    "--policies",
    "policies_dirs",
    multiple=True,
    envvar="CMC_POLICIES",
    type=click.Path(exists=True),
    help="Folder of policy files (default: ./policies if it exists); repeatable.",
)
@calendar_options
@click.option("--once", is_flag=True, help="Do what is due now, then exit (for cron).")
@click.option(
    "--handlers",
    "handlers_spec",
    default=None,
    envvar="CMC_HANDLERS",
    help="module:attribute of the HandlerRegistry (or mapping) of serviceTask handlers.",
)
@click.option(
    "--poll",
    "poll_interval",
    default=5.0,
    show_default=True,
    envvar="CMC_POLL",
    type=click.FloatRange(min=0.05),
    help="Seconds between polls for work armed by other processes.",
)
@click.option(
    "--reload-interval",
    default=2.0,
    show_default=True,
    envvar="CMC_RELOAD_INTERVAL",
    type=click.FloatRange(min=0.05),
    help="Seconds between checks of the definition files for changes.",
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    envvar="CMC_BATCH",
    type=click.IntRange(min=1),
    help="Timers fired (and outbox rows delivered) per pass.",
)
@click.option("--runner", default=None, envvar="CMC_RUNNER", help="This daemon's name.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    envvar="CMC_MIGRATE",
    help="Upgrade the database schema at start (default: only a fresh SQLite file).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    envvar="CMC_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Level of the JSON log lines written to stderr.",
)
def run(
    db: str,
    workflows_dirs: tuple[str, ...],
    policies_dirs: tuple[str, ...],
    calendars_dir: str | None,
    timezone: str,
    business_hours: Any,
    after_hours_next_day: bool,
    once: bool,
    handlers_spec: str | None,
    poll_interval: float,
    reload_interval: float,
    batch: int,
    runner: str | None,
    migrate: bool | None,
    log_level: str,
) -> None:
    """Run the daemon: fire due timers, start scheduled items, deliver the outbox.

    Logs are JSON lines on stderr. SIGTERM/SIGINT stop it gracefully. Exit codes: 0
    stopped (or --once done), 1 definition problems at start, 2 bad command line,
    3 database unavailable or out of date, 4 crashed, 130 forced by a second signal.
    """
    from cmc_workflow.runner import daemon

    policies = policies_dirs or (("policies",) if Path("policies").is_dir() else ())
    config = daemon.DaemonConfig(
        db=db,
        workflows=tuple(Path(p) for p in workflows_dirs),
        policies=tuple(Path(p) for p in policies),
        calendars=calendars_path(calendars_dir),
        handlers=_resolve_handlers(handlers_spec),
        settings=calendar_settings(timezone, business_hours, after_hours_next_day),
        poll_interval=poll_interval,
        reload_interval=reload_interval,
        batch=batch,
        runner=runner,
        migrate=migrate,
    )
    configure_logging(level=log_level)  # once the command line is known to be good
    code = daemon.run(config, once=once)
    if code == daemon.EXIT_DEFINITION:
        click.echo("the definitions have problems (logged above); nothing was run", err=True)
    sys.exit(code)


# -- status --------------------------------------------------------------------------------
def _when(value: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    return "—" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def _schedules(paths: Sequence[str]) -> tuple[list[Schedule], list[str]]:
    if not paths:
        return [], []
    loaded = load_paths(list(paths))
    schedules, problems = schedules_from(loaded)
    return schedules, [str(p) for p in [*loaded.problems, *problems]]


@click.command()
@db_option
@click.option(
    "--workflows",
    "workflows_dirs",
    multiple=True,
    envvar="CMC_WORKFLOWS",
    type=click.Path(exists=True),
    help="Definitions, for each schedule's next occurrence (default: ./workflows if present).",
)
@calendar_options
@click.option("--limit", default=10, show_default=True, help="How many next timers to list.")
@click.option(
    "--max-lag",
    default=None,
    type=float,
    help="Exit 1 when the oldest due timer waits longer than this many seconds.",
)
@json_option
def status(
    db: str,
    workflows_dirs: tuple[str, ...],
    calendars_dir: str | None,
    timezone: str,
    business_hours: Any,
    after_hours_next_day: bool,
    limit: int,
    max_lag: float | None,
    as_json: bool,
) -> None:
    """Health of the daemons: heartbeats, next due timers, lag, outbox, clocks, schedules.

    Exits 0, or 1 with --max-lag when timers wait too long, 3 when the database fails.
    """
    settings = calendar_settings(timezone, business_hours, after_hours_next_day)
    tz = settings.tz
    now = system_clock()
    paths = workflows_dirs or (("workflows",) if Path("workflows").is_dir() else ())
    schedules, problems = _schedules(paths)
    calendar = working_calendar(calendars_path(calendars_dir), settings)
    try:
        store = Store.open(db, migrate=False)
    except CmcWorkflowError as exc:
        click.echo(f"database error: {exc}", err=True)
        raise SystemExit(EXIT_DATABASE) from None
    try:
        with store.read() as tx:
            runners = sql.runner_rows(tx)
            upcoming = sql.upcoming_timers(tx, limit)
            oldest = sql.next_due_at(tx)
            pending = sql.count_timers(tx, sql.PENDING)
            due_now = sql.count_timers(tx, sql.PENDING, now)
            outbox = sql.count_pending_outbox(tx)
            overdue = sql.overdue_clocks(tx, now, limit)
            provisional = sql.provisional_clocks(tx, limit)
            latest = sql.latest_runs(tx)
    except StoreError as exc:
        click.echo(f"database error: {exc}", err=True)
        raise SystemExit(EXIT_DATABASE) from None
    finally:
        store.close()
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    next_runs = {s.id: s.next_after(now, calendar) for s in schedules if s.spec.enabled}
    report: dict[str, Any] = {
        "now": now,
        "runners": [
            {
                "runner": r.runner,
                "host": r.host,
                "pid": r.pid,
                "started_at": r.started_at,
                "heartbeat_at": r.heartbeat_at,
                "seconds_since_heartbeat": round((now - r.heartbeat_at).total_seconds(), 1),
                "stopped_at": r.stopped_at,
                "last_work": r.detail.get("last_work", {}),
            }
            for r in runners
        ],
        "timers": {
            "pending": pending,
            "due_now": due_now,
            "lag_seconds": round(lag, 1),
            "next": [
                {
                    "due_at": t.due_at,
                    "item_id": t.item_id,
                    "workflow": workflow,
                    "state": t.state,
                    "action": t.action,
                    "to": t.role or t.trigger,
                }
                for t, workflow in upcoming
            ],
        },
        "outbox_pending": outbox,
        "clocks": {
            "overdue": [
                {
                    "item_id": c.item_id,
                    "workflow": c.workflow_id,
                    "state": c.state,
                    "due_at": c.due_at,
                }
                for c in overdue
            ],
            "provisional": [
                {
                    "item_id": c.item_id,
                    "workflow": c.workflow_id,
                    "state": c.state,
                    "due_at": c.due_at,
                }
                for c in provisional
            ],
        },
        "schedules": [
            {
                "schedule": s.id,
                "workflow": s.spec.workflow,
                "rule": s.describe(),
                "last_due": latest[s.id].due_at if s.id in latest else None,
                "last_status": latest[s.id].status if s.id in latest else None,
                "last_item": latest[s.id].item_id if s.id in latest else None,
                "next_due": found.due if (found := next_runs.get(s.id)) else None,
            }
            for s in schedules
        ],
        "definition_problems": problems,
    }
    behind = max_lag is not None and lag > max_lag
    if as_json:
        emit_json({**report, "behind": behind})
    else:
        _print_status(report, tz)
        if behind:
            click.echo(f"BEHIND: the oldest due timer waits {_span(lag)} (> {max_lag:g} s)")
    sys.exit(EXIT_BEHIND if behind else 0)


def _print_status(report: dict[str, Any], tz: zoneinfo.ZoneInfo) -> None:
    click.echo("Runners (daemons)")
    click.echo(
        table(
            ["runner", "last heartbeat", "ago", "stopped", "last work"],
            [
                [
                    r["runner"],
                    _when(r["heartbeat_at"], tz),
                    _span(r["seconds_since_heartbeat"]),
                    _when(r["stopped_at"], tz),
                    _last_work(r["last_work"], tz),
                ]
                for r in report["runners"]
            ],
        )
    )
    timers = report["timers"]
    click.echo(
        f"Timers: {timers['pending']} pending, {timers['due_now']} due now, "
        f"lag {_span(timers['lag_seconds'])}; outbox: {report['outbox_pending']} to deliver"
    )
    click.echo(
        table(
            ["due", "item", "workflow", "state", "action", "to"],
            [
                [
                    _when(t["due_at"], tz),
                    str(t["item_id"]),
                    t["workflow"],
                    t["state"],
                    t["action"],
                    t["to"] or "—",
                ]
                for t in timers["next"]
            ],
        )
    )
    clocks = report["clocks"]
    click.echo(
        f"Clocks: {len(clocks['overdue'])} overdue, {len(clocks['provisional'])} provisional"
    )
    for kind in ("overdue", "provisional"):
        for c in clocks[kind]:
            click.echo(
                f"  {kind}: item {c['item_id']} {c['workflow']}/{c['state']} "
                f"due {_when(c['due_at'], tz)}"
            )
    click.echo("Schedules")
    click.echo(
        table(
            ["schedule", "rule", "last", "status", "item", "next"],
            [
                [
                    s["schedule"],
                    s["rule"],
                    _when(s["last_due"], tz),
                    s["last_status"] or "—",
                    str(s["last_item"] or "—"),
                    _when(s["next_due"], tz),
                ]
                for s in report["schedules"]
            ],
        )
    )
    for problem in report["definition_problems"]:
        click.echo(f"problem: {problem}", err=True)


def _last_work(last: Mapping[str, Any], tz: zoneinfo.ZoneInfo) -> str:
    if not last:
        return "—"
    at = dt.datetime.fromisoformat(str(last["at"]))
    return (
        f"{_when(at, tz)}: {last['due_work']} due, {last['delivered']} delivered, "
        f"{last['failed']} failed"
    )


# -- calendar ------------------------------------------------------------------------------
@click.group("calendar")
def calendar_group() -> None:
    """The working-day calendar: where each year's data comes from, deadline arithmetic."""


@calendar_group.command("status")
@click.argument("years", nargs=-1, type=int)
@calendar_options
@click.option(
    "--db",
    default=None,
    envvar="CMC_DB",
    help="Also list running clocks whose deadline rests on a guessed (provisional) year.",
)
@json_option
def calendar_status(
    years: tuple[int, ...],
    calendars_dir: str | None,
    timezone: str,
    business_hours: Any,
    after_hours_next_day: bool,
    db: str | None,
    as_json: bool,
) -> None:
    """Per year (default: last, this and next year): official, admin-file or provisional.

    A provisional year has no official data and no calendars/ file: deadlines that reach
    it use the weekday rule and are marked provisional. Exits 0.
    """
    settings = calendar_settings(timezone, business_hours, after_hours_next_day)
    calendar = working_calendar(calendars_path(calendars_dir), settings)
    this_year = system_clock().astimezone(settings.tz).year
    wanted = sorted(set(years)) or [this_year - 1, this_year, this_year + 1]
    statuses = calendar.status(wanted)
    clocks: list[sql.ClockRow] = []
    if db is not None:
        try:
            store = Store.open(db, migrate=False)
            try:
                with store.read() as tx:
                    clocks = sql.provisional_clocks(tx, 1000)
            finally:
                store.close()
        except StoreError as exc:
            click.echo(f"database error: {exc}", err=True)
            raise SystemExit(EXIT_DATABASE) from None
    if as_json:
        emit_json(
            {
                "calendar_version": calendar.version,
                "years": [
                    {
                        "year": s.year,
                        "source": s.source.value,
                        "file": s.file,
                        "override_files": list(s.override_files),
                        "official_available": s.official_available,
                    }
                    for s in statuses.values()
                ],
                "provisional_clocks": [
                    {
                        "item_id": c.item_id,
                        "workflow": c.workflow_id,
                        "state": c.state,
                        "due_at": c.due_at,
                    }
                    for c in clocks
                ],
            }
        )
        return
    click.echo(f"calendar version {calendar.version} ({settings.timezone})")
    click.echo(
        table(
            ["year", "source", "file", "local overrides", "in the package too"],
            [
                [
                    str(s.year),
                    s.source.value,
                    s.file or "—",
                    ", ".join(s.override_files) or "—",
                    "yes" if s.official_available else "no",
                ]
                for s in statuses.values()
            ],
        )
    )
    for year in (s.year for s in statuses.values() if s.source.value == "provisional"):
        click.echo(
            f"{year} is provisional: add calendars/cn-{year}.yaml once the State Council "
            "publishes its arrangement (see calendars/README.md)"
        )
    if db is not None:
        click.echo(f"{len(clocks)} running clock(s) with a provisional deadline")
        for c in clocks:
            click.echo(f"  item {c.item_id} {c.workflow_id}/{c.state} due {c.due_at.isoformat()}")


def _received(value: str, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a date (2025-09-26) or a time (2025-09-26T15:00)",
            param_hint="DATE",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


@calendar_group.command("add-days")
@click.argument("date")
@click.argument("n", type=click.IntRange(min=1))
@calendar_options
@json_option
def calendar_add_days(
    date: str,
    n: int,
    calendars_dir: str | None,
    timezone: str,
    business_hours: Any,
    after_hours_next_day: bool,
    as_json: bool,
) -> None:
    """The end of N working days after a receipt at DATE, with the rule applied.

    DATE is a date (counted from 00:00) or a local time such as 2025-09-26T15:00. E.g.
    `cmc-workflow calendar add-days 2025-09-26T15:00 2` is due Mon 2025-09-29 17:30,
    because Sun 2025-09-28 is an adjusted working day.
    """
    settings = calendar_settings(timezone, business_hours, after_hours_next_day)
    calendar = working_calendar(calendars_path(calendars_dir), settings)
    deadline: Deadline = calendar.add_working_days(_received(date, settings.tz), n)
    if as_json:
        emit_json(deadline.as_record())
        return
    due = deadline.due
    click.echo(f"received     {deadline.start:%Y-%m-%d %H:%M %A} ({settings.timezone})")
    click.echo(f"due          {due:%Y-%m-%d %H:%M %A} ({settings.timezone})")
    click.echo(f"rule         {deadline.rule}")
    click.echo(f"calendar     {deadline.calendar_version}")
    if deadline.provisional:
        years = ", ".join(str(y) for y in sorted(deadline.guessed_years))
        click.echo(
            f"provisional  yes: no data for {years}, the weekday rule was used "
            "(add a calendars/ file for that year)"
        )
    else:
        click.echo("provisional  no")


COMMANDS: list[click.Command] = [run, status, calendar_group]
