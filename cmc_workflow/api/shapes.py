"""What the routes of :mod:`cmc_workflow.api.app` share: the problem the HTTP layer
raises itself, the caller, and the conversions between engine values and the bodies of
:mod:`cmc_workflow.api.models` (items, outcomes, ETags, ``If-Match``, query filters)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cmc_workflow.api import models as m
from cmc_workflow.api.problems import (
    CONTENT_LANGUAGE,
    MEDIA_TYPE,
    ApiLang,
    Problem,
    language,
)
from cmc_workflow.engine.batch import Outcome
from cmc_workflow.i18n import N_, tr
from cmc_workflow.model import Actor, Item
from cmc_workflow.store.port import TokenRow

__all__ = [
    "QUERY_PARAMETERS",
    "ApiProblem",
    "Caller",
    "data_filters",
    "etag",
    "if_match",
    "item_out",
    "outcome_out",
    "plain",
    "problem_response",
    "request_language",
    "zh_reason",
]


class ApiProblem(Exception):
    """A problem the HTTP layer itself answers (authentication, If-Match, bad query)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail.en)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's row and the actor the host system asserted."""

    token: TokenRow
    actor: Actor


def problem_response(problem: Problem, request: Request | None, lang: ApiLang) -> JSONResponse:
    """``problem`` in ``lang``, saying so (``Content-Language``) and that the words
    depend on the request's ``Accept-Language`` (``Vary``)."""
    instance = request.url.path if request is not None else None
    headers = {
        "Content-Language": CONTENT_LANGUAGE[lang],
        "Vary": "Accept-Language",
        **problem.headers,
    }
    return JSONResponse(
        problem.document(lang, instance),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def request_language(request: Request) -> ApiLang:
    """The language ``request`` asks for (:func:`~cmc_workflow.api.problems.language`)."""
    return language(request.headers.get("accept-language"))


def item_out(item: Item) -> m.ItemOut:
    return m.ItemOut(
        id=item.id,
        workflow=item.workflow,
        revision=item.revision,
        state=item.state,
        state_label=item.state_label,
        state_label_en=item.state_label_en,
        data=dict(item.data),
        visit=item.visit,
        version=item.version,
        created_at=item.created_at,
        created_by=item.created_by,
        updated_at=item.updated_at,
        closed_at=item.closed_at,
        parent_id=item.parent_id,
        is_open=item.is_open,
    )


def outcome_out(outcome: Outcome) -> m.OutcomeOut:
    refusal = outcome.refusal
    return m.OutcomeOut(
        index=outcome.index,
        accepted=outcome.accepted,
        item=item_out(outcome.item) if outcome.item is not None else None,
        refusal=None
        if refusal is None
        else m.RefusalOut(
            code=refusal.error,
            rule=refusal.rule,
            message={"zh": refusal.message_zh or refusal.message, "en": refusal.message},
            item_id=refusal.item_id,
            trigger=refusal.trigger,
            state=refusal.state,
            retryable=refusal.retryable,
        ),
    )


def etag(version: int) -> str:
    """The ETag of an item at ``version``."""
    return f'"v{version}"'


def if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (None: absent or ``*``)."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    text = text.removeprefix("W/")
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    text = text.removeprefix("v")
    if not text.isdigit() or len(text) > 18:
        raise ApiProblem(
            Problem(
                400,
                "if_match_invalid",
                tr("If-Match invalid"),
                tr(
                    'If-Match takes the ETag the item was read with (e.g. "v3"), not {value}',
                    value=repr(value),
                ),
            )
        )
    return int(text)


def data_filters(values: Sequence[str]) -> dict[str, Any]:
    """``field:value`` pairs; the value is JSON (``1``, ``true``, ``"1"``, ``null``) or
    else text."""
    found: dict[str, Any] = {}
    for entry in values:
        name, sep, raw = entry.partition(":")
        if not sep or not name:
            raise ApiProblem(
                Problem(
                    422,
                    "input_invalid",
                    tr("Input invalid"),
                    tr(
                        "a data filter reads field:value (e.g. data=author:Wang), not {entry}",
                        entry=repr(entry),
                    ),
                    errors=[{"field": "data", "message": "field:value expected"}],
                )
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, list | dict):
            value = raw
        found[name] = value
    return found


QUERY_PARAMETERS = frozenset(
    {
        "workflow",
        "state",
        "assignee",
        "role",
        "open",
        "overdue",
        "due_before",
        "sla",
        "data",
        "created_from",
        "created_until",
        "updated_from",
        "updated_until",
        "title",
        "parent_id",
        "sort",
        "order",
        "limit",
        "cursor",
    }
)


_REASONS = {
    "NotPermitted": N_("the person acting holds none of the roles the step needs"),
    "GuardRejected": N_("the step's condition does not hold now"),
    "InvalidTrigger": N_("the step cannot be taken in the item's present state"),
    "closed": N_("the item is closed"),
}

_REFUSED = N_("the step is refused")
"""The reason of any other rule."""


def zh_reason(rule: str, en: str) -> str:
    """A Chinese reason where the engine wrote none (the English one follows it)."""
    explained = tr(_REASONS.get(rule, _REFUSED))
    return tr("{explanation} ({detail})", explanation=explained, detail=en).zh


def plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value
