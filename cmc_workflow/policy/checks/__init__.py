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

from cmc_workflow.policy.checks.build import build_policy_set

__all__ = ["build_policy_set"]
