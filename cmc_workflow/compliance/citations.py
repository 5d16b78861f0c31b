"""Citations of requirement ids in the definitions: workflows, policies and schedules.

Every ``implements:`` list of a loaded definition set becomes one :class:`Citation` per id:

- workflow elements: the workflow itself, its ``start``, each state, each state's
  ``deadline``, each transition (gateway routes included), each ``starts`` entry and
  ``collects`` of a transition;
- policies: the policy file, and each rule (per workflow, and the top-level ``scoping``);
- schedules: each schedule of a ``kind: schedules`` file.

Names read as phrases (``publishing: first_review --approve--> second_review``) and are
stable while files are edited; files are shown relative to a base folder.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from cmc_workflow.compliance.model import Citation
from cmc_workflow.definition.loader import LoadedSet, LoadedWorkflow
from cmc_workflow.definition.models import State, Transition
from cmc_workflow.policy.models import PolicyFile, rules_of
from cmc_workflow.schedules.models import ScheduleFile


def relative(file: str | Path, base: Path | None) -> str:
    """``file`` relative to ``base`` when it lies under it, with ``/`` separators."""
    path = Path(file)
    if base is not None:
        with contextlib.suppress(ValueError):  # outside base: shown as given
            path = path.resolve().relative_to(base.resolve())
    return path.as_posix()


def transition_name(state_name: str, state: State, transition: Transition) -> str:
    """``first_review --approve--> second_review``; a gateway route says ``route``."""
    trigger = transition.trigger or ("route" if state.type == "exclusiveGateway" else "?")
    return f"{state_name} --{trigger}--> {transition.target}"


def workflow_citations(loaded: LoadedWorkflow, base: Path | None = None) -> list[Citation]:
    """Every id cited by the elements of one workflow, in file order."""
    wf = loaded.definition
    file = relative(loaded.file, base)
    out: list[Citation] = []

    def cite(ids: list[str], what: str) -> None:
        out.extend(Citation(r, "element", f"{wf.id}: {what}", file, workflow=wf.id) for r in ids)

    cite(wf.implements, "workflow")
    cite(wf.start.implements, "start")
    for name, state in wf.states.items():
        cite(state.implements, f"state {name}")
        if state.deadline is not None:
            cite(
                state.deadline.implements,
                f"deadline of {name} ({state.deadline.span.removeprefix('within ')})",
            )
        for transition in state.transitions:
            move = transition_name(name, state, transition)
            cite(transition.implements, move)
            for started in transition.starts:
                each = " for each" if started.for_each else ""
                cite(started.implements, f"{move} starts {started.workflow}{each}")
            if transition.collects is not None:
                cite(
                    transition.collects.implements,
                    f"{move} collects {transition.collects.workflow}",
                )
    return out


def policy_citations(policy: PolicyFile, file: str) -> list[Citation]:
    """Every id cited by one policy file and its rules, in file order."""
    out = [Citation(r, "policy", f"policy {policy.id}", file) for r in policy.implements]
    for scoping in policy.scoping:
        name = f"policy {policy.id}: scoping {scoping.id}"
        out += [Citation(r, "policy", name, file) for r in scoping.implements]
    for wf_id, section in policy.workflows.items():
        for kind, _, rule in rules_of(section):
            name = f"policy {policy.id}: {kind} {rule.id} on {wf_id}"
            out += [Citation(r, "policy", name, file, workflow=wf_id) for r in rule.implements]
    return out


def schedule_citations(schedules: ScheduleFile, file: str) -> list[Citation]:
    """Every id cited by the schedules of one ``kind: schedules`` file."""
    out: list[Citation] = []
    for name, spec in schedules.schedules.items():
        what = f"schedule {name} (starts {spec.workflow})"
        out += [
            Citation(r, "schedule", what, file, workflow=spec.workflow) for r in spec.implements
        ]
    return out


def definition_citations(loaded: LoadedSet, base: Path | None = None) -> list[Citation]:
    """Every citation of a loaded definition set: workflows by file, then policies, then
    schedules."""
    out: list[Citation] = []
    for wf in sorted(
        loaded.workflows.values(), key=lambda w: (relative(w.file, base), w.definition.id)
    ):
        out += workflow_citations(wf, base)
    policies = [(relative(doc.file, base), m) for doc, m in loaded.others.get("policy", [])]
    for file, policy in sorted(policies, key=lambda pair: pair[0]):
        if isinstance(policy, PolicyFile):
            out += policy_citations(policy, file)
    schedules = [(relative(doc.file, base), m) for doc, m in loaded.others.get("schedules", [])]
    for file, model in sorted(schedules, key=lambda pair: pair[0]):
        if isinstance(model, ScheduleFile):
            out += schedule_citations(model, file)
    return out
