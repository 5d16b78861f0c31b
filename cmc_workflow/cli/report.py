"""``cmc-workflow report``: operational figures from the history (RPT-1, CMT-7, TRN-5).

The command opens the engine as the item commands do (``--db``, ``--workflows``, the
calendar options and their ``CMC_`` variables), builds a
:class:`~cmc_workflow.reports.Report` and prints it as readable tables (default), as CSV
or as one JSON document.

CSV: to stdout or ``--output FILE``, **one** CSV whose first column ``section`` names the
section of each row and whose other columns are the union of the sections' columns, in
section order (a cell a section does not have stays empty), so that one file loads into a
spreadsheet and filters by section. With ``--output DIR`` (an existing folder) every
section goes to its own ``DIR/<section>.csv`` with only its own columns.

Exit codes as the item commands: 0 done; 1 a definition or calendar file has problems;
2 a malformed command line; 3 the database failed or needs ``cmc-workflow db upgrade``.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from cmc_workflow.cli.exits import handled
from cmc_workflow.cli.help import Command
from cmc_workflow.cli.options import (
    CalendarChoice,
    Settings,
    calendar_options,
    db_option,
    log_level_option,
    workflows_option,
)
from cmc_workflow.cli.output import emit_json, plain, table
from cmc_workflow.i18n import N_, heading, pick, tr
from cmc_workflow.reports import (
    ALL,
    NOBODY,
    SECTIONS,
    UNCATEGORIZED,
    Report,
    ReportOptions,
    build_report,
    csv_value,
    report_csv,
    report_document,
    section_csv,
)

TITLES: Mapping[str, str] = {
    "items": N_("Items per workflow and state"),
    "sla": N_("SLA per workflow and month"),
    "first_reply": N_("Time to first reply (CMT-7)"),
    "overdue": N_("Overdue work per person"),
    "publications": N_("Publications per channel and month"),
    "content_types": N_("Content types and series per account and month (PRM-1)"),
    "certification": N_("Certified staff (TRN-5)"),
    "should_warnings": N_("Should-level warnings per requirement and month"),
    "complaints": N_("Complaint statistics from the complaint items (RPT-3)"),
    "self_media_year": N_("Self-media results of the year (INS-7)"),
    "appraisal": N_("Appraisal figures per person (STF-4, TRN-6)"),
}
"""The heading of each section in the table output (msgids: shown in the chosen
language, or both)."""

HEADERS: Mapping[str, str] = {
    "workflow": N_("Workflow"),
    "state": N_("State"),
    "label": N_("Label"),
    "open": N_("Open items"),
    "closed": N_("Closed items"),
    "month": N_("Month"),
    "met": N_("Met"),
    "breached": N_("Breached"),
    "running": N_("Running"),
    "overdue": N_("Overdue"),
    "compliance": N_("Compliance"),
    "category": N_("Category"),
    "items": N_("Items"),
    "answered": N_("Answered"),
    "unanswered": N_("Unanswered"),
    "waiting": N_("Waiting"),
    "median_hours": N_("Median (h)"),
    "p90_hours": N_("P90 (h)"),
    "max_hours": N_("Max (h)"),
    "median_working_hours": N_("Median (working h)"),
    "p90_working_hours": N_("P90 (working h)"),
    "max_working_hours": N_("Max (working h)"),
    "kind": N_("Kind"),
    "owner": N_("Person or role"),
    "oldest_due_at": N_("Oldest due"),
    "oldest_item_id": N_("Oldest item"),
    "workflows": N_("Workflows"),
    "channel": N_("Channel"),
    "publications": N_("Publications"),
    "account": N_("Account or channel"),
    "content_type": N_("Content type"),
    "series": N_("Series"),
    "as_of": N_("As of"),
    "staff": N_("Staff"),
    "certified": N_("Certified"),
    "ratio": N_("Certified ratio"),
    "floor": N_("Floor"),
    "meets_floor": N_("Meets floor"),
    "basis": N_("Staff basis"),
    "requirement": N_("Requirement"),
    "rule": N_("Rule"),
    "warnings": N_("Warnings"),
    "period": N_("Period"),
    "dimension": N_("Dimension"),
    "key": N_("Key"),
    "value": N_("Figure"),
    "person": N_("Person"),
    "steps": N_("Steps"),
    "clocks_met": N_("Clocks met"),
    "clocks_breached": N_("Clocks breached"),
    "sla_kept": N_("SLA kept"),
    "assessments": N_("Assessments"),
    "passed": N_("Passed"),
    "failed": N_("Failed"),
    "mean_score": N_("Mean score"),
    "latest_score": N_("Latest score"),
}
"""The column heading of each field in the table output (msgids), in one language: a
table has room for one, Chinese when the locale names none (CSV and JSON use the names)."""

_PERCENT = {"compliance", "ratio", "floor", "sla_kept"}
_VALUES: Mapping[tuple[str, str], str] = {
    ("kind", "person"): N_("person"),
    ("kind", "role"): N_("role"),
    ("kind", "none"): N_("nobody"),
    ("owner", NOBODY): N_("(nobody)"),
    ("category", ALL): N_("(all)"),
    ("category", UNCATEGORIZED): N_("(none)"),
    ("channel", UNCATEGORIZED): N_("(none)"),
    ("account", UNCATEGORIZED): N_("(none)"),
    ("requirement", UNCATEGORIZED): N_("(none)"),
    ("basis", "register"): N_("staff register"),
    ("basis", "records"): N_("training records"),
}
"""The values of the report's own vocabulary, as the table shows them (CSV and JSON keep
the values)."""


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        message = tr("{value} is not a date like 2025-10-01", value=repr(value))
        raise click.BadParameter(str(message)) from None


def _period(
    since: dt.date | None, until: dt.date | None, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``--since`` from the start of its day, ``--until`` to the end of its day (local)."""
    if since is not None and until is not None and until < since:
        message = tr("{until} is before --since {since}", until=until, since=since)
        raise click.BadParameter(str(message), param_hint="--until")
    start = dt.datetime.combine(since, dt.time(), tzinfo=tz) if since else None
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=tz) if until else None
    return start, end


# -- formatting --------------------------------------------------------------------------------
def _table_value(name: str, value: Any, tz: zoneinfo.ZoneInfo) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return heading(N_("yes") if value else N_("no"))
    if name in _PERCENT:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and (name, value) in _VALUES:
        return heading(_VALUES[name, value])
    return csv_value(value, tz)


def report_text(report: Report) -> str:
    """Every section of ``report`` as a titled plain-text table."""
    tz = zoneinfo.ZoneInfo(report.timezone)
    period = " – ".join(
        [
            report.since.astimezone(tz).strftime("%Y-%m-%d") if report.since else "…",
            (report.until - dt.timedelta(days=1)).astimezone(tz).strftime("%Y-%m-%d")
            if report.until
            else "…",
        ]
    )
    generated = f"{report.generated_at.astimezone(tz):%Y-%m-%d %H:%M}"
    title = tr(
        "Report  generated {generated} ({timezone})  period {period}",
        generated=generated,
        timezone=report.timezone,
        period=period,
    )
    out = [f"{title}\n"]
    for section in report.sections:
        rows = report.rows(section)
        names = list(rows[0]) if rows else []
        body = [[_table_value(n, row[n], tz) for n in names] for row in rows]
        if section == "items":  # the state's label in the language shown
            at = names.index("label")
            for line, counted in zip(body, report.items, strict=True):
                line[at] = pick(counted.label_en or counted.label, counted.label)
        headers = [heading(HEADERS[n]) if n in HEADERS else n for n in names]
        out.append(f"\n{tr(TITLES[section])}\n" + table(headers, body))
    return "".join(out)


# -- the command -------------------------------------------------------------------------------
@click.command(
    cls=Command,
    help=N_(
        "Operational figures from the history (RPT-1): items per state, SLA met and "
        "breached per workflow and month, time to first reply (CMT-7), overdue work per "
        "person, publications per channel and month, the certified staff ratio (TRN-5), "
        "and the should-level warnings per requirement and month.\n\n"
        "The period (--since, --until: local dates, both included) selects items by "
        "their start, clocks by their stop or due time and publications by their time; "
        "overdue work and certification are as of now. See docs/reports.md."
    ),
)
@db_option
@workflows_option
@calendar_options
@click.option(
    "--since", callback=_date, metavar="DATE", help=N_("First day of the period (local date).")
)
@click.option(
    "--until", callback=_date, metavar="DATE", help=N_("Last day of the period, included.")
)
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(SECTIONS),
    help=N_("A section to report; repeatable (default: every section)."),
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help=N_("Readable tables, CSV (one file with a section column), or one JSON document."),
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help=N_(
        "Write to this file instead of stdout; with --format csv, an existing folder "
        "gets one SECTION.csv per section."
    ),
)
@click.option(
    "--reply-workflow",
    default="comments",
    show_default=True,
    help=N_("The workflow whose time to first reply is reported (CMT-7)."),
)
@click.option(
    "--reply-trigger",
    "reply_triggers",
    multiple=True,
    default=("reply",),
    show_default=True,
    help=N_("A trigger that answers the reader; repeatable."),
)
@log_level_option()
def report(
    *,
    db: str,
    workflows: list[str],
    cal: CalendarChoice,
    since: dt.date | None,
    until: dt.date | None,
    sections: tuple[str, ...],
    output_format: str,
    output: Path | None,
    reply_workflow: str,
    reply_triggers: tuple[str, ...],
) -> None:
    to_folder = output is not None and output.is_dir()
    if to_folder and output_format != "csv":
        message = tr("a folder takes --format csv (one file per section)")
        raise click.BadParameter(str(message), param_hint="--output")
    start, end = _period(since, until, cal.settings().tz)
    calendar = cal.load()
    # stored versions are read from the database; no policies: a report only reads
    settings = Settings(db, tuple(workflows), (), as_json=False, calendar=calendar)
    options = ReportOptions(reply_workflow=reply_workflow, reply_triggers=reply_triggers)
    with handled(False), settings.open_engine() as engine:
        result = build_report(
            engine,
            since=start,
            until=end,
            sections=sections or SECTIONS,
            calendar=calendar,
            options=options,
        )
    if output_format == "json":
        if output is not None:
            _write(output, _json(result))
        else:
            emit_json(report_document(result))
        return
    if to_folder:
        assert output is not None
        for section in result.sections:
            _write(output / f"{section}.csv", section_csv(result, section), bom=True)
        return
    text = report_csv(result) if output_format == "csv" else report_text(result)
    if output is not None:
        _write(output, text, bom=output_format == "csv")
    else:
        click.echo(text, nl=False)


def _json(result: Report) -> str:
    return json.dumps(plain(report_document(result)), ensure_ascii=False, indent=2) + "\n"


def _write(path: Path, text: str, *, bom: bool = False) -> None:
    """Write ``text`` in UTF-8; a CSV file starts with the byte-order mark, without which
    Excel on Chinese Windows reads it as GBK and garbles every Chinese heading."""
    try:
        path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    except OSError as exc:
        message = tr("cannot write {path}: {error}", path=str(path), error=str(exc))
        raise click.BadParameter(str(message), param_hint="--output") from None


COMMANDS: list[click.Command] = [report]
