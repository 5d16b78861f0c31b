"""What every policy check shares: the loaded set, the problems found so far, the
workflows compiled on demand, the declared roles, and the problems for names that point
nowhere (states, fields, workflows, roles, rule ids used twice)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, joined, joined_or_none, tr
from cmc_workflow.located import Located, Path, load_located
from cmc_workflow.policy.models import DistinctActors, PolicyFile
from cmc_workflow.policy.policyset import RoleInfo, Roles
from cmc_workflow.policy.rules import Rule, StepKey


class References:
    """One pass over every policy file: problems collected, rules compiled."""

    def __init__(self, loaded: LoadedSet) -> None:
        self.loaded = loaded
        self.problems: list[Problem] = []
        self.files: list[tuple[Located, PolicyFile]] = [
            (doc, model)
            for doc, model in loaded.others.get("policy", [])
            if isinstance(model, PolicyFile)
        ]
        self.compiled: dict[str, CompiledWorkflow] = {}
        self.rules: dict[str, list[Rule]] = {}
        self.broken: set[str] = set()  # workflows whose policy references are wrong
        self.guarding: list[str] = []
        """The workflows the rules being checked guard (a ``workflows:`` section's id)."""
        self._workflow_docs: dict[str, Located] = {}

    def workflow(self, wf_id: str) -> CompiledWorkflow | None:
        found = self.compiled.get(wf_id)
        if found is None and wf_id in self.loaded.workflows:
            found = self.compiled[wf_id] = CompiledWorkflow(self.loaded.workflows[wf_id])
        return found

    def workflow_doc(self, loaded: LoadedWorkflow) -> Located:
        doc = self.loaded.located.get(loaded.definition.id) or self._workflow_docs.get(loaded.file)
        if doc is None or doc.file != loaded.file:
            doc = self._workflow_docs[loaded.file] = load_located(loaded.source, loaded.file)[0]
        return doc

    def add(
        self,
        doc: Located,
        path: Path,
        code: str,
        message: Text | str,
        hint: Text | str = "",
        *,
        key: bool = False,
    ) -> None:
        self.problems.append(doc.problem(path, code, message, hint, key=key))

    def roles(self) -> Roles:
        declared: dict[str, RoleInfo] = {}
        places: dict[str, tuple[Located, Path]] = {}
        for doc, policy in self.files:
            for name, spec in policy.roles.items():
                if name in declared:
                    self.add(
                        doc,
                        ("roles", name),
                        "E-POLICY-DUPLICATE",
                        tr(
                            "role {name} is already declared in {file}",
                            name=repr(name),
                            file=declared[name].file,
                        ),
                        tr("declare each role once; other files may use it"),
                        key=True,
                    )
                    continue
                declared[name] = RoleInfo(
                    name, spec.label, tuple(spec.inherits), spec.max_holders, doc.file
                )
                places[name] = (doc, ("roles", name))
        in_workflows = {r for lw in self.loaded.workflows.values() for r in lw.definition.roles}
        roles = Roles(declared, in_workflows)
        in_cycles: set[str] = set()
        for name, info in declared.items():
            doc, path = places[name]
            for j, parent in enumerate(info.inherits):
                if parent not in roles.known:
                    self.add(
                        doc,
                        (*path, "inherits", j),
                        "E-UNKNOWN-ROLE",
                        tr(
                            "role {name} inherits {parent}, which no policy or workflow declares",
                            name=repr(name),
                            parent=repr(parent),
                        ),
                        tr("known roles: {roles}", roles=joined(sorted(roles.known))),
                    )
            cycle = [p for p in info.inherits if p != name and name in roles.closure(p)]
            if cycle and name not in in_cycles:
                in_cycles |= {r for r in roles.closure(name) if name in roles.closure(r)}
                self.add(
                    doc,
                    path,
                    "E-POLICY-ROLE-CYCLE",
                    tr(
                        "role {name} inherits itself through {cycle}",
                        name=repr(name),
                        cycle=repr(cycle[0]),
                    ),
                    tr("role inheritance must not go round in a circle"),
                    key=True,
                )
        return roles

    def known_roles(
        self, doc: Located, path: Path, names: Sequence[str], roles: Roles, first: int = 0
    ) -> bool:
        """Whether every role of ``names`` is declared; each unknown one is a problem
        placed at its index (counted from ``first``) under ``path``."""
        ok = True
        for j, role in enumerate(names, start=first):
            if role not in roles.known:
                self.add(
                    doc,
                    (*path, j),
                    "E-UNKNOWN-ROLE",
                    tr("role {role} is declared by no policy or workflow", role=repr(role)),
                    tr("known roles: {roles}", roles=joined(sorted(roles.known))),
                )
                ok = False
        return ok

    def unknown_workflow(
        self,
        doc: Located,
        path: Path,
        wf_id: str,
        *,
        records: bool = False,
        key: bool = False,
        disabled_ok: bool = False,
    ) -> None:
        """``wf_id``, named at ``path``, is not loaded (``records``: it was wanted to keep
        a rule's records, as the message says).

        With ``disabled_ok``, a workflow set aside with its broken file
        (``LoadedSet.disabled``) is no problem: the rules *for* it are left out while it
        cannot run. A rule that *needs* it (its records) stays a problem: fail closed."""
        cause = self.loaded.disabled.get(wf_id)
        if cause is not None and disabled_ok:
            return
        if cause is not None and self.guarding:
            for guarded in self.guarding:  # its rule cannot be judged: it may not run either
                self.loaded.disabled.setdefault(guarded, cause)
            return
        self.add(
            doc,
            path,
            "E-POLICY-UNKNOWN-WORKFLOW",
            tr("no workflow {workflow} is loaded to keep the records", workflow=repr(wf_id))
            if records
            else tr("no workflow {workflow} is loaded", workflow=repr(wf_id)),
            tr(
                "loaded workflows: {workflows}",
                workflows=joined_or_none(sorted(self.loaded.workflows)),
            ),
            key=key,
        )

    def loaded_workflows(self, doc: Located, path: Path, ids: Sequence[str]) -> list[str]:
        """The workflows of ``ids`` that are loaded; each other one is a problem placed at
        its index under ``path``."""
        found = []
        for j, wf_id in enumerate(ids):
            if self.workflow(wf_id) is None:
                self.unknown_workflow(doc, (*path, j), wf_id, disabled_ok=True)
            else:
                found.append(wf_id)
        return found

    def claim_id(
        self,
        doc: Located,
        path: Path,
        rule_id: str,
        places: dict[str, str],
        hint: str = "",
    ) -> None:
        """Note that ``doc`` uses ``rule_id``: a problem when another file uses it already.
        ``hint`` is a msgid (``N_``), looked up only when there is a problem: a clean load
        never reads the catalogue."""
        if rule_id in places and places[rule_id] != doc.file:
            self.add(
                doc,
                path,
                "E-POLICY-DUPLICATE",
                tr(
                    "rule id {rule_id} is already used in {places}",
                    rule_id=repr(rule_id),
                    places=places[rule_id],
                ),
                tr(hint) if hint else "",
            )
        places.setdefault(rule_id, doc.file)

    def unknown_state(
        self, doc: Located, path: Path, state: str, wf: CompiledWorkflow, *, key: bool = False
    ) -> None:
        self.problems.append(
            doc.problem(
                path,
                "E-UNKNOWN-STATE",
                tr("workflow {id} has no state {state}", id=repr(wf.id), state=repr(state)),
                tr("its states: {states}", states=joined(wf.definition.states)),
                key=key,
            )
        )

    def unknown_field(self, doc: Located, path: Path, name: str, wf: CompiledWorkflow) -> None:
        self.add(
            doc,
            path,
            "E-POLICY-FIELD",
            tr(
                "workflow {id} declares no field {name} (neither under data: nor in a form)",
                id=repr(wf.id),
                name=name,
            ),
            tr("declare the field in the workflow, or fix its spelling"),
        )

    def engine_step(self, doc: Located, path: Path, step: StepKey, wf: CompiledWorkflow) -> None:
        kind = wf.state(step.state or "").type if step.state else "start"
        self.add(
            doc,
            path,
            "E-POLICY-STEP",
            tr(
                "step {name} is taken by the engine in {kind} {state}, so no person approves or "
                "attests it",
                name=repr(step.name),
                kind=kind,
                state=repr(step.state),
            ),
            tr("name a userTask transition"),
        )


def all_fields(wf: CompiledWorkflow) -> frozenset[str]:
    names = set(wf.definition.data)
    for state in wf.definition.states.values():
        for t in state.transitions:
            names |= set(t.form)
    return frozenset(names)


def human_state(wf: CompiledWorkflow, step: StepKey) -> bool:
    return step.state is not None and wf.state(step.state).type == "userTask"


def step_pairs(rule: DistinctActors, steps: Mapping[str, StepKey]) -> list[tuple[StepKey, StepKey]]:
    if rule.pairs is not None:
        raw = [(p[0], p[1]) for p in rule.pairs]
    else:
        names = list(dict.fromkeys(rule.steps))
        raw = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return [(steps[a], steps[b]) for a, b in raw if a in steps and b in steps]
