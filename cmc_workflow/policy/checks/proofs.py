"""The glue to the static proof (:mod:`cmc_workflow.policy.proof`): steps the engine takes
itself under a pinned role list, shortcuts around required stages, and pairs of distinct
actors no assignment of roles can satisfy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import N_, joined, tr
from cmc_workflow.located import Located, Path
from cmc_workflow.policy.checks.records import RecordChecks
from cmc_workflow.policy.checks.references import human_state, step_pairs
from cmc_workflow.policy.models import WorkflowPolicy
from cmc_workflow.policy.policyset import Roles
from cmc_workflow.policy.proof import Firer, Takers, find_bypass, pair_satisfiable, timer_firers
from cmc_workflow.policy.rules import Rounds, StepKey


class ProofChecks(RecordChecks):
    """What the static proof finds, as problems placed in the files."""

    def prove(
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
                    tr(
                        "no role may start an item of {workflow} once this policy applies",
                        workflow=wf.id,
                    )
                    if state is None
                    else tr(
                        "no role may fire {trigger} in {state} once this policy applies",
                        trigger=repr(trigger),
                        state=repr(state),
                    ),
                    tr("list at least one role, or remove the transition from the workflow"),
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
                        tr(
                            "the {firer} fires {step}, which the policy ({file}) leaves to "
                            "{roles} only: the engine holds no such role, so every such step "
                            "would be refused",
                            firer=firer.what,
                            step=f"{state}.{trigger}",
                            file=doc.file,
                            roles=", ".join(sorted(pinned)),
                        ),
                        tr("warn or escalate to that role instead, or fire another trigger"),
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
            what = joined(skipped) if skipped else tr("its stages in order")
            message = tr(
                "state {state} can be entered without {what} (rule {rule}, {place}, requires "
                "{stages} in order since the last rework): {path}",
                state=repr(staged.enter),
                what=what,
                rule=repr(staged.id),
                place=f"{doc.file}:{at.line}",
                stages=joined(s.name for s in stages),
                path=bypass.spelled(),
            )
            hint = tr("route the transition through the required stages, or remove it")
            found: list[Problem] = []
            if culprit.by is not None and culprit.by.workflow in self.loaded.workflows:
                owner = self.loaded.workflows[culprit.by.workflow]
                found.append(
                    self.workflow_doc(owner).problem(
                        culprit.by.path,
                        "E-POLICY-BYPASS",
                        message,
                        tr(
                            "the engine fires {transition} itself (the {firer}), which is never "
                            "a person's approval: fire a trigger that leads back to the stages, "
                            "warn or escalate instead",
                            transition=f"{culprit.source}.{culprit.trigger}",
                            firer=culprit.by.what,
                        ),
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
                        tr(
                            "the shortcut is {shortcut}; {hint}",
                            shortcut=f"{culprit.edge.source} -{culprit.trigger}-> {culprit.target}",
                            hint=hint,
                        ),
                    )
                )
            for problem in found:
                where = (problem.file, problem.line, problem.column)
                if where in placed:  # the same shortcut around another rule: say so once
                    j = placed[where]
                    first = self.problems[j]
                    also = tr("it also bypasses rule {rule}", rule=repr(staged.id))
                    self.problems[j] = replace(
                        first,
                        message=f"{first.message}; {also.en}",
                        message_zh=f"{first.message_zh}{also.zh}",
                    )
                    continue
                placed[where] = len(self.problems)
                self.problems.append(problem)
        limits = roles.max_holders()
        for i, rule in enumerate(section.distinct_actors):
            for a, b in step_pairs(rule, steps):
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
                        tr(
                            "rule {rule} asks different people for {first} and {second}, which "
                            "no assignment of roles allows: {why}",
                            rule=repr(rule.id),
                            first=a.name,
                            second=b.name,
                            why=why,
                        ),
                        tr("widen who may take one of the steps, or drop the pair"),
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
                        N_("collects: of {state}"),
                        (("state", f"{other_id}.{name}"),),
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
        elif not human_state(wf, step):
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
