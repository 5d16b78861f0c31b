"""The policy layer: who may do what, required review stages, separation of duties.

Policy files (``kind: policy``, usually in ``policies/``) load next to the workflows with
the same located problems; :func:`build_policy_set` checks them against the workflows and
proves them on the compiled graphs; :func:`policy_extensions` turns them into engine
extensions that judge every command. See ``docs/policies.md``.

The ``policy`` file kind is listed in :data:`cmc_workflow.language.KINDS`.
"""

from cmc_workflow.policy.checks import build_policy_set
from cmc_workflow.policy.extension import (
    PolicyRuntime,
    RolesExtension,
    RuleExtension,
    TxFacts,
    denials,
    extensions_for,
    policy_extensions,
)
from cmc_workflow.policy.masking import Masker, mask_value, personal_fields
from cmc_workflow.policy.models import PolicyFile, load_policy_doc
from cmc_workflow.policy.policyset import PolicySet, Roles, TriggerPolicy
from cmc_workflow.policy.rules import Denial, Facts, ListFacts, Request, Rule, Step

__all__ = [
    "Denial",
    "Facts",
    "ListFacts",
    "Masker",
    "PolicyFile",
    "PolicyRuntime",
    "PolicySet",
    "Request",
    "Roles",
    "RolesExtension",
    "Rule",
    "RuleExtension",
    "Step",
    "TriggerPolicy",
    "TxFacts",
    "build_policy_set",
    "denials",
    "extensions_for",
    "load_policy_doc",
    "mask_value",
    "personal_fields",
    "policy_extensions",
]
