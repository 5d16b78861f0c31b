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
from cmc_workflow.cli.help import Group
from cmc_workflow.cli.options import (
    Settings,
    actor_id_option,
    db_option,
    engine_options,
    json_option,
)
from cmc_workflow.cli.output import cell, emit_json, table
from cmc_workflow.errors import RegisterRefused, RosterInvalid
from cmc_workflow.i18n import N_, Text, heading, shown, tr
from cmc_workflow.model import Actor
from cmc_workflow.staff import roster
from cmc_workflow.staff.register import Person, PersonEntry, PostEntry, Register
from cmc_workflow.store import Store

_DB = db_option
_PEOPLE_HEADINGS = (
    N_("Person"),
    N_("Person name"),
    N_("Posts"),
    N_("Email"),
    N_("Mobile"),
    N_("Education"),
    N_("Years"),
)
_POST_HEADINGS = (N_("Post"), N_("Role"), N_("Scope"), N_("On from"), N_("Off after"))
_ACTOR = actor_id_option
_REVEAL = click.option(
    "--reveal",
    is_flag=True,
    help=N_("Show contact addresses in clear (default: masked, SEC-3)."),
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
            shown(
                *tr(
                    "refused ({rule}): {reason}",
                    rule=exc.rule,
                    reason=Text(exc.reason_en, exc.reason_zh),
                ),
                sep="\n",
            ),
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
        table([heading(h) for h in _PEOPLE_HEADINGS], rows),
        nl=False,
    )


@click.group(
    "staff",
    cls=Group,
    help=N_("The staff register (STF-1): people, posts, rosters, staffing checks."),
)
def staff_group() -> None:
    pass


@staff_group.command(
    "add",
    help=N_("File a person (and put them on --post posts, STF-2 checked). Exits 2 if refused."),
)
@click.argument("name")
@click.option(
    "--id",
    "person_id",
    default="",
    help=N_("The id the person acts under (default: --employee-no)."),
)
@click.option("--employee-no", default=None, help=N_("The employee number."))
@click.option("--email", default=None, help=N_("E-mail address (masked when shown, SEC-3)."))
@click.option("--mobile", default=None, help=N_("Mobile number (masked when shown, SEC-3)."))
@click.option("--wecom", default=None, help=N_("WeCom user id."))
@click.option("--dingtalk", default=None, help=N_("DingTalk user id."))
@click.option(
    "--education",
    default=None,
    help=N_("Education: associate, bachelor, master or doctor (in English or Chinese)."),
)
@click.option(
    "--years",
    "experience_years",
    type=float,
    default=None,
    help=N_("Years of relevant experience."),
)
@click.option("--post", "posts", multiple=True, help=N_("A post to put them on (repeatable)."))
@click.option(
    "--scope",
    default=None,
    help=N_("The posts' scope: wechat,weibo or channels:..;applications:..;branch:.."),
)
@click.option(
    "--from",
    "starts_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=N_("First day of the posts (default today)."),
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
        filed = tr(
            "filed {person} ({name}) with {count} post(s)",
            person=person.person_id,
            name=person.row.name,
            count=len(person.posts),
        )
        click.echo(filed)


@staff_group.command(
    "show", help=N_("One person with their posts. Exits 2 when they are not in the register.")
)
@click.argument("person_id")
@_REVEAL
@_DB
@json_option
def staff_show(person_id: str, reveal: bool, db: str, as_json: bool) -> None:
    with _register(db, as_json) as register:
        person = register.person(person_id)
    if person is None:
        fail(Exit.USAGE, str(tr("{person} is not in the register", person=person_id)), as_json)
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
        table(["#", *(heading(h) for h in _POST_HEADINGS)], rows),
        nl=False,
    )


@staff_group.command(
    "list", help=N_("Everybody in the register (or the active ones, or a role's holders).")
)
@click.option("--active", is_flag=True, help=N_("Only people holding a post today."))
@click.option("--role", default=None, help=N_("Only the holders of this role today."))
@_REVEAL
@_DB
@json_option
def staff_list(active: bool, role: str | None, reveal: bool, db: str, as_json: bool) -> None:
    with _register(db, as_json) as register:
        if role is not None:
            people = register.holders(role)
        else:
            people = register.people(active_on=register.today() if active else None)
    _print_people(people, reveal, as_json)


@staff_group.command(
    "post",
    help=N_(
        "Put a person on a post (STF-2: a manager's post asks for a bachelor's degree "
        "and 3 years, a staff post an associate degree and 1 year). Exits 2 if refused."
    ),
)
@click.argument("person_id")
@click.argument("post")
@click.option(
    "--scope",
    default=None,
    help=N_("The post's scope: wechat,weibo or channels:..;applications:..;branch:.."),
)
@click.option(
    "--from",
    "starts_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=N_("First day (default today)."),
)
@click.option(
    "--until",
    "ends_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=N_("Last day, if known."),
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
            tr(
                "post #{id}: {person} is {post} from {day}",
                id=written.id,
                person=written.person_id,
                post=written.post,
                day=written.starts_on,
            )
        )


@staff_group.command(
    "end-post", help=N_("End a post: its role is no longer held from the next day.")
)
@click.argument("post_id", type=int)
@click.option(
    "--on",
    "ends_on",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=N_("Last day (default today)."),
)
@_ACTOR
@_DB
@json_option
def staff_end_post(
    post_id: int, ends_on: dt.datetime | None, actor_id: str, db: str, as_json: bool
) -> None:
    with _register(db, as_json) as register:
        ended = register.end_post(Actor(actor_id), post_id, ends_on.date() if ends_on else None)
    if as_json:
        emit_json({"id": ended.id, "ends_on": ended.ends_on})
    else:
        ends = tr(
            "post #{id} of {person} ends on {day}",
            id=ended.id,
            person=ended.person_id,
            day=ended.ends_on,
        )
        click.echo(ends)


@staff_group.command(
    "leave",
    help=N_(
        "Record a leave (STF-5): once it starts, the runner's pass moves the person's "
        "open tasks to --substitute (when they hold the post), else to the holder with "
        "the least open work."
    ),
)
@click.argument("person_id")
@click.option(
    "--from", "starts_on", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("First day.")
)
@click.option(
    "--to", "ends_on", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("Last day.")
)
@click.option("--substitute", default=None, help=N_("Who covers, a register person."))
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
    with _register(db, as_json) as register:
        leave = register.leave(
            Actor(actor_id), person_id, starts_on.date(), ends_on.date(), substitute
        )
    if as_json:
        emit_json(leave)
    else:
        cover = leave.substitute or tr("the least busy holder")
        on_leave = tr(
            "leave #{id}: {person} from {first} to {last}, covered by {cover}",
            id=leave.id,
            person=leave.person_id,
            first=leave.starts_on,
            last=leave.ends_on,
            cover=cover,
        )
        click.echo(on_leave)


@staff_group.command(
    "import",
    help=N_(
        "Import a roster (CSV in UTF-8, or XLSX; headings in Chinese or English): all "
        "rows or none. Problems are printed as FILE:ROW:COLUMN: CODE message, exit 1."
    ),
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_ACTOR
@_DB
@json_option
def staff_import(file: Path, actor_id: str, db: str, as_json: bool) -> None:
    with _register(db, as_json) as register:
        people = roster.import_file(register, Actor(actor_id), file)
    if as_json:
        emit_json({"imported": len(people), "people": [p.person_id for p in people]})
    else:
        posts = sum(len(p.posts) for p in people)
        click.echo(tr("imported {people} people, {posts} posts", people=len(people), posts=posts))


@staff_group.command(
    "export",
    help=N_(
        "The register as a roster CSV (UTF-8 with BOM, Chinese headings), to FILE or "
        "stdout; contact addresses masked unless --reveal."
    ),
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@_REVEAL
@_DB
def staff_export(file: Path | None, reveal: bool, db: str) -> None:
    with _register(db, False) as register:
        text = roster.write_csv(register.people(), reveal=reveal)
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")


@staff_group.command(
    "check",
    help=N_(
        "STF-3 now: raise a staffing_gap alert per account without a holder of a "
        "required post (posts.yaml `staffing`), close the alerts of gaps filled. The "
        "daemon runs the same check once a day. Needs the accounts and staffing_gap "
        "workflows loaded."
    ),
)
@engine_options
def staff_check(settings: Settings) -> None:
    from cmc_workflow.staff.staffing import StaffingCheck

    with settings.open_engine(need_workflows=True) as engine:
        found = [e for e in engine.extensions if isinstance(e, StaffingCheck)]
        if not found:
            fail(
                Exit.USAGE,
                str(tr("the staffing check needs the accounts and staffing_gap workflows loaded")),
                settings.as_json,
            )
        done = found[0].check_staffing()
    gaps = [{"gap": g.key, "account_id": g.account_id, "post": g.post.id} for g in done.gaps]
    if settings.as_json:
        emit_json({"gaps": gaps, "raised": list(done.raised), "closed": list(done.closed)})
        return
    for gap in done.gaps:
        post = Text(gap.post.id, gap.post.zh)
        click.echo(tr("gap: {account} has no {post}", account=gap.account_id, post=post))
    summary = tr(
        "{gaps} gap(s); raised {raised} alert(s), closed {closed}",
        gaps=len(done.gaps),
        raised=len(done.raised),
        closed=len(done.closed),
    )
    click.echo(summary)


COMMANDS = [staff_group]
