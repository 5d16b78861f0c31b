"""Which roles lead a workflow's team: their holders may reassign its user tasks.

A policy setting, per workflow (``workflows: {<id>: {leads: [...]}}`` in a policy file);
without one, :data:`DEFAULT_LEADS`, the channel lead (渠道负责人) and the operations
manager (运营经理) of requirements.md's role table. A lead role that neither the workflow
nor a policy file declares is a located problem (``E-TASK-LEADS``) of the policy file.
"""

from __future__ import annotations

from collections.abc import Mapping

from cmc_workflow.definition.loaded import LoadedSet
from cmc_workflow.errors import Problem
from cmc_workflow.i18n import Text, tr
from cmc_workflow.policy.models import PolicyFile

DEFAULT_LEADS = frozenset({"channel_lead", "ops_manager"})
"""The lead roles of a workflow whose policy names none."""


class Leads:
    """The lead roles of each workflow (:data:`DEFAULT_LEADS` unless a policy says)."""

    def __init__(self, named: Mapping[str, frozenset[str]] | None = None) -> None:
        self._named = dict(named or {})

    def of(self, workflow: str) -> frozenset[str]:
        """The roles whose holders may reassign ``workflow``'s tasks."""
        return self._named.get(workflow, DEFAULT_LEADS)


def leads_of(loaded: LoadedSet) -> tuple[Leads, list[Problem]]:
    """The lead roles the policy files of ``loaded`` name, and the problems of those that
    name a role nobody declares (all of them, each with its place)."""
    files = [
        (doc, model)
        for doc, model in loaded.others.get("policy", [])
        if isinstance(model, PolicyFile)
    ]
    declared_by_policies = {role for _, model in files for role in model.roles}
    named: dict[str, frozenset[str]] = {}
    problems: list[Problem] = []
    for doc, model in files:
        for wf_id, section in model.workflows.items():
            if section.leads is None:
                continue
            found = loaded.workflows.get(wf_id)
            declared = declared_by_policies | (
                set(found.definition.roles) if found is not None else set()
            )
            for j, role in enumerate(section.leads):
                if role not in declared:
                    problems.append(
                        doc.problem(
                            ("workflows", wf_id, "leads", j),
                            "E-TASK-LEADS",
                            tr(
                                "lead role {role} is not a role of workflow {workflow} or of "
                                "the policy files",
                                role=Text(repr(role), role),
                                workflow=Text(repr(wf_id), wf_id),
                            ),
                            tr("name one of: {roles}", roles=str(sorted(declared))),
                        )
                    )
            named[wf_id] = frozenset(section.leads)
    return Leads(named), problems
