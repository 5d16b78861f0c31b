"""Operational figures from the history (RPT-1, CMT-7, TRN-5): what ``cmc-workflow report``
prints.

:func:`build_report` reads the store once (one read transaction, the queries of
:mod:`cmc_workflow.store.reports`) and computes the sections of
:mod:`cmc_workflow.reports.model`, each a tuple of frozen dataclasses;
:mod:`cmc_workflow.reports.sections` computes each section, and
:mod:`cmc_workflow.reports.render` writes a report as CSV or as a JSON-ready document.

The period (``since <= t < until``, either open) selects items by their start
(``items``, ``first_reply``), clocks by their stop or else their due time (``sla``) and
publications by their time; ``overdue`` and ``certification`` are snapshots as of
``now``. Months are reckoned in the calendar's time zone (Asia/Shanghai by default).
Workflows that have no item in the database simply give empty sections.

``docs/reports.md`` explains every figure.
"""

from cmc_workflow.reports.build import build_report
from cmc_workflow.reports.model import (
    ALL,
    NOBODY,
    ROW_TYPES,
    SECTIONS,
    UNCATEGORIZED,
    Appraisal,
    CertifiedStaff,
    ChannelMonth,
    ContentTypeMonth,
    OverdueWork,
    ReplyTimes,
    Report,
    ReportOptions,
    SlaMonth,
    StateCount,
    columns,
)
from cmc_workflow.reports.render import csv_value, report_csv, report_document, section_csv
from cmc_workflow.reports.sections import owners

__all__ = [
    "ALL",
    "NOBODY",
    "ROW_TYPES",
    "SECTIONS",
    "UNCATEGORIZED",
    "Appraisal",
    "CertifiedStaff",
    "ChannelMonth",
    "ContentTypeMonth",
    "OverdueWork",
    "ReplyTimes",
    "Report",
    "ReportOptions",
    "SlaMonth",
    "StateCount",
    "build_report",
    "columns",
    "csv_value",
    "owners",
    "report_csv",
    "report_document",
    "section_csv",
]
