"""Moving live items onto another version of their workflow (``cmc-workflow migrate``).

A plan judged by :func:`~cmc_workflow.migration.judge.prepare` (:func:`plan_for` on an
engine) is rehearsed by :func:`dry_run`, which reports what each item would go through,
and carried out by :func:`migrate`, in batches of one transaction each.

Each move is one step in the item's history (kind and trigger ``migrate``, actor
``system``, the revisions, the run id and the data added in its record) and one audit
record on the item's chain, committed with the item's new state and version. The run id
is derived from the plan's content, so a rerun of the same plan after a crash is the same
run: an item already on the target revision is no longer a candidate and is never moved
twice. Items the plan does not cover (another revision, a state it does not map) stay
where they are and are listed in the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmc_workflow.clocks.extension import Clocks
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.engine import Engine
from cmc_workflow.extensions import Change, Visit
from cmc_workflow.located import Located
from cmc_workflow.migration.checks import Definitions
from cmc_workflow.migration.judge import Left, Prepared, prepare
from cmc_workflow.migration.plan import MigrationPlan
from cmc_workflow.model import SYSTEM
from cmc_workflow.policy.extension import RolesExtension
from cmc_workflow.store import port
from cmc_workflow.store.port import (
    AuditRecord,
    ClockRow,
    HistoryEntry,
    ItemRow,
    ItemUpdate,
    StorePort,
    StoreTx,
)

KIND = "migrate"
"""The history kind, trigger and audit command of a move."""


@dataclass(frozen=True, slots=True)
class Move:
    """What migrating one item does (the dry run's line and the real run's record)."""

    item_id: int
    from_revision: int
    to_revision: int
    from_state: str
    to_state: str
    data_added: dict[str, Any] = field(default_factory=dict)
    clocks: tuple[str, ...] = ()
    """Each clock's fate: ``keep <state> due <time>``, ``stop <state>``, ``start <state>``."""
    closes: bool = False


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a dry run would do, or what a run did."""

    run_id: str
    workflow: str
    from_revisions: tuple[int, ...]
    to_revision: int
    clocks: str
    dry_run: bool
    moves: tuple[Move, ...] = ()
    left: tuple[Left, ...] = ()
    batches: int = 0


# -- one item ------------------------------------------------------------------------------
def _clock_plan(
    prepared: Prepared, row: ItemRow, to_state: str, clocks: list[ClockRow]
) -> tuple[list[tuple[ClockRow, str | None]], bool]:
    """Each active clock with the state it is kept under (None: stopped), and whether the
    new state's deadline starts a clock of its own."""
    target, plan = prepared.target, prepared.plan
    states = target.definition.states
    fates: list[tuple[ClockRow, str | None]] = []
    for clock in clocks:
        kept: str | None = None
        if plan.clocks == "keep" and not target.is_end(to_state):
            mapped = plan.target_of(clock.state, frozenset(states))
            spec = states[mapped].deadline if mapped is not None else None
            if spec is not None and (
                to_state == mapped or to_state in spec.runs_in or to_state in spec.pause_in
            ):
                kept = mapped
        fates.append((clock, kept))
    spec = states[to_state].deadline
    starts = (
        spec is not None
        and not target.is_end(to_state)
        and all(kept != to_state for _c, kept in fates)
    )
    return fates, starts


def _planned(prepared: Prepared, tx: StoreTx, row: ItemRow) -> tuple[Move, list[Any]] | None:
    plan, target = prepared.plan, prepared.target
    to_state = plan.target_of(row.state, frozenset(target.definition.states))
    if to_state is None or row.definition_id not in prepared.sources:
        return None
    added = {
        name: value
        for name, value in plan.defaults.items()
        if name in target.definition.data and row.data.get(name) in (None, "", [])
    }
    fates, starts = _clock_plan(prepared, row, to_state, tx.active_clocks(row.id))
    words = [
        f"keep {c.state}->{kept} due {c.due_at.astimezone(dt.UTC).isoformat()}"
        if kept is not None
        else f"stop {c.state}"
        for c, kept in fates
    ]
    if starts:
        words.append(f"start {to_state}")
    move = Move(
        row.id,
        prepared.revisions[row.definition_id],
        prepared.target_row.revision,
        row.state,
        to_state,
        added,
        tuple(words),
        target.is_end(to_state),
    )
    return move, [fates, starts]


def _apply(
    prepared: Prepared,
    tx: StoreTx,
    row: ItemRow,
    move: Move,
    how: list[Any],
    now: dt.datetime,
    clocks: Clocks | None,
) -> None:
    fates: list[tuple[ClockRow, str | None]] = how[0]
    starts: bool = how[1]
    target = prepared.target
    visit = row.visit + 1
    data = {**row.data, **move.data_added}
    record = {
        "run": prepared.run_id,
        "from_revision": move.from_revision,
        "to_revision": move.to_revision,
        "data_added": move.data_added,
        "clocks": list(move.clocks),
    }
    tx.insert_history(
        [
            HistoryEntry(
                item_id=row.id,
                seq=row.seq + 1,
                at=now,
                kind=KIND,
                trigger=KIND,
                from_state=row.state,
                to_state=move.to_state,
                visit=visit,
                actor=SYSTEM.id,
                roles=[],
                form=record,
            )
        ]
    )
    tx.insert_audit(
        AuditRecord(
            at=now,
            actor=SYSTEM.id,
            roles=sorted(SYSTEM.roles),
            command=KIND,
            workflow_id=row.workflow_id,
            item_id=row.id,
            trigger=KIND,
            outcome="accepted",
            rule=None,
            reason=(
                f"migrated from revision {move.from_revision} ({row.state}) to revision "
                f"{move.to_revision} ({move.to_state}) by run {prepared.run_id}"
            ),
            detail={**record, "from_state": row.state, "to_state": move.to_state},
        )
    )
    tx.update_item(
        row.id,
        row.version,
        ItemUpdate(
            state=move.to_state,
            data=data,
            visit=visit,
            seq=row.seq + 1,
            updated_at=now,
            closed_at=now if move.closes else None,
        ),
    )
    tx.set_item_definition(row.id, row.version + 1, prepared.target_row.id)
    stopped = []
    for clock, kept in fates:
        if kept is None:
            # stopped as leaving its state would stop it: met, or breached when overdue
            late = clock.breached_at is not None or (
                clock.status == port.RUNNING and now > clock.due_at
            )
            values: dict[str, Any] = {
                "status": port.STOPPED,
                "stopped_at": now,
                "paused_at": None,
                "outcome": "breached" if late else "met",
                "detail": {**clock.detail, "migrated": prepared.run_id},
            }
            if late and clock.breached_at is None:
                values["breached_at"] = now
            tx.update_clock(clock.id, values)
            stopped.append(clock.id)
            continue
        fence = {"state": move.to_state, "visit": visit}
        tx.set_clock_timers(clock.id, port.PENDING, fence)
        tx.set_clock_timers(clock.id, port.PAUSED, {"state": move.to_state})
        tx.update_clock(
            clock.id,
            {
                "state": kept,
                "at_state": move.to_state,
                "visit": visit,
                "detail": {**clock.detail, "migrated": prepared.run_id},
            },
        )
    tx.cancel_clock_timers(stopped, now)
    if starts and clocks is not None:
        # the new state's deadline starts as on entering it: a change with no state left
        # behind (kind "start") makes the clocks arm it without touching the kept ones
        final = Visit(move.to_state, visit)
        clocks.after_change(
            tx, Change(target, row.id, "start", SYSTEM, None, (final,), final, data, now)
        )


# -- the runs ------------------------------------------------------------------------------
def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _report(prepared: Prepared, dry: bool, moves: list[Move], batches: int) -> MigrationReport:
    plan = prepared.plan
    return MigrationReport(
        prepared.run_id,
        plan.workflow,
        tuple(plan.from_),
        plan.to,
        plan.clocks,
        dry,
        tuple(moves),
        prepared.left,
        batches,
    )


def dry_run(store: StorePort, prepared: Prepared) -> MigrationReport:
    """What :func:`migrate` would do to each item, writing nothing."""
    moves = []
    with store.read() as tx:
        for item_id in prepared.candidates:
            row = tx.item(item_id)
            if row is None:
                continue
            planned = _planned(prepared, tx, row)
            if planned is not None:
                moves.append(planned[0])
    return _report(prepared, True, moves, 0)


def migrate(
    store: StorePort,
    prepared: Prepared,
    *,
    now: Callable[[], dt.datetime],
    clocks: Clocks | None = None,
    batch: int | None = None,
    after_batch: Callable[[int, list[Move]], None] | None = None,
) -> MigrationReport:
    """Move every candidate item, ``batch`` items (default: the plan's) per transaction.

    A failure rolls back its batch only and is raised; the batches before it stay
    committed, and running the same plan again moves the rest (an item already on the
    target revision is no longer a candidate). ``after_batch`` is told each committed
    batch's number and moves (progress output)."""
    size = batch or prepared.plan.batch
    moves: list[Move] = []
    batches = 0
    for chunk in _chunks(prepared.candidates, size):
        done: list[Move] = []
        with store.write() as tx:
            at = now()
            for item_id in chunk:
                row = tx.item(item_id, lock=True)
                if row is None or row.closed_at is not None:
                    continue
                planned = _planned(prepared, tx, row)
                if planned is None:
                    continue  # moved (or moved on) since the plan was judged
                _apply(prepared, tx, row, planned[0], planned[1], at, clocks)
                done.append(planned[0])
        batches += 1
        moves += done
        if after_batch is not None:
            after_batch(batches, done)
    return _report(prepared, False, moves, batches)


def migrate_engine(
    engine: Engine,
    prepared: Prepared,
    *,
    batch: int | None = None,
    after_batch: Callable[[int, list[Move]], None] | None = None,
) -> MigrationReport:
    """:func:`migrate` on an engine's store, stamped by its clock, with its SLA clocks."""
    clocks = next((e for e in engine.extensions if isinstance(e, Clocks)), None)
    return migrate(
        engine.store,
        prepared,
        now=engine.clock,
        clocks=clocks,
        batch=batch,
        after_batch=after_batch,
    )


def engine_definitions(engine: Engine) -> LoadedSet:
    """What an engine runs on: its current workflows and the policy files its policy
    extension enforces (for the policies' proof on a migration's target version)."""
    registry = engine.definitions
    workflows = {}
    for wf_id in registry.ids:
        version = registry.current(wf_id)
        if version is not None:
            workflows[wf_id] = version.workflow.loaded
    loaded = LoadedSet(workflows)
    for extension in engine.extensions:
        if isinstance(extension, RolesExtension):  # the first of the policies' extensions
            loaded.others["policy"] = list(extension.runtime.policy.files)
            break
    return loaded


def plan_for(
    engine: Engine,
    plan: MigrationPlan,
    doc: Located,
    *,
    definitions: Sequence[str | Path] | None = None,
) -> Prepared:
    """:func:`prepare` against an engine's database and stored versions. The target
    version must pass the checks and proof of the policies under ``definitions`` (paths
    of workflows and policies), by default of the ones the engine enforces."""
    proof: Definitions = definitions if definitions is not None else engine_definitions(engine)
    return prepare(engine.store, engine.definitions, plan, doc, definitions=proof)
