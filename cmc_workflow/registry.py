"""Definition versions: the current compiled version of each workflow, and every stored
version an open item may still run on (ARCHITECTURE decision 3).

A loaded file is registered by its content hash: the same text is the same version on
every runner; a changed text becomes the next revision for new items, while items keep
the version they started on. Versions not loaded from files are compiled from the text
stored with them, on first use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedWorkflow, load_workflow_text
from cmc_workflow.errors import (
    ConflictError,
    DefinitionError,
    MissingHandlerError,
    StoreError,
    WorkflowNotFound,
)
from cmc_workflow.handlers import HandlerRegistry
from cmc_workflow.i18n import Text, joined, joined_or_none, tr
from cmc_workflow.located import load_located
from cmc_workflow.log import get_logger
from cmc_workflow.model import VersionInfo
from cmc_workflow.policy.coverage import effects_of, handler_effects
from cmc_workflow.store import DefinitionRow, StorePort, StoreTx

log = get_logger("cmc_workflow.registry")


@dataclass(frozen=True, slots=True)
class Version:
    """A stored definition version and its compiled workflow."""

    row: DefinitionRow
    workflow: CompiledWorkflow


class Registry:
    """The versions one engine knows, current ones by workflow id, all by definition id."""

    def __init__(self, store: StorePort, now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self._now = now
        self._by_id: dict[int, Version] = {}
        self._current: dict[str, Version] = {}

    @property
    def ids(self) -> list[str]:
        """The ids of the workflows with a current version, sorted."""
        return sorted(self._current)

    def current(self, workflow_id: str) -> Version | None:
        """The version new items of ``workflow_id`` start on, if it is loaded."""
        return self._current.get(workflow_id)

    def require(self, workflow_id: str) -> Version:
        """The current version, or :class:`WorkflowNotFound` naming the loaded ones."""
        version = self._current.get(workflow_id)
        if version is None:
            raise WorkflowNotFound(
                tr(
                    "no workflow {workflow_id}; loaded: {workflows}",
                    workflow_id=repr(workflow_id),
                    workflows=joined_or_none(self.ids),
                )
            )
        return version

    def register(self, loaded: LoadedWorkflow) -> Version | None:
        """Store ``loaded`` (once per content hash) and make it current.

        On a read-only database nothing is stored: a text already stored becomes current,
        any other is left out (None), and its items still show from their stored text."""
        wf = loaded.definition
        if self.store.read_only:
            with self.store.read() as tx:
                stored = tx.find_definition(wf.id, loaded.content_hash)
            if stored is None:
                log.warning("workflow_not_stored", workflow=wf.id, file=loaded.file)
                return None
            return self._make_current(stored, loaded)
        for _attempt in range(3):
            try:
                with self.store.write() as tx:
                    row = tx.find_definition(wf.id, loaded.content_hash)
                    if row is None:
                        row = tx.insert_definition(
                            wf.id,
                            loaded.content_hash,
                            wf.version,
                            loaded.file,
                            loaded.source,
                            self._now(),
                        )
                break
            except ConflictError:  # another runner registered the same text first
                continue
        else:  # pragma: no cover - three lost races in a row
            raise StoreError(f"could not register workflow {wf.id!r}")
        return self._make_current(row, loaded)

    def register_all(self, loaded: Iterable[LoadedWorkflow]) -> None:
        """:meth:`register` each of ``loaded``; the texts stored already (every one, when
        an engine opens its database again) are found in one read transaction, not one
        write transaction each."""
        waiting = list(loaded)
        with self.store.read() as tx:
            stored = [tx.find_definition(w.definition.id, w.content_hash) for w in waiting]
        for found, workflow in zip(stored, waiting, strict=True):
            if found is not None:
                self._make_current(found, workflow)
            else:
                self.register(workflow)

    def _make_current(self, row: DefinitionRow, loaded: LoadedWorkflow) -> Version:
        wf = loaded.definition
        version = self._by_id.get(row.id) or Version(row, CompiledWorkflow(loaded))
        self._by_id[row.id] = version
        self._current[wf.id] = version
        log.info("workflow_loaded", workflow=wf.id, revision=row.revision, file=loaded.file)
        return version

    def reload(self, workflows: Mapping[str, LoadedWorkflow]) -> list[str]:
        """Register new or changed definitions; returns the ids that changed."""
        changed = []
        for loaded in workflows.values():
            current = self._current.get(loaded.definition.id)
            if current is None or current.row.content_hash != loaded.content_hash:
                self.register(loaded)
                changed.append(loaded.definition.id)
        return changed

    def version(self, tx: StoreTx, definition_id: int) -> Version:
        """The version an item runs on, compiled from its stored text when not loaded."""
        version = self._by_id.get(definition_id)
        if version is not None:
            return version
        row = tx.definition(definition_id)
        if row is None:
            raise StoreError(f"definition {definition_id} is missing from the database")
        try:
            loaded = load_workflow_text(row.source_text, f"{row.source_file}@{row.revision}")
        except DefinitionError as exc:
            raise StoreError(
                f"stored version {row.revision} of {row.workflow_id!r} no longer loads: {exc}"
            ) from exc
        version = Version(row, CompiledWorkflow(loaded))
        self._by_id[definition_id] = version
        return version

    def versions(self, workflow_id: str) -> list[VersionInfo]:
        """Every stored version of a workflow with its number of open items."""
        with self.store.read() as tx:
            rows = tx.definitions_of(workflow_id)
        if not rows:
            raise WorkflowNotFound(
                tr("no version of {workflow_id} is stored", workflow_id=repr(workflow_id))
            )
        current = self._current.get(workflow_id)
        return [
            VersionInfo(
                workflow=row.workflow_id,
                revision=row.revision,
                version_label=row.version_label,
                content_hash=row.content_hash,
                source_file=row.source_file,
                loaded_at=row.loaded_at,
                open_items=live,
                current=current is not None and current.row.id == row.id,
            )
            for row, live in rows
        ]


def check_handlers(workflows: Iterable[LoadedWorkflow], handlers: HandlerRegistry) -> None:
    """Raise :class:`MissingHandlerError` when a serviceTask's handler is not registered,
    placed at the state's ``handler:`` key."""
    workflows = list(workflows)
    shared = handler_effects(workflows)
    problems = []
    for loaded in workflows:
        missing = [
            (name, state.handler)
            for name, state in loaded.definition.states.items()
            if state.handler is not None and state.handler not in handlers
        ]
        undeclared = [
            (name, state.handler, sorted(wanted - declared))
            for name, state in loaded.definition.states.items()
            if state.handler is not None
            and (wanted := handlers.effects(state.handler))
            and not wanted
            <= (declared := {e for _s, e, _p in effects_of(loaded, shared) if _s == name})
        ]
        if not missing and not undeclared:
            continue
        doc, _ = load_located(loaded.source, loaded.file)  # only to place the problems
        problems += [
            doc.problem(
                ("states", name, "handler"),
                "E-HANDLER-NOT-REGISTERED",
                tr(
                    "state {name} needs handler {handler}, which the embedding system did not "
                    "register",
                    name=repr(name),
                    handler=repr(handler),
                ),
                tr("pass handlers={{{handler}: fn}} to Engine.open", handler=repr(handler)),
            )
            for name, handler in missing
        ]
        problems += [
            doc.problem(
                ("states", name, "handler"),
                "E-HANDLER-EFFECT-UNDECLARED",
                tr(
                    "state {state} runs handler {handler}, whose code carries out {effects} "
                    "(the embedding system registered it so), but the workflow does not "
                    "declare it",
                    state=Text(repr(name), name),
                    handler=Text(repr(handler), handler),
                    effects=joined(effects),
                ),
                tr(
                    "add effects: [{effects}] to handler {handler} under handlers:, and load "
                    "the policy that guards it",
                    effects=", ".join(effects),
                    handler=repr(handler),
                ),
            )
            for name, handler, effects in undeclared
        ]
    if problems:
        raise MissingHandlerError(problems)
