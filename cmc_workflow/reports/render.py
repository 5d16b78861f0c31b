"""A report as CSV (one file, or one per section) and as a JSON-ready document."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import Sequence
from typing import Any

from cmc_workflow.reports.model import Report, columns


def csv_value(value: Any, tz: zoneinfo.ZoneInfo) -> str:
    """A cell of the CSV: times ISO 8601 in the report's zone, booleans ``true``/``false``,
    lists space-separated, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return " ".join(str(v) for v in value)
    return str(value)


def report_csv(report: Report, sections: Sequence[str] | None = None) -> str:
    """One CSV of ``sections`` (default: the report's), with a leading ``section``
    column and the union of the sections' columns."""
    tz = zoneinfo.ZoneInfo(report.timezone)
    chosen = list(sections if sections is not None else report.sections)
    names: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for section in chosen:
        for row in report.rows(section):
            names.update(dict.fromkeys(row))
            rows.append({"section": section, **row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["section", *names], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_value(v, tz) for k, v in row.items()})
    return buffer.getvalue()


def section_csv(report: Report, section: str) -> str:
    """One section as its own CSV (its columns only; a header even when it is empty)."""
    tz = zoneinfo.ZoneInfo(report.timezone)
    rows = report.rows(section)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(rows[0]) if rows else columns(section)
    writer.writerow(names)
    for row in rows:
        writer.writerow([csv_value(row[n], tz) for n in names])
    return buffer.getvalue()


def report_document(report: Report) -> dict[str, Any]:
    """The report as one document (the JSON output): its period in UTC and every section's
    rows, as :meth:`Report.rows` gives them."""
    return {
        "generated_at": report.generated_at,
        "since": report.since.astimezone(dt.UTC) if report.since else None,
        "until": report.until.astimezone(dt.UTC) if report.until else None,
        "timezone": report.timezone,
        "sections": {s: report.rows(s) for s in report.sections},
    }
