"""Checks of one workflow's section of a policy: its steps, permissions (which may only
tighten the workflow's role lists), rules, and the top-level scoping rules."""

from __future__ import annotations

from collections.abc import Mapping

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.guards import compile_condition
from cmc_workflow.definition.models import FieldSpec
from cmc_workflow.i18n import N_, Text, joined, joined_or_none, tr
from cmc_workflow.located import Located, Path
from cmc_workflow.policy.checks.proofs import ProofChecks
from cmc_workflow.policy.checks.references import all_fields, human_state, step_pairs
from cmc_workflow.policy.models import (
    AnyRule,
    Attestation,
    ConfirmFigures,
    CoveredByRecords,
    DistinctActors,
    ForbidData,
    GlobalRequiresRecord,
    GlobalScoping,
    RequiredStages,
    RequiresRecord,
    Scoping,
    Silence,
    UniqueStart,
    WorkflowPolicy,
    rules_of,
)
from cmc_workflow.policy.policyset import Roles, acting_roles
from cmc_workflow.policy.rules import (
    PERMISSIONS_RULE,
    AttestationRule,
    DistinctActorsRule,
    FiguresRule,
    ForbidDataRule,
    PermissionRule,
    RequiredStagesRule,
    Rounds,
    Rule,
    ScopingRule,
    StepKey,
    UniqueStartRule,
)
from cmc_workflow.policy.rules.figures import FIGURE_NAMES, Sources, publication_sources
from cmc_workflow.requirements import rule_level

_BUNDLED = Sources().publications
"""Where figures count publications when no loaded workflow publishes (the bundled one's
items may still be in the store)."""


class SectionChecks(ProofChecks):
    """The checks of a workflow's policy section, and of top-level scoping."""

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
            self.unknown_workflow(doc, base, wf_id, key=True, disabled_ok=True)
            return
        before = len(self.problems)
        steps = self._steps(doc, wf, section, base)
        defn = wf.definition
        fields = all_fields(wf)
        for j, state in enumerate(section.rework):
            if state not in defn.states:
                self.unknown_state(doc, (*base, "rework", j), state, wf)
        for j, name in enumerate(section.invalidate_approvals_on_edit):
            if name not in fields:
                self.unknown_field(doc, (*base, "invalidate_approvals_on_edit", j), name, wf)
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
                    tr(
                        "rule id {rule} is reserved for permissions: refusals",
                        rule=repr(PERMISSIONS_RULE),
                    ),
                )
                rule_places.setdefault(rule.id, doc.file)
            else:
                self.claim_id(
                    doc,
                    (*path, "id"),
                    rule.id,
                    rule_places,
                    N_("rule ids name refusals in the audit log: give each rule its own"),
                )
            made = self._rule(doc, wf, rule, path, steps, rounds, roles)
            if made is not None:
                compiled.append(with_level(made, rule))
        if len(self.problems) > before:
            self.broken.add(wf_id)
        elif not compiled and not section.leads:  # naming the leads is a setting of its own
            self.add(
                doc,
                base,
                "E-POLICY-EMPTY",
                tr(
                    "the policy for {workflow} has no start:, no permissions: and no rule "
                    "(a truncated file?)",
                    workflow=Text(repr(wf_id), wf_id),
                ),
                tr("restore its rules, or remove the section"),
                key=True,
            )
        self.rules.setdefault(wf_id, []).extend(compiled)
        if wf_id not in self.broken:
            self.prove(doc, wf, section, base, steps, rounds, roles, table)

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
                self.unknown_state(doc, (*path, "state"), ref.state, wf)
                continue
            if ref.trigger not in wf.triggers(ref.state):
                self.add(
                    doc,
                    (*path, "trigger"),
                    "E-POLICY-UNKNOWN-TRIGGER",
                    tr(
                        "state {state} of {id} has no trigger {trigger}",
                        state=repr(ref.state),
                        id=repr(wf.id),
                        trigger=repr(ref.trigger),
                    ),
                    tr(
                        "triggers there: {triggers}",
                        triggers=joined_or_none(wf.triggers(ref.state)),
                    ),
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
                self.unknown_state(doc, spath, state, wf, key=True)
                continue
            for trigger, listed in triggers.items():
                tpath: Path = (*spath, trigger)
                if trigger not in wf.triggers(state):
                    self.add(
                        doc,
                        tpath,
                        "E-POLICY-UNKNOWN-TRIGGER",
                        tr(
                            "state {state} of {id} has no trigger {trigger}",
                            state=repr(state),
                            id=repr(wf.id),
                            trigger=repr(trigger),
                        ),
                        tr(
                            "triggers there: {triggers}",
                            triggers=joined_or_none(wf.triggers(state)),
                        ),
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
            if not self.known_roles(doc, path, [role], roles, first=j):
                ok = False
            elif not roles.closure(role) & allowed:
                self.add(
                    doc,
                    (*path, j),
                    "E-POLICY-WIDENS",
                    tr(
                        "role {role} may not {what} under the workflow itself; policies may only "
                        "tighten the workflow's role lists",
                        role=repr(role),
                        what=what,
                    ),
                    tr("the workflow allows: {roles}", roles=joined(sorted(allowed))),
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
        fields = all_fields(wf)
        if isinstance(rule, Attestation):
            keys = [steps[n] for n in rule.steps if n in steps]
            for j, name in enumerate(rule.steps):
                if name in steps:
                    self._attested(doc, wf, steps[name], rule, path, j)
            return AttestationRule(rule.id, keys, rule.require_true, rule.reason)
        if isinstance(rule, DistinctActors):
            pairs = step_pairs(rule, steps)
            return DistinctActorsRule(rule.id, pairs, rule.within, rounds, rule.reason)
        if isinstance(rule, RequiredStages):
            if rule.enter not in wf.definition.states:
                self.unknown_state(doc, (*path, "enter"), rule.enter, wf)
            for j, name in enumerate(rule.stages):
                step = steps.get(name)
                if step is not None and step.state is not None and not human_state(wf, step):
                    self.engine_step(doc, (*path, "stages", j), step, wf)
            keys = [steps[n] for n in rule.stages if n in steps]
            return RequiredStagesRule(rule.id, rule.enter, keys, rounds, rule.reason)
        if isinstance(rule, RequiresRecord):
            return self._record_rule(doc, wf, rule, path, steps, fields)
        if isinstance(rule, ForbidData):
            when = compile_condition(rule.when) if rule.when is not None else None
            if when is not None and (unknown := sorted(when.fields - fields)):
                self.unknown_field(doc, (*path, "when"), ", ".join(unknown), wf)
            if rule.expired is not None and rule.expired not in fields:
                self.unknown_field(doc, (*path, "expired"), rule.expired, wf)
            keys = [steps[n] for n in rule.steps if n in steps]
            return ForbidDataRule(rule.id, keys, when, rule.expired, rule.reason)
        if isinstance(rule, CoveredByRecords):
            return self._covered_rule(doc, wf, rule, path, fields)
        if isinstance(rule, Silence):
            return self._silence_rule(doc, wf, rule, path, steps, fields)
        if isinstance(rule, ConfirmFigures):
            return self._figures_rule(doc, wf, rule, path, steps, fields)
        if isinstance(rule, UniqueStart):
            if rule.field not in wf.definition.data:
                self.unknown_field(doc, (*path, "field"), rule.field, wf)
            for j, state in enumerate(rule.states):
                if state not in wf.definition.states:
                    self.unknown_state(doc, (*path, "states", j), state, wf)
            return UniqueStartRule(
                rule.id, rule.field, rule.states, wf.definition.label, rule.reason
            )
        return self.scoping_rule(doc, wf, rule, path, roles)

    def _figures_rule(
        self,
        doc: Located,
        wf: CompiledWorkflow,
        rule: ConfirmFigures,
        path: Path,
        steps: Mapping[str, StepKey],
        fields: frozenset[str],
    ) -> Rule | None:
        """A ``confirm_figures`` rule: each step is a person's step whose form has the
        boolean ``confirm`` field and every ``matches`` field; ``record`` is no field of
        the workflow (the engine writes it); each matched figure is one the computation
        gives."""
        keys = []
        for j, name in enumerate(rule.steps):
            step = steps.get(name)
            if step is None:
                continue
            keys.append(step)
            if step.state is None or not human_state(wf, step):
                self.engine_step(doc, (*path, "steps", j), step, wf)
                continue
            for edge in wf.edges(step.state):
                if edge.trigger != step.trigger:
                    continue
                spec = edge.form.get(rule.confirm)
                if spec is None or spec.type != "boolean":
                    self.add(
                        doc,
                        (*path, "confirm"),
                        "E-POLICY-FIELD",
                        tr(
                            "step {name} ({step}) has no boolean form field {confirm} to confirm "
                            "the figures",
                            name=repr(step.name),
                            step=step.describe(),
                            confirm=repr(rule.confirm),
                        ),
                        tr("its form fields: {fields}", fields=joined_or_none(edge.form)),
                    )
                for typed in rule.matches:
                    if typed not in edge.form:
                        self.unknown_field(doc, (*path, "matches", typed), typed, wf)
        if rule.record in fields:
            self.add(
                doc,
                (*path, "record"),
                "E-POLICY-FIELD",
                tr(
                    "{record} is a field of workflow {id}: the engine records the computed "
                    "figures there, so no person may type it",
                    record=repr(rule.record),
                    id=repr(wf.id),
                ),
                tr("name a field the workflow does not declare"),
            )
        known = FIGURE_NAMES[rule.figures]
        for typed, figure in rule.matches.items():
            if figure not in known:
                self.add(
                    doc,
                    (*path, "matches", typed),
                    "E-POLICY-FIELD",
                    tr(
                        "{figures} has no figure {figure} to match {typed} with",
                        figures=rule.figures,
                        figure=repr(figure),
                        typed=repr(typed),
                    ),
                    tr("its figures: {figures}", figures=joined(sorted(known))),
                )
        return FiguresRule(
            rule.id,
            keys,
            rule.figures,
            rule.period,
            rule.record,
            rule.confirm,
            rule.matches,
            rule.reason,
            # the publications of every loaded workflow that publishes, as the report counts
            Sources(publications=publication_sources(self.loaded.workflows.values()) or _BUNDLED),
            confirm_when_empty=rule.confirm_when_empty,
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
        elif not human_state(wf, step):
            self.engine_step(doc, (*path, "steps", index), step, wf)
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
                        tr(
                            "step {name} ({step}) has no boolean form field {name2} to attest",
                            name=repr(step.name),
                            step=step.describe(),
                            name2=repr(name),
                        ),
                        tr("its form fields: {fields}", fields=joined_or_none(spec)),
                    )
                    break

    def scoping_rule(
        self, doc: Located, wf: CompiledWorkflow, rule: Scoping, path: Path, roles: Roles
    ) -> Rule | None:
        ok = self.known_roles(doc, (*path, "roles"), rule.roles, roles)
        if rule.match_state == (rule.field is not None):
            self.add(
                doc,
                (*path, "field") if rule.field is not None else path,
                "E-POLICY-RULE",
                tr(
                    "a scoping rule names a data field or matches the state (match_state: true), "
                    "not both or neither"
                ),
                tr("give field: <data field>, or match_state: true without field"),
            )
            ok = False
        elif rule.field is not None and rule.field not in wf.definition.data:
            self.add(
                doc,
                (*path, "field"),
                "E-POLICY-FIELD",
                tr(
                    "workflow {id} has no data field {field} to scope {roles} by",
                    id=repr(wf.id),
                    field=repr(rule.field),
                    roles=joined(rule.roles),
                ),
                tr("its data fields: {fields}", fields=joined_or_none(wf.definition.data)),
            )
            ok = False
        for j, state in enumerate(rule.states or ()):
            if state not in wf.definition.states:
                self.add(
                    doc,
                    (*path, "states", j),
                    "E-UNKNOWN-STATE",
                    tr(
                        "workflow {id} has no state {state} to scope",
                        id=repr(wf.id),
                        state=repr(state),
                    ),
                    tr("its states: {states}", states=joined(wf.definition.states)),
                )
                ok = False
        if not ok:
            return None
        return ScopingRule(
            rule.id,
            frozenset(rule.roles),
            rule.attribute,
            rule.field or "",
            frozenset(wf.definition.roles),
            rule.reason,
            match_state=rule.match_state,
            states=frozenset(rule.states) if rule.states is not None else None,
            unset_reaches_all=rule.without_attribute == "everything",
        )

    def scoped_workflows(self, doc: Located, rule: GlobalScoping, i: int) -> list[str]:
        """The workflows a top-level scoping rule applies to: those listed (each must exist),
        else every workflow where a scoped role acts and that has the field."""
        if rule.workflows is not None:
            return self.loaded_workflows(doc, ("scoping", i, "workflows"), rule.workflows)
        return [
            wf_id
            for wf_id in sorted(self.loaded.workflows)
            if (wf := self.workflow(wf_id)) is not None
            and acting_roles(wf) & set(rule.roles)
            and rule.field in wf.definition.data
        ]


def with_level(made: Rule, rule: AnyRule | GlobalScoping | GlobalRequiresRecord) -> Rule:
    """The compiled rule with its level (``level:``, else from the ids it implements), the
    administrator's ``enforce:`` and the ids it implements."""
    level = rule.level or rule_level(rule.implements)
    return made.leveled(level, rule.enforce, rule.implements)
