"""``cmc-workflow staff``: the staff register (STF-1) — people, their posts, a roster in or
out, and the staffing check (STF-3).

- ``staff add NAME --id ID [--post P] [--email ..]``: file a person (and their posts);
- ``staff show ID`` / ``staff list [--active]``: contact addresses masked (SEC-3) unless
  ``--reveal``;
- ``staff post ID POST [--scope ..] [--from D] [--until D]``: put them on a post (STF-2
  checked); ``staff end-post POST_ID [--on D]``;
- ``staff import FILE`` (CSV or XLSX, all or nothing) / ``staff export [FILE]``;
- ``staff leave ID --from D --to D [--substitute P]``: a leave and its cover (STF-5);
- ``staff check``: raise (and close) the STF-3 alerts of accounts without their posts.

Every change names who made it (``--actor``, ``CMC_ACTOR``) and is audited. A refused
change exits 2 and names its code (``E-STAFF-...``) in English and Chinese; a roster's
problems are printed one per line (``file:row:column: CODE message``) and exit 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cmc_workflow.cli.exits import Exit, fail, handled
from cmc_workflow.cli.options import (
    Settings,
    actor_id_option,
    db_option,
    engine_options,
    json_option,
)
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.errors import RegisterRefused, RosterInvalid
from cmc_workflow.model import Actor
from cmc_workflow.staff import roster
from cmc_workflow.staff.register import Person, PersonEntry, PostEntry, Register
from cmc_workflow.store import Store

_DB = db_option
_ACTOR = actor_id_option
_REVEAL = click.option(
    "--reveal",
    is_flag=True,
    help="Show contact addresses in clear (default: masked, SEC-3).",
)


@contextmanager
def _register(db: str, as_json: bool) -> Iterator[Register]:
    with handled(as_json), _refusals(as_json):
        store = Store.open(db)
        try:
            yield Register(store)
        finally:
            store.close()


@contextmanager
def _refusals(as_json: bool) -> Iterator[None]:
    try:
        yield
    except RosterInvalid as exc:
        lines = [str(p) for p in exc.problems]
        fail(
            Exit.PROBLEMS,
            "\n".join([*lines, f"{exc.rule} {exc.reason_en} | {exc.reason_zh}"]),
            as_json,
            type="RosterInvalid",
            rule=exc.rule,
            problems=lines,
        )
    except RegisterRefused as exc:
        fail(
            Exit.USAGE,
            f"refused ({exc.rule}): {exc.reason_en}\n已拒绝（{exc.rule}）：{exc.reason_zh}",
            as_json,
            type=type(exc).__name__,
            rule=exc.rule,
            reason_zh=exc.reason_zh,
        )


def _scope(text: str | None) -> dict[str, Any]:
    scope, problem = roster.parse_scope(text or "")
    if problem is not None:
        raise click.BadParameter(f"{problem[0]} | {problem[1]}", param_hint="--scope")
    return scope


def _print_people(people: list[Person], reveal: bool, as_json: bool) -> None:
    views = [p.view(reveal=reveal) for p in people]
    if as_json:
        emit_json(views)
        return
    rows = [
        [
            v["person_id"],
            v["name"],
            "、".join(f"{p['post']}#{p['id']}" for p in v["posts"]) or "—",
            cell(v["email"]),
            cell(v["mobile"]),
            cell(v["education"]),
            cell(v["experience_years"]),
        ]
        for v in views
    ]
    click.echo(
        table(["人员 id", "姓名 name", "岗位 posts", "邮箱", "手机", "学历", "年限"], rows),
        nl=False,
    )


@click.group("staff")
def staff_group() -> None:
    """The staff register (人员名册, STF-1): people, posts, rosters, staffing checks."""


@staff_group.command("add")
@click.argument("name")
@click.option(
    "--id", "person_id", default="", help="The id the person acts under (default: --employee-no)."
)
@click.option("--employee-no", default=None, help="工号.")
@click.option("--email", default=None)
@click.option("--mobile", default=None)
@click.option("--wecom", default=None, help="WeCom (企业微信) user id.")
@click.option("--dingtalk", default=None, help="DingTalk (钉钉) user id.")
@click.option("--education", default=None, help="大专/本科/硕士/博士 or associate/bachelor/...")
@click.option(
    "--years", "experience_years", type=float, default=None, help="Years of relevant experience."
)
@click.option("--post", "posts", multiple=True, help="A post to put them on (repeatable).")
@click.option(
    "--scope", default=None, help="The posts' scope: wechat,weibo or 渠道:..;应用:..;分馆:.."
)
@click.option(
    "--from",
    "starts_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day of the posts (default today).",
)
@_ACTOR
@_DB
@json_option
def staff_add(
    name: str,
    person_id: str,
    employee_no: str | None,
    email: str | None,
    mobile: str | None,
    wecom: str | None,
    dingtalk: str | None,
    education: str | None,
    experience_years: float | None,
    posts: tuple[str, ...],
    scope: str | None,
    starts_on: dt.datetime | None,
    actor_id: str,
    db: str,
    as_json: bool,
) -> None:
    """File a person (and put them on --post posts, STF-2 checked). Exits 2 if refused."""
    from cmc_workflow.staff.catalogue import education_level

    level = education_level(education) if education else None
    if education and level is None:
        raise click.BadParameter(
            f"{education!r} is not an education level", param_hint="--education"
        )
    entry = PersonEntry(
        name=name,
        person_id=person_id,
        employee_no=employee_no,
        email=email,
        mobile=mobile,
        wecom=wecom,
        dingtalk=dingtalk,
        education=level,
        experience_years=experience_years,
    )
    given = [PostEntry(p, _scope(scope), starts_on.date() if starts_on else None) for p in posts]
    with _register(db, as_json) as register:
        person = register.add(Actor(actor_id), entry, given)
    if as_json:
        emit_json(person.view())
    else:
        click.echo(
            f"filed {person.person_id} ({person.row.name}) with {len(person.posts)} post(s)"
            " / 已登记"
        )


@staff_group.command("show")
@click.argument("person_id")
@_REVEAL
@_DB
@json_option
def staff_show(person_id: str, reveal: bool, db: str, as_json: bool) -> None:
    """One person with their posts. Exits 2 when they are not in the register."""
    with _register(db, as_json) as register:
        person = register.person(person_id)
    if person is None:
        fail(Exit.USAGE, f"{person_id} is not in the register / 不在人员名册中", as_json)
    view = person.view(reveal=reveal)
    if as_json:
        emit_json(view)
        return
    for key in (
        "person_id",
        "name",
        "employee_no",
        "email",
        "mobile",
        "wecom",
        "dingtalk",
        "education",
        "experience_years",
        "joined_on",
    ):
        value = view[key]
        click.echo(f"{key}: {value if isinstance(value, dt.date) else cell(value)}")
    rows = [
        [
            str(p["id"]),
            p["post"],
            p["role"],
            roster.format_scope(p["scope"]) or "—",
            cell(p["starts_on"]),
            cell(p["ends_on"]),
        ]
        for p in view["posts"]
    ]
    click.echo(
        table(["#", "岗位 post", "角色 role", "范围 scope", "上岗 from", "离岗 until"], rows),
        nl=False,
    )


@staff_group.command("list")
@click.option("--active", is_flag=True, help="Only people holding a post today.")
@click.option("--role", default=None, help="Only the holders of this role today.")
@_REVEAL
@_DB
@json_option
def staff_list(active: bool, role: str | None, reveal: bool, db: str, as_json: bool) -> None:
    """Everybody in the register (or the active ones, or a role's holders)."""
    with _register(db, as_json) as register:
        if role is not None:
            people = register.holders(role)
        else:
            people = register.people(active_on=register.today() if active else None)
    _print_people(people, reveal, as_json)


@staff_group.command("post")
@click.argument("person_id")
@click.argument("post")
@click.option("--scope", default=None, help="wechat,weibo or 渠道:..;应用:..;分馆:..")
@click.option(
    "--from",
    "starts_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (default today).",
)
@click.option(
    "--until",
    "ends_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day, if known.",
)
@_ACTOR
@_DB
@json_option
def staff_post(
    person_id: str,
    post: str,
    scope: str | None,
    starts_on: dt.datetime | None,
    ends_on: dt.datetime | None,
    actor_id: str,
    db: str,
    as_json: bool,
) -> None:
    """Put a person on a post (STF-2: a manager's post asks for a bachelor's degree and 3
    years, a staff post an associate degree and 1 year). Exits 2 if refused."""
    entry = PostEntry(
        post,
        _scope(scope),
        starts_on.date() if starts_on else None,
        ends_on.date() if ends_on else None,
    )
    with _register(db, as_json) as register:
        written = register.post(Actor(actor_id), person_id, entry)
    if as_json:
        emit_json({"id": written.id, "post": written.post, "role": written.role})
    else:
        click.echo(
            f"post #{written.id}: {written.person_id} is {written.post} "
            f"from {written.starts_on} / 已上岗"
        )


@staff_group.command("end-post")
@click.argument("post_id", type=int)
@click.option(
    "--on",
    "ends_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day (default today).",
)
@_ACTOR
@_DB
@json_option
def staff_end_post(
    post_id: int, ends_on: dt.datetime | None, actor_id: str, db: str, as_json: bool
) -> None:
    """End a post: its role is no longer held from the next day."""
    with _register(db, as_json) as register:
        ended = register.end_post(Actor(actor_id), post_id, ends_on.date() if ends_on else None)
    if as_json:
        emit_json({"id": ended.id, "ends_on": ended.ends_on})
    else:
        click.echo(f"post #{ended.id} of {ended.person_id} ends on {ended.ends_on} / 已离岗")


@staff_group.command("leave")
@click.argument("person_id")
@click.option(
    "--from", "starts_on", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day."
)
@click.option("--to", "ends_on", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day.")
@click.option("--substitute", default=None, help="Who covers (代班人), a register person.")
@_ACTOR
@_DB
@json_option
def staff_leave(
    person_id: str,
    starts_on: dt.datetime,
    ends_on: dt.datetime,
    substitute: str | None,
    actor_id: str,
    db: str,
    as_json: bool,
) -> None:
    """Record a leave (STF-5): once it starts, the runner's pass moves the person's open
    tasks to --substitute (when they hold the post), else to the holder with the least
    open work."""
    with _register(db, as_json) as register:
        leave = register.leave(
            Actor(actor_id), person_id, starts_on.date(), ends_on.date(), substitute
        )
    if as_json:
        emit_json(leave)
    else:
        cover = leave.substitute or "the least busy holder / 工作量最少的同岗人员"
        click.echo(
            f"leave #{leave.id}: {leave.person_id} from {leave.starts_on} to {leave.ends_on},"
            f" covered by {cover} / 已登记休假"
        )


@staff_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_ACTOR
@_DB
@json_option
def staff_import(file: Path, actor_id: str, db: str, as_json: bool) -> None:
    """Import a roster (CSV in UTF-8, or XLSX; headings 姓名/工号/岗位/... or English): all
    rows or none. Problems are printed as FILE:ROW:COLUMN: CODE message, exit 1."""
    with _register(db, as_json) as register:
        people = roster.import_file(register, Actor(actor_id), file)
    if as_json:
        emit_json({"imported": len(people), "people": [p.person_id for p in people]})
    else:
        posts = sum(len(p.posts) for p in people)
        click.echo(
            f"imported {len(people)} people, {posts} posts"
            f" / 已导入 {len(people)} 人，{posts} 个岗位"
        )


@staff_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@_REVEAL
@_DB
def staff_export(file: Path | None, reveal: bool, db: str) -> None:
    """The register as a roster CSV (UTF-8 with BOM, Chinese headings), to FILE or stdout;
    contact addresses masked unless --reveal."""
    with _register(db, False) as register:
        text = roster.write_csv(register.people(), reveal=reveal)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")


@staff_group.command("check")
@engine_options
def staff_check(settings: Settings) -> None:
    """STF-3 now: raise a staffing_gap alert per account without a holder of a required
    post (posts.yaml `staffing`), close the alerts of gaps filled. The daemon runs the
    same check once a day. Needs the accounts and staffing_gap workflows loaded."""
    from cmc_workflow.staff.staffing import StaffingCheck

    with settings.open_engine(need_workflows=True) as engine:
        found = [e for e in engine.extensions if isinstance(e, StaffingCheck)]
        if not found:
            fail(
                Exit.USAGE,
                "the staffing check needs the accounts and staffing_gap workflows loaded"
                " / 员额检查需要加载 accounts 与 staffing_gap 工作流",
                settings.as_json,
            )
        done = found[0].check_staffing()
    gaps = [{"gap": g.key, "account_id": g.account_id, "post": g.post.id} for g in done.gaps]
    if settings.as_json:
        emit_json({"gaps": gaps, "raised": list(done.raised), "closed": list(done.closed)})
        return
    for gap in done.gaps:
        click.echo(f"gap: {gap.account_id} has no {gap.post.id} ({gap.post.zh}) / 缺员")
    click.echo(
        f"{len(done.gaps)} gap(s); raised {len(done.raised)} alert(s), closed {len(done.closed)}"
        f" / 缺员 {len(done.gaps)} 处，新告警 {len(done.raised)} 条，关闭 {len(done.closed)} 条"
    )


COMMANDS = [staff_group]
