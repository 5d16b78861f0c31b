"""History rules as folds: judging from a summary kept step by step (stored as JSON between
steps, as the engine keeps it on the item row) gives exactly the judgements of the rules'
original definition over the whole history, for random histories of the bundled
policies' workflows.

The oracle below is the definition the rules had before they became folds (a window of
the history, searched on every request); it is kept here, and only here, to pin it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.i18n import Text
from cmc_workflow.policy import ListFacts, PolicySet, Request, Step, build_policy_set
from cmc_workflow.policy.rules import (
    Denial,
    DistinctActorsRule,
    HistoryRule,
    RequiredStagesRule,
    Rounds,
)
from cmc_workflow.policy.rules.base import names, same_person
from cmc_workflow.policy.summary import FACTS_KEY, Summarizer, Summary
from tests.helpers import POLICIES, WORKFLOWS

ACTORS = ["wang", "Wang", "ｗａｎｇ ", "zhao", "qian", "sun", "li", "system"]
VALUES: list[Any] = [None, "", [], "v2", ["a.jpg"], ("b.png",)]


def distinct_actors_oracle(
    rule: DistinctActorsRule, request: Request, history: Sequence[Step]
) -> Denial | None:
    window = history if rule.within == "item" else rule.rounds.current(history)
    for this, other in rule._partners(request):
        if any(other.matches_step(s) and same_person(s.actor, request.actor) for s in window):
            if this == other:
                return rule.deny(
                    Text(
                        f"{request.actor} already acted as the {other.label.en} of this item; "
                        f"another {this.label.en} must be someone else",
                        f"{request.actor} 已担任本事项的{other.label.zh}，"
                        f"再次{this.label.zh}须由他人担任",
                    )
                )
            return rule.deny(
                Text(
                    f"{request.actor} already acted as the {other.label.en} of this item; "
                    f"the {this.label.en} must be someone else",
                    f"{request.actor} 已担任本事项的{other.label.zh}，{this.label.zh}须由他人担任",
                )
            )
    return None


def required_stages_oracle(
    rule: RequiredStagesRule, request: Request, history: Sequence[Step]
) -> Denial | None:
    rounds: Rounds = rule.rounds
    done = 0
    edit: Step | None = None
    for step in [*history, rule.pending(request, len(history))]:
        if rounds.enters_rework(step):
            done, edit = 0, None
        if rounds.is_edit(step.kind, step.form) and done > 0:
            done, edit = 0, step
        if done < len(rule.stages) and rule.stages[done].matches_step(step):
            done += 1
    if done == len(rule.stages):
        return None
    missing = rule.stages[done:]
    en = (
        f"entering {rule.enter!r} needs, in order since the last rework: "
        f"{names((s.label for s in rule.stages), 'en')}; missing: "
        f"{names((s.label for s in missing), 'en')}"
    )
    zh = (
        f"进入“{rule.enter}”前须依次完成{names((s.label for s in rule.stages), 'zh')}，"
        f"尚缺：{names((s.label for s in missing), 'zh')}"
    )
    if edit is not None:
        en += (
            f" (the edit {edit.trigger!r} by {edit.actor} at step {edit.seq} invalidated "
            "earlier approvals: review again)"
        )
        zh += (
            f"（第 {edit.seq} 步 {edit.actor} 的修改（{edit.trigger}）"
            "使此前的审核失效，须重新审核）"
        )
    return rule.deny(Text(en, zh))


def oracle(rule: HistoryRule, request: Request, history: Sequence[Step]) -> Denial | None:
    if isinstance(rule, DistinctActorsRule):
        return distinct_actors_oracle(rule, request, history)
    assert isinstance(rule, RequiredStagesRule)
    return required_stages_oracle(rule, request, history)


class KeptFacts:
    """Facts that answer history rules from a stored summary only (no history)."""

    def __init__(self, summarizer: Summarizer, summary: Summary) -> None:
        self.summarizer = summarizer
        self.summary = summary

    def history(self) -> Sequence[Step]:
        raise AssertionError("a kept summary must answer without the history")

    def folded(self, rule: HistoryRule) -> tuple[Any, int]:
        key = self.summarizer.key(rule)
        assert key is not None
        return self.summary.states[key], self.summary.seen


@pytest.fixture(scope="module")
def bundle() -> tuple[PolicySet, dict[str, CompiledWorkflow]]:
    loaded = load_paths([WORKFLOWS, POLICIES])
    assert loaded.problems == []
    policy, problems = build_policy_set(loaded)
    assert problems == []
    workflows = {wf_id: CompiledWorkflow(lw) for wf_id, lw in loaded.workflows.items()}
    return policy, workflows


def history_workflows(policy: PolicySet) -> list[str]:
    return sorted(w for w, r in policy.workflows.items() if Summarizer(r.rules))


def edit_fields(rules: Sequence[HistoryRule]) -> list[str]:
    return sorted({f for r in rules for f in r.rounds.edit_fields} | {"content"})  # type: ignore[attr-defined]


def random_form(rnd: random.Random, fields: Sequence[str]) -> dict[str, Any]:
    return {f: rnd.choice(VALUES) for f in fields if rnd.random() < 0.3}


def random_step(rnd: random.Random, wf: CompiledWorkflow, seq: int, fields: Sequence[str]) -> Step:
    if rnd.random() < 0.05:
        start = wf.definition.start.state
        return Step(seq, "start", None, None, start, rnd.choice(ACTORS), random_form(rnd, fields))
    state = rnd.choice(sorted(wf.definition.states))
    edges = list(wf.edges(state))
    if not edges:
        return Step(seq, "route", "route", state, state, "system", {})
    edge = rnd.choice(edges)
    kind = rnd.choices(["fire", "timer", "handler", "collect", "route"], [8, 1, 1, 1, 1])[0]
    form = random_form(rnd, fields)
    return Step(seq, kind, edge.trigger, state, edge.target, rnd.choice(ACTORS), form)


def random_request(
    rnd: random.Random, wf: CompiledWorkflow, enters: Sequence[str], fields: Sequence[str]
) -> Request:
    form = random_form(rnd, fields)
    actor = rnd.choice(ACTORS).strip().lower()
    if rnd.random() < 0.1:
        state: str | None = None
        trigger = "start"
        entered: tuple[str, ...] = (wf.definition.start.state,)
    else:
        state = rnd.choice(sorted(wf.definition.states))
        edges = list(wf.edges(state))
        trigger = rnd.choice(edges).trigger if edges else "nothing"
        entered = (rnd.choice([*enters, *(e.target for e in edges), state]),)
    return Request(
        workflow=wf.id,
        state=state,
        trigger=trigger,
        entered=entered,
        actor=actor,
        roles=frozenset(),
        attributes={},
        data={},
        form=form,
        form_spec={},
        edge_roles=frozenset(),
        now=None,  # type: ignore[arg-type]  # no history rule reads the time
        today=None,  # type: ignore[arg-type]
        probe=rnd.random() < 0.1,
        kind=rnd.choices(["fire", "timer", "handler"], [8, 1, 1])[0],
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_folding_step_by_step_judges_as_the_whole_history(
    bundle: tuple[PolicySet, dict[str, CompiledWorkflow]], seed: int
) -> None:
    policy, workflows = bundle
    rnd = random.Random(seed)
    for workflow in history_workflows(policy):
        wf = workflows[workflow]
        summarizer = Summarizer(policy.workflows[workflow].rules)
        rules = [rule for _key, rule in summarizer.rules]
        fields = edit_fields(rules)
        enters = [r.enter for r in rules if isinstance(r, RequiredStagesRule)]
        history: list[Step] = []
        summary = summarizer.initial()
        for seq in range(1, rnd.randint(1, 60)):
            # the summary goes through JSON between steps, as it does through the item row
            stored = json.loads(json.dumps(summarizer.facts(summary), ensure_ascii=False))
            kept = summarizer.read(stored, len(history))
            assert kept is not None
            for _ in range(3):
                request = random_request(rnd, wf, enters, fields)
                for rule in rules:
                    if not rule.applies(request):
                        continue
                    expected = oracle(rule, request, history)
                    assert rule.judge(request, ListFacts(history)) == expected
                    assert rule.judge(request, KeptFacts(summarizer, kept)) == expected
            step = random_step(rnd, wf, seq, fields)
            history.append(step)
            summary = summarizer.fold(kept, [step])
        assert summary == summarizer.fold(summarizer.initial(), history)


def test_the_bundle_has_history_rules_of_both_kinds(
    bundle: tuple[PolicySet, dict[str, CompiledWorkflow]],
) -> None:
    policy, _workflows = bundle
    kinds = {
        type(rule).__name__
        for workflow in history_workflows(policy)
        for _key, rule in Summarizer(policy.workflows[workflow].rules).rules
    }
    assert kinds == {"DistinctActorsRule", "RequiredStagesRule"}
    assert "publishing" in history_workflows(policy)


def test_a_summary_is_used_only_under_its_rules_and_step_count(
    bundle: tuple[PolicySet, dict[str, CompiledWorkflow]],
) -> None:
    policy, _workflows = bundle
    summarizer = Summarizer(policy.workflows["publishing"].rules)
    step = Step(1, "start", None, None, "proposed", "wang", {})
    facts = summarizer.facts(summarizer.fold(summarizer.initial(), [step]))
    assert summarizer.read(facts, 1) is not None
    assert summarizer.read(facts, 2) is None  # a step written without keeping the summary
    assert summarizer.read(None, 1) is None  # an item from before the summary existed
    changed = {FACTS_KEY: {**facts[FACTS_KEY], "rules": "another policy"}}
    assert summarizer.read(changed, 1) is None
    other = Summarizer(policy.workflows["emergency_plans"].rules)
    assert other.fingerprint != summarizer.fingerprint
    assert other.read(facts, 1) is None


def test_a_summary_stays_small_as_the_history_grows(
    bundle: tuple[PolicySet, dict[str, CompiledWorkflow]],
) -> None:
    """10,000 rounds of submit and reject by the same two people: the summary is the size
    it was after the first round (it grows with the people, not the steps)."""
    policy, _workflows = bundle
    summarizer = Summarizer(policy.workflows["publishing"].rules)
    loop = [
        Step(0, "fire", "submit", "drafting", "first_review", "wang", {"content": "v"}),
        Step(0, "fire", "reject", "first_review", "drafting", "zhao", {"reason": "r"}),
    ]
    one = summarizer.fold(summarizer.initial(), loop)
    many = summarizer.fold(summarizer.initial(), loop * 10_000)
    size = len(json.dumps(summarizer.facts(one)))
    assert len(json.dumps(summarizer.facts(many))) <= size + 10  # the step count's digits
    assert size < 1_000
