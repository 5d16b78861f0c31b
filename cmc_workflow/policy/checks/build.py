"""Every policy file together: :func:`build_policy_set`."""

from __future__ import annotations

import threading
from typing import Any

from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.errors import Problem
from cmc_workflow.policy.checks.sections import SectionChecks, with_level
from cmc_workflow.policy.coverage import coverage_problems
from cmc_workflow.policy.policyset import PolicySet
from cmc_workflow.policy.rules import WorkflowRules

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
    "confirm_figures": 10,
}


_last: tuple[tuple[Any, ...], PolicySet, list[Problem]] | None = None
_last_lock = threading.Lock()


def _inputs(loaded: LoadedSet) -> tuple[Any, ...]:
    """What a policy set is built from: the very workflow and policy objects of ``loaded``.

    The key holds them, so no id in it can be reused by another object while it is kept."""
    return (
        tuple(sorted(loaded.workflows.items())),
        tuple(model for _doc, model in loaded.others.get("policy", ())),
        tuple(sorted(loaded.disabled.items())),
    )


def build_policy_set(loaded: LoadedSet) -> tuple[PolicySet, list[Problem]]:
    """Check every policy file of ``loaded`` against its workflows and compile the rules.

    Returns the policy set and every problem found (also those of the static proof).
    Opening an engine checks the set while loading and then enforces it: the last set
    built is kept, keyed by the identity of the objects it was built from, so the same
    load is built once.
    """
    global _last
    key = _inputs(loaded)
    with _last_lock:
        last = _last
    if last is not None and _same(last[0], key):
        return last[1], list(last[2])
    policy, problems = _build(loaded)
    with _last_lock:  # keyed as it stands now: building may set workflows aside
        _last = (_inputs(loaded), policy, problems)
    return policy, list(problems)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    (wa, pa, da), (wb, pb, db) = a, b
    return (
        da == db
        and len(wa) == len(wb)
        and len(pa) == len(pb)
        and all(x[0] == y[0] and x[1] is y[1] for x, y in zip(wa, wb, strict=True))
        and all(x is y for x, y in zip(pa, pb, strict=True))
    )


def _build(loaded: LoadedSet) -> tuple[PolicySet, list[Problem]]:
    builder = SectionChecks(loaded)
    unguarded = coverage_problems(loaded, builder.files, builder.workflow_doc)
    if not builder.files:
        return PolicySet(), unguarded
    roles = builder.roles()
    rule_places: dict[str, str] = {}
    for doc, policy in builder.files:
        for wf_id, section in policy.workflows.items():
            builder.guarding = [wf_id]
            builder.section(doc, wf_id, section, roles, rule_places)
            builder.guarding = []
    for doc, policy in builder.files:
        for i, rule in enumerate(policy.scoping):
            builder.claim_id(doc, ("scoping", i, "id"), rule.id, rule_places)
            for wf_id in builder.scoped_workflows(doc, rule, i):
                wf = builder.workflow(wf_id)
                assert wf is not None
                made = builder.scoping_rule(doc, wf, rule, ("scoping", i), roles)
                if made is not None:
                    builder.rules.setdefault(wf_id, []).append(with_level(made, rule))
    for doc, policy in builder.files:
        for i, needs in enumerate(policy.requires_record):
            builder.claim_id(doc, ("requires_record", i, "id"), needs.id, rule_places)
            builder.guarding = list(needs.workflows or builder.acting_in(needs))
            made_rules = builder.post_record_rules(doc, needs, i, roles)
            builder.guarding = []
            for wf_id, made in made_rules:
                builder.rules.setdefault(wf_id, []).append(with_level(made, needs))
    workflows = {
        wf_id: WorkflowRules(wf_id, rules=sorted(rules, key=lambda r: _ORDER[r.kind]))
        for wf_id, rules in builder.rules.items()
    }
    return PolicySet(roles, workflows, builder.files), builder.problems + unguarded
