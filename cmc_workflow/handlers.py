"""Action handlers: the embedding system's code that serviceTask states run.

Handlers are registered explicitly and checked when definitions load, so a serviceTask
naming a handler nobody registered is a load error (:class:`MissingHandlerError`), not a
surprise at run time. Entering a serviceTask writes an outbox row in the command's own
transaction; after commit the row is delivered at least once: the handler receives a
:class:`HandlerContext` whose ``idempotency_key`` is the same on every retry, and returns
``None`` (take the state's default outcome) or the trigger of the outcome to take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cmc_workflow.log import get_logger

log = get_logger("cmc_workflow.handlers")


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler or notifier is told about the work to do."""

    item_id: int
    workflow: str
    state: str
    visit: int
    data: Mapping[str, Any]
    idempotency_key: str
    attempt: int
    payload: Mapping[str, Any]


Handler = Callable[[HandlerContext], str | None]
"""A serviceTask handler: returns None or the trigger of the outcome to take."""

Notifier = Callable[[str, HandlerContext], None]
"""Receives (role, context) for every ``notify:`` of a transition or deadline step."""


def log_notifier(role: str, ctx: HandlerContext) -> None:
    """The default notifier: a structured log event per notification."""
    log.info(
        "notification",
        role=role,
        item_id=ctx.item_id,
        workflow=ctx.workflow,
        state=ctx.state,
        reason=ctx.payload.get("reason"),
        idempotency_key=ctx.idempotency_key,
    )


class HandlerRegistry:
    """The handlers and the notifier an engine may call, by name."""

    def __init__(
        self, handlers: Mapping[str, Handler] | None = None, *, notifier: Notifier | None = None
    ) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._effects: dict[str, frozenset[str]] = {}
        self.notifier: Notifier = notifier or log_notifier

    def register(self, name: str, handler: Handler, *, effects: Iterable[str] = ()) -> None:
        """Register ``handler`` under ``name`` (the name used in ``handler:`` of a state).

        ``effects`` are the guarded effects the handler's code carries out (``publication``,
        ``account_release``, ``plan_in_force``): every workflow state running it must then
        declare them, so that the policies must guard it (fail closed) — an edit of the
        YAML that drops the declaration stops the engine from loading instead of letting the
        handler publish unreviewed."""
        if name in self._handlers:
            raise ValueError(f"a handler named {name!r} is registered already")
        self._handlers[name] = handler
        self._effects[name] = frozenset(effects)

    def effects(self, name: str) -> frozenset[str]:
        """The guarded effects the embedding system declared for handler ``name``."""
        return self._effects.get(name, frozenset())

    def set_notifier(self, notifier: Notifier) -> None:
        """Replace the notifier (the default logs each notification)."""
        self.notifier = notifier

    def get(self, name: str) -> Handler | None:
        """The handler registered under ``name``, if any."""
        return self._handlers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._handlers)

    @classmethod
    def coerce(cls, value: HandlerRegistry | Mapping[str, Handler] | None) -> HandlerRegistry:
        """Accept a registry, a plain mapping of name to handler, or None (no handlers)."""
        if isinstance(value, HandlerRegistry):
            return value
        return cls(value)


def describe(value: Any) -> str:
    """A short text of an exception for the outbox's ``last_error``."""
    return f"{type(value).__name__}: {value}"
