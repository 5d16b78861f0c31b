"""What commands print: one JSON document (``--json``), or readable tables.

Human output shows times in the business time zone; ``--json`` keeps UTC (ISO 8601).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any

import click

from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.diagram import width
from cmc_workflow.i18n import N_, heading
from cmc_workflow.model import Item

DISPLAY_TZ = zoneinfo.ZoneInfo(BUSINESS_TIMEZONE)
"""Human output shows times in the business time zone; ``--json`` keeps UTC."""


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and mappings as objects, times ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, Item):
            out["is_open"] = value.is_open
        return out
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    """Print ``value`` as one indented JSON document (UTF-8 text, not escaped)."""
    click.echo(json.dumps(plain(value), ensure_ascii=False, indent=2))


def when(value: dt.datetime | None, tz: zoneinfo.ZoneInfo = DISPLAY_TZ) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS`` in ``tz``, or an em dash."""
    if value is None:
        return "—"
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def cell(value: Any, limit: int | None = None) -> str:
    """``value`` as one table cell on one line, cut with an ellipsis past ``limit``."""
    if value is None:
        text = "—"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = heading(N_("yes") if value else N_("no"))
    else:
        text = json.dumps(plain(value), ensure_ascii=False)
    text = " ".join(text.split("\n"))
    if limit is not None and width(text) > limit:
        while width(text) > limit - 1:
            text = text[:-1]
        text += "…"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table; CJK characters count as two columns."""
    if not rows:
        return heading(N_("(none)")) + "\n"
    sizes = [width(h) for h in headers]
    for row in rows:
        for i, text in enumerate(row):
            sizes[i] = max(sizes[i], width(text))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (sizes[i] - width(c)) for i, c in enumerate(cells)).rstrip()

    out = [line(headers), "  ".join("-" * s for s in sizes)]
    out += [line(row) for row in rows]
    return "\n".join(out) + "\n"
