"""The staff register (STF-1): people, their posts, qualifications checked when someone is
put on a post (STF-2), contact addresses checked when filed and masked where shown
(SEC-3), every change audited on the hash-chained log (SEC-1).

One transaction per register change: the rows and the audit record of a change commit
together or not at all; a refused change writes only its audit record (outcome
``refused``, the rule's code). The record names no item, so it joins the actor's chain
(``actor:<id>``, anchored in ``audit_heads``); its detail carries the change with the
contact addresses masked. An import is one change: every row or none.

The register is the bundled identity source (:class:`~cmc_workflow.staff.identity.
RegisterIdentity`) and what the notifications and task operations of issue 14 read:
:meth:`Register.contacts` (a person's addresses, in clear, for a transport) and
:meth:`Register.holders` (who holds a role in a scope on a day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from cmc_workflow import inputs
from cmc_workflow.errors import ConflictError, RegisterRefused, StoreError
from cmc_workflow.i18n import Text, tr
from cmc_workflow.model import Actor, id_problem, normal_id
from cmc_workflow.staff import contacts
from cmc_workflow.staff.catalogue import EDUCATION, Catalogue, Post, bundled
from cmc_workflow.staff.identity import BUSINESS_TZ
from cmc_workflow.staff.words import EDUCATION_ZH, HEADINGS
from cmc_workflow.store.port import (
    AuditRecord,
    LeaveRow,
    NewLeave,
    NewPost,
    PersonRow,
    PostRow,
    StorePort,
    StoreTx,
)

SCOPE_KEYS = ("channels", "applications", "branch", "content_types", "review_stages")
"""What a post's scope may name: channels (or accounts), applications, a branch library,
and for a reviewer's review authority (审核权限, PUB-5) the content types and the review
stages (first_review, second_review) they may review."""


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class PersonEntry:
    """A person as given (by the API, the command line or a roster row), before checks."""

    name: str
    person_id: str = ""
    """The person's actor id; default: the employee number (工号)."""
    employee_no: str | None = None
    email: str | None = None
    mobile: str | None = None
    wecom: str | None = None
    dingtalk: str | None = None
    education: str | None = None
    experience_years: float | None = None
    joined_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class PostEntry:
    """A post to give a person: the post (id or label), its scope, its first and last day."""

    post: str
    scope: Mapping[str, Any] = field(default_factory=dict)
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    role: str | None = None
    """The role the roster names for it (checked against the post's role), if any."""


@dataclass(frozen=True, slots=True)
class Person:
    """A person of the register with their posts."""

    row: PersonRow
    posts: tuple[PostRow, ...]

    @property
    def person_id(self) -> str:
        return self.row.person_id

    def active_posts(self, day: dt.date) -> tuple[PostRow, ...]:
        """The posts held on ``day``."""
        return tuple(p for p in self.posts if p.active_on(day))

    def roles(self, day: dt.date) -> frozenset[str]:
        """The roles held on ``day``."""
        return frozenset(p.role for p in self.active_posts(day))

    def view(self, *, reveal: bool = False) -> dict[str, Any]:
        """A plain mapping for output; contact addresses masked unless ``reveal`` (SEC-3)."""
        row = self.row
        values: dict[str, Any] = {
            "person_id": row.person_id,
            "name": row.name,
            "employee_no": row.employee_no,
            **{f: getattr(row, f) for f in contacts.FIELDS},
            "education": row.education,
            "experience_years": row.experience_years,
            "joined_on": row.joined_on,
            "posts": [post_view(p) for p in self.posts],
        }
        return values if reveal else contacts.masked_contacts(values)


def post_view(post: PostRow) -> dict[str, Any]:
    """A post as a plain mapping."""
    return {
        "id": post.id,
        "post": post.post,
        "role": post.role,
        "scope": dict(post.scope),
        "starts_on": post.starts_on,
        "ends_on": post.ends_on,
    }


def refused(rule: str, reason: Text) -> RegisterRefused:
    """A register refusal (helper for the checks): ``reason`` from :func:`tr`."""
    return RegisterRefused(rule, *reason)


# -- checks (pure) ------------------------------------------------------------------------------
def checked_person(entry: PersonEntry, now: dt.datetime) -> PersonRow:
    """``entry`` as a row, or :class:`RegisterRefused` naming the first problem (the roster
    reader reports every problem of a row by its column, with :func:`person_problems`)."""
    row, problems = person_problems(entry, now)
    if problems:
        _field, rule, reason = problems[0]
        raise refused(rule, reason)
    assert row is not None
    return row


def person_problems(
    entry: PersonEntry, now: dt.datetime
) -> tuple[PersonRow | None, list[tuple[str, str, Text]]]:
    """The row of ``entry`` and every problem as ``(field, rule, reason)``."""
    problems: list[tuple[str, str, Text]] = []
    name = (entry.name or "").strip()
    if not name:
        heading = HEADINGS["name"][0]
        problems.append(
            ("name", "E-STAFF-NAME", tr("a person needs a name ({heading})", heading=heading))
        )
    raw_id = (entry.person_id or entry.employee_no or "").strip()
    person_id = ""
    if not raw_id:
        problems.append(
            (
                "person_id",
                "E-STAFF-ID",
                tr(
                    "a person needs an id: the employee number ({heading}) or an actor id",
                    heading=HEADINGS["employee_no"][0],
                ),
            )
        )
    else:
        why = id_problem(raw_id)
        if why is not None:
            problems.append(("person_id", "E-STAFF-ID", Text(why[1], why[2])))
        else:
            person_id = normal_id(raw_id)
    found: dict[str, str | None] = {}
    for name_ in contacts.FIELDS:
        value = getattr(entry, name_)
        if value is None or not str(value).strip():
            found[name_] = None
            continue
        good, why2 = contacts.checked(name_, str(value))
        if why2 is not None:
            problems.append((name_, "E-STAFF-ADDRESS", why2))
        found[name_] = good
    education = entry.education
    if education is not None and education not in EDUCATION:
        problems.append(
            (
                "education",
                "E-STAFF-EDUCATION",
                tr(
                    "education {value} is not one of {levels}",
                    value=repr(education),
                    levels=Text(", ".join(EDUCATION), "、".join(EDUCATION_ZH.values())),
                ),
            )
        )
    years = entry.experience_years
    if years is not None and not (0 <= years <= 80):
        problems.append(
            (
                "experience_years",
                "E-STAFF-YEARS",
                tr("years of experience {years} is not between 0 and 80", years=years),
            )
        )
    if problems:
        return None, problems
    row = PersonRow(
        person_id=person_id,
        name=name[:200],
        employee_no=(entry.employee_no or "").strip() or None,
        email=found["email"],
        mobile=found["mobile"],
        wecom=found["wecom"],
        dingtalk=found["dingtalk"],
        education=education,
        experience_years=years,
        joined_on=entry.joined_on,
        created_at=now,
        updated_at=now,
    )
    return row, []


def qualification_problem(person: PersonRow, post: Post) -> Text | None:
    """Why ``person`` may not be put on ``post`` (STF-2), or None."""
    level = post.level
    need_edu = EDUCATION.index(level.education)
    has_edu = EDUCATION.index(person.education) if person.education in EDUCATION else -1
    years = person.experience_years
    not_recorded = tr("not recorded")
    lacks: list[Text] = []
    if has_edu < need_edu:
        has = person.education
        shown = Text(has, EDUCATION_ZH.get(has, has)) if has else not_recorded
        needed = Text(level.education, EDUCATION_ZH[level.education])
        lacks.append(tr("education {level} or above (has: {shown})", level=needed, shown=shown))
    if years is None or years < level.years:
        if years is None:
            shown_y = not_recorded
        else:  # the English says "years" once, after the need: "(has: 1)"
            has_years = format(years, "g")
            shown_y = Text(has_years, tr("{years} years", years=has_years).zh)
        lacks.append(
            tr(
                "at least {years} years of relevant experience (has: {shown})",
                years=format(level.years, "g"),
                shown=shown_y,
            )
        )
    if not lacks:
        return None
    return tr(
        "{person} cannot be put on the post {post_id} ({post}): a {level}'s post asks for "
        "{needs} ({source}, STF-2)",
        person=person.person_id,
        post_id=post.id,
        post=Text(post.en, post.zh),
        level=Text(level.en.lower(), level.zh),
        needs=Text(" and ".join(t.en for t in lacks), "，".join(t.zh for t in lacks)),
        source=level.source,
    )


def checked_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """A post's scope as stored: ``channels`` and ``applications`` lists of ids,
    ``branch`` a name; an unknown key is refused."""
    out: dict[str, Any] = {}
    for key, value in scope.items():
        if key not in SCOPE_KEYS:
            raise refused(
                "E-STAFF-SCOPE",
                tr(
                    "a post's scope names {keys}, not {key}",
                    keys=", ".join(SCOPE_KEYS),
                    key=repr(key),
                ),
            )
        if key == "branch":
            text = str(value).strip() if value is not None else ""
            if text:
                out[key] = text[:200]
            continue
        values = [value] if isinstance(value, str) else list(value or [])
        cleaned = sorted({str(v).strip() for v in values if str(v).strip()})
        if cleaned:
            out[key] = cleaned
    return out


def covers(scope: Mapping[str, Any], key: str, *values: str) -> bool:
    """Whether a post's scope covers any of ``values`` under ``key`` (a scope that does
    not name ``key`` covers everything of it)."""
    held = scope.get(key)
    if not held:
        return True
    held_set = {held} if isinstance(held, str) else set(held)
    return any(v in held_set for v in values)


# -- the register -------------------------------------------------------------------------------
class Register:
    """The staff register over a store (SQL or memory).

    ``catalogue`` names the posts and what they ask for (default: the bundled
    ``posts.yaml``); ``clock`` stamps changes and gives "today" for posts (in the
    business time zone, Asia/Shanghai)."""

    def __init__(
        self,
        store: StorePort,
        *,
        catalogue: Catalogue | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.store = store
        self.catalogue = catalogue or bundled()
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------
    def today(self) -> dt.date:
        """The local day now."""
        return self.clock().astimezone(BUSINESS_TZ).date()

    def person(self, person_id: str) -> Person | None:
        """The person filed under ``person_id`` (compared as a person reads ids), or None."""
        with self.store.read() as tx:
            row = tx.person(normal_id(person_id))
            if row is None:
                return None
            return Person(row, tuple(tx.posts(row.person_id)))

    def people(self, *, active_on: dt.date | None = None) -> list[Person]:
        """Everybody, by id; with ``active_on``, only those holding a post that day."""
        with self.store.read() as tx:
            rows = tx.people()
            posts = tx.posts()
        by_person: dict[str, list[PostRow]] = {}
        for post in posts:
            by_person.setdefault(post.person_id, []).append(post)
        found = [Person(r, tuple(by_person.get(r.person_id, ()))) for r in rows]
        if active_on is not None:
            found = [p for p in found if p.active_posts(active_on)]
        return found

    def holders(self, role: str, *, on: dt.date | None = None, **scope: str) -> list[Person]:
        """The people holding ``role`` on ``on`` (default today) in a post whose scope
        covers each of ``scope`` (``channels="wechat"``, ``applications="app-7"``,
        ``branch="总馆"``): whom to tell or hand work to."""
        day = on or self.today()
        with self.store.read() as tx:
            posts = [
                p
                for p in tx.holders(role, day)
                if all(covers(p.scope, k, v) for k, v in scope.items())
            ]
            ids = sorted({p.person_id for p in posts})
            rows = [tx.person(i) for i in ids]
        return [
            Person(r, tuple(p for p in posts if p.person_id == r.person_id))
            for r in rows
            if r is not None
        ]

    def contacts(self, person_id: str) -> dict[str, str]:
        """A person's contact addresses in clear (for a transport that must reach them;
        show :meth:`Person.view` elsewhere): field -> address, only those filed."""
        found = self.person(person_id)
        if found is None:
            return {}
        return {f: v for f in contacts.FIELDS if (v := getattr(found.row, f)) is not None}

    # -- changes ---------------------------------------------------------------------------
    def add(self, actor: Actor, entry: PersonEntry, posts: Sequence[PostEntry] = ()) -> Person:
        """File a person (and give them ``posts``) in one transaction; a person already
        filed is refused (``E-STAFF-DUPLICATE``)."""
        now = self.clock()
        with self._change(actor, "staff.add", now) as (tx, detail):
            row = checked_person(entry, now)
            detail["person_id"] = row.person_id
            self._insert_person(tx, row)
            detail["person"] = _audited_person(row)
            written = [self._give_post(tx, row, p, now) for p in posts]
            detail["posts"] = [post_view(p) for p in written]
        return Person(row, tuple(written))

    def update(self, actor: Actor, person_id: str, **changes: Any) -> Person:
        """Change a person's name, contact addresses, education or years (checked as
        when filed). Re-checks nothing of posts already held."""
        now = self.clock()
        with self._change(actor, "staff.update", now) as (tx, detail):
            pid = normal_id(person_id)
            detail["person_id"] = pid
            current = self._require(tx, pid)
            allowed = {"name", "employee_no", "education", "experience_years", "joined_on"}
            unknown = set(changes) - allowed - set(contacts.FIELDS)
            if unknown:
                raise refused(
                    "E-STAFF-FIELD",
                    tr("a person has no changeable field {fields}", fields=sorted(unknown)),
                )
            entry = PersonEntry(
                **{
                    "name": current.name,
                    "person_id": pid,
                    "employee_no": current.employee_no,
                    **{f: getattr(current, f) for f in contacts.FIELDS},
                    "education": current.education,
                    "experience_years": current.experience_years,
                    "joined_on": current.joined_on,
                    **changes,
                }
            )
            row = checked_person(entry, now)
            values = {
                k: getattr(row, k)
                for k in (*allowed, *contacts.FIELDS)
                if getattr(row, k) != getattr(current, k)
            }
            tx.update_person(pid, {**values, "updated_at": now})
            detail["changes"] = contacts.masked_contacts(_plain(values))
            posts = tuple(tx.posts(pid))
        return Person(replace(row, created_at=current.created_at), posts)

    def post(self, actor: Actor, person_id: str, entry: PostEntry) -> PostRow:
        """Put a person on a post (STF-2 checked: ``E-STAFF-QUALIFICATION``)."""
        now = self.clock()
        with self._change(actor, "staff.post", now) as (tx, detail):
            pid = normal_id(person_id)
            detail["person_id"] = pid
            person = self._require(tx, pid)
            written = self._give_post(tx, person, entry, now)
            detail["post"] = post_view(written)
        return written

    def end_post(self, actor: Actor, post_id: int, ends_on: dt.date | None = None) -> PostRow:
        """Set a post's last day (default: today): the person no longer holds its role
        from the day after."""
        now = self.clock()
        day = ends_on or now.astimezone(BUSINESS_TZ).date()
        with self._change(actor, "staff.end-post", now) as (tx, detail):
            detail["post_id"] = post_id
            found = [p for p in tx.posts() if p.id == post_id]
            if not found:
                raise refused("E-STAFF-NO-POST", tr("there is no post {id}", id=post_id))
            post = found[0]
            if day < post.starts_on:
                raise refused(
                    "E-STAFF-DATES",
                    tr(
                        "post {id} starts on {starts}: it cannot end on {day}",
                        id=post_id,
                        starts=post.starts_on,
                        day=day,
                    ),
                )
            tx.end_post(post_id, day)
            detail["person_id"] = post.person_id
            detail["ends_on"] = day.isoformat()
        return replace(post, ends_on=day)

    def leave(
        self,
        actor: Actor,
        person_id: str,
        starts_on: dt.date,
        ends_on: dt.date,
        substitute: str | None = None,
    ) -> LeaveRow:
        """Record a leave (STF-5), first and last day included, with the person who covers
        (代班人; None: the holder of the post with the least open work). Once it starts,
        the runner's pass moves the person's open tasks (docs/how-to-tasks.md)."""
        now = self.clock()
        with self._change(actor, "staff.leave", now) as (tx, detail):
            pid = normal_id(person_id)
            sub = normal_id(substitute) if substitute is not None else None
            detail.update(
                person_id=pid,
                starts_on=starts_on.isoformat(),
                ends_on=ends_on.isoformat(),
                substitute=sub,
            )
            self._require(tx, pid)
            if ends_on < starts_on:
                raise refused(
                    "E-STAFF-DATES",
                    tr(
                        "the leave ends on {ends}, before it starts on {starts}",
                        ends=ends_on,
                        starts=starts_on,
                    ),
                )
            if sub is not None and (sub == pid or tx.person(sub) is None):
                raise refused(
                    "E-STAFF-SUBSTITUTE",
                    tr(
                        "the substitute {substitute} must be another person of the register",
                        substitute=substitute,
                    ),
                )
            new = NewLeave(pid, starts_on, ends_on, sub, now)
            leave_id = tx.insert_leave(new)
            detail["leave_id"] = leave_id
        return LeaveRow(
            id=leave_id, covered_at=None, **{k: getattr(new, k) for k in NewLeave.__slots__}
        )

    def leaves(self, person_id: str | None = None) -> list[LeaveRow]:
        """The leaves recorded (of one person), oldest first."""
        with self.store.read() as tx:
            return tx.leaves(normal_id(person_id) if person_id is not None else None)

    def import_people(
        self,
        actor: Actor,
        rows: Sequence[tuple[PersonEntry, Sequence[PostEntry]]],
        *,
        source: str = "",
    ) -> list[Person]:
        """File every person of ``rows`` with their posts, all in one transaction: any
        refusal (a duplicate, an unknown post, a qualification) imports nothing. The
        roster reader (:mod:`cmc_workflow.staff.roster`) reports a bad row by row and
        column before it gets here."""
        now = self.clock()
        done: list[Person] = []
        with self._change(actor, "staff.import", now) as (tx, detail):
            detail["source"] = source
            for entry, posts in rows:
                row = checked_person(entry, now)
                self._insert_person(tx, row)
                written = [self._give_post(tx, row, p, now) for p in posts]
                done.append(Person(row, tuple(written)))
            detail["people"] = [p.person_id for p in done]
            detail["posts"] = sum(len(p.posts) for p in done)
        return done

    # -- inside a change ---------------------------------------------------------------------
    def _insert_person(self, tx: StoreTx, row: PersonRow) -> None:
        if tx.person(row.person_id) is not None:
            raise refused(
                "E-STAFF-DUPLICATE",
                tr(
                    "{id} is already in the register: change them with `staff post`/the "
                    "API's update, or give the new person another id",
                    id=row.person_id,
                ),
            )
        tx.insert_person(row)

    def _require(self, tx: StoreTx, person_id: str) -> PersonRow:
        row = tx.person(person_id)
        if row is None:
            raise refused(
                "E-STAFF-UNKNOWN",
                tr("{id} is not in the register (add them first: `staff add`)", id=person_id),
            )
        return row

    def find_post(self, text: str) -> Post:
        """The catalogue's post named ``text``, or ``E-STAFF-POST``."""
        post = self.catalogue.find(text)
        if post is None:
            known = ", ".join(f"{p.id} ({p.zh})" for p in self.catalogue.posts.values())
            raise refused(
                "E-STAFF-POST",
                tr("there is no post {name}; posts: {known}", name=repr(text), known=known),
            )
        return post

    def _give_post(
        self, tx: StoreTx, person: PersonRow, entry: PostEntry, now: dt.datetime
    ) -> PostRow:
        post = self.find_post(entry.post)
        if entry.role is not None and entry.role.strip() and entry.role.strip() != post.role:
            raise refused(
                "E-STAFF-ROLE",
                tr(
                    "the post {post} holds the role {role}, not {given}",
                    post=Text(post.id, post.zh),
                    role=post.role,
                    given=repr(entry.role),
                ),
            )
        why = qualification_problem(person, post)
        if why is not None:
            raise refused("E-STAFF-QUALIFICATION", why)
        starts = entry.starts_on or now.astimezone(BUSINESS_TZ).date()
        if entry.ends_on is not None and entry.ends_on < starts:
            raise refused(
                "E-STAFF-DATES",
                tr(
                    "a post cannot end ({ends}) before it starts ({starts})",
                    ends=entry.ends_on,
                    starts=starts,
                ),
            )
        new = NewPost(
            person_id=person.person_id,
            post=post.id,
            role=post.role,
            scope=checked_scope(entry.scope),
            starts_on=starts,
            ends_on=entry.ends_on,
            created_at=now,
        )
        post_id = tx.insert_post(new)
        return PostRow(id=post_id, **{k: getattr(new, k) for k in NewPost.__slots__})

    @contextmanager
    def _change(
        self, actor: Actor, command: str, now: dt.datetime
    ) -> Iterator[tuple[StoreTx, dict[str, Any]]]:
        """One register change: its writes and its audit record in one transaction; a
        refusal is audited in a transaction of its own and raised."""
        who = inputs.admitted(actor)  # an id as a person reads it; never `system`
        detail: dict[str, Any] = {}
        try:
            with self.store.write() as tx:
                yield tx, detail
                tx.insert_audit(_record(who, command, "accepted", now, detail))
        except RegisterRefused as exc:
            detail["reason_zh"] = exc.reason_zh
            with self.store.write() as tx:
                tx.insert_audit(
                    _record(
                        who, command, "refused", now, detail, rule=exc.rule, reason=exc.reason_en
                    )
                )
            raise
        except ConflictError as exc:  # a person filed by someone else meanwhile
            raise refused(
                "E-STAFF-DUPLICATE",
                tr(
                    "the register changed meanwhile ({error}); nothing was written, try again",
                    error=exc,
                ),
            ) from exc
        except StoreError:
            raise


def _record(
    actor: Actor,
    command: str,
    outcome: str,
    now: dt.datetime,
    detail: Mapping[str, Any],
    *,
    rule: str | None = None,
    reason: str | None = None,
) -> AuditRecord:
    return AuditRecord(
        at=now,
        actor=actor.id,
        roles=sorted(actor.roles),
        command=command,
        workflow_id=None,
        item_id=None,
        trigger=None,
        outcome=outcome,
        rule=rule,
        reason=reason,
        detail=_plain(dict(detail)),
    )


def _audited_person(row: PersonRow) -> dict[str, Any]:
    """A person as the audit detail holds them: contact addresses masked (SEC-3)."""
    values = {
        "name": row.name,
        "employee_no": row.employee_no,
        **{f: getattr(row, f) for f in contacts.FIELDS},
        "education": row.education,
        "experience_years": row.experience_years,
        "joined_on": row.joined_on,
    }
    return contacts.masked_contacts(_plain(values))


def _plain(value: Any) -> Any:
    """Dates as ISO text, so that the audit detail is plain JSON."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def roles_of(posts: Iterable[PostRow], day: dt.date) -> frozenset[str]:
    """The roles ``posts`` give on ``day``."""
    return frozenset(p.role for p in posts if p.active_on(day))
