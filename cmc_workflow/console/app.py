"""The web console's pages: a Starlette application mounted by the HTTP API at
``/console`` (:func:`create_console`), server-rendered with Jinja2, in the language the
person chose with the language switch (a cookie), else the one their browser asks for
(``Accept-Language``), else Chinese.

Every page but sign-in needs a session (:mod:`.sessions`); every form POST carries the
session's CSRF token (sign-in: a double-submit cookie) and, when the browser sends one,
an ``Origin`` of this host. Actions go through :meth:`Engine.fire` as the signed-in person
with the roles the staff register gives them, and so do the task operations (claim,
unclaim, delegate, hand back, reassign: :meth:`Engine.claim` and the others); a refusal is
shown with its rule and reason in the person's language. The console decides nothing
itself: it offers a form only to whom the engine could accept it from, and the engine
judges what is posted again.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from cmc_workflow.api.guards import FailureLimiter
from cmc_workflow.api.problems import language as accepted_language
from cmc_workflow.api.problems import problem_of
from cmc_workflow.api.shapes import zh_reason
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.console import sessions
from cmc_workflow.console.svg import bar_chart, workflow_svg
from cmc_workflow.console.texts import LANGS, Lang, text, text_of
from cmc_workflow.definition.models import FieldSpec
from cmc_workflow.engine import Engine
from cmc_workflow.engine.tasks import OPS, business_day, lead_roles, on_leave
from cmc_workflow.errors import CmcWorkflowError, ItemNotFound
from cmc_workflow.i18n import N_, Text, joined, tr
from cmc_workflow.log import get_logger
from cmc_workflow.model import Actor, Item, normal_id
from cmc_workflow.store.port import ConsoleSessionRow

__all__ = ["LANG_COOKIE", "create_console"]

log = get_logger("cmc_workflow.console")

HERE = Path(__file__).parent
LANG_COOKIE = "cmc_lang"
PRE_CSRF = "cmc_csrf"
"""The sign-in form's double-submit cookie (there is no session yet)."""
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_NOT_YOURS = frozenset({"NotPermitted", "InvalidTrigger", "closed"})
"""Refusals for which the console offers no form: the step is not the person's at all."""
_LIST_SPLIT = re.compile(r"[,，、;\n]+")


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


class _Refused(Exception):
    """A form refused before the engine saw it (CSRF, origin): 403 with the reason."""

    def __init__(self, key: str) -> None:
        self.key = key


def create_console(
    engine: Engine,
    *,
    calendar: WorkingCalendar | None = None,
    compliance: Callable[[], dict[str, Any]] | None = None,
    failures: FailureLimiter | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """The console over ``engine``; ``compliance`` builds the compliance matrix document;
    ``failures`` limits failed sign-ins per client address (shared with the API's token
    failures when the API passes its own); ``secure_cookies`` marks the cookies
    ``Secure`` (behind HTTPS)."""
    limiter = failures or FailureLimiter()
    # the search's days are local days of the calendar's zone (Asia/Shanghai by default),
    # as the API's report reads its dates
    zone = (calendar or WorkingCalendar()).settings.tz
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    matrix_cache: list[dict[str, Any]] = []
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @console.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # a page is in the browser's language until the person chooses one
        response.headers.setdefault("Vary", "Accept-Language, Cookie")
        return response

    # -- language, pages, errors -----------------------------------------------------------
    def lang_of(request: Request) -> Lang:
        """The language the person chose (the switch's cookie), else the one their
        browser asks for first (``Accept-Language``), else Chinese."""
        chosen = request.cookies.get(LANG_COOKIE)
        for lang in LANGS:
            if chosen == lang:
                return lang
        return accepted_language(request.headers.get("accept-language"))

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def page(
        request: Request,
        name: str,
        status: int = 200,
        *,
        session: ConsoleSessionRow | None = None,
        actor: Actor | None = None,
        **values: Any,
    ) -> HTMLResponse:
        lang = lang_of(request)
        values.setdefault("here", request.url.path)
        html = templates.get_template(name).render(
            t=lambda key: text(key, lang),
            lang=lang,
            base=base(request),
            path=request.url.path,
            session=session,
            actor=actor,
            role_names=role_names,
            when=lambda moment: _when(moment, lang),
            status_text=lambda status: status_text(status, lang),
            show=lambda value: _show(value, lang),
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def role_names(roles: frozenset[str] | tuple[str, ...], lang: Lang) -> str:
        listed = joined(sorted(roles))
        return (listed.zh if lang == "zh" else listed.en) or text("none", lang)

    @console.exception_handler(_Redirect)
    async def redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Redirect)
        return RedirectResponse(exc.to, status_code=303)

    @console.exception_handler(_Refused)
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return page(request, "message.html", 403, message=text(exc.key, lang_of(request)))

    @console.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        lang = lang_of(request)
        message = text("not_found", lang) if exc.status_code == 404 else str(exc.detail)
        return page(request, "message.html", exc.status_code, message=message)

    # -- who is signed in ------------------------------------------------------------------
    def signed_in(request: Request) -> tuple[ConsoleSessionRow, Actor]:
        session = sessions.session_of(engine, request.cookies.get(sessions.COOKIE))
        if session is None:
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            raise _Redirect(f"{base(request)}/sign-in?next={target}")
        return session, sessions.actor_of(engine, session.person_id)

    Who = Annotated[tuple[ConsoleSessionRow, Actor], Depends(signed_in)]

    async def form_of(request: Request) -> dict[str, list[str]]:
        """The posted form (``application/x-www-form-urlencoded``; the API's body limit
        bounds it), after the origin check."""
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            host = request.headers.get("host", "")
            if urlsplit(origin).netloc != host:
                raise _Refused("csrf_failed")
        body = (await request.body()).decode("utf-8", "replace")
        return parse_qs(body, keep_blank_values=True, max_num_fields=500)

    Form = Annotated[dict[str, list[str]], Depends(form_of)]

    def check_csrf(form: Mapping[str, list[str]], expected: str | None) -> None:
        if not sessions.same_token(_one(form, "csrf"), expected):
            raise _Refused("csrf_failed")

    def safe_next(request: Request, value: str | None) -> str:
        start = base(request) + "/"
        if value and value.startswith(start) and not value.startswith("//"):
            return value
        return f"{base(request)}/tasks"

    def set_cookie(
        request: Request, response: Response, name: str, value: str, max_age: int | None
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=base(request) or "/",
            httponly=True,
            samesite="strict",
            # behind a TLS proxy uvicorn takes the scheme from X-Forwarded-Proto
            secure=secure_cookies or request.url.scheme == "https",
        )

    # -- routes: sign-in and out, language -------------------------------------------------
    @console.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        return RedirectResponse(f"{base(request)}/tasks", status_code=303)

    @console.get("/lang/{to}", include_in_schema=False)
    def switch_language(request: Request, to: str, next: str | None = None) -> Response:
        response = RedirectResponse(safe_next(request, next), status_code=303)
        set_cookie(request, response, LANG_COOKIE, "en" if to == "en" else "zh", 365 * 24 * 3600)
        return response

    def sign_in_page(
        request: Request, next: str | None, error: str | None, status: int = 200
    ) -> Response:
        token = secrets.token_urlsafe(24)
        response = page(
            request, "sign_in.html", status, csrf=token, next=safe_next(request, next), error=error
        )
        set_cookie(request, response, PRE_CSRF, token, 3600)
        return response

    @console.get("/sign-in", include_in_schema=False)
    def sign_in_form(request: Request, next: str | None = None) -> Response:
        return sign_in_page(request, next, None)

    @console.post("/sign-in", include_in_schema=False)
    def sign_in(request: Request, form: Form) -> Response:
        lang = lang_of(request)
        check_csrf(form, request.cookies.get(PRE_CSRF))
        address = request.client.host if request.client else "unknown"
        next_page = _one(form, "next")
        if limiter.blocked(address) is not None:
            sessions.refuse_limited(engine, address)
            return sign_in_page(request, next_page, text("too_many", lang), 429)
        outcome = sessions.sign_in(
            engine, _one(form, "person") or "", _one(form, "password") or "", address
        )
        if outcome.session is None or outcome.secret is None:
            limiter.failed(address)
            error = outcome.reason_zh if lang == "zh" else outcome.reason_en
            return sign_in_page(request, next_page, f"{error} ({outcome.rule})", 401)
        response = RedirectResponse(safe_next(request, next_page), status_code=303)
        set_cookie(
            request, response, sessions.COOKIE, outcome.secret, sessions.SESSION_HOURS * 3600
        )
        response.delete_cookie(PRE_CSRF, path=base(request) or "/")
        return response

    @console.post("/sign-out", include_in_schema=False)
    def sign_out(request: Request, form: Form, who: Who) -> Response:
        session, _ = who
        check_csrf(form, session.csrf)
        sessions.sign_out(engine, session)
        response = RedirectResponse(f"{base(request)}/sign-in", status_code=303)
        response.delete_cookie(sessions.COOKIE, path=base(request) or "/")
        return response

    # -- routes: work ----------------------------------------------------------------------
    def listed(items: list[Item], lang: Lang) -> list[dict[str, Any]]:
        return [_row(engine, i, lang) for i in items]

    @console.get("/tasks", include_in_schema=False)
    def tasks(request: Request, who: Who) -> Response:
        session, actor = who
        lang = lang_of(request)
        mine, queue = engine.my_tasks(actor)
        return page(
            request,
            "tasks.html",
            session=session,
            actor=actor,
            mine=listed(mine, lang),
            queue=listed(queue, lang),
        )

    @console.get("/search", include_in_schema=False)
    def search(
        request: Request,
        who: Who,
        q: str = "",
        workflow: str = "",
        state: str = "",
        overdue: str = "",
        open: str = "",
        created_from: str = "",
        created_until: str = "",
        cursor: str | None = None,
    ) -> Response:
        session, actor = who
        lang = lang_of(request)
        error = None
        status = 200
        found: list[dict[str, Any]] = []
        next_cursor = None
        try:
            since, until = _day_range(created_from, created_until, zone)
            result = engine.query(
                actor=actor,
                workflow=workflow or None,
                states=[state] if state else (),
                overdue=bool(overdue),
                open=True if open else None,
                title=q.strip() or None,
                created_from=since,
                created_until=until,
                sort="updated_at",
                descending=True,
                limit=25,
                cursor=cursor or None,
            )
            found = listed(result.items, lang)
            next_cursor = result.next_cursor
        except _BadDate as bad:  # the form comes back with the message; nothing is asked
            status, error = 422, bad.text.zh if lang == "zh" else bad.text.en
        except CmcWorkflowError as exc:
            error = _problem_text(exc, lang)
        return page(
            request,
            "search.html",
            status,
            session=session,
            actor=actor,
            q=q,
            workflow=workflow,
            state=state,
            overdue=overdue,
            open=open,
            created_from=created_from,
            created_until=created_until,
            workflows=[
                (w, _label(engine.workflow(w).definition.label, lang, w)) for w in engine.workflows
            ],
            found=found,
            next_cursor=next_cursor,
            error=error,
        )

    def item_page(
        request: Request,
        session: ConsoleSessionRow,
        actor: Actor,
        item_id: int,
        *,
        status: int = 200,
        error: dict[str, str] | None = None,
        done: str | None = None,
    ) -> Response:
        lang = lang_of(request)
        try:
            item = engine.get(item_id, actor=actor)
        except ItemNotFound:
            raise StarletteHTTPException(404) from None
        definition = engine.workflow(item.workflow).definition
        state = definition.states.get(item.state)
        actions = []
        blocked = []
        for a in engine.allowed(item.id, actor):
            if a.allowed:
                actions.append(
                    {
                        "trigger": a.trigger,
                        "label": _transition_label(definition, item.state, a.trigger, lang)
                        or a.label
                        or a.trigger,
                        "fields": _fields(definition, item.state, a.trigger, lang),
                    }
                )
            else:
                zh = list(a.reasons_zh) + [""] * (len(a.reasons) - len(a.reasons_zh))
                blocked.append(
                    {
                        "trigger": a.trigger,
                        "label": _transition_label(definition, item.state, a.trigger, lang)
                        or a.trigger,
                        # a person of the step's roles may still send it: the engine
                        # judges it again and answers with its rule
                        "fields": _fields(definition, item.state, a.trigger, lang),
                        "tryable": not set(a.rules) & _NOT_YOURS,
                        "reasons": [
                            {
                                "rule": rule,
                                "text": (z or zh_reason(rule, en)) if lang == "zh" else en,
                            }
                            for rule, en, z in zip(a.rules, a.reasons, zh, strict=False)
                        ],
                    }
                )
        mine, queue = engine.my_tasks(actor)
        task = (
            "queue"
            if any(i.id == item.id for i in queue)
            else "mine"
            if any(i.id == item.id for i in mine)
            else None
        )
        offered = _task_offers(engine, item, actor)
        history = [
            {
                "seq": h.seq,
                "at": h.at,
                "trigger": _transition_label(definition, h.from_state, h.trigger, lang)
                if h.trigger and h.from_state
                else (h.trigger or h.kind),
                "from": _state_label(definition, h.from_state, lang),
                "to": _state_label(definition, h.to_state, lang),
                "actor": h.actor,
                "form": dict(h.form),
            }
            for h in engine.history(item.id, actor=actor)
        ]
        return page(
            request,
            "item.html",
            status,
            session=session,
            actor=actor,
            item=item,
            workflow_label=_label(definition.label, lang, item.workflow),
            state_label=_label(state.label if state else None, lang, item.state),
            data=[
                (_label(definition.data[k].label if k in definition.data else None, lang, k), v)
                for k, v in item.data.items()
            ],
            diagram=workflow_svg(definition, item.state, lang),
            clocks=_clocks(engine, item.id, definition, lang),
            history=history,
            actions=actions,
            blocked=blocked,
            error=error,
            done=text(done, lang) if done in OPS else done,  # a task operation's own text
            task=task,
            offered=offered,
            here=f"{base(request)}/items/{item.id}",
        )

    @console.get("/items/{item_id}", include_in_schema=False)
    def item(request: Request, item_id: int, who: Who, done: str | None = None) -> Response:
        session, actor = who
        return item_page(request, session, actor, item_id, done=done)

    @console.post("/items/{item_id}/fire", include_in_schema=False)
    def fire(request: Request, item_id: int, form: Form, who: Who) -> Response:
        session, actor = who
        check_csrf(form, session.csrf)
        lang = lang_of(request)
        trigger = _one(form, "trigger") or ""
        try:
            version = int(_one(form, "version") or "")
        except ValueError:
            version = None
        try:
            item = engine.get(item_id, actor=actor)
            definition = engine.workflow(item.workflow).definition
            specs = _specs(definition, item.state, trigger)
            data = _form_data(form, specs)
            engine.fire(item_id, trigger, actor=actor, data=data, expected_version=version)
        except ItemNotFound:
            raise StarletteHTTPException(404) from None
        except CmcWorkflowError as exc:
            problem = problem_of(exc)
            rule = str(problem.extra.get("rule") or problem.code)
            log.info("console_refused", item_id=item_id, trigger=trigger, rule=rule)
            error = {
                "title": problem.title.zh if lang == "zh" else problem.title.en,
                "rule": rule,
                "reason": _problem_text(exc, lang),
            }
            return item_page(request, session, actor, item_id, status=problem.status, error=error)
        return RedirectResponse(
            f"{base(request)}/items/{item_id}?done={quote(trigger)}", status_code=303
        )

    @console.post("/items/{item_id}/task", include_in_schema=False)
    def task_operation(request: Request, item_id: int, form: Form, who: Who) -> Response:
        """A task operation on the item (``op``): claim it from the queue or put it back,
        delegate it (``to``) or hand a delegated one back, or, as a lead, reassign it
        (``to``): :meth:`Engine.claim` and the others, which judge and audit it."""
        session, actor = who
        check_csrf(form, session.csrf)
        lang = lang_of(request)
        operation = _one(form, "op")
        to = (_one(form, "to") or "").strip()
        try:
            if operation == "claim":
                engine.claim(item_id, actor=actor)
            elif operation == "unclaim":
                engine.unclaim(item_id, actor=actor)
            elif operation == "delegate":
                engine.delegate(item_id, to, actor=actor)
            elif operation == "hand_back":
                engine.hand_back(item_id, actor=actor)
            elif operation == "reassign":
                engine.reassign(item_id, to, actor=actor)
            else:
                raise StarletteHTTPException(404)
        except ItemNotFound:
            raise StarletteHTTPException(404) from None
        except CmcWorkflowError as exc:
            problem = problem_of(exc)
            error = {
                "title": problem.title.zh if lang == "zh" else problem.title.en,
                "rule": str(problem.extra.get("rule") or problem.code),
                "reason": _problem_text(exc, lang),
            }
            log.info("console_refused", item_id=item_id, op=operation, rule=error["rule"])
            return item_page(request, session, actor, item_id, status=problem.status, error=error)
        return RedirectResponse(
            f"{base(request)}/items/{item_id}?done={operation}", status_code=303
        )

    # -- routes: dashboard and compliance --------------------------------------------------
    @console.get("/dashboard", include_in_schema=False)
    def dashboard(request: Request, who: Who) -> Response:
        session, actor = who
        lang = lang_of(request)
        from cmc_workflow.reports import build_report, report_document

        document = report_document(
            build_report(
                engine,
                sections=("items", "sla", "overdue", "publications"),
                calendar=calendar,
            )
        )
        charts = _charts(engine, document["sections"], lang)
        return page(request, "dashboard.html", session=session, actor=actor, charts=charts)

    @console.get("/compliance", include_in_schema=False)
    def compliance_page(request: Request, who: Who) -> Response:
        session, actor = who
        if compliance is None:
            raise StarletteHTTPException(404)
        if not matrix_cache:
            matrix_cache.append(compliance())
        matrix = matrix_cache[0]
        return page(
            request,
            "compliance.html",
            session=session,
            actor=actor,
            summary=matrix["summary"],
            requirements=matrix["requirements"],
        )

    return console


# -- helpers -----------------------------------------------------------------------------


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


_DAY = dt.timedelta(days=1)


class _BadDate(Exception):
    """A date of the search form that is not one (its message in both languages)."""

    def __init__(self, text: Text) -> None:
        self.text = text


def _day_range(
    first: str, last: str, zone: dt.tzinfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The search's ``created from``/``until`` days (``YYYY-MM-DD``, both included, local
    days of ``zone``) as the engine's half-open range: midnight of the first day, midnight
    after the last."""
    days: list[dt.date | None] = []
    for key, value in (("created_from", first.strip()), ("created_until", last.strip())):
        try:
            days.append(dt.date.fromisoformat(value) if value else None)
        except ValueError:
            field = Text(text(key, "en"), text(key, "zh"))
            raise _BadDate(
                tr(
                    "{field}: {value} is not a date; write it as YYYY-MM-DD",
                    field=field,
                    value=repr(value),
                )
            ) from None
    since, until = days
    if since is not None and until is not None and until < since:
        raise _BadDate(
            tr(
                "the last day ({until}) is before the first ({since})",
                until=until.isoformat(),
                since=since.isoformat(),
            )
        )
    start = None if since is None else dt.datetime.combine(since, dt.time(), zone)
    end = None if until is None else dt.datetime.combine(until + _DAY, dt.time(), zone)
    return start, end


def _task_offers(engine: Engine, item: Item, actor: Actor) -> dict[str, Any]:
    """The task operations beyond claim and unclaim the page offers ``actor`` on ``item``:
    ``delegate`` and ``reassign``, the people the form may name (those the staff register
    gives a role of the state today, not on leave: whom the engine would accept), empty
    when the form is not the person's to use; ``hand_back``, who delegated the task to
    them (None: nobody did); ``assignee``, who holds it now."""
    offers: dict[str, Any] = {"delegate": [], "reassign": [], "hand_back": None, "assignee": None}
    if not item.is_open:
        return offers
    wf = engine.workflow(item.workflow)
    if item.state not in wf.definition.states or wf.state(item.state).type != "userTask":
        return offers
    roles = frozenset(role for edge in wf.edges(item.state) for role in edge.roles)
    lead = bool(actor.roles & lead_roles(engine.extensions, item.workflow))
    person = normal_id(actor.id)
    day = business_day(engine.clock())
    with engine.store.read() as tx:
        held = tx.assignment(item.id)
        if held is not None and (held.state, held.visit) != (item.state, item.visit):
            held = None  # made in an earlier visit of the state: void
        holds = held is not None and held.assignee == person and bool(actor.roles & roles)
        if not (holds or lead):
            return offers
        people: list[tuple[str, str]] = []
        for who in sorted({p.person_id for role in roles for p in tx.holders(role, day)}):
            row = tx.person(who)
            if not on_leave(tx, who, day):
                people.append((who, row.name if row is not None else who))
    assignee = held.assignee if held is not None else None
    offers["assignee"] = assignee
    if holds and held is not None:
        offers["delegate"] = [p for p in people if p[0] != person]
        offers["hand_back"] = held.delegated_by
    if lead:
        offers["reassign"] = [p for p in people if p[0] != assignee]
    return offers


def _label(label: Any, lang: Lang, fallback: str) -> str:
    if label is None:
        return fallback
    return str(label.zh if lang == "zh" else label.en)


def _when(moment: dt.datetime | None, lang: Lang) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return local.strftime("%Y-%m-%d %H:%M")


def _state_label(definition: Any, state: str | None, lang: Lang) -> str:
    if state is None:
        return ""
    found = definition.states.get(state)
    return _label(found.label if found else None, lang, state)


def _transitions(definition: Any, state: str | None, trigger: str | None) -> list[Any]:
    found = definition.states.get(state) if state else None
    if found is None or trigger is None:
        return []
    return [t for t in found.transitions if t.trigger == trigger]


def _transition_label(definition: Any, state: str | None, trigger: str | None, lang: Lang) -> str:
    for t in _transitions(definition, state, trigger):
        if t.label is not None:
            return _label(t.label, lang, trigger or "")
    return trigger or ""


def _specs(definition: Any, state: str, trigger: str) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for t in _transitions(definition, state, trigger):
        for name, spec in (t.form or {}).items():
            specs.setdefault(name, spec)
    return specs


def _fields(definition: Any, state: str, trigger: str, lang: Lang) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": spec.type,
            "label": _label(spec.label, lang, name),
            "required": spec.required,
            "choices": spec.choices or [],
        }
        for name, spec in _specs(definition, state, trigger).items()
    ]


def _form_data(form: Mapping[str, list[str]], specs: Mapping[str, FieldSpec]) -> dict[str, Any]:
    """The posted form as the transition's form declares it (the engine checks it)."""
    data: dict[str, Any] = {}
    for name, spec in specs.items():
        key = f"f.{name}"
        values = form.get(key, [])
        if spec.type == "boolean":
            data[name] = bool(values) and values[-1] in ("on", "true", "1", "yes")
            continue
        if spec.type == "list":
            if spec.choices:
                chosen = [v for v in values if v]
            else:
                chosen = [v.strip() for v in _LIST_SPLIT.split(values[-1] if values else "")]
                chosen = [v for v in chosen if v]
            if chosen or spec.required:
                data[name] = chosen
            continue
        raw = (values[-1] if values else "").strip()
        if not raw:
            if spec.required:
                data[name] = raw
            continue
        if spec.type == "integer":
            try:
                data[name] = int(raw)
            except ValueError:
                data[name] = raw
        elif spec.type == "number":
            try:
                data[name] = float(raw)
            except ValueError:
                data[name] = raw
        else:
            data[name] = raw
    return data


def _show(value: Any, lang: Lang) -> str:
    """A value of an item's data or a form as a person reads it."""
    if value is True or value is False:
        return text("yes" if value else "no", lang)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        listed = joined(_show(v, lang) for v in value)
        return listed.zh if lang == "zh" else listed.en
    return str(value)


def _problem_text(exc: CmcWorkflowError, lang: Lang) -> str:
    problem = problem_of(exc)
    return (problem.detail.zh or problem.detail.en) if lang == "zh" else problem.detail.en


def _row(engine: Engine, item: Item, lang: Lang) -> dict[str, Any]:
    definition = engine.workflow(item.workflow).definition
    return {
        "id": item.id,
        "title": str(item.data.get("title") or item.data.get("subject") or f"#{item.id}"),
        "workflow": _label(definition.label, lang, item.workflow),
        "state": _state_label(definition, item.state, lang),
        "updated": item.updated_at,
    }


def _clocks(engine: Engine, item_id: int, definition: Any, lang: Lang) -> list[dict[str, Any]]:
    from cmc_workflow.clocks import Clocks

    for extension in engine.extensions:
        if isinstance(extension, Clocks):
            return [
                {
                    "state": _state_label(definition, c.state, lang),
                    "within": c.within,
                    "started": c.started_at,
                    "due": c.due_at,
                    "status": c.status,
                    "provisional": c.provisional,
                }
                for c in extension.clocks(item_id)
            ]
    return []


_STATUS = {
    "running": N_("running"),
    "warning": N_("warning"),
    "paused": N_("paused"),
    "breached": N_("breached"),
    "met": N_("met"),
}
"""A clock's status as a person reads it (its English is the status itself)."""


def _charts(engine: Engine, sections: Mapping[str, Any], lang: Lang) -> list[dict[str, str]]:
    def say(key: str) -> str:
        return text(key, lang)

    def wf_label(workflow_id: str) -> str:
        try:
            return _label(engine.workflow(workflow_id).definition.label, lang, workflow_id)
        except CmcWorkflowError:
            return workflow_id

    sla = [r for r in sections.get("sla", []) if r["met"] or r["breached"] or r["running"]]
    sla_chart = bar_chart(
        say("sla_by_month"),
        [f"{r['month']}\n{wf_label(r['workflow'])}" for r in sla],
        [(say("met"), [r["met"] for r in sla]), (say("breached"), [r["breached"] for r in sla])],
        empty=say("no_data"),
    )
    open_rows = [r for r in sections.get("items", []) if r["open"]]
    open_chart = bar_chart(
        say("open_by_state"),
        [
            f"{wf_label(r['workflow'])}\n{r['label'] if lang == 'zh' else r['state']}"
            for r in open_rows
        ],
        [(say("open_by_state"), [r["open"] for r in open_rows])],
        empty=say("no_data"),
    )
    overdue = list(sections.get("overdue", []))
    overdue_chart = bar_chart(
        say("overdue_by_person"),
        [str(r["owner"]) for r in overdue],
        [(say("overdue_by_person"), [r["items"] for r in overdue])],
        empty=say("no_data"),
    )
    publications = list(sections.get("publications", []))
    channels = sorted({r["channel"] for r in publications})
    months = sorted({r["month"] for r in publications})
    counts = {(r["month"], r["channel"]): r["publications"] for r in publications}
    publication_chart = bar_chart(
        say("publications"),
        channels,
        [(m, [counts.get((m, c), 0) for c in channels]) for m in months],
        empty=say("no_data"),
    )
    return [
        {"id": "sla", "title": say("sla_by_month"), "svg": sla_chart},
        {"id": "open", "title": say("open_by_state"), "svg": open_chart},
        {"id": "overdue", "title": say("overdue_by_person"), "svg": overdue_chart},
        {"id": "publications", "title": say("publications"), "svg": publication_chart},
    ]


def status_text(status: str, lang: Lang) -> str:
    """A clock's status in ``lang``."""
    return text_of(_STATUS[status], lang) if status in _STATUS else status
