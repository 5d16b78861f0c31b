"""Reading (and writing) a roster the way HR keeps one: a CSV file (UTF-8, with or
without the BOM Excel writes; a GBK file is recognised and refused with the fix) or an
XLSX workbook (its first sheet), one person per row, headed in Chinese or English:

=========== ====================== =====================================================
heading     also accepted          what
=========== ====================== =====================================================
姓名        name                   required
工号        employee_no            the person's id unless 人员编号 gives one
人员编号    person_id, actor       the id the person acts under (default: 工号)
岗位        post, posts            one or more posts (id or label), split by 、 , ;
角色        role                   optional; must be the post's role
范围        scope                  ``wechat,weibo`` (channels) or
                                   ``渠道:wechat,weibo;应用:app-7;分馆:总馆``
学历        education              大专, 本科, 硕士... or associate, bachelor...
工作年限    experience_years       years of relevant experience (a number)
邮箱        email
手机        mobile
企业微信    wecom                  WeCom user id
钉钉        dingtalk               DingTalk user id
入职日期    joined_on, start       the day the posts start (default: today)
离岗日期    ends_on, end           the posts' last day, if any
=========== ====================== =====================================================

Other columns (部门, 性别...) are ignored. Every problem is reported with the file, the row
(the heading row is row 1) and the column, all at once; nothing is imported while any
remains (:class:`~cmc_workflow.errors.RosterInvalid`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cmc_workflow.errors import Problem, RosterInvalid
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import Actor, normal_id
from cmc_workflow.staff import contacts
from cmc_workflow.staff.catalogue import Catalogue, education_level
from cmc_workflow.staff.register import (
    Person,
    PersonEntry,
    PostEntry,
    Register,
    person_problems,
    qualification_problem,
)
from cmc_workflow.staff.words import (
    DATE,
    EDUCATION_ZH,
    HEADINGS,
    SCOPE_KEYS,
    SCOPE_LABELS,
    YEARS_SIGN,
)

_BY_HEADING = {h.casefold(): key for key, names in HEADINGS.items() for h in names}
_NAME = HEADINGS["name"][0]
_FIRST = joined(HEADINGS[k][0] for k in ("name", "employee_no", "post"))
_LEVELS = joined(EDUCATION_ZH[k] for k in ("associate", "bachelor", "master"))

_SPLIT = re.compile(r"[、,，;；/]")

Row = tuple[PersonEntry, list[PostEntry]]


def read_rows(path: str | Path) -> list[list[Any]]:
    """The cells of a roster file, row by row (CSV or XLSX, by the file's content)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problem = _problem(
            str(path), 1, 1, "E-STAFF-READ", tr("cannot read the file: {error}", error=exc)
        )
        raise RosterInvalid([problem]) from exc
    if raw[:4] == b"PK\x03\x04":
        return _xlsx_rows(file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            why = tr("the file is neither UTF-8 text nor an XLSX workbook")
        else:
            why = tr("the file is encoded in GBK (Excel's plain 'CSV' on Chinese Windows)")
        fix = tr("save it as UTF-8: in Excel, Save As > 'CSV UTF-8 (Comma delimited)'")
        raise RosterInvalid([_problem(str(path), 1, 1, "E-STAFF-ENCODING", why, fix)]) from None
    return [list(r) for r in csv.reader(io.StringIO(text))]


def _xlsx_rows(file: Path) -> list[list[Any]]:
    import openpyxl  # only for XLSX rosters

    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise RosterInvalid(
            [
                _problem(
                    str(file),
                    1,
                    1,
                    "E-STAFF-READ",
                    tr("not a readable XLSX: {error}", error=exc),
                )
            ]
        ) from exc
    try:
        sheet = book.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def parse(
    path: str | Path, catalogue: Catalogue, known: Iterable[str] = (), *, today: dt.date
) -> list[Row]:
    """The people of a roster and their posts, checked row by row against ``catalogue``
    and the ids ``known`` already (the register's): every problem at once, as
    :class:`RosterInvalid`."""
    file = str(path)
    cells = read_rows(path)
    problems: list[Problem] = []
    while cells and not any(_text(c) for c in cells[0]):
        cells = cells[1:]
    if not cells:
        raise RosterInvalid([_problem(file, 1, 1, "E-STAFF-EMPTY", tr("the roster is empty"))])
    columns: dict[str, int] = {}
    for index, heading in enumerate(cells[0]):
        key = _BY_HEADING.get(_text(heading).casefold())
        if key is not None and key not in columns:
            columns[key] = index
    if "name" not in columns:
        raise RosterInvalid(
            [
                _problem(
                    file,
                    1,
                    1,
                    "E-STAFF-HEADING",
                    tr("the heading row has no {heading} (name) column", heading=_NAME),
                    tr("put the headings ({headings}, ...) in the first row", headings=_FIRST),
                )
            ]
        )
    headings = {key: _text(cells[0][i]) for key, i in columns.items()}
    seen: dict[str, int] = {}
    known_ids = set(known)
    rows: list[Row] = []
    now = dt.datetime.now(dt.UTC)
    for number, values in enumerate(cells[1:], start=2):
        if not any(_text(v) for v in values):
            continue  # a blank row

        def cell(key: str, values: list[Any] = values) -> Any:
            index = columns.get(key)
            return values[index] if index is not None and index < len(values) else None

        def bad(key: str, why: Text, code: str, number: int = number) -> None:
            column = columns.get(key, columns["name"]) + 1
            heading = headings.get(key, key)
            said = tr("{column}: {problem}", column=heading, problem=why)
            problems.append(_problem(file, number, column, code, said))

        before = len(problems)
        education = None
        if _text(cell("education")):
            education = education_level(_text(cell("education")))
            if education is None:
                bad(
                    "education",
                    tr(
                        "{value} is not an education level ({levels}...)",
                        value=repr(_text(cell("education"))),
                        levels=_LEVELS,
                    ),
                    "E-STAFF-EDUCATION",
                )
        years = _number(cell("experience_years"))
        if isinstance(years, bool):
            bad(
                "experience_years",
                tr(
                    "{value} is not a number of years",
                    value=repr(_text(cell("experience_years"))),
                ),
                "E-STAFF-YEARS",
            )
        unreadable = len(problems) > before  # the education or the years
        dates: dict[str, dt.date | None] = {}
        for key in ("joined_on", "ends_on"):
            day = _date(cell(key))
            if isinstance(day, bool):
                bad(
                    key,
                    tr("{value} is not a date like 2025-03-01", value=repr(_text(cell(key)))),
                    "E-STAFF-DATE",
                )
                day = None
            dates[key] = day
        entry = PersonEntry(
            name=_text(cell("name")),
            person_id=_text(cell("person_id")),
            employee_no=_text(cell("employee_no")) or None,
            email=_text(cell("email")) or None,
            mobile=_text(cell("mobile")) or None,
            wecom=_text(cell("wecom")) or None,
            dingtalk=_text(cell("dingtalk")) or None,
            education=education,
            experience_years=None if isinstance(years, bool) else years,
            joined_on=dates["joined_on"],
        )
        row, found = person_problems(entry, now)
        for key, code, why in found:
            if key == "education" and education is None and _text(cell("education")):
                continue  # said above
            bad(
                "employee_no" if key == "person_id" and "person_id" not in columns else key,
                why,
                code,
            )
        raw_id = _text(cell("person_id")) or _text(cell("employee_no"))
        pid = normal_id(raw_id) if raw_id else ""
        if pid:
            if pid in seen:
                bad(
                    "employee_no" if "person_id" not in columns else "person_id",
                    tr(
                        "{id} is on row {row} already (one row per person; list several "
                        "posts in one {heading} cell, split by 、)",
                        id=pid,
                        row=seen[pid],
                        heading=HEADINGS["post"][0],
                    ),
                    "E-STAFF-DUPLICATE",
                )
            elif pid in known_ids:
                bad(
                    "employee_no" if "person_id" not in columns else "person_id",
                    tr("{id} is already in the register", id=pid),
                    "E-STAFF-DUPLICATE",
                )
            else:
                seen[pid] = number
        scope, scope_problem = parse_scope(_text(cell("scope")))
        if scope_problem is not None:
            bad("scope", scope_problem, "E-STAFF-SCOPE")
        posts: list[PostEntry] = []
        for name in (p.strip() for p in _SPLIT.split(_text(cell("post"))) if p.strip()):
            post = catalogue.find(name)
            if post is None:
                known_posts = "、".join(p.zh for p in catalogue.posts.values())
                bad(
                    "post",
                    tr(
                        "there is no post {name} (posts: {known})",
                        name=repr(name),
                        known=known_posts,
                    ),
                    "E-STAFF-POST",
                )
                continue
            role = _text(cell("role"))
            roles = {normal_id(r) for r in _SPLIT.split(role) if r.strip()}
            if roles and post.role not in roles:
                bad(
                    "role",
                    tr(
                        "the post {post} holds the role {role}, not {given}",
                        post=Text(post.zh, post.zh),
                        role=post.role,
                        given=repr(role),
                    ),
                    "E-STAFF-ROLE",
                )
            if row is not None and not unreadable:  # a qualification needs readable facts
                lacking = qualification_problem(row, post)
                if lacking is not None:
                    bad("post", lacking, "E-STAFF-QUALIFICATION")
            starts = dates["joined_on"] or today
            ends = dates["ends_on"]
            if ends is not None and ends < starts:
                bad(
                    "ends_on",
                    tr("{ends} is before the start {starts}", ends=ends, starts=starts),
                    "E-STAFF-DATES",
                )
            posts.append(PostEntry(post.id, scope, starts, ends))
        if len(problems) == before:
            rows.append((entry, posts))
    if problems:
        raise RosterInvalid(sorted(problems, key=lambda p: (p.line, p.column)))
    return rows


def import_file(register: Register, actor: Actor, path: str | Path) -> list[Person]:
    """Read a roster file and file everybody in it in ``register``, all or nothing (the
    Python API of ``cmc-workflow staff import``): :class:`RosterInvalid` lists every bad
    row by row and column, a refusal of the register (a person filed meanwhile) imports
    nothing either."""
    known = [p.person_id for p in register.people()]
    rows = parse(path, register.catalogue, known, today=register.today())
    return register.import_people(actor, rows, source=Path(path).name)


def parse_scope(text: str) -> tuple[dict[str, Any], Text | None]:
    """A 范围 cell: ``wechat,weibo`` (channels), or ``key:values`` parts split by ``;``
    (渠道/channels, 应用/applications, 分馆/branch)."""
    scope: dict[str, Any] = {}
    if not text.strip():
        return scope, None
    for part in re.split(r"[;；]", text):
        if not part.strip():
            continue
        key, sep, values = _key_values(part)
        name = SCOPE_KEYS.get(key.strip().casefold()) if sep else "channels"
        if name is None:
            keys = ", ".join(f"{label}/{k}" for k, label in SCOPE_LABELS.items())
            return scope, tr("{value} is not a scope ({keys})", value=repr(key.strip()), keys=keys)
        listed = [v.strip() for v in re.split(r"[、,，/]", values if sep else part) if v.strip()]
        if name == "branch":
            scope["branch"] = "、".join(listed)
        else:
            scope.setdefault(name, []).extend(listed)
    return scope, None


def _key_values(part: str) -> tuple[str, str, str]:
    for sep in (":", "："):
        if sep in part:
            key, _, values = part.partition(sep)
            return key, sep, values
    return part, "", ""


def write_csv(people: Sequence[Person], *, reveal: bool = False) -> str:
    """The register as a roster (Chinese headings, UTF-8 with a BOM so that Excel reads
    it): one row per person, posts joined by 、; contact addresses masked unless
    ``reveal`` (SEC-3)."""
    keys = [
        "name",
        "employee_no",
        "person_id",
        "post",
        "role",
        "scope",
        "education",
        "experience_years",
        *contacts.FIELDS,
        "joined_on",
        "ends_on",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([HEADINGS[k][0] for k in keys])
    for person in people:
        view = person.view(reveal=reveal)
        posts = person.posts
        scope = format_scope(posts[0].scope) if posts else ""
        ends = [p.ends_on for p in posts]
        values = {
            **view,
            "post": "、".join(p.post for p in posts),
            "role": "、".join(dict.fromkeys(p.role for p in posts)),
            "scope": scope,
            "joined_on": min((p.starts_on for p in posts), default=view["joined_on"]),
            "ends_on": max(e for e in ends if e is not None) if ends and None not in ends else None,
        }
        writer.writerow(["" if values.get(k) is None else _cell(values[k]) for k in keys])
    return "\ufeff" + out.getvalue()


def format_scope(scope: Mapping[str, Any]) -> str:
    """A scope as a 范围 cell."""
    parts = []
    for key, label in SCOPE_LABELS.items():
        value = scope.get(key)
        if value:
            shown = value if isinstance(value, str) else ",".join(value)
            parts.append(f"{label}:{shown}")
    return ";".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 工号 or 手机 typed as a number in Excel
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return str(value).strip()


def _number(value: Any) -> float | bool | None:
    """A number of years, None when blank, False when unreadable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().removesuffix(YEARS_SIGN).strip()
    try:
        return float(text)
    except ValueError:
        return False


def _date(value: Any) -> dt.date | bool | None:
    """A date, None when blank, False when unreadable (``2025-03-01``, ``2025/3/1``,
    ``2025年3月1日``, or an Excel date cell)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = DATE.fullmatch(str(value).strip())
    if match is None:
        return False
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return False


def _problem(
    file: str, row: int, column: int, code: str, why: Text, fix: Text | str = ""
) -> Problem:
    return Problem.of(file, row, column, code, why, fix)
