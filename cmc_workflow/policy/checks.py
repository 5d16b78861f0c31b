"""Every policy file together, checked against the workflows and compiled into rules.

:func:`build_policy_set` takes what ``load_paths`` loaded (workflows and ``kind: policy``
files) and returns a :class:`~cmc_workflow.policy.policyset.PolicySet` plus every problem
found across files: workflows, states, triggers, roles and fields the policies name;
permissions that would widen a workflow's role lists (policies may only tighten them);
role inheritance cycles; rule ids used twice; and the static proof of
:mod:`cmc_workflow.policy.proof`. It is registered as a set check of the loader, so
``cmc-workflow validate``, ``cmc-workflow policy check`` and ``Engine.open`` all report
the same problems, with their places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.definition.guards import Guard, compile_guard
from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.definition.models import FieldSpec, Label
from cmc_workflow.errors import Problem
from cmc_workflow.located import Located, Path, load_located
from cmc_workflow.policy.coverage import coverage_problems
from cmc_workflow.policy.models import (
    AnyRule,
    Attestation,
    CoveredByRecords,
    DistinctActors,
    ForbidData,
    GlobalRequiresRecord,
    GlobalScoping,
    PolicyFile,
    RequiredStages,
    RequiresRecord,
    Scoping,
    Silence,
    UniqueStart,
    WorkflowPolicy,
    rules_of,
)
from cmc_workflow.policy.policyset import PolicySet, RoleInfo, Roles, acting_roles
from cmc_workflow.policy.proof import (
    Firer,
    Takers,
    find_bypass,
    pair_satisfiable,
    timer_firers,
)
from cmc_workflow.policy.rules import (
    PERMISSIONS_RULE,
    AttestationRule,
    CoveredByRecordsRule,
    DistinctActorsRule,
    ForbidDataRule,
    PermissionRule,
    PostRecordRule,
    Records,
    RequiredStagesRule,
    RequiresRecordRule,
    Rounds,
    Rule,
    ScopingRule,
    SilenceRule,
    StepKey,
    UniqueStartRule,
    WorkflowRules,
)

_ORDER = {
    "permissions": 0,
    "scoping": 1,
    "forbid_data": 2,
    "requires_record": 3,
    "attestations": 4,
    "distinct_actors": 5,
    "required_stages": 6,
    "covered_by_records": 7,
    "silence": 8,
    "unique_start": 9,
}


# -- building ---------------------------------------------------------------------------------


class _Builder:
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
        self._workflow_docs: dict[str, Located] = {}

    def workflow(self, wf_id: str) -> CompiledWorkflow | None:
        found = self.compiled.get(wf_id)
        if found is None and wf_id in self.loaded.workflows:
            found = self.compiled[wf_id] = CompiledWorkflow(self.loaded.workflows[wf_id])
        return found

    def workflow_doc(self, loaded: LoadedWorkflow) -> Located:
        doc = self._workflow_docs.get(loaded.file)
        if doc is None:
            doc = self._workflow_docs[loaded.file] = load_located(loaded.source, loaded.file)[0]
        return doc

    def add(
        self,
        doc: Located,
        path: Path,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
    ) -> None:
        self.problems.append(doc.problem(path, code, message, hint, key=key))

    # -- roles -----------------------------------------------------------------------------
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
                        f"role {name!r} is already declared in {declared[name].file}",
                        "declare each role once; other files may use it",
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
                        f"role {name!r} inherits {parent!r}, which no policy or workflow declares",
                        f"known roles: {', '.join(sorted(roles.known))}",
                    )
            cycle = [p for p in info.inherits if p != name and name in roles.closure(p)]
            if cycle and name not in in_cycles:
                in_cycles |= {r for r in roles.closure(name) if name in roles.closure(r)}
                self.add(
                    doc,
                    path,
                    "E-POLICY-ROLE-CYCLE",
                    f"role {name!r} inherits itself through {cycle[0]!r}",
                    "role inheritance must not go round in a circle",
                    key=True,
                )
        return roles

    # -- one workflow section ----------------------------------------------------------------
    def section(
        self,
        doc: Located,
        wf_id: str,
        section: WorkflowPolicy,
        roles: Roles,
        rule_places: dict[str, str],
    ) -> None:
        base: Path = ("workflows", wf_id)
        wf = self.workflow(wf_id)
        if wf is None:
            self.problems.append(
                doc.problem(
                    base,
                    "E-POLICY-UNKNOWN-WORKFLOW",
                    f"no workflow {wf_id!r} is loaded",
                    f"loaded workflows: {', '.join(sorted(self.loaded.workflows)) or 'none'}",
                    key=True,
                )
            )
            return
        before = len(self.problems)
        steps = self._steps(doc, wf, section, base)
        defn = wf.definition
        fields = _fields(wf)
        for j, state in enumerate(section.rework):
            if state not in defn.states:
                self._unknown_state(doc, (*base, "rework", j), state, wf)
        for j, name in enumerate(section.invalidate_approvals_on_edit):
            if name not in fields:
                self._unknown_field(doc, (*base, "invalidate_approvals_on_edit", j), name, wf)
        table = self._permissions(doc, wf, section, base, roles)
        rounds = Rounds(frozenset(section.rework), frozenset(section.invalidate_approvals_on_edit))
        compiled: list[Rule] = [PermissionRule(table)] if table else []
        for kind, i, rule in rules_of(section):
            path: Path = (*base, kind, i)
            if rule.id == PERMISSIONS_RULE:
                self.add(
                    doc,
                    (*path, "id"),
                    "E-POLICY-DUPLICATE",
                    f"rule id {PERMISSIONS_RULE!r} is reserved for permissions: refusals",
                )
            elif rule.id in rule_places and rule_places[rule.id] != doc.file:
                self.add(
                    doc,
                    (*path, "id"),
                    "E-POLICY-DUPLICATE",
                    f"rule id {rule.id!r} is already used in {rule_places[rule.id]}",
                    "rule ids name refusals in the audit log: give each rule its own",
                )
            rule_places.setdefault(rule.id, doc.file)
            made = self._rule(doc, wf, rule, path, steps, rounds, roles)
            if made is not None:
                compiled.append(made)
        if len(self.problems) > before:
            self.broken.add(wf_id)
        elif not compiled:
            self.add(
                doc,
                base,
                "E-POLICY-EMPTY",
                f"the policy for {wf_id!r} has no start:, no permissions: and no rule "
                f"(a truncated file?) / 策略对“{wf_id}”没有任何权限或规则（文件可能被截断）",
                "restore its rules, or remove the section",
                key=True,
            )
        self.rules.setdefault(wf_id, []).extend(compiled)
        if wf_id not in self.broken:
            self._prove(doc, wf, section, base, steps, rounds, roles, table)

    def _steps(
        self, doc: Located, wf: CompiledWorkflow, section: WorkflowPolicy, base: Path
    ) -> dict[str, StepKey]:
        steps: dict[str, StepKey] = {}
        for name, ref in section.steps.items():
            path: Path = (*base, "steps", name)
            if ref.state is None:
                steps[name] = StepKey(name, None, ref.trigger, ref.label)
                continue
            if ref.state not in wf.definition.states:
                self._unknown_state(doc, (*path, "state"), ref.state, wf)
                continue
            if ref.trigger not in wf.triggers(ref.state):
                self.add(
                    doc,
                    (*path, "trigger"),
                    "E-POLICY-UNKNOWN-TRIGGER",
                    f"state {ref.state!r} of {wf.id!r} has no trigger {ref.trigger!r}",
                    f"triggers there: {', '.join(wf.triggers(ref.state)) or 'none'}",
                )
                continue
            steps[name] = StepKey(name, ref.state, ref.trigger, ref.label)
        return steps

    def _permissions(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        section: WorkflowPolicy,
        base: Path,
        roles: Roles,
    ) -> dict[tuple[str | None, str], frozenset[str]]:
        table: dict[tuple[str | None, str], frozenset[str]] = {}
        if section.start is not None:
            allowed = frozenset(wf.definition.start.roles)
            if self._tightens(doc, (*base, "start"), section.start, allowed, roles, "start"):
                table[(None, "start")] = frozenset(section.start)
        for state, triggers in section.permissions.items():
            spath: Path = (*base, "permissions", state)
            if state not in wf.definition.states:
                self._unknown_state(doc, spath, state, wf, key=True)
                continue
            for trigger, listed in triggers.items():
                tpath: Path = (*spath, trigger)
                if trigger not in wf.triggers(state):
                    self.add(
                        doc,
                        tpath,
                        "E-POLICY-UNKNOWN-TRIGGER",
                        f"state {state!r} of {wf.id!r} has no trigger {trigger!r}",
                        f"triggers there: {', '.join(wf.triggers(state)) or 'none'}",
                    )
                    continue
                allowed = frozenset().union(
                    *(e.roles for e in wf.edges(state) if e.trigger == trigger)
                )
                if self._tightens(doc, tpath, listed, allowed, roles, f"{state}.{trigger}"):
                    table[(state, trigger)] = frozenset(listed)
        return table

    def _tightens(
        self,
        doc: Located,
        path: Path,
        listed: list[str],
        allowed: frozenset[str],
        roles: Roles,
        what: str,
    ) -> bool:
        ok = True
        for j, role in enumerate(listed):
            if role not in roles.known:
                self.add(
                    doc,
                    (*path, j),
                    "E-UNKNOWN-ROLE",
                    f"role {role!r} is declared by no policy or workflow",
                    f"known roles: {', '.join(sorted(roles.known))}",
                )
                ok = False
            elif not roles.closure(role) & allowed:
                self.add(
                    doc,
                    (*path, j),
                    "E-POLICY-WIDENS",
                    f"role {role!r} may not {what} under the workflow itself; "
                    "policies may only tighten the workflow's role lists",
                    f"the workflow allows: {', '.join(sorted(allowed))}",
                )
                ok = False
        return ok

    def _rule(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        rule: AnyRule,
        path: Path,
        steps: Mapping[str, StepKey],
        rounds: Rounds,
        roles: Roles,
    ) -> Rule | None:
        fields = _fields(wf)
        if isinstance(rule, Attestation):
            keys = [steps[n] for n in rule.steps if n in steps]
            for j, name in enumerate(rule.steps):
                if name in steps:
                    self._attested(doc, wf, steps[name], rule, path, j)
            return AttestationRule(rule.id, keys, rule.require_true, rule.reason)
        if isinstance(rule, DistinctActors):
            pairs = _pairs(rule, steps)
            return DistinctActorsRule(rule.id, pairs, rule.within, rounds, rule.reason)
        if isinstance(rule, RequiredStages):
            if rule.enter not in wf.definition.states:
                self._unknown_state(doc, (*path, "enter"), rule.enter, wf)
            for j, name in enumerate(rule.stages):
                step = steps.get(name)
                if step is not None and step.state is not None and not _human_state(wf, step):
                    self._engine_step(doc, (*path, "stages", j), step, wf)
            keys = [steps[n] for n in rule.stages if n in steps]
            return RequiredStagesRule(rule.id, rule.enter, keys, rounds, rule.reason)
        if isinstance(rule, RequiresRecord):
            return self._record_rule(doc, wf, rule, path, steps, fields)
        if isinstance(rule, ForbidData):
            when = compile_guard(rule.when) if rule.when is not None else None
            if when is not None and (unknown := sorted(when.fields - fields)):
                self._unknown_field(doc, (*path, "when"), ", ".join(unknown), wf)
            if rule.expired is not None and rule.expired not in fields:
                self._unknown_field(doc, (*path, "expired"), rule.expired, wf)
            keys = [steps[n] for n in rule.steps if n in steps]
            return ForbidDataRule(rule.id, keys, when, rule.expired, rule.reason)
        if isinstance(rule, CoveredByRecords):
            return self._covered_rule(doc, wf, rule, path, fields)
        if isinstance(rule, Silence):
            return self._silence_rule(doc, wf, rule, path, steps, fields)
        if isinstance(rule, UniqueStart):
            if rule.field not in wf.definition.data:
                self._unknown_field(doc, (*path, "field"), rule.field, wf)
            for j, state in enumerate(rule.states):
                if state not in wf.definition.states:
                    self._unknown_state(doc, (*path, "states", j), state, wf)
            return UniqueStartRule(
                rule.id, rule.field, rule.states, wf.definition.label, rule.reason
            )
        return self._scoping(doc, wf, rule, path, roles)

    def _covered_rule(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        rule: CoveredByRecords,
        path: Path,
        fields: frozenset[str],
    ) -> Rule | None:
        for j, state in enumerate(rule.enter):
            if state not in wf.definition.states:
                self._unknown_state(doc, (*path, "enter", j), state, wf)
        for key in ("values", "named_in"):
            name = getattr(rule, key)
            if not name.startswith("data."):
                self.add(
                    doc,
                    (*path, key),
                    "E-POLICY-FIELD",
                    f"{key}: must name a list field of the item (data.<field>), not {name!r}",
                )
            elif name[5:] not in fields:
                self._unknown_field(doc, (*path, key), name[5:], wf)
        found = self._records(doc, rule, path, ("field", "match", "valid_until"))
        if found is None:
            return None
        other, where = found
        return CoveredByRecordsRule(
            rule.id,
            frozenset(rule.enter),
            rule.values,
            frozenset(rule.only) if rule.only is not None else None,
            rule.named_in,
            Records(
                rule.workflow,
                other.definition.label,
                tuple(rule.states),
                rule.field,
                where,
                rule.valid_until,
            ),
            rule.match,
            rule.reason,
        )

    def _silence_rule(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        rule: Silence,
        path: Path,
        steps: Mapping[str, StepKey],
        fields: frozenset[str],
    ) -> Rule | None:
        spec = wf.definition.data.get(rule.interval)
        if spec is None or spec.type != "integer":
            self.add(
                doc,
                (*path, "interval"),
                "E-POLICY-FIELD",
                f"workflow {wf.id!r} declares no integer data field {rule.interval!r} "
                "holding the days allowed",
                f"its data fields: {', '.join(wf.definition.data) or 'none'}",
            )
        ok = True
        for key, part in (("subjects", rule.subjects), ("publications", rule.publications)):
            other = self.workflow(part.workflow)
            if other is None:
                self.add(
                    doc,
                    (*path, key, "workflow"),
                    "E-POLICY-UNKNOWN-WORKFLOW",
                    f"no workflow {part.workflow!r} is loaded",
                    f"loaded workflows: {', '.join(sorted(self.loaded.workflows)) or 'none'}",
                )
                ok = False
                continue
            named = (
                [("states", j, s) for j, s in enumerate(rule.subjects.states)]
                if key == "subjects"
                else [("entered", None, rule.publications.entered)]
                + [("source", j, s) for j, s in enumerate(rule.publications.source or [])]
            )
            for sub, j, state in named:
                if state not in other.definition.states:
                    where: Path = (*path, key, sub) if j is None else (*path, key, sub, j)
                    self._unknown_state(doc, where, state, other)
            if part.field not in _fields(other):
                self._unknown_field(doc, (*path, key, "field"), part.field, other)
            own = rule.subjects.interval if key == "subjects" else None
            if own is not None and own not in _fields(other):
                self._unknown_field(doc, (*path, key, "interval"), own, other)
        if not ok:
            return None
        pubs = rule.publications
        return SilenceRule(
            rule.id,
            [steps[n] for n in rule.steps if n in steps],
            (
                rule.subjects.workflow,
                rule.subjects.states,
                rule.subjects.field,
                rule.subjects.interval,
            ),
            (pubs.workflow, pubs.entered, pubs.source, pubs.field),
            rule.interval,
            rule.reason,
        )

    def _attested(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        step: StepKey,
        rule: Attestation,
        path: Path,
        index: int,
    ) -> None:
        specs: list[Mapping[str, FieldSpec]]
        if step.state is None:
            specs = [wf.definition.data]
        elif not _human_state(wf, step):
            self._engine_step(doc, (*path, "steps", index), step, wf)
            return
        else:
            specs = [e.form for e in wf.edges(step.state) if e.trigger == step.trigger]
        for j, name in enumerate(rule.require_true):
            for spec in specs:
                found = spec.get(name)
                if found is None or found.type != "boolean":
                    self.add(
                        doc,
                        (*path, "require_true", j),
                        "E-POLICY-FIELD",
                        f"step {step.name!r} ({step.describe()}) has no boolean form field "
                        f"{name!r} to attest",
                        f"its form fields: {', '.join(spec) or 'none'}",
                    )
                    break

    def _records(
        self,
        doc: Located,
        rule: RequiresRecord | CoveredByRecords,
        path: Path,
        keys: tuple[str, ...],
    ) -> tuple[CompiledWorkflow, Guard | None] | None:
        """The workflow keeping the records ``rule`` asks for and its compiled ``where:``,
        with every state and field the rule names checked against it (None: not loaded).
        ``keys`` are the rule's settings that name a field of the records."""
        other = self.workflow(rule.workflow)
        if other is None:
            self.add(
                doc,
                (*path, "workflow"),
                "E-POLICY-UNKNOWN-WORKFLOW",
                f"no workflow {rule.workflow!r} is loaded to keep the records",
                f"loaded workflows: {', '.join(sorted(self.loaded.workflows)) or 'none'}",
            )
            return None
        for j, state in enumerate(rule.states):
            if state not in other.definition.states:
                self._unknown_state(doc, (*path, "states", j), state, other)
        record_fields = _fields(other)
        for key in keys:
            name = getattr(rule, key)
            if name is not None and name not in record_fields:
                self._unknown_field(doc, (*path, key), name, other)
        where = compile_guard(rule.where) if rule.where is not None else None
        if where is not None and (unknown := sorted(where.fields - record_fields)):
            self._unknown_field(doc, (*path, "where"), ", ".join(unknown), other)
        return other, where

    def _record_rule(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        rule: RequiresRecord,
        path: Path,
        steps: Mapping[str, StepKey],
        fields: frozenset[str],
    ) -> Rule | None:
        if rule.subject.startswith("data.") and rule.subject[5:] not in fields:
            self._unknown_field(doc, (*path, "subject"), rule.subject[5:], wf)
        found = self._records(doc, rule, path, ("field", "valid_until"))
        if found is None:
            return None
        other, where = found
        return RequiresRecordRule(
            rule.id,
            [steps[n] for n in rule.steps if n in steps],
            rule.subject,
            Records(
                rule.workflow,
                other.definition.label,
                tuple(rule.states),
                rule.field,
                where,
                rule.valid_until,
            ),
            rule.reason,
        )

    def known_roles(self, doc: Located, path: Path, names: Sequence[str], roles: Roles) -> bool:
        """Whether every role of ``names`` is declared; each unknown one is a problem
        placed at its index under ``path``."""
        ok = True
        for j, role in enumerate(names):
            if role not in roles.known:
                self.add(
                    doc,
                    (*path, j),
                    "E-UNKNOWN-ROLE",
                    f"role {role!r} is declared by no policy or workflow",
                    f"known roles: {', '.join(sorted(roles.known))}",
                )
                ok = False
        return ok

    def _scoping(
        self, doc: Located, wf: CompiledWorkflow, rule: Scoping, path: Path, roles: Roles
    ) -> Rule | None:
        ok = self.known_roles(doc, (*path, "roles"), rule.roles, roles)
        if rule.field not in wf.definition.data:
            self.add(
                doc,
                (*path, "field"),
                "E-POLICY-FIELD",
                f"workflow {wf.id!r} has no data field {rule.field!r} to scope "
                f"{', '.join(rule.roles)} by",
                f"its data fields: {', '.join(wf.definition.data) or 'none'}",
            )
            ok = False
        if not ok:
            return None
        return ScopingRule(
            rule.id,
            frozenset(rule.roles),
            rule.attribute,
            rule.field,
            frozenset(wf.definition.roles),
            rule.reason,
        )

    # -- the proof ---------------------------------------------------------------------------
    def _prove(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        section: WorkflowPolicy,
        base: Path,
        steps: Mapping[str, StepKey],
        rounds: Rounds,
        roles: Roles,
        table: Mapping[tuple[str | None, str], frozenset[str]],
    ) -> None:
        for key, listed in table.items():
            if not listed:
                state, trigger = key
                where: Path = (
                    (*base, "start") if state is None else (*base, "permissions", state, trigger)
                )
                self.add(
                    doc,
                    where,
                    "E-POLICY-NO-ROLE-CAN-FIRE",
                    f"no role may {'start an item of' if state is None else 'fire'} "
                    f"{wf.id if state is None else repr(trigger) + ' in ' + repr(state)} "
                    "once this policy applies",
                    "list at least one role, or remove the transition from the workflow",
                )

        def usable(edge: Edge) -> bool:
            return table.get((edge.source, edge.trigger), frozenset({"?"})) != frozenset()

        fired = self._engine_fired(wf)
        for (state, trigger), firers in sorted(fired.items()):
            pinned = table.get((state, trigger))
            if not pinned:
                continue
            for firer in firers:
                owner = self.loaded.workflows.get(firer.workflow)
                if owner is None:
                    continue
                self.problems.append(
                    self.workflow_doc(owner).problem(
                        firer.path,
                        "E-POLICY-SYSTEM-PINNED",
                        f"the {firer.what} fires {state}.{trigger}, which the policy "
                        f"({doc.file}) leaves to {', '.join(sorted(pinned))} only: the engine "
                        f"holds no such role, so every such step would be refused / 引擎自动"
                        f"触发的“{state}.{trigger}”已由策略限定为 {', '.join(sorted(pinned))}，"
                        "引擎每次触发都会被拒绝",
                        "warn or escalate to that role instead, or fire another trigger",
                    )
                )
        placed: dict[tuple[str, int, int], int] = {}  # one problem per shortcut
        for i, staged in enumerate(section.required_stages):
            stages = [steps[n] for n in staged.stages]
            bypass = find_bypass(wf, staged.enter, stages, rounds, usable, fired)
            if bypass is None:
                continue
            loaded = self.loaded.workflows[wf.id]
            at = doc.mark((*base, "required_stages", i))
            culprit = bypass.culprit
            taken = {
                (h.source, h.trigger) for h in bypass.path if h.edge is not None and h.by is None
            }
            skipped = [s.name for s in stages if (s.state, s.trigger) not in taken]
            what = ", ".join(skipped) if skipped else "its stages in order"
            message = (
                f"state {staged.enter!r} can be entered without {what} (rule {staged.id!r}, "
                f"{doc.file}:{at.line}, requires {', '.join(s.name for s in stages)} in order "
                f"since the last rework): {bypass.spelled()}"
            )
            hint = "route the transition through the required stages, or remove it"
            found: list[Problem] = []
            if culprit.by is not None and culprit.by.workflow in self.loaded.workflows:
                owner = self.loaded.workflows[culprit.by.workflow]
                found.append(
                    self.workflow_doc(owner).problem(
                        culprit.by.path,
                        "E-POLICY-BYPASS",
                        message,
                        f"the engine fires {culprit.source}.{culprit.trigger} itself (the "
                        f"{culprit.by.what}), which is never a person's approval: fire a "
                        "trigger that leads back to the stages, warn or escalate instead",
                    )
                )
            elif culprit.edge is None:
                found.append(
                    self.workflow_doc(loaded).problem(
                        ("start", "state"), "E-POLICY-BYPASS", message, hint
                    )
                )
            else:
                found.append(
                    self.workflow_doc(loaded).problem(
                        ("states", culprit.edge.source, "transitions", culprit.edge.index),
                        "E-POLICY-BYPASS",
                        message,
                        f"the shortcut is {culprit.edge.source} -{culprit.trigger}-> "
                        f"{culprit.target}; {hint}",
                    )
                )
            for problem in found:
                where = (problem.file, problem.line, problem.column)
                if where in placed:  # the same shortcut around another rule: say so once
                    j = placed[where]
                    first = self.problems[j]
                    self.problems[j] = replace(
                        first, message=f"{first.message}; it also bypasses rule {staged.id!r}"
                    )
                    continue
                placed[where] = len(self.problems)
                self.problems.append(problem)
        limits = roles.max_holders()
        for i, rule in enumerate(section.distinct_actors):
            for a, b in _pairs(rule, steps):
                why = pair_satisfiable(
                    self._takers(wf, a, table, roles),
                    self._takers(wf, b, table, roles),
                    a == b,
                    limits,
                )
                if why is not None:
                    self.add(
                        doc,
                        (*base, "distinct_actors", i),
                        "E-POLICY-UNSATISFIABLE",
                        f"rule {rule.id!r} asks different people for {a.name} and {b.name}, "
                        f"which no assignment of roles allows: {why}",
                        "widen who may take one of the steps, or drop the pair",
                    )

    def _engine_fired(self, wf: CompiledWorkflow) -> dict[tuple[str, str], list[Firer]]:
        """The userTask transitions of ``wf`` the engine takes itself: its deadline steps'
        ``action: fire``, and the ``collects:`` of every loaded workflow that gathers its
        items."""
        fired = timer_firers(wf)
        for other_id, other in sorted(self.loaded.workflows.items()):
            for name, state in other.definition.states.items():
                for j, t in enumerate(state.transitions):
                    spec = t.collects
                    if spec is None or spec.workflow != wf.id:
                        continue
                    firer = Firer(
                        other_id,
                        ("states", name, "transitions", j, "collects"),
                        f"collects: of {other_id}.{name}",
                    )
                    for gathered in spec.states:
                        if any(e.trigger == spec.trigger for e in wf.edges(gathered)):
                            fired.setdefault((gathered, spec.trigger), []).append(firer)
        return fired

    def _takers(
        self,
        wf: CompiledWorkflow,
        step: StepKey,
        table: Mapping[tuple[str | None, str], frozenset[str]],
        roles: Roles,
    ) -> Takers:
        if step.state is None:
            base = frozenset(wf.definition.start.roles)
        elif not _human_state(wf, step):
            return Takers(True, frozenset())
        else:
            base = frozenset().union(
                *(e.roles for e in wf.edges(step.state) if e.trigger == step.trigger)
            )
        needs = [base]
        tightened = table.get((step.state, step.trigger))
        if tightened is not None:
            needs.append(tightened)
        return Takers(False, roles.holders(*needs))

    # -- small helpers -------------------------------------------------------------------------
    def _unknown_state(
        self, doc: Located, path: Path, state: str, wf: CompiledWorkflow, *, key: bool = False
    ) -> None:
        self.problems.append(
            doc.problem(
                path,
                "E-UNKNOWN-STATE",
                f"workflow {wf.id!r} has no state {state!r}",
                f"its states: {', '.join(wf.definition.states)}",
                key=key,
            )
        )

    def _unknown_field(self, doc: Located, path: Path, name: str, wf: CompiledWorkflow) -> None:
        self.add(
            doc,
            path,
            "E-POLICY-FIELD",
            f"workflow {wf.id!r} declares no field {name} (neither under data: nor in a form)",
            "declare the field in the workflow, or fix its spelling",
        )

    def _engine_step(self, doc: Located, path: Path, step: StepKey, wf: CompiledWorkflow) -> None:
        kind = wf.state(step.state or "").type if step.state else "start"
        self.add(
            doc,
            path,
            "E-POLICY-STEP",
            f"step {step.name!r} is taken by the engine in {kind} {step.state!r}, "
            "so no person approves or attests it",
            "name a userTask transition",
        )


def _fields(wf: CompiledWorkflow) -> frozenset[str]:
    names = set(wf.definition.data)
    for state in wf.definition.states.values():
        for t in state.transitions:
            names |= set(t.form)
    return frozenset(names)


def _human_state(wf: CompiledWorkflow, step: StepKey) -> bool:
    return step.state is not None and wf.state(step.state).type == "userTask"


def _pairs(rule: DistinctActors, steps: Mapping[str, StepKey]) -> list[tuple[StepKey, StepKey]]:
    if rule.pairs is not None:
        raw = [(p[0], p[1]) for p in rule.pairs]
    else:
        names = list(dict.fromkeys(rule.steps))
        raw = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return [(steps[a], steps[b]) for a, b in raw if a in steps and b in steps]


def build_policy_set(loaded: LoadedSet) -> tuple[PolicySet, list[Problem]]:
    """Check every policy file of ``loaded`` against its workflows and compile the rules.

    Returns the policy set and every problem found (also those of the static proof).
    """
    builder = _Builder(loaded)
    unguarded = coverage_problems(loaded, builder.files, builder.workflow_doc)
    if not builder.files:
        return PolicySet(), unguarded
    roles = builder.roles()
    rule_places: dict[str, str] = {}
    for doc, policy in builder.files:
        for wf_id, section in policy.workflows.items():
            builder.section(doc, wf_id, section, roles, rule_places)
    for doc, policy in builder.files:
        for i, rule in enumerate(policy.scoping):
            if rule.id in rule_places and rule_places[rule.id] != doc.file:
                builder.add(
                    doc,
                    ("scoping", i, "id"),
                    "E-POLICY-DUPLICATE",
                    f"rule id {rule.id!r} is already used in {rule_places[rule.id]}",
                )
            rule_places.setdefault(rule.id, doc.file)
            for wf_id in _scoped_workflows(builder, doc, rule, i):
                wf = builder.workflow(wf_id)
                assert wf is not None
                made = builder._scoping(doc, wf, rule, ("scoping", i), roles)
                if made is not None:
                    builder.rules.setdefault(wf_id, []).append(made)
    for doc, policy in builder.files:
        for i, needs in enumerate(policy.requires_record):
            if needs.id in rule_places and rule_places[needs.id] != doc.file:
                builder.add(
                    doc,
                    ("requires_record", i, "id"),
                    "E-POLICY-DUPLICATE",
                    f"rule id {needs.id!r} is already used in {rule_places[needs.id]}",
                )
            rule_places.setdefault(needs.id, doc.file)
            for wf_id, made in _post_record_rules(builder, doc, needs, i, roles):
                builder.rules.setdefault(wf_id, []).append(made)
    workflows = {
        wf_id: WorkflowRules(wf_id, rules=sorted(rules, key=lambda r: _ORDER[r.kind]))
        for wf_id, rules in builder.rules.items()
    }
    return PolicySet(roles, workflows, builder.files), builder.problems + unguarded


def _scoped_workflows(builder: _Builder, doc: Located, rule: GlobalScoping, i: int) -> list[str]:
    """The workflows a top-level scoping rule applies to: those listed (each must exist),
    else every workflow where a scoped role acts and that has the field."""
    if rule.workflows is not None:
        found = []
        for j, wf_id in enumerate(rule.workflows):
            if builder.workflow(wf_id) is None:
                builder.add(
                    doc,
                    ("scoping", i, "workflows", j),
                    "E-POLICY-UNKNOWN-WORKFLOW",
                    f"no workflow {wf_id!r} is loaded",
                    f"loaded workflows: {', '.join(sorted(builder.loaded.workflows)) or 'none'}",
                )
            else:
                found.append(wf_id)
        return found
    return [
        wf_id
        for wf_id in sorted(builder.loaded.workflows)
        if (wf := builder.workflow(wf_id)) is not None
        and acting_roles(wf) & set(rule.roles)
        and rule.field in wf.definition.data
    ]


def _post_record_rules(
    builder: _Builder, doc: Located, rule: GlobalRequiresRecord, i: int, roles: Roles
) -> list[tuple[str, Rule]]:
    """A top-level ``requires_record`` rule compiled for every workflow it guards: those
    listed (each must exist), else every loaded workflow in which one of its posts acts,
    except the records' own workflow."""
    path: Path = ("requires_record", i)
    ok = builder.known_roles(doc, (*path, "roles"), rule.roles, roles)
    other = builder.workflow(rule.workflow)
    if other is None:
        builder.add(
            doc,
            (*path, "workflow"),
            "E-POLICY-UNKNOWN-WORKFLOW",
            f"no workflow {rule.workflow!r} is loaded to keep the records",
            f"loaded workflows: {', '.join(sorted(builder.loaded.workflows)) or 'none'}",
        )
        return []
    for j, state in enumerate(rule.states):
        if state not in other.definition.states:
            builder._unknown_state(doc, (*path, "states", j), state, other)
            ok = False
    record_fields = _fields(other)
    for key in ("field", "post_field", "valid_until"):
        name = getattr(rule, key)
        if name is not None and name not in record_fields:
            builder._unknown_field(doc, (*path, key), name, other)
            ok = False
    where = compile_guard(rule.where) if rule.where is not None else None
    if where is not None and (unknown := sorted(where.fields - record_fields)):
        builder._unknown_field(doc, (*path, "where"), ", ".join(unknown), other)
        ok = False
    if rule.workflows is not None:
        targets = []
        for j, wf_id in enumerate(rule.workflows):
            if builder.workflow(wf_id) is None:
                builder.add(
                    doc,
                    (*path, "workflows", j),
                    "E-POLICY-UNKNOWN-WORKFLOW",
                    f"no workflow {wf_id!r} is loaded",
                    f"loaded workflows: {', '.join(sorted(builder.loaded.workflows)) or 'none'}",
                )
                ok = False
            else:
                targets.append(wf_id)
    else:
        targets = [
            wf_id
            for wf_id in sorted(builder.loaded.workflows)
            if wf_id != rule.workflow
            and (wf := builder.workflow(wf_id)) is not None
            and acting_roles(wf) & set(rule.roles)
        ]
    if not ok:
        return []
    posts = {
        role: info.label
        if (info := roles.declared.get(role)) is not None
        else Label(zh=role, en=role)
        for role in rule.roles
    }
    closure = {role: roles.closure(role) for role in roles.known}
    made = PostRecordRule(
        rule.id,
        posts,
        closure,
        rule.post_field,
        Records(
            rule.workflow,
            other.definition.label,
            tuple(rule.states),
            rule.field,
            where,
            rule.valid_until,
        ),
        rule.reason,
    )
    return [(wf_id, made) for wf_id in targets]
