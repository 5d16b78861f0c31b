"""The policy layer: who may do what, required review stages, separation of duties.

Policy files (``kind: policy``, usually in ``policies/``) load next to the workflows with
the same located problems; :func:`build_policy_set` checks them against the workflows and
proves them on the compiled graphs. The runtime part, the engine extensions that judge
every command (:func:`cmc_workflow.policy.extension.policy_extensions`), lives in
:mod:`cmc_workflow.policy.extension` and is not imported here: the rest of the package is
pure (no store, no engine; ``tests/unit/test_layering.py``). See ``docs/policies.md``.

The ``policy`` file kind is listed in :data:`cmc_workflow.language.KINDS`.
"""

from cmc_workflow._exports import moved
from cmc_workflow.policy.checks import build_policy_set
from cmc_workflow.policy.load import load_policy_doc
from cmc_workflow.policy.masking import Masker, mask_value, personal_fields
from cmc_workflow.policy.models import PolicyFile
from cmc_workflow.policy.policyset import PolicySet, Roles, TriggerPolicy
from cmc_workflow.policy.rules import Denial, Facts, ListFacts, Request, Rule, Step

__all__ = [
    "Denial",
    "Facts",
    "ListFacts",
    "Masker",
    "PolicyFile",
    "PolicySet",
    "Request",
    "Roles",
    "Rule",
    "Step",
    "TriggerPolicy",
    "build_policy_set",
    "load_policy_doc",
    "mask_value",
    "personal_fields",
]

_MOVED = frozenset(
    {
        "PolicyRuntime",
        "RolesExtension",
        "RuleExtension",
        "TxFacts",
        "denials",
        "extensions_for",
        "policy_extensions",
    }
)


# deprecated for one release: the runtime names moved to cmc_workflow.policy.extension
__getattr__ = moved(__name__, "cmc_workflow.policy.extension", names=_MOVED)
