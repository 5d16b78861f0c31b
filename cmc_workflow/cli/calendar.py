"""``cmc-workflow calendar``: where each year's working days come from, deadline arithmetic.

- ``cmc-workflow calendar status [YEARS]`` says where each year's working days come from
  (official, an admin file, or provisional) and, with ``--db``, which running clocks rest
  on a provisional year;
- ``cmc-workflow calendar add-days DATE N`` prints the end of N working days after DATE
  with the rule applied.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import click

from cmc_workflow.calendar.answers import (
    PROVISIONAL_ASSUMPTION,
    PROVISIONAL_ASSUMPTION_ZH,
    Deadline,
)
from cmc_workflow.calendar.working import next_year_warning
from cmc_workflow.cli.exits import Exit, database_error, fail
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import (
    CalendarChoice,
    calendar_options,
    json_option,
)
from cmc_workflow.cli.output import emit_json, table
from cmc_workflow.engine import system_clock
from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import N_, Text, shown, tr
from cmc_workflow.runner.assemble import existing_store
from cmc_workflow.store import timers as sql


# -- the commands ----------------------------------------------------------------------------
@click.group(
    "calendar",
    cls=Group,
    help=N_("The working-day calendar: where each year's data comes from, deadline arithmetic."),
)
def calendar_group() -> None:
    pass


@calendar_group.command(
    "status",
    help=N_(
        "Per year (default: last, this and next year): official, admin-file or "
        "provisional.\n\n"
        "A provisional year has no official data and no calendars/ file: deadlines that "
        "reach it count its statutory holidays (computed from the national regulation) "
        "as days off and the other days by the weekday rule, and are marked "
        "provisional. From November on, a next year without data is warned about. Exits "
        "0."
    ),
)
@click.argument("years", nargs=-1, type=int)
@calendar_options
@click.option(
    "--db",
    default=None,
    envvar="CMC_DB",
    help=N_("Also list running clocks whose deadline rests on a guessed (provisional) year."),
)
@json_option
def calendar_status(
    years: tuple[int, ...],
    cal: CalendarChoice,
    db: str | None,
    as_json: bool,
) -> None:
    settings = cal.settings()
    calendar = cal.load()
    this_year = system_clock().astimezone(settings.tz).year
    wanted = sorted(set(years)) or [this_year - 1, this_year, this_year + 1]
    statuses = calendar.status(wanted)
    today = system_clock().astimezone(settings.tz).date()
    missing = calendar.missing_next_year(today)
    clocks: list[sql.ClockRow] = []
    if db is not None:
        try:
            with existing_store(db) as store, store.read() as tx:
                clocks = tx.provisional_clocks(1000)
        except StoreError as exc:
            fail(Exit.DATABASE, database_error(exc))
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
                "warnings": [
                    {
                        "code": "calendar-next-year-missing",
                        "year": missing,
                        "message": next_year_warning(missing)[0],
                        "message_zh": next_year_warning(missing)[1],
                    }
                ]
                if missing is not None
                else [],
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
    if missing is not None:
        warning = tr("warning: {warning}", warning=Text(*next_year_warning(missing)))
        click.echo(shown(*warning, sep="\n"))
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


@calendar_group.command(
    "add-days",
    help=N_(
        "The end of N working days after a receipt at DATE, with the rule applied.\n\n"
        "DATE is a date (counted from 00:00) or a local time such as 2025-09-26T15:00. "
        "E.g. `cmc-workflow calendar add-days 2025-09-26T15:00 2` is due Mon 2025-09-29 "
        "17:30, because Sun 2025-09-28 is an adjusted working day."
    ),
)
@click.argument("date")
@click.argument("n", type=click.IntRange(min=1))
@calendar_options
@json_option
def calendar_add_days(
    date: str,
    n: int,
    cal: CalendarChoice,
    as_json: bool,
) -> None:
    settings = cal.settings()
    calendar = cal.load()
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
        provisional = tr(
            "provisional  yes: no data for {years}: {assumption} (add a calendars/ file for "
            "that year)",
            years=years,
            assumption=Text(PROVISIONAL_ASSUMPTION, PROVISIONAL_ASSUMPTION_ZH),
        )
        click.echo(shown(*provisional, sep="\n" + " " * 13))
    else:
        click.echo("provisional  no")


COMMANDS: list[click.Command] = [calendar_group]
