"""Compiled policies: the role catalogue and every workflow's rules, and what they say
about one state (``who-can``).

A :class:`PolicySet` comes from :func:`cmc_workflow.policy.checks.build_policy_set`, which
checks the policy files against the workflows first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cmc_workflow.compiler import CompiledWorkflow, Edge
from cmc_workflow.definition.models import Label
from cmc_workflow.located import Located
from cmc_workflow.policy.models import PolicyFile
from cmc_workflow.policy.rules import PermissionRule, Rule, ScopingRule, WorkflowRules


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """A role declared by a policy file."""

    name: str
    label: Label
    inherits: tuple[str, ...]
    max_holders: int | None
    file: str


class Roles:
    """The role catalogue and its inheritance: who counts as holding which roles."""

    def __init__(self, declared: Mapping[str, RoleInfo], known: Iterable[str] = ()) -> None:
        self.declared = dict(declared)
        self.known = frozenset(known) | frozenset(self.declared)
        self._closure: dict[str, frozenset[str]] = {}
        for name in self.known:
            self._closure[name] = self._walk(name)

    def _walk(self, name: str) -> frozenset[str]:
        seen = {name}
        todo = [name]
        while todo:
            info = self.declared.get(todo.pop())
            for parent in info.inherits if info is not None else ():
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return frozenset(seen)

    def closure(self, role: str) -> frozenset[str]:
        """``role`` and every role it inherits, transitively."""
        return self._closure.get(role, frozenset({role}))

    def expand(self, roles: Iterable[str]) -> frozenset[str]:
        """The roles held, inherited ones included."""
        out: set[str] = set()
        for role in roles:
            out |= self.closure(role)
        return frozenset(out)

    def holders(self, *needs: frozenset[str]) -> frozenset[str]:
        """Known roles whose holders (by inheritance) hold one role of every set in ``needs``."""
        return frozenset(
            role for role in self.known if all(self.closure(role) & need for need in needs)
        )

    def max_holders(self) -> dict[str, int | None]:
        """The declared limits on how many people may hold a role (None: no limit)."""
        return {name: info.max_holders for name, info in self.declared.items()}


@dataclass(frozen=True, slots=True)
class TriggerPolicy:
    """Who may fire one trigger of a state once policies apply, and which rules judge it."""

    trigger: str
    target: str
    label: Label | None
    workflow_roles: frozenset[str]
    policy_roles: frozenset[str] | None
    may_fire: frozenset[str]
    rules: tuple[tuple[str, str, str, str], ...]
    """(rule id, kind, what it demands in English, in Chinese)."""


@dataclass(slots=True)
class PolicySet:
    """Compiled policies: the role catalogue and every workflow's rules."""

    roles: Roles = field(default_factory=lambda: Roles({}))
    workflows: dict[str, WorkflowRules] = field(default_factory=dict)
    files: list[tuple[Located, PolicyFile]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when no policy file was loaded."""
        return not self.files

    def rules_for(self, workflow: str) -> list[Rule]:
        """The rules of ``workflow``, in the order they are judged."""
        found = self.workflows.get(workflow)
        return list(found.rules) if found is not None else []

    def permitted_roles(
        self, wf: CompiledWorkflow, state: str | None, trigger: str
    ) -> tuple[frozenset[str], frozenset[str] | None, frozenset[str]]:
        """For a trigger of ``state`` (or starting, state None): the workflow's roles, the
        policies' tightened roles (None when no policy tightens it), and every role whose
        holders may fire it."""
        if state is None:
            base = frozenset(wf.definition.start.roles)
        else:
            base = frozenset().union(*(e.roles for e in wf.edges(state) if e.trigger == trigger))
        tables = [
            rule.table[(state, trigger)]
            for rule in self.rules_for(wf.id)
            if isinstance(rule, PermissionRule) and (state, trigger) in rule.table
        ]
        tightened = frozenset.intersection(*tables) if tables else None
        return base, tightened, self.roles.holders(base, *tables)

    def who_can(self, wf: CompiledWorkflow, state: str) -> list[TriggerPolicy]:
        """Every trigger of ``state``: who may fire it and under which rules."""
        out = []
        for trigger in wf.triggers(state):
            edges = [e for e in wf.edges(state) if e.trigger == trigger]
            base, tightened, may = self.permitted_roles(wf, state, trigger)
            entered = frozenset().union(*(_reachable_now(wf, e) for e in edges))
            rules = tuple(
                (
                    rule.id,
                    rule.kind if rule.refuses else f"{rule.kind}, should: warns",
                    *rule.describe(),
                )
                for rule in self.rules_for(wf.id)
                if not isinstance(rule, PermissionRule)
                and rule.concerns(state, trigger, entered, may)
            )
            out.append(
                TriggerPolicy(
                    trigger=trigger,
                    target=edges[0].target,
                    label=edges[0].spec.label,
                    workflow_roles=base,
                    policy_roles=tightened,
                    may_fire=may,
                    rules=rules,
                )
            )
        return out


def _reachable_now(wf: CompiledWorkflow, edge: Edge) -> frozenset[str]:
    """The states firing ``edge`` may enter in one command (gateway routes followed)."""
    if edge.target == edge.source:
        return frozenset()
    seen = {edge.target}
    todo = [edge.target]
    while todo:
        state = todo.pop()
        if wf.state(state).type != "exclusiveGateway":
            continue
        for route in wf.edges(state):
            if route.target not in seen:
                seen.add(route.target)
                todo.append(route.target)
    return frozenset(seen)


def acting_roles(wf: CompiledWorkflow) -> frozenset[str]:
    """The roles that may start items of ``wf`` or fire one of its transitions."""
    roles = set(wf.definition.start.roles)
    for state in wf.definition.states:
        for edge in wf.edges(state):
            roles |= edge.roles
    return frozenset(roles)


def unscoped(policy: PolicySet, workflows: Mapping[str, CompiledWorkflow]) -> list[str]:
    """Workflows where a role of a top-level scoping rule acts but nothing scopes it (the
    workflow has no such field): ``policy check`` lists them for a human to judge."""
    out = []
    for _doc, model in policy.files:
        for rule in model.scoping:
            for wf_id, wf in sorted(workflows.items()):
                scoped = any(
                    isinstance(r, ScopingRule) and r.id == rule.id for r in policy.rules_for(wf_id)
                )
                if not scoped and acting_roles(wf) & set(rule.roles):
                    out.append(f"{wf_id}: {', '.join(rule.roles)} acting without data.{rule.field}")
    return out
