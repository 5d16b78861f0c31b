"""``cmc-workflow status``: the health of the runners (daemons and in-process runners).

``cmc-workflow status --db URL`` shows the runners' heartbeats (each with its kind,
``daemon`` or ``in-process``, and its host and pid), the next due timers, the
lag of the oldest due timer, pending outbox rows, overdue and provisional clocks and each
schedule's last and next occurrence; ``--max-lag SECONDS`` exits 1 when the daemons fall
behind (for a health check). The daemon itself is :mod:`cmc_workflow.cli.run`, the
calendar commands :mod:`cmc_workflow.cli.calendar`.
"""

from __future__ import annotations

import datetime as dt
import sys
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import click

from cmc_workflow.calendar.answers import DaySource
from cmc_workflow.calendar.working import WorkingCalendar, next_year_warning
from cmc_workflow.cli.exits import Exit, database_error, fail
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    CalendarChoice,
    calendar_options,
    db_option,
    json_option,
    workflows_option,
)
from cmc_workflow.cli.output import emit_json, table, when
from cmc_workflow.engine import system_clock
from cmc_workflow.errors import CmcWorkflowError
from cmc_workflow.i18n import N_, Text, heading, pick, shown, tr
from cmc_workflow.language import load_paths
from cmc_workflow.runner.assemble import existing_store
from cmc_workflow.schedules.language import schedules_from
from cmc_workflow.schedules.recurrence import Occurrence, Schedule
from cmc_workflow.store import timers as sql


# -- the command ------------------------------------------------------------------------------
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


@click.command(
    cls=Command,
    help=N_(
        "Health of the runners (daemons and in-process): heartbeats, next due timers, "
        "lag, outbox, clocks, schedules.\n\n"
        "Exits 0, or 1 with --max-lag when timers wait too long, 3 when the database "
        "fails."
    ),
)
@db_option
@workflows_option
@calendar_options
@click.option("--limit", default=10, show_default=True, help=N_("How many next timers to list."))
@click.option(
    "--max-lag",
    default=None,
    type=float,
    help=N_("Exit 1 when the oldest due timer waits longer than this many seconds."),
)
@json_option
def status(
    db: str,
    workflows: list[str],
    cal: CalendarChoice,
    limit: int,
    max_lag: float | None,
    as_json: bool,
) -> None:
    tz = cal.settings().tz
    now = system_clock()
    schedules, problems = _schedules(workflows)
    calendar = cal.load()
    try:
        with existing_store(db) as store, store.read() as tx:
            runners = tx.runner_rows()
            upcoming = tx.upcoming_timers(limit)
            oldest = tx.next_due_at()
            pending = tx.count_timers(sql.PENDING)
            due_now = tx.count_timers(sql.PENDING, now)
            outbox = tx.count_pending_outbox()
            overdue = tx.overdue_clocks(now, limit)
            provisional = tx.provisional_clocks(limit)
            latest = tx.latest_runs()
    except CmcWorkflowError as exc:  # StoreError, or a URL the store refuses
        fail(Exit.DATABASE, database_error(exc))
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    next_runs = {s.id: s.next_after(now, calendar) for s in schedules if s.spec.enabled}
    report: dict[str, Any] = {
        "now": now,
        "runners": [
            {
                "runner": r.runner,
                "kind": r.detail.get("kind", "daemon"),  # rows written before the kind: daemons
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
                "next_provisional": found is not None and _guessed(found, tz, calendar),
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
            late = tr(
                "BEHIND: the oldest due timer waits {lag} (> {limit} s)",
                lag=_span(lag),
                limit=format(max_lag, "g"),
            )
            click.echo(pick(*late, both="en"))
    sys.exit(Exit.PROBLEMS if behind else Exit.OK)


def _print_status(report: dict[str, Any], tz: zoneinfo.ZoneInfo) -> None:
    click.echo(shown(*tr("Runners (daemons and in-process)"), sep=" / "))
    heads = [
        N_("runner"),
        N_("kind"),
        N_("host:pid"),
        N_("last heartbeat"),
        N_("ago"),
        N_("stopped"),
        N_("last work"),
    ]
    click.echo(
        table(
            [heading(h, both="en") for h in heads],
            [
                [
                    r["runner"],
                    r["kind"],
                    f"{r['host']}:{r['pid']}",
                    when(r["heartbeat_at"], tz),
                    _span(r["seconds_since_heartbeat"]),
                    when(r["stopped_at"], tz),
                    _last_work(r["last_work"], tz),
                ]
                for r in report["runners"]
            ],
        )
    )
    timers = report["timers"]
    counts = tr(
        "Timers: {pending} pending, {due} due now, lag {lag}; outbox: {outbox} to deliver",
        pending=timers["pending"],
        due=timers["due_now"],
        lag=_span(timers["lag_seconds"]),
        outbox=report["outbox_pending"],
    )
    click.echo(pick(*counts, both="en"))
    heads = [N_("due"), N_("item"), N_("workflow"), N_("state"), N_("action"), N_("to")]
    click.echo(
        table(
            [heading(h, both="en") for h in heads],
            [
                [
                    when(t["due_at"], tz),
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
    counted = tr(
        "Clocks: {overdue} overdue, {provisional} provisional",
        overdue=len(clocks["overdue"]),
        provisional=len(clocks["provisional"]),
    )
    click.echo(pick(*counted, both="en"))
    for kind in ("overdue", "provisional"):
        for c in clocks[kind]:
            click.echo(
                f"  {kind}: item {c['item_id']} {c['workflow']}/{c['state']} "
                f"due {when(c['due_at'], tz)}"
            )
    click.echo(heading(N_("Schedules"), both="en"))
    heads = [N_("schedule"), N_("rule"), N_("last"), N_("status"), N_("item"), N_("next")]
    provisional = " ({})".format(shown(*tr("provisional"), sep=" / "))
    click.echo(
        table(
            [heading(h, both="en") for h in heads],
            [
                [
                    s["schedule"],
                    s["rule"],
                    when(s["last_due"], tz),
                    s["last_status"] or "—",
                    str(s["last_item"] or "—"),
                    when(s["next_due"], tz) + (provisional * s["next_provisional"]),
                ]
                for s in report["schedules"]
            ],
        )
    )
    guessed = sorted(
        {s["next_due"].astimezone(tz).year for s in report["schedules"] if s["next_provisional"]}
    )
    for year in guessed:
        warning = tr("provisional: {warning}", warning=Text(*next_year_warning(year)))
        click.echo(shown(*warning, sep="\n"))
    for problem in report["definition_problems"]:
        click.echo(f"problem: {problem}", err=True)


def _guessed(found: Occurrence, tz: zoneinfo.ZoneInfo, calendar: WorkingCalendar) -> bool:
    """True when a schedule's next run falls in a year the calendar has no data for, or
    was placed by guessing such a year's working days."""
    year = found.due.astimezone(tz).year
    return found.provisional or calendar.year_status(year).source is DaySource.PROVISIONAL


def _last_work(last: Mapping[str, Any], tz: zoneinfo.ZoneInfo) -> str:
    if not last:
        return "—"
    at = dt.datetime.fromisoformat(str(last["at"]))
    return (
        f"{when(at, tz)}: {last['due_work']} due, {last['delivered']} delivered, "
        f"{last['failed']} failed"
    )


COMMANDS: list[click.Command] = [status]
