"""The HTTP API's application: one FastAPI app over one :class:`Engine`.

:func:`create_app` builds it; ``cmc-workflow serve`` runs it under uvicorn. Every route
is a plain ``def``, so the blocking engine call runs in Starlette's threadpool and the
event loop stays free. Every route but ``/v1/health`` and the OpenAPI document needs a
token (:mod:`.tokens`) and the person the host system asserts (:mod:`.identity`); the
commands then go through the engine and its policies as a Python caller's would.

Each route's ``operationId`` is the name of the :class:`Engine` method it serves (or of
the command it serves: ``report``, ``compliance``, ``add_days``, ``working_day``,
``who_can``): ``tests/api/test_openapi.py`` checks every public engine operation has one.

(No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations,
which name types local to :func:`create_app`, at run time.)
"""

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cmc_workflow.api import models as m
from cmc_workflow.api import shapes, subscriptions
from cmc_workflow.api.guards import BodyLimit, FailureLimiter, Scope
from cmc_workflow.api.identity import SYSTEM_HEADER, AssertedIdentity, IdentityResolver
from cmc_workflow.api.problems import (
    CONTENT_LANGUAGE,
    MEDIA_TYPE,
    Problem,
    language,
    problem_of,
)
from cmc_workflow.api.shapes import (
    QUERY_PARAMETERS,
    ApiProblem,
    Caller,
    data_filters,
    etag,
    item_out,
    outcome_out,
    plain,
    problem_response,
    request_language,
    zh_reason,
)
from cmc_workflow.api.tokens import check_token
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine
from cmc_workflow.engine import audit as audit_log
from cmc_workflow.engine.batch import FireEntry, StartEntry
from cmc_workflow.errors import CmcWorkflowError, ConflictError, IdentityRefused
from cmc_workflow.i18n import N_, Text, joined, tr, zh
from cmc_workflow.log import get_logger
from cmc_workflow.model import Actor, Item
from cmc_workflow.store.port import TokenRow

__all__ = ["DEFAULT_MAX_BODY", "ApiProblem", "Caller", "create_app", "etag"]

log = get_logger("cmc_workflow.api")

DEFAULT_MAX_BODY = 1_048_576
"""The largest request body taken, in bytes (``--max-body``)."""
_USE_NOTE_EVERY = 60.0
"""A token's ``last_used_at`` is written at most once a minute per process."""


def create_app(
    engine: Engine,
    *,
    loaded: LoadedSet | None = None,
    calendar: WorkingCalendar | None = None,
    identity: IdentityResolver | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    failures: FailureLimiter | None = None,
    compliance: Callable[[], dict[str, Any]] | None = None,
    webhook_key: str | None = None,
) -> FastAPI:
    """The API over ``engine`` (which the caller opens and closes).

    ``loaded`` (the loaded definitions and policies) answers ``who-can``; ``calendar``
    the calendar questions (default: the engine's SLA calendar); ``identity`` turns a token
    and a request into the actor (default :class:`AssertedIdentity`: the staff register
    plugs in here); ``max_body`` bounds request bodies; ``failures`` limits failed
    sign-ins per address; ``compliance`` builds the compliance matrix document;
    ``webhook_key`` is the master key webhook secrets are derived from
    (:mod:`cmc_workflow.api.subscriptions`).
    """
    resolver = identity or AssertedIdentity()
    limiter = failures or FailureLimiter()
    cal = calendar or _engine_calendar(engine) or WorkingCalendar()
    policy = None
    if loaded is not None:
        from cmc_workflow.policy import build_policy_set

        policy, _ = build_policy_set(loaded)
    used: dict[tuple[str, str], float] = {}
    used_lock = threading.Lock()
    matrix_cache: list[dict[str, Any]] = []

    summary = tr("The HTTP API of the cmc-workflow engine")
    app = FastAPI(
        title="cmc-workflow",
        # no Swagger UI or ReDoc pages: they load their scripts from a CDN at run time
        docs_url=None,
        redoc_url=None,
        summary=f"{summary.zh} · {summary.en}",
        version="1",
        description=(
            "Start and move items, ask what a person may do, find items, read their "
            "history and audit trail. Authenticate with `Authorization: Bearer <token>` "
            "(`cmc-workflow token create`) and name the person acting with `X-Cmc-Actor` "
            "and `X-Cmc-Roles`. Errors are RFC 9457 problem documents in the language "
            "`Accept-Language` asks for: Chinese (`zh`, `zh-CN`, `zh-Hans`; the default) or "
            "English (`en`), with `Content-Language` and `Vary: Accept-Language`."
        ),
        responses={
            "default": {"model": m.ProblemOut, "content": {MEDIA_TYPE: {}}},
        },
    )

    # -- errors ---------------------------------------------------------------------------
    @app.exception_handler(CmcWorkflowError)
    async def engine_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CmcWorkflowError)
        return problem_response(problem_of(exc), request, request_language(request))

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return problem_response(exc.problem, request, request_language(request))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
                "in": str(e.get("loc", ("body",))[0]),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            messages = [e["message"] for e in errors]
            problem = Problem(
                400,
                "json_invalid",
                tr("Malformed JSON"),
                tr(
                    "the request body is not valid JSON: {errors}",
                    errors=Text("; ".join(messages), "\uff1b".join(messages)),
                ),
                errors,
            )
        else:
            problem = Problem(
                422,
                "request_invalid",
                tr("Request invalid"),
                tr(
                    "the request does not fit the API: {errors}",
                    # the Chinese names the fields only, the English with pydantic's words
                    errors=Text(
                        "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                        joined(e["field"] for e in errors).zh,
                    ),
                ),
                errors,
            )
        return problem_response(problem, request, request_language(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        said = _HTTP_ERRORS.get(exc.status_code, N_("Bad request"))
        # the English is Starlette's (Not Found, Method Not Allowed, ...)
        text = Text(str(exc.detail), zh(said))
        problem = Problem(exc.status_code, code, text, text, headers=dict(exc.headers or {}))
        return problem_response(problem, request, request_language(request))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("api_internal_error", path=request.url.path, error=type(exc).__name__)
        problem = Problem(
            500,
            "internal_error",
            tr("Internal error"),
            tr("the service failed; it is logged. Try again later"),
        )
        return problem_response(problem, request, request_language(request))

    def too_large(scope: Scope, limit: int) -> Any:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = Problem(
            413,
            "body_too_large",
            tr("Request body too large"),
            tr(
                "the request body exceeds the limit of {limit} bytes; nothing was done", limit=limit
            ),
        )
        lang = language(headers.get("accept-language"))
        return JSONResponse(
            problem.document(lang, scope.get("path")),
            status_code=413,
            media_type=MEDIA_TYPE,
            headers={
                "Content-Language": CONTENT_LANGUAGE[lang],
                "Vary": "Accept-Language",
                "Connection": "close",
            },
        )

    app.add_middleware(BodyLimit, limit=max_body, too_large=too_large)

    # -- who is calling ---------------------------------------------------------------------
    def audit_refusal(
        request: Request, who: str, rule: str, en: str, zh: str, key: str | None
    ) -> None:
        """Write a refused sign-in to the audit (SEC-1; never the secret) and the log."""
        address = request.client.host if request.client else "unknown"
        try:
            with engine.store.write() as tx:
                audit_log.record(
                    tx,
                    who,
                    "authenticate",
                    None,
                    None,
                    None,
                    "refused",
                    engine.clock(),
                    rule=rule,
                    reason=en,
                    detail={
                        "key": key,
                        "client": address,
                        "path": request.url.path,
                        "reason_zh": zh,
                    },
                )
        except CmcWorkflowError as exc:  # never hide the refusal behind an audit failure
            log.error("audit_write_failed", error=str(exc), rule=rule)
        log.warning("sign_in_refused", rule=rule, key=key, client=address, path=request.url.path)

    def refuse_sign_in(request: Request, rule: str, key: str | None, status: int) -> ApiProblem:
        address = request.client.host if request.client else "unknown"
        limiter.failed(address)
        said = tr(_SIGN_IN_REFUSALS[rule])
        audit_refusal(request, f"api:{address}", rule, said.en, said.zh, key)
        headers = {"WWW-Authenticate": 'Bearer realm="cmc-workflow"'} if status == 401 else {}
        return ApiProblem(Problem(status, rule, said, said, extra={"rule": rule}, headers=headers))

    def caller(
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Caller:
        address = request.client.host if request.client else "unknown"
        wait = limiter.blocked(address)
        if wait is not None:
            problem = refuse_sign_in(request, "rate_limited", None, 429).problem
            raise ApiProblem(
                Problem(
                    429,
                    problem.code,
                    problem.title,
                    problem.detail,
                    extra={"rule": "rate_limited"},
                    headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                )
            )
        scheme, _, presented = (authorization or "").partition(" ")
        token = presented.strip() if scheme.lower() == "bearer" else None
        now = engine.clock()
        checked = check_token(engine.store, token, now)
        if checked.row is None:
            assert checked.rule is not None
            raise refuse_sign_in(request, checked.rule, checked.key, 401)
        row = checked.row
        claimed = request.headers.get(SYSTEM_HEADER)
        if claimed is not None and claimed.strip() != row.system:
            raise refuse_sign_in(request, "token_system_mismatch", row.key, 403)
        try:
            actor = resolver(row, request.headers)
        except UnicodeDecodeError:
            raise ApiProblem(
                Problem(
                    422,
                    "actor_id_invalid",
                    tr("Identity refused"),
                    tr("the actor and roles headers must be percent-encoded UTF-8"),
                )
            ) from None
        except IdentityRefused as exc:
            audit_refusal(
                request, f"{row.system}:?", exc.rule, exc.reason_en, exc.reason_zh, row.key
            )
            raise
        note_use(row, actor, request, now)
        return Caller(row, actor)

    def note_use(row: TokenRow, actor: Actor, request: Request, now: dt.datetime) -> None:
        """Note the token's use and audit the sign-in (SEC-1: the system, the person it
        asserts, the client), at most once a minute per token and person."""
        moment = time.monotonic()
        key = row.key
        with used_lock:
            last = used.get((key, actor.id))
            if last is not None and moment - last < _USE_NOTE_EVERY:
                return
            used[(key, actor.id)] = moment
        address = request.client.host if request.client else "unknown"
        try:
            with engine.store.write() as tx:
                tx.token_used(key, now)
                audit_log.record(
                    tx,
                    actor,
                    "sign_in",
                    None,
                    None,
                    None,
                    "accepted",
                    now,
                    detail={"key": key, "system": row.system, "client": address},
                )
        except CmcWorkflowError as exc:  # a busy database must not refuse the call
            log.warning("token_use_not_noted", key=key, error=str(exc))

    Who = Annotated[Caller, Depends(caller)]
    subscriptions.add_routes(app, engine, Who, webhook_key)

    # -- routes --------------------------------------------------------------------------
    @app.get("/v1/health", operation_id="health", tags=["service"])
    def health() -> dict[str, str]:
        """Whether the service answers (no token needed)."""
        return {"status": "ok"}

    @app.get("/v1/workflows", operation_id="workflows", tags=["definitions"])
    def workflows(who: Who) -> list[m.WorkflowOut]:
        """The loaded workflows: ids, labels, current revision, states."""
        return [workflow_out(w) for w in engine.workflows]

    def workflow_out(workflow_id: str) -> m.WorkflowOut:
        version = engine.definitions.require(workflow_id)
        d = version.workflow.definition
        return m.WorkflowOut(
            id=workflow_id,
            label={"zh": d.label.zh, "en": d.label.en},
            revision=version.row.revision,
            content_hash=version.row.content_hash,
            states=[
                {"name": n, "type": s.type, "label": {"zh": s.label.zh, "en": s.label.en}}
                for n, s in d.states.items()
            ],
        )

    @app.get("/v1/workflows/{workflow_id}", operation_id="workflow", tags=["definitions"])
    def workflow(workflow_id: str, who: Who) -> m.WorkflowOut:
        """One loaded workflow (its current version)."""
        return workflow_out(workflow_id)

    @app.get("/v1/workflows/{workflow_id}/versions", operation_id="versions", tags=["definitions"])
    def versions(workflow_id: str, who: Who) -> list[m.VersionOut]:
        """Every stored version of a workflow with its number of open items."""
        engine.definitions.require(workflow_id)
        return [
            m.VersionOut.model_validate(v, from_attributes=True)
            for v in engine.versions(workflow_id)
        ]

    @app.get(
        "/v1/workflows/{workflow_id}/states/{state}/who-can",
        operation_id="who_can",
        tags=["definitions"],
    )
    def who_can(workflow_id: str, state: str, who: Who) -> m.WhoCanOut:
        """Which roles may fire each trigger of the state once policies apply."""
        wf = engine.workflow(workflow_id)
        definition = wf.definition
        if state not in definition.states:
            raise ApiProblem(
                Problem(
                    404,
                    "state_not_found",
                    tr("State not found"),
                    tr(
                        "{workflow} has no state {state} (states: {states})",
                        workflow=Text(repr(workflow_id), workflow_id),
                        state=Text(repr(state), state),
                        states=joined(definition.states),
                    ),
                )
            )
        entries = policy.who_can(wf, state) if policy is not None else []
        return m.WhoCanOut(
            workflow=workflow_id,
            state=state,
            type=definition.states[state].type,
            triggers=[
                m.WhoCanTrigger(
                    trigger=e.trigger,
                    target=e.target,
                    label=None if e.label is None else {"zh": e.label.zh, "en": e.label.en},
                    workflow_roles=sorted(e.workflow_roles),
                    policy_roles=None if e.policy_roles is None else sorted(e.policy_roles),
                    may_fire=sorted(e.may_fire),
                    rules=[{"rule": r[0], "kind": r[1], "en": r[2], "zh": r[3]} for r in e.rules],
                )
                for e in entries
            ],
        )

    @app.post("/v1/items", operation_id="start", status_code=201, tags=["commands"])
    def start(body: m.StartBody, who: Who, response: Response) -> m.ItemOut:
        """Start an item in its workflow's start state, as the caller."""
        item = engine.start(
            body.workflow, actor=who.actor, data=body.data, parent_id=body.parent_id
        )
        response.headers["ETag"] = etag(item.version)
        response.headers["Location"] = f"/v1/items/{item.id}"
        return item_out(item)

    @app.post("/v1/items/{item_id}/fire", operation_id="fire", tags=["commands"])
    def fire(
        item_id: int,
        body: m.FireBody,
        who: Who,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> m.ItemOut:
        """Fire a trigger as the caller. With ``If-Match`` (the item's ETag), a stale
        version is answered 412 and nothing changes; a concurrent change is 409."""
        wanted = shapes.if_match(if_match)
        if wanted is not None and body.expected_version not in (None, wanted):
            raise ApiProblem(
                Problem(
                    422,
                    "input_invalid",
                    tr("Input invalid"),
                    tr("If-Match and expected_version name different versions"),
                    errors=[{"field": "expected_version", "message": "differs from If-Match"}],
                )
            )
        expected = wanted if wanted is not None else body.expected_version
        try:
            item = engine.fire(
                item_id, body.trigger, actor=who.actor, data=body.data, expected_version=expected
            )
        except ConflictError as exc:
            if wanted is not None:
                current = engine.get(item_id)
                if current.version != wanted:
                    problem = problem_of(exc)
                    raise ApiProblem(
                        Problem(
                            412,
                            "precondition_failed",
                            tr("Precondition failed"),
                            problem.detail,
                            extra={**problem.extra, "current_version": current.version},
                            headers={"ETag": etag(current.version)},
                        )
                    ) from exc
            raise
        response.headers["ETag"] = etag(item.version)
        return item_out(item)

    @app.post("/v1/batches/start", operation_id="start_many", tags=["commands"])
    def start_many(body: m.StartManyBody, who: Who) -> list[m.OutcomeOut]:
        """Start many items in one transaction; each refusal is reported in its outcome."""
        entries = [StartEntry(e.data, parent_id=e.parent_id) for e in body.entries]
        return [outcome_out(o) for o in engine.start_many(body.workflow, entries, actor=who.actor)]

    @app.post("/v1/batches/fire", operation_id="fire_many", tags=["commands"])
    def fire_many(body: m.FireManyBody, who: Who) -> list[m.OutcomeOut]:
        """Fire many triggers in one transaction, in order; each refusal in its outcome."""
        entries = [
            FireEntry(e.item_id, e.trigger, who.actor, e.data, e.expected_version)
            for e in body.entries
        ]
        return [outcome_out(o) for o in engine.fire_many(entries)]

    @app.get("/v1/items", operation_id="query", tags=["items"])
    def query(
        request: Request,
        who: Who,
        workflow: str | None = None,
        state: Annotated[list[str] | None, Query()] = None,
        assignee: str | None = None,
        role: str | None = None,
        open: bool | None = None,
        overdue: bool = False,
        due_before: dt.datetime | None = None,
        sla: str | None = None,
        data: Annotated[list[str] | None, Query(description="field:value, repeatable")] = None,
        created_from: dt.datetime | None = None,
        created_until: dt.datetime | None = None,
        updated_from: dt.datetime | None = None,
        updated_until: dt.datetime | None = None,
        title: str | None = None,
        parent_id: int | None = None,
        sort: str = "created_at",
        order: str = "asc",
        limit: int = 50,
        cursor: str | None = None,
    ) -> m.PageOut:
        """Find items, one sorted page at a time; pass ``next_cursor`` back as ``cursor``
        with the same sort and order for the next page. Items the policies hide from the
        caller are left out."""
        unknown = sorted(set(request.query_params) - QUERY_PARAMETERS)
        if unknown or order not in ("asc", "desc"):
            names = ", ".join(unknown) if unknown else f"order={order}"
            raise ApiProblem(
                Problem(
                    422,
                    "request_invalid",
                    tr("Request invalid"),
                    tr("unknown query parameters: {names} (order is asc or desc)", names=names),
                    errors=[{"field": n, "message": "unknown parameter"} for n in unknown],
                )
            )
        page = engine.query(
            actor=who.actor,
            workflow=workflow,
            states=state or (),
            assignee=assignee,
            role=role,
            open=open,
            overdue=overdue,
            due_before=due_before,
            sla=sla,
            data=data_filters(data or []),
            created_from=created_from,
            created_until=created_until,
            updated_from=updated_from,
            updated_until=updated_until,
            title=title,
            parent_id=parent_id,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            cursor=cursor,
        )
        return m.PageOut(items=[item_out(i) for i in page.items], next_cursor=page.next_cursor)

    @app.get("/v1/items/{item_id}", operation_id="get", tags=["items"])
    def get(item_id: int, who: Who, response: Response) -> m.ItemOut:
        """The item as it stands, with its version as the ETag."""
        item = engine.get(item_id, actor=who.actor)
        response.headers["ETag"] = etag(item.version)
        return item_out(item)

    @app.get("/v1/items/{item_id}/allowed", operation_id="allowed", tags=["items"])
    def allowed(item_id: int, who: Who) -> list[m.AllowedOut]:
        """Every trigger of the item's state, whether the caller may fire it now, and the
        reasons of each refusal in Chinese and English with the rule."""
        engine.get(item_id, actor=who.actor)  # an item hidden from them is not found
        result = []
        for a in engine.allowed(item_id, who.actor):
            zh = list(a.reasons_zh) + [""] * (len(a.reasons) - len(a.reasons_zh))
            result.append(
                m.AllowedOut(
                    trigger=a.trigger,
                    allowed=a.allowed,
                    target=a.target,
                    label=a.label,
                    label_en=a.label_en,
                    form=list(a.form),
                    reasons=[
                        m.ReasonOut(rule=rule, en=en, zh=z or zh_reason(rule, en))
                        for rule, en, z in zip(a.rules, a.reasons, zh, strict=False)
                    ],
                )
            )
        return result

    @app.get("/v1/items/{item_id}/history", operation_id="history", tags=["items"])
    def history(item_id: int, who: Who) -> list[m.HistoryOut]:
        """Every accepted step of the item, in order."""
        return [
            m.HistoryOut.model_validate(
                {
                    **{f: getattr(h, f) for f in h.__slots__},
                    "roles": list(h.roles),
                    "form": dict(h.form),
                }
            )
            for h in engine.history(item_id, actor=who.actor)
        ]

    @app.get("/v1/items/{item_id}/children", operation_id="children", tags=["items"])
    def children(item_id: int, who: Who) -> list[m.ItemOut]:
        """The items started from this one, oldest first."""
        return [item_out(i) for i in engine.children(item_id, actor=who.actor)]

    @app.get("/v1/items/{item_id}/outbox", operation_id="outbox", tags=["items"])
    def outbox(item_id: int, who: Who) -> list[m.OutboxOut]:
        """The side effects recorded for the item and their delivery state."""
        return [
            m.OutboxOut.model_validate(o, from_attributes=True)
            for o in engine.outbox(item_id, actor=who.actor)
        ]

    @app.get("/v1/items/{item_id}/audit", operation_id="audit_trail", tags=["items"])
    def audit_trail(item_id: int, who: Who) -> list[dict[str, Any]]:
        """The audit records naming the item, accepted or refused (SEC-1)."""
        return [plain(r) for r in engine.audit_trail(item_id, actor=who.actor)]

    @app.get("/v1/inbox", operation_id="inbox", tags=["items"])
    def inbox(who: Who) -> list[m.ItemOut]:
        """Open items waiting on the caller (assigned to them, or on one of their roles)."""
        return [item_out(i) for i in engine.inbox(who.actor)]

    @app.get("/v1/tasks", operation_id="my_tasks", tags=["tasks"])
    def my_tasks(who: Who) -> m.TasksOut:
        """The caller's tasks (claimed by, delegated or assigned to them) and their roles'
        queue (waiting for anyone of the role to claim)."""
        mine, queue = engine.my_tasks(who.actor)
        return m.TasksOut(mine=[item_out(i) for i in mine], queue=[item_out(i) for i in queue])

    def _task(item: Item, response: Response) -> m.ItemOut:
        response.headers["ETag"] = etag(item.version)
        return item_out(item)

    @app.post("/v1/items/{item_id}/claim", operation_id="claim", tags=["tasks"])
    def claim(item_id: int, who: Who, response: Response) -> m.ItemOut:
        """Take the item's user task from the queue of a role the caller holds."""
        return _task(engine.claim(item_id, actor=who.actor), response)

    @app.post("/v1/items/{item_id}/unclaim", operation_id="unclaim", tags=["tasks"])
    def unclaim(item_id: int, who: Who, response: Response) -> m.ItemOut:
        """Put a task the caller holds back in its role's queue."""
        return _task(engine.unclaim(item_id, actor=who.actor), response)

    @app.post("/v1/items/{item_id}/delegate", operation_id="delegate", tags=["tasks"])
    def delegate(item_id: int, body: m.TaskTargetBody, who: Who, response: Response) -> m.ItemOut:
        """Hand a task the caller holds to another holder of the role."""
        return _task(engine.delegate(item_id, body.to, actor=who.actor), response)

    @app.post("/v1/items/{item_id}/hand-back", operation_id="hand_back", tags=["tasks"])
    def hand_back(item_id: int, who: Who, response: Response) -> m.ItemOut:
        """Return a task delegated to the caller to the person who delegated it."""
        return _task(engine.hand_back(item_id, actor=who.actor), response)

    @app.post("/v1/items/{item_id}/reassign", operation_id="reassign", tags=["tasks"])
    def reassign(item_id: int, body: m.TaskTargetBody, who: Who, response: Response) -> m.ItemOut:
        """A lead gives the task to a holder of a role of the state."""
        return _task(engine.reassign(item_id, body.to, actor=who.actor), response)

    @app.get("/v1/report", operation_id="report", tags=["reports"])
    def report(
        who: Who,
        since: dt.date | None = None,
        until: dt.date | None = None,
        section: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        """The operational report (RPT-1) over local dates ``since``..``until`` (both
        included), all sections or those named."""
        from cmc_workflow.reports import SECTIONS, build_report, report_document

        tz = cal.settings.tz
        start = dt.datetime.combine(since, dt.time(), tz) if since else None
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tz) if until else None
        try:
            built = build_report(
                engine, since=start, until=end, sections=section or SECTIONS, calendar=cal
            )
        except ValueError as exc:
            raise ApiProblem(
                Problem(
                    422,
                    "input_invalid",
                    tr("Input invalid"),
                    # the English is the report's own words; the Chinese says what they are
                    Text(
                        str(exc), tr("the report's parameters are invalid: {error}", error=exc).zh
                    ),
                    errors=[{"field": "section", "message": str(exc)}],
                )
            ) from None
        return dict(plain(report_document(built)))

    @app.get("/v1/compliance", operation_id="compliance", tags=["reports"])
    def compliance_matrix(who: Who) -> dict[str, Any]:
        """The compliance matrix: each requirement against the elements and tests that
        carry it out."""
        if compliance is None:
            raise ApiProblem(
                Problem(
                    404,
                    "compliance_unavailable",
                    tr("Compliance matrix not configured"),
                    tr("this service was started without its definitions: no matrix"),
                )
            )
        if not matrix_cache:
            matrix_cache.append(compliance())
        return matrix_cache[0]

    @app.get("/v1/calendar/add-days", operation_id="add_days", tags=["calendar"])
    def add_days(start: dt.datetime, days: int, who: Who) -> m.DeadlineOut:
        """The end of ``days`` working days after a receipt at ``start`` (a time with its
        offset; a date-time without one is read in the calendar's time zone)."""
        if days < 1 or days > 3660:
            raise ApiProblem(
                Problem(
                    422,
                    "input_invalid",
                    tr("Input invalid"),
                    tr("days is 1..3660"),
                    errors=[{"field": "days", "message": "1..3660"}],
                )
            )
        received = start if start.tzinfo is not None else start.replace(tzinfo=cal.settings.tz)
        deadline = cal.add_working_days(received, days)
        return m.DeadlineOut(
            start=deadline.start,
            due=deadline.due,
            rule=deadline.rule,
            calendar_version=deadline.calendar_version,
            provisional=deadline.provisional,
            guessed_years=sorted(deadline.guessed_years),
        )

    @app.get("/v1/calendar/days/{day}", operation_id="working_day", tags=["calendar"])
    def working_day(day: dt.date, who: Who) -> m.DayOut:
        """Whether ``day`` is a working day, and on whose authority."""
        answer = cal.is_working_day(day)
        return m.DayOut(
            day=answer.day,
            working=answer.working,
            source=str(answer.source),
            name=answer.name,
            provisional=answer.provisional,
        )

    # the web console's pages (docs/console.md), outside the OpenAPI document
    from cmc_workflow.console.app import create_console

    app.mount(
        "/console", create_console(engine, calendar=cal, compliance=compliance, failures=limiter)
    )
    return app


_HTTP_ERRORS = {
    404: N_("No such address"),
    405: N_("This address does not take this method"),
}
"""The Chinese of Starlette's own errors, by status (else ``Bad request``)."""

_SIGN_IN_REFUSALS = {
    "token_missing": N_("no token given (Authorization: Bearer ...)"),
    "token_malformed": N_("the token is not in the form cmcw_<key>_<secret>"),
    "token_unknown": N_("the token is not known"),
    "token_revoked": N_("the token was revoked"),
    "token_system_mismatch": N_(
        "the token belongs to another system than the one named in X-Cmc-System"
    ),
    "rate_limited": N_("too many failed sign-ins; try later"),
}
"""Why a sign-in was refused, by rule."""


def _engine_calendar(engine: Engine) -> WorkingCalendar | None:
    from cmc_workflow.clocks import Clocks

    for extension in engine.extensions:
        if isinstance(extension, Clocks):
            return extension.calendar
    return None
