"""Checks of the rules that read records of another workflow (``requires_record``, top-level
``requires_record`` for posts, ``covered_by_records``, ``silence``), and their compiling."""

from __future__ import annotations

from collections.abc import Mapping

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.guards import Guard, compile_guard
from cmc_workflow.definition.models import Label
from cmc_workflow.i18n import joined_or_none, tr
from cmc_workflow.located import Located, Path
from cmc_workflow.policy.checks.references import References, all_fields
from cmc_workflow.policy.models import (
    CoveredByRecords,
    GlobalRequiresRecord,
    RequiresRecord,
    Silence,
)
from cmc_workflow.policy.policyset import Roles, acting_roles
from cmc_workflow.policy.rules import (
    CoveredByRecordsRule,
    PostRecordRule,
    Records,
    RequiresRecordRule,
    Rule,
    SilenceRule,
    StepKey,
)


class RecordChecks(References):
    """The checks of rules that read another workflow's records."""

    def _records(
        self,
        doc: Located,
        rule: RequiresRecord | CoveredByRecords | GlobalRequiresRecord,
        path: Path,
        keys: tuple[str, ...],
    ) -> tuple[CompiledWorkflow, Guard | None] | None:
        """The workflow keeping the records ``rule`` asks for and its compiled ``where:``,
        with every state and field the rule names checked against it (None: not loaded).
        ``keys`` are the rule's settings that name a field of the records."""
        other = self.workflow(rule.workflow)
        if other is None:
            self.unknown_workflow(doc, (*path, "workflow"), rule.workflow, records=True)
            return None
        for j, state in enumerate(rule.states):
            if state not in other.definition.states:
                self.unknown_state(doc, (*path, "states", j), state, other)
        record_fields = all_fields(other)
        for key in keys:
            name = getattr(rule, key)
            if name is not None and name not in record_fields:
                self.unknown_field(doc, (*path, key), name, other)
        where = compile_guard(rule.where) if rule.where is not None else None
        if where is not None and (unknown := sorted(where.fields - record_fields)):
            self.unknown_field(doc, (*path, "where"), ", ".join(unknown), other)
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
            self.unknown_field(doc, (*path, "subject"), rule.subject[5:], wf)
        # when: reads the judged item (its data and the step's form), not the records
        when = compile_guard(rule.when) if rule.when is not None else None
        if when is not None and (unknown := sorted(when.fields - fields)):
            self.unknown_field(doc, (*path, "when"), ", ".join(unknown), wf)
        found = self._records(doc, rule, path, ("field", "valid_until"))
        if found is None:
            return None
        other, where = found
        covers = None
        if rule.covers is not None:
            covers = (rule.covers.record, rule.covers.item[5:])
            if rule.covers.record not in all_fields(other):
                self.unknown_field(doc, (*path, "covers", "record"), rule.covers.record, other)
            if not rule.covers.item.startswith("data."):
                self.add(
                    doc,
                    (*path, "covers", "item"),
                    "E-POLICY-FIELD",
                    tr(
                        "covers.item: must name a list field of the item (data.<field>), not "
                        "{item}",
                        item=repr(rule.covers.item),
                    ),
                )
            elif covers[1] not in fields:
                self.unknown_field(doc, (*path, "covers", "item"), covers[1], wf)
        return RequiresRecordRule(
            rule.id,
            [steps[n] for n in rule.steps if n in steps],
            rule.subject,
            _source(rule, other, where),
            rule.reason,
            when=when,
            covers=covers,
        )

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
                self.unknown_state(doc, (*path, "enter", j), state, wf)
        for key in ("values", "named_in"):
            name = getattr(rule, key)
            if not name.startswith("data."):
                self.add(
                    doc,
                    (*path, key),
                    "E-POLICY-FIELD",
                    tr(
                        "{key}: must name a list field of the item (data.<field>), not {name}",
                        key=key,
                        name=repr(name),
                    ),
                )
            elif name[5:] not in fields:
                self.unknown_field(doc, (*path, key), name[5:], wf)
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
            _source(rule, other, where),
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
                tr(
                    "workflow {id} declares no integer data field {interval} holding the days "
                    "allowed",
                    id=repr(wf.id),
                    interval=repr(rule.interval),
                ),
                tr("its data fields: {fields}", fields=joined_or_none(wf.definition.data)),
            )
        ok = True
        for key, part in (("subjects", rule.subjects), ("publications", rule.publications)):
            other = self.workflow(part.workflow)
            if other is None:
                self.unknown_workflow(doc, (*path, key, "workflow"), part.workflow)
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
                    self.unknown_state(doc, where, state, other)
            if part.field not in all_fields(other):
                self.unknown_field(doc, (*path, key, "field"), part.field, other)
            own = rule.subjects.interval if key == "subjects" else None
            if own is not None and own not in all_fields(other):
                self.unknown_field(doc, (*path, key, "interval"), own, other)
        alert = rule.alert
        if alert is not None:
            for name in alert.steps:
                step = steps.get(name)
                if step is None or step.state is None:
                    continue
                for edge in wf.edges(step.state):
                    if edge.trigger != step.trigger:
                        continue
                    for key, wanted in (("subjects", "list"), ("days", "integer")):
                        field = getattr(alert, key)
                        spec = edge.form.get(field)
                        if spec is None or spec.type != wanted:
                            self.add(
                                doc,
                                (*path, "alert", key),
                                "E-POLICY-FIELD",
                                tr(
                                    "step {name} ({step}) has no {wanted} form field {field}",
                                    name=repr(step.name),
                                    step=step.describe(),
                                    wanted=wanted,
                                    field=repr(field),
                                ),
                                tr("its form fields: {fields}", fields=joined_or_none(edge.form)),
                            )
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
            alert=(
                (
                    [steps[n] for n in rule.alert.steps if n in steps],
                    rule.alert.subjects,
                    rule.alert.days,
                )
                if rule.alert is not None
                else None
            ),
        )

    def acting_in(self, rule: GlobalRequiresRecord) -> list[str]:
        """The loaded workflows in which one of ``rule``'s posts acts, except the records'
        own workflow: those a top-level rule without ``workflows:`` guards."""
        return [
            wf_id
            for wf_id in sorted(self.loaded.workflows)
            if wf_id != rule.workflow
            and (wf := self.workflow(wf_id)) is not None
            and acting_roles(wf) & set(rule.roles)
        ]

    def post_record_rules(
        self, doc: Located, rule: GlobalRequiresRecord, i: int, roles: Roles
    ) -> list[tuple[str, Rule]]:
        """A top-level ``requires_record`` rule compiled for every workflow it guards: those
        listed (each must exist), else every loaded workflow in which one of its posts acts,
        except the records' own workflow."""
        path: Path = ("requires_record", i)
        ok = self.known_roles(doc, (*path, "roles"), rule.roles, roles)
        before = len(self.problems)
        found = self._records(doc, rule, path, ("field", "post_field", "valid_until"))
        if found is None:
            return []
        other, where = found
        ok = ok and len(self.problems) == before
        if rule.workflows is not None:
            before = len(self.problems)
            targets = self.loaded_workflows(doc, (*path, "workflows"), rule.workflows)
            ok = ok and len(self.problems) == before
        else:
            targets = self.acting_in(rule)
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
            _source(rule, other, where),
            rule.reason,
        )
        return [(wf_id, made) for wf_id in targets]


def _source(
    rule: RequiresRecord | CoveredByRecords | GlobalRequiresRecord,
    other: CompiledWorkflow,
    where: Guard | None,
) -> Records:
    """The records ``rule`` asks for, kept by ``other``."""
    return Records(
        rule.workflow,
        other.definition.label,
        tuple(rule.states),
        rule.field,
        where,
        rule.valid_until,
    )
