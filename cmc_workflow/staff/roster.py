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

HEADINGS: Mapping[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "employee_no": ("工号", "employee_no", "employee no", "employee number"),
    "person_id": ("人员编号", "person_id", "person id", "actor", "账号"),
    "post": ("岗位", "post", "posts"),
    "role": ("角色", "role"),
    "scope": ("范围", "scope"),
    "education": ("学历", "education"),
    "experience_years": ("工作年限", "experience_years", "years", "experience"),
    "email": ("邮箱", "email", "e-mail"),
    "mobile": ("手机", "mobile", "手机号", "phone"),
    "wecom": ("企业微信", "wecom"),
    "dingtalk": ("钉钉", "dingtalk"),
    "joined_on": ("入职日期", "joined_on", "start", "starts_on"),
    "ends_on": ("离岗日期", "ends_on", "end", "left_on"),
}
"""Each field and the headings that name it (first: the Chinese one the export writes)."""
_BY_HEADING = {h.casefold(): key for key, names in HEADINGS.items() for h in names}
_SCOPE_KEYS = {
    "渠道": "channels",
    "频道": "channels",
    "账号": "channels",
    "channels": "channels",
    "channel": "channels",
    "应用": "applications",
    "applications": "applications",
    "application": "applications",
    "分馆": "branch",
    "branch": "branch",
    "内容类型": "content_types",
    "content_types": "content_types",
    "content_type": "content_types",
    "审核环节": "review_stages",
    "review_stages": "review_stages",
    "review_stage": "review_stages",
}
_SPLIT = re.compile(r"[、,，;；/]")

Row = tuple[PersonEntry, list[PostEntry]]


def read_rows(path: str | Path) -> list[list[Any]]:
    """The cells of a roster file, row by row (CSV or XLSX, by the file's content)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problem = _problem(str(path), 1, 1, "E-STAFF-READ", str(exc), "读取失败")
        raise RosterInvalid([problem]) from exc
    if raw[:4] == b"PK\x03\x04":
        return _xlsx_rows(file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            en, zh = (
                "the file is neither UTF-8 text nor an XLSX workbook",
                "文件既不是 UTF-8 文本也不是 XLSX 工作簿",
            )
        else:
            en = "the file is encoded in GBK (Excel's plain 'CSV' on Chinese Windows)"
            zh = "文件是 GBK 编码（中文 Windows 上 Excel 的普通 CSV）"
        raise RosterInvalid(
            [
                _problem(
                    str(path),
                    1,
                    1,
                    "E-STAFF-ENCODING",
                    en,
                    zh,
                    "save it as UTF-8: in Excel, Save As > 'CSV UTF-8 (Comma delimited)'",
                    "请另存为 UTF-8：在 Excel 中选择“另存为 > CSV UTF-8（逗号分隔）”",
                )
            ]
        ) from None
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
                    f"not a readable XLSX: {exc}",
                    "不是可读的 XLSX 文件",
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
        raise RosterInvalid(
            [_problem(file, 1, 1, "E-STAFF-EMPTY", "the roster is empty", "花名册为空")]
        )
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
                    "the heading row has no 姓名 (name) column",
                    "标题行没有“姓名”列",
                    "put the headings (姓名, 工号, 岗位, ...) in the first row",
                    "请在第一行写列标题（姓名、工号、岗位……）",
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

        def bad(key: str, en: str, zh: str, code: str, number: int = number) -> None:
            column = columns.get(key, columns["name"]) + 1
            heading = headings.get(key, key)
            problems.append(
                _problem(file, number, column, code, f"{heading}: {en}", f"{heading}：{zh}")
            )

        before = len(problems)
        education = None
        if _text(cell("education")):
            education = education_level(_text(cell("education")))
            if education is None:
                bad(
                    "education",
                    f"{_text(cell('education'))!r} is not an education level (大专, 本科, 硕士...)",
                    f"{_text(cell('education'))!r} 不是学历（大专、本科、硕士……）",
                    "E-STAFF-EDUCATION",
                )
        years = _number(cell("experience_years"))
        if isinstance(years, bool):
            bad(
                "experience_years",
                f"{_text(cell('experience_years'))!r} is not a number of years",
                f"{_text(cell('experience_years'))!r} 不是年数",
                "E-STAFF-YEARS",
            )
        unreadable = len(problems) > before  # the education or the years
        dates: dict[str, dt.date | None] = {}
        for key in ("joined_on", "ends_on"):
            day = _date(cell(key))
            if isinstance(day, bool):
                bad(
                    key,
                    f"{_text(cell(key))!r} is not a date like 2025-03-01",
                    f"{_text(cell(key))!r} 不是形如 2025-03-01 的日期",
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
        for key, code, en, zh in found:
            if key == "education" and education is None and _text(cell("education")):
                continue  # said above
            bad(
                "employee_no" if key == "person_id" and "person_id" not in columns else key,
                en,
                zh,
                code,
            )
        raw_id = _text(cell("person_id")) or _text(cell("employee_no"))
        pid = normal_id(raw_id) if raw_id else ""
        if pid:
            if pid in seen:
                bad(
                    "employee_no" if "person_id" not in columns else "person_id",
                    f"{pid} is on row {seen[pid]} already (one row per person; "
                    "list several posts in one 岗位 cell, split by 、)",
                    f"{pid} 已在第 {seen[pid]} 行"
                    "（每人一行；多个岗位写在同一“岗位”格内，用“、”分隔）",
                    "E-STAFF-DUPLICATE",
                )
            elif pid in known_ids:
                bad(
                    "employee_no" if "person_id" not in columns else "person_id",
                    f"{pid} is already in the register",
                    f"{pid} 已在人员名册中",
                    "E-STAFF-DUPLICATE",
                )
            else:
                seen[pid] = number
        scope, scope_problem = parse_scope(_text(cell("scope")))
        if scope_problem is not None:
            bad("scope", *scope_problem, "E-STAFF-SCOPE")
        posts: list[PostEntry] = []
        for name in (p.strip() for p in _SPLIT.split(_text(cell("post"))) if p.strip()):
            post = catalogue.find(name)
            if post is None:
                known_posts = "、".join(p.zh for p in catalogue.posts.values())
                bad(
                    "post",
                    f"there is no post {name!r} (posts: {known_posts})",
                    f"没有岗位 {name!r}（可选：{known_posts}）",
                    "E-STAFF-POST",
                )
                continue
            role = _text(cell("role"))
            roles = {normal_id(r) for r in _SPLIT.split(role) if r.strip()}
            if roles and post.role not in roles:
                bad(
                    "role",
                    f"the post {post.zh} holds the role {post.role}, not {role!r}",
                    f"{post.zh}的角色是 {post.role}，不是 {role!r}",
                    "E-STAFF-ROLE",
                )
            if row is not None and not unreadable:  # a qualification needs readable facts
                why = qualification_problem(row, post)
                if why is not None:
                    bad("post", *why, "E-STAFF-QUALIFICATION")
            starts = dates["joined_on"] or today
            ends = dates["ends_on"]
            if ends is not None and ends < starts:
                bad(
                    "ends_on",
                    f"{ends} is before the start {starts}",
                    f"{ends} 早于上岗日期 {starts}",
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


def parse_scope(text: str) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """A 范围 cell: ``wechat,weibo`` (channels), or ``key:values`` parts split by ``;``
    (渠道/channels, 应用/applications, 分馆/branch)."""
    scope: dict[str, Any] = {}
    if not text.strip():
        return scope, None
    for part in re.split(r"[;；]", text):
        if not part.strip():
            continue
        key, sep, values = _key_values(part)
        name = _SCOPE_KEYS.get(key.strip().casefold()) if sep else "channels"
        if name is None:
            return scope, (
                f"{key.strip()!r} is not a scope (渠道/channels, 应用/applications, 分馆/branch, "
                "内容类型/content_types, 审核环节/review_stages)",
                f"{key.strip()!r} 不是范围（渠道、应用、分馆、内容类型或审核环节）",
            )
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
    names = {
        "channels": "渠道",
        "applications": "应用",
        "branch": "分馆",
        "content_types": "内容类型",
        "review_stages": "审核环节",
    }
    for key, label in names.items():
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
    text = str(value).strip().removesuffix("年").strip()
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
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", str(value).strip())
    if match is None:
        return False
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return False


def _problem(
    file: str, row: int, column: int, code: str, en: str, zh: str, hint: str = "", hint_zh: str = ""
) -> Problem:
    return Problem(file, row, column, code, en, hint, zh, hint_zh)
