"""The engine as its extensions see it: the :class:`~cmc_workflow.extensions.Runtime`
port, and nothing else of the engine (no engine object, no raw connection)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.engine import commands, tasks
from cmc_workflow.engine.context import Core
from cmc_workflow.extensions import Event, StartClaim, Transaction
from cmc_workflow.model import Actor, Item, is_engine_actor
from cmc_workflow.store import StoreTx


class EngineRuntime:
    """The :class:`~cmc_workflow.extensions.Runtime` of one engine."""

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def __repr__(self) -> str:
        return f"EngineRuntime(runner={self._core.runner!r})"

    @property
    def runner(self) -> str:
        """This runner's name."""
        return self._core.runner

    def now(self) -> dt.datetime:
        """The engine clock's now."""
        return self._core.now()

    def read(self) -> AbstractContextManager[StoreTx]:
        """A read-only transaction of the store."""
        return self._core.store.read()

    def write(self) -> AbstractContextManager[StoreTx]:
        """A write transaction of the store."""
        return self._core.write()

    def write_series(self) -> AbstractContextManager[Transaction]:
        """One connection for a series of write transactions."""
        return self._core.store.write_series()

    def workflow(
        self, workflow_id: str, definition_id: int | None = None, *, tx: StoreTx | None = None
    ) -> CompiledWorkflow:
        """The current compiled workflow, or its stored version ``definition_id``."""
        definitions = self._core.definitions
        if definition_id is None:
            return definitions.require(workflow_id).workflow
        if tx is not None:
            version = definitions.version(tx, definition_id)
        else:
            with self._core.store.read() as own:
                version = definitions.version(own, definition_id)
        if version.workflow.id != workflow_id:
            raise ValueError(
                f"definition {definition_id} is of {version.workflow.id!r}, not {workflow_id!r}"
            )
        return version.workflow

    def fire_system(
        self, tx: StoreTx, item_id: int, trigger: str, *, state: str, visit: int, reason: str
    ) -> bool:
        """Fire ``trigger`` as the engine inside ``tx``, in a savepoint; False when the
        item left the state visit."""
        with tx.savepoint():
            done = commands.system_step(
                self._core, tx, item_id, trigger, state, visit, reason, inline=False
            )
        return done is not None

    def reassign_system(
        self, tx: StoreTx, item_id: int, role: str, *, state: str, visit: int, reason: str
    ) -> str | None:
        """A deadline's reassign step inside ``tx`` (:func:`tasks.escalate`)."""
        with tx.savepoint():
            return tasks.escalate(self._core, tx, item_id, role, state, visit, reason)

    def emit(self, tx: StoreTx, event: Event) -> None:
        """Tell every extension about ``event`` inside ``tx``."""
        for extension in self._core.extensions:
            extension.on_event(tx, event)

    def start_system(
        self,
        workflow: str,
        *,
        actor: Actor,
        data: Mapping[str, Any],
        claim: StartClaim | None = None,
    ) -> Item:
        """Start an item as the engine, with ``claim`` run in its transaction."""
        if not is_engine_actor(actor):
            raise ValueError(f"{actor.id!r} is not an engine actor (see engine_actor)")
        return commands.start(self._core, workflow, actor, data, None, claim)
