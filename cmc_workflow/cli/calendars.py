"""The calendar options shared by every command that reckons deadlines (``run``,
``status``, ``calendar ...``, and ``start``/``fire``, which arm and stop SLA clocks): the
same options, defaults and ``CMC_`` variables everywhere, so that every process counts
working days on the same calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cmc_workflow.calendar import BusinessHours, CalendarSettings, WorkingCalendar
from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.errors import DefinitionError


def _business_hours(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
    if value.lower() == "none":
        return None
    try:
        opens, closes = (dt.time.fromisoformat(part.strip()) for part in value.split("-"))
        return BusinessHours(opens=opens, closes=closes)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: give HH:MM-HH:MM or 'none' ({exc})") from None


def calendar_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--calendars``, ``--timezone``, ``--business-hours``, ``--after-hours-next-day``."""
    options = [
        click.option(
            "--calendars",
            "calendars_dir",
            default=None,
            envvar="CMC_CALENDARS",
            type=click.Path(file_okay=False),
            help="Folder of admin calendar files (default: ./calendars if it exists).",
        ),
        click.option(
            "--timezone",
            default=BUSINESS_TIMEZONE,
            show_default=True,
            envvar="CMC_TIMEZONE",
            help="IANA timezone in which working days and deadlines are reckoned.",
        ),
        click.option(
            "--business-hours",
            default="09:00-17:30",
            show_default=True,
            envvar="CMC_BUSINESS_HOURS",
            callback=_business_hours,
            help="Opening hours of working days, HH:MM-HH:MM, or 'none' (periods end at 24:00).",
        ),
        click.option(
            "--after-hours-next-day/--no-after-hours-next-day",
            default=False,
            show_default=True,
            envvar="CMC_AFTER_HOURS_NEXT_DAY",
            help="Count a receipt after hours or on a rest day as received the next working day.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def calendar_settings(
    timezone: str, business_hours: Any, after_hours_next_day: bool
) -> CalendarSettings:
    """The calendar settings the options name; a bad timezone is a usage error."""
    try:
        return CalendarSettings(
            timezone=timezone,
            business_hours=business_hours,
            after_hours_counts_next_day=after_hours_next_day,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None


def calendars_path(value: str | None) -> Path | None:
    """The ``--calendars`` folder, or ``./calendars`` when it exists, or None."""
    if value is not None:
        path = Path(value)
        if not path.is_dir():
            raise click.BadParameter(f"{value!r} is not a folder", param_hint="--calendars")
        return path
    default = Path("calendars")
    return default if default.is_dir() else None


def working_calendar(calendars: Path | None, settings: CalendarSettings) -> WorkingCalendar:
    """The working-day calendar; a broken calendar file prints its problems, exit 1."""
    try:
        if calendars is None:
            return WorkingCalendar(settings)
        return WorkingCalendar.from_directory(calendars, settings)
    except DefinitionError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1) from None
