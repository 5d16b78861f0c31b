"""Extension points of the engine: lifecycle hooks as a class with no-op methods.

The policy layer and the clocks plug in here instead of patching the engine. Hooks run
inside the command's transaction (``check``, ``after_change``), so whatever they write
commits or rolls back with the command. Register extensions with
``Engine.open(..., extensions=[...])``; they run in the order given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.model import Actor
from cmc_workflow.store import ItemRow, Tx

if TYPE_CHECKING:
    from cmc_workflow.engine import Engine


@dataclass(frozen=True, slots=True)
class Command:
    """A command about to be accepted: everything a policy may judge it by.

    For ``start``, ``item`` is None and ``edge`` is None; ``target`` is the start state.
    ``probe`` is true when :meth:`Engine.allowed` asks ahead of the form: ``form`` is
    empty then, and checks that judge the form should not refuse for its absence.
    """

    kind: str
    actor: Actor
    workflow: CompiledWorkflow
    item: ItemRow | None
    trigger: str | None
    edge: Edge | None
    form: Mapping[str, Any]
    data: Mapping[str, Any]
    target: str
    now: dt.datetime
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Visit:
    """One stay of an item in a state: the state and the item's visit counter there."""

    state: str
    visit: int


@dataclass(frozen=True, slots=True)
class Change:
    """What an accepted command did to one item, seen inside its transaction.

    ``left`` is the visit the item ended (None at start or for a self-loop);
    ``entered`` lists the visits it began, in order (gateways included); ``final`` is
    where it rests now.
    """

    workflow: CompiledWorkflow
    item_id: int
    kind: str
    actor: Actor
    left: Visit | None
    entered: tuple[Visit, ...]
    final: Visit
    data: Mapping[str, Any]
    now: dt.datetime


class Extension:
    """Base class of engine extensions; override the hooks you need."""

    def bind(self, engine: Engine) -> None:
        """Called once when the engine is built (e.g. to keep a reference to it)."""

    def resolve(self, actor: Actor) -> Actor:
        """The actor as commands should see them, e.g. with the roles they hold through
        role inheritance; the engine asks before it judges the actor's roles."""
        return actor

    def check(self, command: Command, tx: Tx) -> None:
        """Refuse ``command`` by raising :class:`~cmc_workflow.errors.PolicyDenied`."""

    def visible(self, actor: Actor, item: ItemRow, workflow: CompiledWorkflow) -> bool:
        """Whether ``actor`` may see and act on ``item`` at all (scoping)."""
        return True

    def after_change(self, tx: Tx, change: Change) -> None:
        """Write what follows from an accepted change in the same transaction."""

    def run_due(self, now: dt.datetime) -> int:
        """Do the extension's due work (called by ``Engine.run_due``); returns units done."""
        return 0
