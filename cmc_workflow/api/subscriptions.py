"""The routes of host systems' webhook subscriptions (issue 15, part 4):
``POST/GET /v1/subscriptions``, ``GET/DELETE /v1/subscriptions/{id}``, and the delivery
record of one subscription. Admin tokens only: a token of the host system named
:data:`ADMIN_SYSTEM` (``cmc-workflow token create --system admin``); any other token is
refused with 403 ``admin_token_required``.

The routes call :mod:`cmc_workflow.webhooks.subscriptions`, as the CLI does; bad input is
a 422 problem document naming each field, and nothing is stored.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations, which
name the ``Who`` dependency given by :func:`add_routes`, at run time.)
"""

import datetime as dt
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field

from cmc_workflow.api.problems import Problem
from cmc_workflow.api.shapes import ApiProblem, Caller
from cmc_workflow.engine import Engine
from cmc_workflow.i18n import Text, tr
from cmc_workflow.store.port import SubscriptionRow
from cmc_workflow.webhooks.subscriptions import (
    EVENTS,
    add_subscription,
    list_subscriptions,
    remove_subscription,
)

__all__ = ["ADMIN_SYSTEM", "add_routes"]

ADMIN_SYSTEM = "admin"
"""The host system whose tokens may manage subscriptions."""


class SubscriptionIn(BaseModel):
    """A new subscription: where to POST, which event types (none: all) of which
    workflows (none: all)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=len(EVENTS))
    workflows: list[str] = Field(default_factory=list, max_length=200)
    label: str = Field(default="", max_length=200)


class SubscriptionOut(BaseModel):
    """A subscription as stored (never its secret)."""

    id: int
    url: str
    events: list[str]
    workflows: list[str]
    label: str
    created_at: dt.datetime
    created_by: str
    removed_at: dt.datetime | None


class SubscriptionCreated(SubscriptionOut):
    """A new subscription with its signing secret: shown this once, never again."""

    secret: str


class AttemptOut(BaseModel):
    """One attempt to deliver."""

    at: dt.datetime
    result: str
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    """One event's delivery to the subscription, with its attempts."""

    id: int
    event_id: str
    event: str
    item_id: int | None
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error: str | None


def _out(row: SubscriptionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "workflows": row.workflows,
        "label": row.label,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "removed_at": row.removed_at,
    }


def _not_found(subscription_id: int) -> ApiProblem:
    return ApiProblem(
        Problem(
            404,
            "subscription_not_found",
            tr("Subscription not found"),
            tr("no live subscription {id}", id=subscription_id),
        )
    )


def add_routes(app: FastAPI, engine: Engine, who: Any, master_key: str | None) -> None:
    """Add the subscription routes to ``app``; ``who`` is the app's caller dependency
    (``Annotated[Caller, Depends(...)]``)."""

    def admin(caller: Caller) -> str:
        if caller.token.system != ADMIN_SYSTEM:
            raise ApiProblem(
                Problem(
                    403,
                    "admin_token_required",
                    tr("Admin token required"),
                    tr(
                        "managing webhook subscriptions needs a token of the system {system} "
                        "(cmc-workflow token create --system {name})",
                        system=Text(repr(ADMIN_SYSTEM), ADMIN_SYSTEM),
                        name=ADMIN_SYSTEM,
                    ),
                    extra={"rule": "admin_token_required"},
                )
            )
        return f"{caller.token.system}:{caller.actor.id}"

    @app.post(
        "/v1/subscriptions",
        operation_id="add_subscription",
        status_code=201,
        tags=["webhooks"],
    )
    def create(body: SubscriptionIn, caller: who, response: Response) -> SubscriptionCreated:
        """Subscribe a host system's URL to events; the answer holds the signing secret,
        shown this once."""
        by = admin(caller)
        added = add_subscription(
            engine.store,
            body.url,
            events=body.events,
            workflows=body.workflows,
            label=body.label,
            created_by=by,
            now=engine.clock(),
            master_key=master_key,
            known_workflows=set(engine.workflows),
        )
        response.headers["Location"] = f"/v1/subscriptions/{added.row.id}"
        return SubscriptionCreated(**_out(added.row), secret=added.secret)

    @app.get("/v1/subscriptions", operation_id="list_subscriptions", tags=["webhooks"])
    def listing(caller: who, removed: bool = False) -> list[SubscriptionOut]:
        """The subscriptions (with ``removed=true`` the removed ones too), oldest first."""
        admin(caller)
        return [
            SubscriptionOut(**_out(r)) for r in list_subscriptions(engine.store, removed=removed)
        ]

    @app.get(
        "/v1/subscriptions/{subscription_id}",
        operation_id="subscription",
        tags=["webhooks"],
    )
    def one(subscription_id: int, caller: who) -> SubscriptionOut:
        """One subscription, removed or not."""
        admin(caller)
        with engine.store.read() as tx:
            row = tx.subscription(subscription_id)
        if row is None:
            raise _not_found(subscription_id)
        return SubscriptionOut(**_out(row))

    @app.get(
        "/v1/subscriptions/{subscription_id}/deliveries",
        operation_id="subscription_deliveries",
        tags=["webhooks"],
    )
    def deliveries(subscription_id: int, caller: who) -> list[DeliveryOut]:
        """Every delivery of the subscription with each attempt, oldest first."""
        admin(caller)
        with engine.store.read() as tx:
            if tx.subscription(subscription_id) is None:
                raise _not_found(subscription_id)
            rows = tx.hook_deliveries(subscription_id)
            attempts = {r.id: tx.hook_attempts(r.id) for r in rows}
        return [
            DeliveryOut(
                id=r.id,
                event_id=r.event_id,
                event=r.event,
                item_id=r.item_id,
                status=r.status,
                attempts=[
                    AttemptOut(at=a.at, result=a.result, status_code=a.status_code, error=a.error)
                    for a in attempts[r.id]
                ],
                next_attempt_at=r.available_at if r.status == "pending" else None,
                sent_at=r.sent_at,
                last_error=r.last_error,
            )
            for r in rows
        ]

    @app.delete(
        "/v1/subscriptions/{subscription_id}",
        operation_id="remove_subscription",
        status_code=204,
        tags=["webhooks"],
    )
    def remove(subscription_id: int, caller: who) -> Response:
        """Remove the subscription; its pending deliveries are cancelled."""
        admin(caller)
        if not remove_subscription(engine.store, subscription_id, engine.clock()):
            raise _not_found(subscription_id)
        return Response(status_code=204)
