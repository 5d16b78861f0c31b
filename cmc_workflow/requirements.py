"""The requirement list: every id of ``REQUIREMENTS.md`` with its title, text and level.

A domain module (standard library only): the policy language reads the levels of the ids
its rules implement (a rule implementing only *should* ids warns instead of refusing), and
the compliance matrix (:mod:`cmc_workflow.compliance`) reads the whole list.

The requirements file (shipped with the package as
``cmc_workflow/compliance/requirements.md``; the standards it cites in
``cmc_workflow/seeds/``) states each requirement in one of two shapes:

- a bullet ``- **PUB-3 Assignment (任务).** The lead assigns ...`` (or ``- **FLT-1** An
  operator ...`` with no title: its first sentence serves as the title);
- a table row ``| INS-1 | system patrol: ... | daily | CMC 8.2.6 |``, whose first column
  after the id is the title and whose other columns join the text, named by the header.

Ids with no mark are ``must``. A level is marked in the title, as the file's own preamble
says (``- **PUB-9 Archive (should).**``; ``(may/should)`` counts as ``should``, the stronger
of the two), or anywhere in the text as ``Level: should`` / ``Level: may``
(case-insensitive). An id that mixes levels in its text (``*Should:* per-channel
variants``) keeps ``must``: its must parts are what the matrix has to show.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Level = Literal["must", "should", "may"]

ID_PATTERN = r"[A-Z]{3}-[0-9]+"
"""A requirement id, as the workflow language accepts it (``PUB-5``)."""

_BULLET = re.compile(rf"^\s*[-*]\s+\*\*(?P<id>{ID_PATTERN})\b(?P<title>[^*]*)\*\*\s*(?P<text>.*)$")
_ROW = re.compile(rf"^\s*\|\s*(?P<id>{ID_PATTERN})\s*\|(?P<rest>.*)$")
_HEADING = re.compile(r"^(?P<marks>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_LEVEL = re.compile(r"\blevel:\s*(must|should|may)\b", re.IGNORECASE)
_TITLE_LEVEL = re.compile(r"\(\s*(should|may)\s*(?:/\s*(should|may)\s*)?\)", re.IGNORECASE)
_SHOULD_PART = re.compile(r"\bshould\b|宜", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s")

BUNDLED_NAME = "requirements.md"
"""The file name of the copy shipped inside this package."""

BUNDLED_DISPLAY = "cmc_workflow/compliance/requirements.md"
"""How reports name the shipped copy."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement of the list, in the file's order."""

    id: str
    title: str
    text: str
    section: str
    level: Level
    line: int

    @property
    def has_should_part(self) -> bool:
        """Whether a *must* id also states a *should* part (``*Should:* ...``, ``宜``):
        a rule carrying only that part may be declared ``level: should``."""
        return self.level == "must" and _SHOULD_PART.search(self.text) is not None

    @property
    def family(self) -> str:
        """The id's prefix: ``PUB`` of ``PUB-5``."""
        return self.id.split("-", 1)[0]


def _level(text: str, title: str = "") -> Level:
    marked = _TITLE_LEVEL.search(title)
    if marked is not None:
        words = {w.lower() for w in marked.groups() if w}
        return "should" if "should" in words else "may"
    match = _LEVEL.search(text)
    if match is None:
        return "must"
    value = match.group(1).lower()
    return "should" if value == "should" else "may" if value == "may" else "must"


def _first_sentence(text: str, limit: int = 80) -> str:
    """A title for a requirement that has none: its first sentence, or the words before a
    colon near its start (``Hot-event mechanism: ...``), shortened to ``limit``."""
    head = _SENTENCE_END.split(text.replace("**", ""), maxsplit=1)[0].strip().rstrip(".。")
    lead, colon, _ = head.partition(": ")
    if colon and len(lead) <= 60:
        return lead.strip()
    if len(head) > limit:
        head = head[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return head


def _cells(row: str) -> list[str]:
    body = row.strip()
    body = body.removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in body.split("|")]


def parse_requirements(text: str) -> list[Requirement]:
    """Every requirement of a ``REQUIREMENTS.md``-shaped text, in order.

    A bullet may continue on indented lines (joined with spaces). A table row's header is
    the last ``| ... |`` line seen before its separator row. An id given twice keeps its
    first statement (:func:`duplicate_ids` names the repeats).
    """
    out: list[Requirement] = []
    section = ""
    header: list[str] = []
    previous_row: list[str] = []
    current: dict[str, str | int] | None = None

    def flush() -> None:
        nonlocal current
        if current is None:
            return
        body = " ".join(str(current["text"]).split())
        marked = str(current["title"])
        title = _TITLE_LEVEL.sub("", marked).strip().rstrip(".").strip() or _first_sentence(body)
        out.append(
            Requirement(
                id=str(current["id"]),
                title=title,
                text=body,
                section=section,
                level=_level(body, marked),
                line=int(current["line"]),
            )
        )
        current = None

    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        row = _ROW.match(line)
        if current is not None and line.startswith((" ", "\t")) and line.strip() and not bullet:
            current["text"] = f"{current['text']} {line.strip()}"
            continue
        flush()
        if heading is not None:
            section = heading.group("title")
            header = []
        elif bullet is not None:
            current = {
                "id": bullet.group("id"),
                "title": bullet.group("title"),
                "text": bullet.group("text"),
                "line": number,
            }
        elif row is not None:
            cells = _cells(line)
            names = header[1:] if len(header) == len(cells) else []
            title = cells[1] if len(cells) > 1 else ""
            rest = [
                f"{names[i - 1]}: {cell}" if names else cell
                for i, cell in enumerate(cells[2:], start=2)
                if cell
            ]
            body = "; ".join([title, *rest]) if title else "; ".join(rest)
            current = {"id": cells[0], "title": title, "text": body, "line": number}
        elif line.lstrip().startswith("|"):
            cells = _cells(line)
            if all(set(cell) <= set("-: ") for cell in cells):
                header = previous_row
            previous_row = cells
    flush()
    seen: set[str] = set()
    unique: list[Requirement] = []
    for requirement in out:
        if requirement.id not in seen:
            seen.add(requirement.id)
            unique.append(requirement)
    return unique


def duplicate_ids(text: str) -> list[str]:
    """Ids stated more than once in a requirements text, in order of their second mention."""
    ids = [
        m.group("id")
        for line in text.splitlines()
        if (m := _BULLET.match(line) or _ROW.match(line))
    ]
    seen: set[str] = set()
    repeats: list[str] = []
    for ident in ids:
        if ident in seen and ident not in repeats:
            repeats.append(ident)
        seen.add(ident)
    return repeats


def bundled_requirements_text() -> str:
    """The text of the requirements file shipped with the package."""
    return (resources.files("cmc_workflow") / "compliance" / BUNDLED_NAME).read_text(
        encoding="utf-8"
    )


@functools.cache
def _bundled() -> tuple[Requirement, ...]:
    """The bundled requirements file, read and parsed once for both answers below (an
    engine's open asks both: each read and parsed the file)."""
    return tuple(parse_requirements(bundled_requirements_text()))


@functools.cache
def bundled_levels() -> dict[str, Level]:
    """The level of every id of the bundled requirements file (read once)."""
    return {r.id: r.level for r in _bundled()}


@functools.cache
def bundled_should_parts() -> frozenset[str]:
    """The *must* ids of the bundled file that also state a *should* part (read once)."""
    return frozenset(r.id for r in _bundled() if r.has_should_part)


def rule_level(implements: Iterable[str], levels: Mapping[str, Level] | None = None) -> Level:
    """The level of a rule that implements ``implements``: ``should`` when every id it
    cites is a *should* or a *may* (``levels``: the bundled file's by default), else
    ``must`` (also for a rule that cites nothing, or an id the list does not have)."""
    known = bundled_levels() if levels is None else levels
    ids = list(implements)
    if ids and all(known.get(i) in ("should", "may") for i in ids):
        return "should"
    return "must"
