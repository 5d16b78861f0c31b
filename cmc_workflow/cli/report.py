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
from cmc_workflow.i18n import N_
from cmc_workflow.reports import (
    SECTIONS,
    Report,
    ReportOptions,
    build_report,
    csv_value,
    report_csv,
    report_document,
    section_csv,
)

TITLES: Mapping[str, str] = {
    "items": "事项状态 Items per workflow and state",
    "sla": "时限达标 SLA per workflow and month",
    "first_reply": "首次答复用时 Time to first reply (CMT-7)",
    "overdue": "逾期工作 Overdue work per person",
    "publications": "发布量 Publications per channel and month",
    "content_types": "内容类型与专题 Content types and series per account and month (PRM-1)",
    "certification": "持证比例 Certified staff (TRN-5)",
    "should_warnings": "宜条款提醒 Should-level warnings per requirement and month",
    "complaints": "投诉统计 Complaint statistics from the complaint items (RPT-3)",
    "self_media_year": "自媒体年度完成情况 Self-media results of the year (INS-7)",
    "appraisal": "绩效考核依据 Appraisal figures per person (STF-4, TRN-6)",
}
"""The heading of each section in the table output."""

HEADERS: Mapping[str, str] = {
    "workflow": "流程",
    "state": "状态",
    "label": "名称",
    "open": "未结",
    "closed": "已结",
    "month": "月份",
    "met": "按时",
    "breached": "超时",
    "running": "计时中",
    "overdue": "已逾期",
    "compliance": "按时率",
    "category": "分类",
    "items": "事项",
    "answered": "已答复",
    "unanswered": "未答复",
    "waiting": "待答复",
    "median_hours": "中位(小时)",
    "p90_hours": "P90(小时)",
    "max_hours": "最长(小时)",
    "median_working_hours": "中位(工时)",
    "p90_working_hours": "P90(工时)",
    "max_working_hours": "最长(工时)",
    "kind": "类型",
    "owner": "责任人/角色",
    "oldest_due_at": "最早到期",
    "oldest_item_id": "最早事项",
    "workflows": "流程",
    "channel": "渠道",
    "publications": "发布数",
    "account": "账号/渠道",
    "content_type": "内容类型",
    "series": "专题系列",
    "as_of": "截至",
    "staff": "人员",
    "certified": "持证",
    "ratio": "持证比例",
    "floor": "下限",
    "meets_floor": "达标",
    "basis": "人员口径",
    "requirement": "条款",
    "rule": "规则",
    "warnings": "提醒次数",
    "period": "统计期",
    "dimension": "维度",
    "key": "项目",
    "value": "数值",
    "person": "人员",
    "steps": "办理步骤",
    "clocks_met": "按时办结",
    "clocks_breached": "超时办结",
    "sla_kept": "时限达标率",
    "assessments": "培训考核",
    "passed": "通过",
    "failed": "未通过",
    "mean_score": "平均成绩",
    "latest_score": "最近成绩",
}
"""The Chinese column heading of each field in the table output (CSV uses the names)."""

_PERCENT = {"compliance", "ratio", "floor", "sla_kept"}
_KINDS = {"person": "人员", "role": "角色", "none": "无"}


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-10-01") from None


def _period(
    since: dt.date | None, until: dt.date | None, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``--since`` from the start of its day, ``--until`` to the end of its day (local)."""
    if since is not None and until is not None and until < since:
        raise click.BadParameter(f"{until} is before --since {since}", param_hint="--until")
    start = dt.datetime.combine(since, dt.time(), tzinfo=tz) if since else None
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=tz) if until else None
    return start, end


# -- formatting --------------------------------------------------------------------------------
def _table_value(name: str, value: Any, tz: zoneinfo.ZoneInfo) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if name in _PERCENT:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if name == "kind":
        return _KINDS.get(value, str(value))
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
    out = [
        f"报表 Report  生成于 {report.generated_at.astimezone(tz):%Y-%m-%d %H:%M} "
        f"({report.timezone})  期间 {period}\n"
    ]
    for section in report.sections:
        rows = report.rows(section)
        names = list(rows[0]) if rows else []
        body = [[_table_value(n, row[n], tz) for n in names] for row in rows]
        out.append(f"\n{TITLES[section]}\n" + table([HEADERS.get(n, n) for n in names], body))
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
        raise click.BadParameter(
            "a folder takes --format csv (one file per section)", param_hint="--output"
        )
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
        raise click.BadParameter(f"cannot write {path}: {exc}", param_hint="--output") from None


COMMANDS: list[click.Command] = [report]
