"""An item's policy summary: the states of its workflow's history rules, kept on the item
row so that a command folds in only the steps it adds (pure: no store, no engine).

A :class:`Summarizer` holds the history rules of one workflow
(:class:`~cmc_workflow.policy.rules.HistoryRule`: separation of duties, required stages)
and a fingerprint of what their folds depend on. The engine keeps a summary in the item's
``facts`` under the key :data:`FACTS_KEY`::

    {"policy": {"rules": "<fingerprint>", "seen": 12, "states": {"<rule id>": ..., ...}}}

``seen`` is the number of history steps folded. A summary is used only when both the
fingerprint and ``seen`` match (the item's ``seq``); otherwise (an item written before the
summary existed, a policy changed since, a step written by a release that did not keep
it) it is folded again from the whole history, once, and rewritten with the next command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmc_workflow.policy.rules import HistoryRule, Rule, Step, fold_steps

FACTS_KEY = "policy"
"""The key of the policy summary in an item's facts."""

FORMAT = 1
"""The summary's format; part of the fingerprint, so a new format refolds old summaries."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The states of a workflow's history rules after ``seen`` steps of one item."""

    seen: int
    states: Mapping[str, Any]


class Summarizer:
    """The history rules of one workflow, and how their states are kept on an item."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        picked = [r for r in rules if isinstance(r, HistoryRule)]
        keys: dict[str, HistoryRule] = {}
        for n, rule in enumerate(picked):
            # rule ids are unique per file; two files about one workflow might repeat one
            keys[rule.id if rule.id not in keys else f"{rule.id}#{n}"] = rule
        self.rules: tuple[tuple[str, HistoryRule], ...] = tuple(keys.items())
        self._keys = {id(rule): key for key, rule in self.rules}
        signature = [FORMAT, [[key, rule.signature()] for key, rule in self.rules]]
        text = json.dumps(signature, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self.fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def key(self, rule: HistoryRule) -> str | None:
        """Where ``rule``'s state is kept (None: not one of this workflow's rules)."""
        return self._keys.get(id(rule))

    def initial(self) -> Summary:
        """The summary of an item with no steps."""
        return Summary(0, {key: rule.initial() for key, rule in self.rules})

    def fold(self, summary: Summary, steps: Sequence[Step]) -> Summary:
        """``summary`` with ``steps`` folded in, in order."""
        if not steps:
            return summary
        states = {key: fold_steps(rule, summary.states[key], steps) for key, rule in self.rules}
        return Summary(summary.seen + len(steps), states)

    def read(self, facts: Mapping[str, Any] | None, seen: int) -> Summary | None:
        """The summary kept in an item's ``facts`` when it was folded by these rules over
        exactly ``seen`` steps; None when it must be folded again from the history."""
        kept = facts.get(FACTS_KEY) if facts else None
        if not isinstance(kept, Mapping):
            return None
        states = kept.get("states")
        if (
            kept.get("rules") != self.fingerprint
            or kept.get("seen") != seen
            or not isinstance(states, Mapping)
            or len(states) != len(self.rules)
            or any(key not in states for key, _rule in self.rules)
        ):
            return None
        return Summary(seen, states)

    def facts(self, summary: Summary) -> dict[str, Any]:
        """The item facts that keep ``summary``."""
        kept = {"rules": self.fingerprint, "seen": summary.seen, "states": dict(summary.states)}
        return {FACTS_KEY: kept}


def step_of(row: Mapping[str, Any]) -> Step:
    """A stored history row as the rules see it."""
    return Step(
        seq=row["seq"],
        kind=row["kind"],
        trigger=row["trigger"],
        source=row["from_state"],
        target=row["to_state"],
        actor=row["actor"],
        form=row["form"] or {},
    )
