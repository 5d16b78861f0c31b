"""Admin calendar files: the YAML format of ``calendars/*.yaml``, validated and located.

A file may supply the official arrangement of a whole year the ``chinesecalendar`` package
does not cover yet (``arrangement``), and/or local closure days and extra working days of
any year (``local``)::

    arrangement:                 # the State Council's notice for one whole year
      year: 2027
      notice: 国务院办公厅关于2027年部分节假日安排的通知
      holidays:                  # every day off, weekends inside a holiday included
        - {date: 2027-01-01, name: 元旦}
      working_days:             # adjusted working days (调休上班), always a Sat or Sun
        - {date: 2027-02-20, name: 春节调休}
    local:                       # this center only, any year
      closures:
        - {date: 2027-03-15, name: 设备检修闭馆}
      working_days:
        - {date: 2027-10-03, name: 国庆开放日}

Every problem names file, line, column and a stable code (see ``docs/time.md``); all
problems of all files are reported together in one :class:`DefinitionError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.i18n import N_, Text, tr, zh
from cmc_workflow.located import Path, load_located, read_source
from cmc_workflow.problems import Codes, problems_from_validation

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """``value`` as a date; refused with an error type that
    :func:`~cmc_workflow.problems.pydantic_text` says in both languages."""
    if isinstance(value, dt.datetime):
        raise PydanticCustomError(
            "date_and_time", "expected a date (YYYY-MM-DD), not a date and time"
        )
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "not_a_real_date", "{value} is not a real date", {"value": repr(value)}
            ) from None
    raise PydanticCustomError(
        "date_format", "expected a date written YYYY-MM-DD, got {value}", {"value": repr(value)}
    )


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Name = Annotated[StrictStr, Field(min_length=1)]

_FROZEN = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class DayEntry(BaseModel):
    """One dated day with a human name."""

    model_config = _FROZEN

    date: IsoDate
    name: Name


class Arrangement(BaseModel):
    """The published holiday arrangement of one whole year."""

    model_config = _FROZEN

    year: Annotated[StrictInt, Field(ge=1949, le=2999)]
    notice: Name
    """Where the arrangement was published (title or number of the notice)."""

    holidays: Annotated[tuple[DayEntry, ...], Field(min_length=1)]
    working_days: tuple[DayEntry, ...] = ()


class LocalDays(BaseModel):
    """This center's own closures and extra working days."""

    model_config = _FROZEN

    closures: tuple[DayEntry, ...] = ()
    working_days: tuple[DayEntry, ...] = ()


class CalendarData(BaseModel):
    """The content of one calendar file."""

    model_config = _FROZEN

    arrangement: Arrangement | None = None
    local: LocalDays | None = None


CALENDAR_CODES = Codes(
    unknown_key="E-CALENDAR-UNKNOWN-KEY",
    missing_key="E-CALENDAR-MISSING-KEY",
    type="E-CALENDAR-TYPE",
    value="E-CALENDAR-TYPE",
    invalid="E-CALENDAR-TYPE",
    bad_key="E-CALENDAR-TYPE",
    empty="E-CALENDAR-EMPTY",
    fields={"date": ("E-CALENDAR-DATE", N_("write dates as YYYY-MM-DD, e.g. 2027-01-01"))},
    merge_misspelt=False,
)
"""The codes of what the calendar models refuse (see ``docs/time.md``)."""

_YAML_CODES = {
    "E-YAML-SYNTAX": "E-CALENDAR-YAML",
    "E-YAML-MULTIDOC": "E-CALENDAR-YAML",
    "E-YAML-TAG": "E-CALENDAR-TAG",
    "E-YAML-MERGE": "E-CALENDAR-TAG",
    "E-YAML-ALIAS": "E-CALENDAR-TAG",
    "E-YAML-KEY": "E-CALENDAR-TYPE",
    "E-DUPLICATE-KEY": "E-CALENDAR-DUPLICATE-KEY",
}
"""The calendar codes of what the located-YAML reader refuses (its limits keep theirs)."""


@dataclass(frozen=True, slots=True)
class CalendarFile:
    """A validated calendar file: its name, content hash and data."""

    file: str
    sha256: str
    data: CalendarData
    places: Mapping[Path, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)
    """1-based places of the values, for problems found across files."""

    def place(self, path: Path) -> tuple[int, int]:
        """The place of ``path`` in the file (or of its nearest known ancestor)."""
        while path not in self.places and path:
            path = path[:-1]
        return self.places.get(path, (1, 1))

    def problem(self, path: Path, code: str, message: Text | str, hint: Text | str = "") -> Problem:
        """A :class:`Problem` placed at ``path`` in this file (``message`` and ``hint``:
        :func:`~cmc_workflow.i18n.tr` texts, or plain English)."""
        line, column = self.place(path)
        return Problem.of(self.file, line, column, code, message, hint)

    def entries(self) -> Iterable[tuple[Path, str, DayEntry]]:
        """Every dated entry with its path and kind (``holiday``, ``working_day``,
        ``closure`` or ``extra_working_day``)."""
        if self.data.arrangement is not None:
            for i, entry in enumerate(self.data.arrangement.holidays):
                yield ("arrangement", "holidays", i, "date"), "holiday", entry
            for i, entry in enumerate(self.data.arrangement.working_days):
                yield ("arrangement", "working_days", i, "date"), "working_day", entry
        if self.data.local is not None:
            for i, entry in enumerate(self.data.local.closures):
                yield ("local", "closures", i, "date"), "closure", entry
            for i, entry in enumerate(self.data.local.working_days):
                yield ("local", "working_days", i, "date"), "extra_working_day", entry


def parse_calendar_file(text: str, file: str) -> CalendarFile:
    """Validate the text of one calendar file; raise :class:`DefinitionError` listing
    every problem (with file, line, column, code and hint)."""
    result, problems = _parse(text, file)
    if result is None or problems:
        raise DefinitionError(problems)
    return result


def load_calendar_dir(directory: str | FsPath) -> tuple[CalendarFile, ...]:
    """Load every ``*.yaml``/``*.yml`` file of ``directory`` (not its subfolders), in name
    order. A missing directory holds no files. Problems of all files, including those
    between files, are raised together as one :class:`DefinitionError`."""
    folder = FsPath(directory)
    if not folder.is_dir():
        return ()
    # every entry named like YAML, whatever its kind: read_source refuses a FIFO, a device,
    # a directory named x.yaml or a huge file with a located problem instead of blocking
    paths = sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"})
    files: list[CalendarFile] = []
    problems: list[Problem] = []
    for path in paths:
        text, refused = read_source(path)
        if text is None:
            problems.extend(refused)
            continue
        parsed, found = _parse(text, str(path))
        problems.extend(found)
        if parsed is not None and not found:
            files.append(parsed)
    problems.extend(check_across_files(files))
    if problems:
        raise DefinitionError(problems)
    return tuple(files)


def check_across_files(files: Sequence[CalendarFile]) -> list[Problem]:
    """Problems between files: a year arranged twice, a local date given twice."""
    problems: list[Problem] = []
    arranged: dict[int, CalendarFile] = {}
    local: dict[dt.date, tuple[CalendarFile, str]] = {}
    for cal in files:
        arrangement = cal.data.arrangement
        if arrangement is not None:
            first = arranged.setdefault(arrangement.year, cal)
            if first is not cal:
                problems.append(
                    cal.problem(
                        ("arrangement", "year"),
                        "E-CALENDAR-YEAR-TWICE",
                        tr(
                            "the arrangement of {year} is also given in {file}",
                            year=arrangement.year,
                            file=first.file,
                        ),
                        tr("keep one file per year"),
                    )
                )
        for path, kind, entry in cal.entries():
            if kind in {"holiday", "working_day"}:
                continue
            seen = local.setdefault(entry.date, (cal, kind))
            if seen[0] is not cal:
                code = "E-CALENDAR-DUPLICATE-DATE" if seen[1] == kind else "E-CALENDAR-CONFLICT"
                problems.append(
                    cal.problem(
                        path,
                        code,
                        tr(
                            "{date} is also a local {kind} in {file}",
                            date=entry.date,
                            kind=_words(seen[1]),
                            file=seen[0].file,
                        ),
                        tr("give each local day once, in one file"),
                    )
                )
    return problems


_KIND_WORDS = {
    "holiday": N_("holiday"),
    "working_day": N_("working day"),
    "closure": N_("closure"),
    "extra_working_day": N_("extra working day"),
}
"""What each kind of entry is called in a message (msgids)."""


def _words(kind: str) -> Text:
    msgid = _KIND_WORDS.get(kind, kind.replace("_", " "))
    return Text(msgid, zh(msgid))


def _parse(text: str, file: str) -> tuple[CalendarFile | None, list[Problem]]:
    doc, problems = load_located(text, file)
    if problems:
        return None, [_calendar_code(problem) for problem in problems]
    if doc.aliases:
        # a calendar lists each day in full: an alias would hide which entry is which
        return None, [
            doc.problem(
                path,
                "E-CALENDAR-TAG",
                tr("anchors and aliases are not supported"),
                tr("write the value out in full"),
            )
            for path in sorted(doc.aliases, key=doc.values.__getitem__)
            if path[:-1] not in doc.aliases  # the values inside an alias repeat it
        ]
    if doc.data is None or doc.data == {}:
        return None, [
            Problem.of(
                file,
                1,
                1,
                "E-CALENDAR-EMPTY",
                tr("the calendar file is empty"),
                tr("give an 'arrangement' and/or 'local' section"),
            )
        ]
    if not isinstance(doc.data, dict):
        return None, [
            doc.problem(
                (),
                "E-CALENDAR-TYPE",
                tr("a calendar file is a mapping"),
                tr("give an 'arrangement' and/or 'local' section"),
            )
        ]
    try:
        data = CalendarData.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems_from_validation(exc, doc, CalendarData, CALENDAR_CODES)
    if data.arrangement is None and data.local is None:
        return None, [
            Problem.of(
                file,
                1,
                1,
                "E-CALENDAR-EMPTY",
                tr("the calendar file says nothing"),
                tr("give an 'arrangement' and/or 'local' section"),
            )
        ]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cal = CalendarFile(file=file, sha256=digest, data=data, places=dict(doc.values))
    return cal, _check_dates(cal)


def _calendar_code(problem: Problem) -> Problem:
    code = _YAML_CODES.get(problem.code)
    if code is None:
        return problem
    message = problem.message
    if code == "E-CALENDAR-YAML":
        message = f"cannot read the YAML: {message}"
    return replace(problem, code=code, message=message)


def _check_dates(cal: CalendarFile) -> list[Problem]:
    """Problems inside one valid file: repeated or contradictory dates, misplaced ones."""
    problems: list[Problem] = []
    arrangement = cal.data.arrangement
    seen: dict[tuple[str, dt.date], tuple[str, Path]] = {}
    for path, kind, entry in cal.entries():
        block = "arrangement" if kind in {"holiday", "working_day"} else "local"
        if arrangement is not None and block == "arrangement":
            if entry.date.year != arrangement.year:
                problems.append(
                    cal.problem(
                        path,
                        "E-CALENDAR-OUTSIDE-YEAR",
                        tr(
                            "{date} is not in the arranged year {year}",
                            date=entry.date,
                            year=arrangement.year,
                        ),
                        tr(
                            "an arrangement lists only days of its own year; use another file for "
                            "the next year"
                        ),
                    )
                )
            if kind == "working_day" and entry.date.weekday() < 5:
                problems.append(
                    cal.problem(
                        path,
                        "E-CALENDAR-NOT-WEEKEND",
                        tr(
                            "{date} ({weekday}) is already a working day",
                            date=entry.date,
                            weekday=f"{entry.date:%A}",
                        ),
                        tr("adjusted working days are Saturdays or Sundays; check the date"),
                    )
                )
        first = seen.setdefault((block, entry.date), (kind, path))
        if first[1] == path:
            continue
        line, _column = cal.place(first[1])
        if first[0] == kind:
            problems.append(
                cal.problem(
                    path,
                    "E-CALENDAR-DUPLICATE-DATE",
                    tr("{date} is listed twice", date=entry.date),
                    tr("already listed at line {line}; keep one", line=line),
                )
            )
        else:
            problems.append(
                cal.problem(
                    path,
                    "E-CALENDAR-CONFLICT",
                    tr(
                        "{date} is listed both as {first} and as {second}",
                        date=entry.date,
                        first=_words(first[0]),
                        second=_words(kind),
                    ),
                    tr(
                        "the other entry is at line {line}; a day is either off or working",
                        line=line,
                    ),
                )
            )
    return problems
