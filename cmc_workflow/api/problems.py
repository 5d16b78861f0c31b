"""Errors as RFC 9457 problem documents (``application/problem+json``), in Chinese or
English.

Every document carries ``type`` (``urn:cmc-workflow:problem:<code>``), ``title``,
``status``, ``detail`` in the language the caller asked for (``Accept-Language``, read by
:func:`language`: Chinese when it names no language this service speaks), and always
both languages in ``message`` (``{"zh": ..., "en": ...}``). ``code`` is the engine's code
(the refusing rule: a policy rule's id, ``input_invalid``, ``NotPermitted``, ...) and the
same in both languages; ``errors`` lists bad fields; ``item_id``, ``trigger`` and
``state`` say what was refused. The words are the catalogue's (:mod:`cmc_workflow.i18n`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cmc_workflow.errors import (
    CalendarError,
    CmcWorkflowError,
    ConflictError,
    DatabaseReadOnly,
    EngineError,
    FormInvalid,
    GuardRejected,
    HandlerFailed,
    IdentityRefused,
    InputInvalid,
    InvalidTrigger,
    ItemNotFound,
    NotPermitted,
    PolicyDenied,
    StoreError,
    WorkflowNotFound,
)
from cmc_workflow.i18n import N_, Text, tr

__all__ = [
    "CONTENT_LANGUAGE",
    "DEFAULT_LANGUAGE",
    "MEDIA_TYPE",
    "ApiLang",
    "Problem",
    "language",
    "problem_of",
]

MEDIA_TYPE = "application/problem+json"

ApiLang = Literal["zh", "en"]
"""A language the HTTP API and the console answer in."""
DEFAULT_LANGUAGE: ApiLang = "zh"
"""The language of an answer to a request that names none this service speaks."""
CONTENT_LANGUAGE: Mapping[str, str] = {"zh": "zh-CN", "en": "en"}
"""The ``Content-Language`` of an answer in each language."""

# the HTTP status and the title of each engine error, most specific first
_KINDS: tuple[tuple[type[CmcWorkflowError], int, str], ...] = (
    (ItemNotFound, 404, N_("Item not found")),
    (WorkflowNotFound, 404, N_("Workflow not found")),
    (InputInvalid, 422, N_("Input invalid")),
    (FormInvalid, 422, N_("Form invalid")),
    (IdentityRefused, 403, N_("Identity refused")),
    (NotPermitted, 403, N_("Not permitted")),
    (PolicyDenied, 403, N_("Refused by a rule")),
    (ConflictError, 409, N_("Conflict")),
    (InvalidTrigger, 409, N_("Trigger not possible in this state")),
    (GuardRejected, 409, N_("Condition does not hold")),
    (HandlerFailed, 502, N_("Handler failed")),
    (DatabaseReadOnly, 503, N_("Database read-only")),
    (StoreError, 503, N_("Database unavailable")),
    (CalendarError, 422, N_("Calendar question cannot be answered")),
    (EngineError, 400, N_("Command not carried out")),
)

# an explanation in Chinese where the engine wrote none (its English detail follows it)
_EXPLAINED: Mapping[type[CmcWorkflowError], str] = {
    ItemNotFound: N_("the item is not found: check the item id"),
    WorkflowNotFound: N_("the workflow is not found: check the workflow id"),
    NotPermitted: N_("the person acting holds none of the roles the step needs"),
    ConflictError: N_("someone changed the item first: read it again and retry"),
    InvalidTrigger: N_("the step cannot be taken in the item's present state"),
    GuardRejected: N_("the step's condition does not hold now"),
    HandlerFailed: N_(
        "the service task's handler failed; the transition stands and is retried later"
    ),
    StoreError: N_("the database cannot answer now; try again later"),
    CalendarError: N_("the working-day calendar cannot answer this question"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem document before it is written in a language: its ``title`` and
    ``detail`` in both (:func:`~cmc_workflow.i18n.tr`)."""

    status: int
    code: str
    title: Text
    detail: Text
    errors: Sequence[Mapping[str, Any]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def document(self, lang: str, instance: str | None = None) -> dict[str, Any]:
        """The JSON document in ``lang`` (``zh`` or ``en``)."""
        chinese = lang == "zh"
        body: dict[str, Any] = {
            "type": f"urn:cmc-workflow:problem:{self.code}",
            "title": self.title.zh if chinese else self.title.en,
            "status": self.status,
            "detail": (self.detail.zh or self.detail.en) if chinese else self.detail.en,
            "code": self.code,
            "message": {"zh": self.detail.zh or self.detail.en, "en": self.detail.en},
        }
        if instance is not None:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [dict(e) for e in self.errors]
        body.update(self.extra)
        return body


def language(accept: str | None, default: ApiLang = DEFAULT_LANGUAGE) -> ApiLang:
    """The language an ``Accept-Language`` header asks for (RFC 9110, 12.5.4): ``zh``
    (``zh``, ``zh-CN``, ``zh-Hans``, ...) or ``en`` (``en``, ``en-GB``, ...), whichever
    has the higher weight (``q``, 1 when not given; ``*`` gives its weight to a language
    not named; on a tie the one named first, then ``default``). ``default`` also when
    the header is absent or names neither, or refuses both (``q=0``); the other language
    when it refuses only ``default``."""
    named: dict[ApiLang, float] = {}
    wildcard = 0.0
    for part in (accept or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if primary == "*":
            wildcard = max(wildcard, q)
        elif primary in ("zh", "en"):
            lang: ApiLang = "zh" if primary == "zh" else "en"
            named[lang] = max(named.get(lang, 0.0), q)
    other: ApiLang = "en" if default == "zh" else "zh"
    order = [*named, *(lang for lang in (default, other) if lang not in named)]
    best = max(order, key=lambda lang: named.get(lang, wildcard))
    if named.get(best, wildcard) > 0.0:
        return best
    return other if named.get(default) == 0.0 and other not in named else default


def problem_of(exc: CmcWorkflowError) -> Problem:
    """The problem document of an engine error."""
    status, title = 500, N_("Internal error")
    for kind, code_status, msgid in _KINDS:
        if isinstance(exc, kind):
            status, title = code_status, msgid
            break
    detail_en = str(exc)
    detail_zh = ""
    code = type(exc).__name__
    extra: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    if isinstance(exc, EngineError):
        code = exc.code
        detail_zh = exc.reason_zh
        if isinstance(exc, PolicyDenied | IdentityRefused):
            detail_en = exc.reason_en
        for name in ("item_id", "trigger", "state"):
            value = getattr(exc, name)
            if value is not None:
                extra[name] = int(value) if name == "item_id" and value.isdigit() else value
        extra["rule"] = exc.rule
        if isinstance(exc, FormInvalid):
            errors = [
                {"field": e.field, "message": e.message, "message_zh": e.message_zh or e.message}
                for e in exc.errors
            ]
            if not detail_zh:
                listed = [
                    tr("{field}: {message}", field=e.field, message=e.message_zh or e.message)
                    for e in exc.errors
                ]
                detail_zh = tr(
                    "the form is not filled in as required: {errors}",
                    errors=Text(
                        "; ".join(t.en for t in listed), "\uff1b".join(t.zh for t in listed)
                    ),
                ).zh
    elif isinstance(exc, DatabaseReadOnly):
        code, detail_en, detail_zh = exc.code, exc.reason_en, exc.reason_zh
    elif isinstance(exc, StoreError | CalendarError):
        detail_zh = exc.reason_zh
    if not detail_zh:
        for kind, explained in _EXPLAINED.items():
            if isinstance(exc, kind):
                detail_zh = tr(
                    "{explanation} ({detail})", explanation=tr(explained), detail=detail_en
                ).zh
                break
    return Problem(status, code, tr(title), Text(detail_en, detail_zh), errors, extra)
