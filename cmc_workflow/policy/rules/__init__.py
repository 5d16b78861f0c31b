"""Judging one command against policy rules: pure functions over plain values.

Nothing here touches the database, the clock or the engine. A rule sees a
:class:`Request` (who wants to do what to which data, at what time) and asks
:class:`Facts` for what it cannot see in the request: the item's history and, for
``requires_record``, completed items of another workflow. The engine side
(:mod:`cmc_workflow.policy.extension`) answers those questions from the store; tests can
answer them from lists (:class:`ListFacts`).

A rule either lets the request pass (``None``) or refuses it with a :class:`Denial` that
names the rule and explains itself in English and Chinese.

One module per family: :mod:`.base` (request, denial, the rule base classes),
:mod:`.access` (permissions, scoping), :mod:`.steps` (attestations, separation of duties,
required stages), :mod:`.records` (records of other workflows), :mod:`.data` (data
conditions, expiry, silence), :mod:`.facts` (the facts a rule may ask for, and facts from lists),
:mod:`.figures` (figures computed from the store and confirmed by people)
and :mod:`.history` (rules that judge by the item's history, as folds of its steps).
"""

from cmc_workflow.policy.rules.access import PermissionRule, ScopingRule
from cmc_workflow.policy.rules.base import (
    PERMISSIONS_RULE,
    Denial,
    Request,
    Rounds,
    Rule,
    StepKey,
    WorkflowRules,
    asked_rules,
)
from cmc_workflow.policy.rules.data import ForbidDataRule, SilenceRule, Silent
from cmc_workflow.policy.rules.facts import Entry, Facts, First, ListFacts, Move, Step
from cmc_workflow.policy.rules.figures import FiguresRule
from cmc_workflow.policy.rules.history import Folded, HistoryRule, fold_steps
from cmc_workflow.policy.rules.records import (
    CoveredByRecordsRule,
    PostRecordRule,
    Records,
    RequiresRecordRule,
    UniqueStartRule,
)
from cmc_workflow.policy.rules.steps import (
    AttestationRule,
    DistinctActorsRule,
    RequiredStagesRule,
)

__all__ = [
    "PERMISSIONS_RULE",
    "AttestationRule",
    "CoveredByRecordsRule",
    "Denial",
    "DistinctActorsRule",
    "Entry",
    "Facts",
    "FiguresRule",
    "First",
    "Folded",
    "ForbidDataRule",
    "HistoryRule",
    "ListFacts",
    "Move",
    "PermissionRule",
    "PostRecordRule",
    "Records",
    "Request",
    "RequiredStagesRule",
    "RequiresRecordRule",
    "Rounds",
    "Rule",
    "ScopingRule",
    "SilenceRule",
    "Silent",
    "Step",
    "StepKey",
    "UniqueStartRule",
    "WorkflowRules",
    "asked_rules",
    "fold_steps",
]
