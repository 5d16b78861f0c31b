"""Rules that judge by the item's history, as folds: what they need of the history is a
small state, updated step by step, so that judging costs the same at ten steps and at ten
thousand.

A :class:`HistoryRule` starts from :meth:`~HistoryRule.initial`, takes the item's steps in
order through :meth:`~HistoryRule.fold` and judges a request by the state it reached
(:meth:`~HistoryRule.verdict`). States are plain JSON values (dicts, lists, strings,
numbers), so the engine can keep them on the item row between commands
(:mod:`cmc_workflow.policy.summary`) and fold only the steps a command adds. Facts that
keep such states (:class:`Folded`, the engine's) answer from them; any other
:class:`~cmc_workflow.policy.rules.facts.Facts` is folded from its whole history, which
is the definition the kept states must agree with (``tests/unit/test_policy_folds.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from cmc_workflow.policy.rules.base import Denial, Request, Rule
from cmc_workflow.policy.rules.facts import Facts, Step


@runtime_checkable
class Folded(Protocol):
    """Facts that keep every history rule's fold of the item's steps (the engine's)."""

    def folded(self, rule: HistoryRule) -> tuple[Any, int]:
        """``rule``'s state after every step of the item, and how many steps that is."""
        ...


class HistoryRule(Rule):
    """A rule that judges by the item's history through a fold of its steps.

    ``fold`` must not change the state it is given (it returns a new one when the step
    changes it), and a state must survive a JSON round trip unchanged in meaning.
    """

    def initial(self) -> Any:
        """The state before the item's first step."""
        raise NotImplementedError

    def fold(self, state: Any, step: Step) -> Any:
        """The state after ``step``."""
        raise NotImplementedError

    def verdict(self, request: Request, state: Any, seen: int) -> Denial | None:
        """Judge ``request`` by the state after ``seen`` steps (only called when it applies)."""
        raise NotImplementedError

    def signature(self) -> object:
        """What the fold depends on, as JSON values: states kept under another signature
        are folded again from the history."""
        raise NotImplementedError

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        state, seen = self.state(facts)
        return self.verdict(request, state, seen)

    def state(self, facts: Facts) -> tuple[Any, int]:
        """The state after the item's steps in ``facts``, and how many steps that is."""
        folded = getattr(facts, "folded", None)
        if folded is not None:  # Folded facts (isinstance of a protocol costs more than this)
            state, seen = folded(self)
            return state, int(seen)
        history = facts.history()
        return fold_steps(self, self.initial(), history), len(history)


def fold_steps(rule: HistoryRule, state: Any, steps: Iterable[Step]) -> Any:
    """``state`` after ``steps``, in order."""
    for step in steps:
        state = rule.fold(state, step)
    return state
