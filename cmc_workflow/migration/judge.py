"""Judging a migration plan against the database, before anything is written
(:func:`prepare`): the stored versions it names, the items it concerns and those it
leaves, and every reason to refuse it, placed in the plan file.

A plan is refused when it would put an item in a state the target version lacks
(``E-MIGRATION-STATE``), leave an item where it has no way forward (a gateway, a
serviceTask whose handler would not run, a state from which no end is reachable:
``E-MIGRATION-NO-WAY-FORWARD``), leave a required data field of the target empty
(``E-MIGRATION-DEFAULT``), or break the policies: their checks and proof on the target
version, or a move into a state with a guarded effect its old state lacked
(``E-MIGRATION-POLICY``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.forms import validate_values
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.located import Located
from cmc_workflow.migration.checks import Definitions, proof_problems
from cmc_workflow.migration.diff import loaded_of
from cmc_workflow.migration.plan import MigrationPlan
from cmc_workflow.registry import Registry
from cmc_workflow.store.port import DefinitionRow, ItemRow, StorePort, StoreTx


@dataclass(frozen=True, slots=True)
class Left:
    """A live item of the workflow that the plan leaves where it is, and why."""

    item_id: int
    revision: int
    state: str
    reason: str
    reason_zh: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """A plan judged against the database: the versions and the items it concerns."""

    plan: MigrationPlan
    run_id: str
    sources: dict[int, CompiledWorkflow]
    """definition id -> compiled version, for each ``from:`` revision."""
    revisions: dict[int, int]
    """definition id -> revision number."""
    target_row: DefinitionRow
    target: CompiledWorkflow
    candidates: tuple[int, ...]
    left: tuple[Left, ...]


# -- judging a plan ------------------------------------------------------------------------
def run_id_of(plan: MigrationPlan) -> str:
    """The run id of a plan: the same content, the same run (a rerun resumes it)."""
    text = plan.model_dump_json(by_alias=True)
    return "m-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _way_forward(wf: CompiledWorkflow, state: str, sources: set[str]) -> Text | None:
    """Why an item resting in ``state`` could not move on (None: it can, or it is done);
    ``sources`` are the types of the states items come from."""
    spec = wf.definition.states[state]
    if spec.type == "endEvent":
        return None
    if spec.type == "exclusiveGateway":
        return tr("it is a gateway, which routes an item on entry and never holds one")
    if spec.type == "serviceTask" and sources != {"serviceTask"}:
        # an item waiting in a serviceTask keeps the handler run it queued; any other
        # item would wait for a handler that never runs
        return tr("it is a serviceTask, whose handler runs on entry and would not run")
    seen, todo = {state}, [state]
    while todo:
        here = todo.pop()
        for edge in wf.edges(here):
            if wf.is_end(edge.target):
                return None
            if edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return tr("no end state can be reached from it")


def prepare(
    store: StorePort,
    registry: Registry,
    plan: MigrationPlan,
    doc: Located,
    *,
    definitions: Definitions | None = None,
) -> Prepared:
    """Judge ``plan`` (read from ``doc``) against the database, or raise
    :class:`DefinitionError` with every problem placed in the plan file. ``definitions``
    are the workflows and policies (paths, or a loaded set) whose checks and proof the
    target version must pass; None skips that check (:func:`plan_for` never does)."""
    problems: list[Problem] = []
    with store.read() as tx:
        rows = [row for row, _live in tx.definitions_of(plan.workflow)]
        if not rows:
            raise DefinitionError(
                [
                    doc.problem(
                        ("workflow",),
                        "E-MIGRATION-WORKFLOW",
                        tr(
                            "no version of workflow {workflow} is stored in this database",
                            workflow=repr(plan.workflow),
                        ),
                        tr("check the id and --db; `cmc-workflow versions WORKFLOW` lists them"),
                    )
                ]
            )
        by_revision = {row.revision: row for row in rows}
        stored = ", ".join(str(r) for r in sorted(by_revision))
        for i, revision in enumerate(plan.from_):
            if revision not in by_revision:
                problems.append(
                    doc.problem(
                        ("from", i)
                        if "from" in doc.data and isinstance(doc.data["from"], list)
                        else ("from",),
                        "E-MIGRATION-REVISION",
                        tr(
                            "{workflow} has no stored revision {revision} (stored: {stored})",
                            workflow=repr(plan.workflow),
                            revision=revision,
                            stored=stored,
                        ),
                        tr("`cmc-workflow versions WORKFLOW` lists the stored revisions"),
                    )
                )
        if plan.to not in by_revision:
            problems.append(
                doc.problem(
                    ("to",),
                    "E-MIGRATION-REVISION",
                    tr(
                        "{workflow} has no stored revision {revision} (stored: {stored})",
                        workflow=repr(plan.workflow),
                        revision=plan.to,
                        stored=stored,
                    ),
                    tr(
                        "open the engine once with the new file (it stores it as the next "
                        "revision), then name that revision"
                    ),
                )
            )
        if problems:
            raise DefinitionError(problems)
        sources = {
            by_revision[r].id: registry.version(tx, by_revision[r].id).workflow for r in plan.from_
        }
        target_row = by_revision[plan.to]
        target = registry.version(tx, target_row.id).workflow
        old_states = {s for wf in sources.values() for s in wf.definition.states}
        items = tx.open_items([(plan.workflow, s) for s in sorted(old_states)])
        others = tx.open_items(
            [(plan.workflow, s) for s in sorted(_all_states(registry, tx, rows) - old_states)]
        )
    new_states = frozenset(target.definition.states)
    old_types: dict[str, str] = {
        name: state.type for wf in sources.values() for name, state in wf.definition.states.items()
    }
    problems += _mapping_problems(plan, doc, old_types, target)
    problems += _effect_problems(plan, doc, sources, target)
    revisions = {row.id: row.revision for row in rows}
    candidates: list[ItemRow] = []
    left: list[Left] = []
    for row in sorted([*items, *others], key=lambda r: r.id):
        if row.definition_id == target_row.id:
            continue  # already there (moved by this run before a crash, or started there)
        revision = revisions.get(row.definition_id, 0)
        if row.definition_id not in sources:
            left.append(
                Left(
                    row.id,
                    revision,
                    row.state,
                    *tr("on revision {revision}, not one the plan moves from", revision=revision),
                )
            )
        elif plan.target_of(row.state, new_states) is None:
            left.append(
                Left(
                    row.id,
                    revision,
                    row.state,
                    *tr("state {state} is not mapped", state=repr(row.state)),
                )
            )
        else:
            candidates.append(row)
    problems += _data_problems(plan, doc, target, candidates)
    if definitions is not None and not problems:
        found = proof_problems(definitions, loaded_of(target_row))
        if found:
            problems.append(
                doc.problem(
                    ("to",),
                    "E-MIGRATION-POLICY",
                    tr(
                        "revision {revision} of {workflow} breaks the policies' checks or "
                        "proof ({count} problem(s), listed with their places)",
                        revision=plan.to,
                        workflow=repr(plan.workflow),
                        count=len(found),
                    ),
                    tr(
                        "fix the workflow or the policy files so that `cmc-workflow validate` "
                        "passes on them, then migrate"
                    ),
                )
            )
            problems += found
    if problems:
        raise DefinitionError(problems)
    return Prepared(
        plan,
        run_id_of(plan),
        sources,
        {def_id: revisions[def_id] for def_id in sources} | {target_row.id: target_row.revision},
        target_row,
        target,
        tuple(r.id for r in candidates),
        tuple(left),
    )


def _all_states(registry: Registry, tx: StoreTx, rows: list[DefinitionRow]) -> set[str]:
    return {s for row in rows for s in registry.version(tx, row.id).workflow.definition.states}


def _mapping_problems(
    plan: MigrationPlan, doc: Located, old_types: dict[str, str], target: CompiledWorkflow
) -> list[Problem]:
    out = []
    new_states = target.definition.states
    old_states = set(old_types)
    for old, new in plan.states.items():
        if old not in old_states:
            out.append(
                doc.problem(
                    ("states", old),
                    "E-MIGRATION-STATE",
                    tr(
                        "state {state} is not a state of revision(s) {revisions}",
                        state=repr(old),
                        revisions=plan.from_,
                    ),
                    tr(
                        "states of the source revision(s): {names}",
                        names=joined(sorted(old_states)),
                    ),
                    key=True,
                )
            )
        if new not in new_states:
            out.append(
                doc.problem(
                    ("states", old),
                    "E-MIGRATION-STATE",
                    tr(
                        "{old} maps to {new}, which revision {revision} does not have: the "
                        "items would rest in an unknown state",
                        old=repr(old),
                        new=repr(new),
                        revision=plan.to,
                    ),
                    tr(
                        "states of revision {revision}: {names}",
                        revision=plan.to,
                        names=joined(sorted(new_states)),
                    ),
                )
            )
    # where items can rest: a gateway routes on entry and never holds one
    resting = {s: t for s, t in old_types.items() if t != "exclusiveGateway"}
    used: dict[str, set[str]] = {}
    for old, kind in resting.items():
        goes = plan.target_of(old, frozenset(new_states))
        if goes is not None and goes in new_states:
            used.setdefault(goes, set()).add(kind)
    for new, kinds in sorted(used.items()):
        why = _way_forward(target, new, kinds)
        if why is None:
            continue
        olds = [o for o, n in plan.states.items() if n == new]
        path: tuple[str, ...] = ("states", olds[0]) if olds else ("map_equal",)
        out.append(
            doc.problem(
                path,
                "E-MIGRATION-NO-WAY-FORWARD",
                tr(
                    "items moved to {state} would have no way forward: {why}",
                    state=repr(new),
                    why=why,
                ),
                tr("map the state to a user task from which the workflow can end, or to an end"),
            )
        )
    return out


def _effect_problems(
    plan: MigrationPlan,
    doc: Located,
    sources: dict[int, CompiledWorkflow],
    target: CompiledWorkflow,
) -> list[Problem]:
    """A move never carries out a guarded effect (publication, a release to the accounts,
    a plan put in force) that the item's old state did not already carry: entering such
    a state is judged by the policies, and a migration is not a command they judge."""
    out = []
    new_states = target.definition.states
    for old in sorted({s for wf in sources.values() for s in wf.definition.states}):
        new = plan.target_of(old, frozenset(new_states))
        if new is None or new not in new_states:
            continue
        had = set().union(
            *(
                wf.definition.states[old].effects
                for wf in sources.values()
                if old in wf.definition.states
            )
        )
        gained = sorted(set(new_states[new].effects) - had)
        if not gained:
            continue
        path: tuple[str, ...] = ("states", old) if old in plan.states else ("map_equal",)
        out.append(
            doc.problem(
                path,
                "E-MIGRATION-POLICY",
                tr(
                    "items in {old} would enter {new} and so carry out {effects} without the "
                    "policies judging it",
                    old=repr(old),
                    new=repr(new),
                    effects=joined(gained),
                ),
                tr(
                    "map the state to one without that effect, and let the item take the "
                    "guarded step as a command"
                ),
            )
        )
    return out


def _missing_fields(plan: MigrationPlan, target: CompiledWorkflow, row: ItemRow) -> list[str]:
    spec = target.definition.data
    return [
        name
        for name, f in spec.items()
        if f.required and row.data.get(name) in (None, "", []) and name not in plan.defaults
    ]


def _data_problems(
    plan: MigrationPlan, doc: Located, target: CompiledWorkflow, rows: list[ItemRow]
) -> list[Problem]:
    out = []
    spec = target.definition.data
    for name in plan.defaults:
        if name not in spec:
            out.append(
                doc.problem(
                    ("defaults", name),
                    "E-MIGRATION-DEFAULT",
                    tr(
                        "{name} is not a data field of revision {revision}",
                        name=repr(name),
                        revision=plan.to,
                    ),
                    tr("data fields: {names}", names=joined(sorted(spec)) if spec else tr("none")),
                    key=True,
                )
            )
    _clean, errors = validate_values(
        {k: v for k, v in spec.items() if k in plan.defaults},
        {k: v for k, v in plan.defaults.items() if k in spec},
        partial=True,
    )
    for err in errors:
        out.append(
            doc.problem(
                ("defaults", err.field),
                "E-MIGRATION-DEFAULT",
                tr(
                    "default of {name} {error}",
                    name=repr(err.field),
                    error=Text(err.message, err.message_zh or err.message),
                ),
                tr("give a value of the field's type (see the workflow's data:)"),
            )
        )
    lacking: dict[str, list[int]] = {}
    for row in rows:
        for name in _missing_fields(plan, target, row):
            lacking.setdefault(name, []).append(row.id)
    for name, ids in sorted(lacking.items()):
        shown = ", ".join(str(i) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
        out.append(
            doc.problem(
                ("defaults",) if "defaults" in doc.data else ("to",),
                "E-MIGRATION-DEFAULT",
                tr(
                    "revision {revision} requires data field {name}, which {count} item(s) "
                    "lack (items {items})",
                    revision=plan.to,
                    name=repr(name),
                    count=len(ids),
                    items=shown,
                ),
                tr("add defaults: {{{name}: <value>}} to the plan", name=name),
            )
        )
    return out
