"""The policy's lean paths decide as the general ones: a command's request built
positionally with what is kept per version, per day and per role sets, and
``posts_trained``'s acting posts kept per (roles, edge roles).

Each kept answer is compared with the answer computed afresh, on every start and trigger
of every bundled workflow (``test_policy_asked``'s commands) or every pair of role sets.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Engine
from cmc_workflow.extensions import Command
from cmc_workflow.policy import ListFacts, Step
from cmc_workflow.policy.extension import PolicyRuntime
from cmc_workflow.policy.rules import Request
from cmc_workflow.policy.rules.records import PostRecordRule
from cmc_workflow.policy.rules.steps import DistinctActorsRule
from cmc_workflow.testing import FakeClock
from tests.engine.test_policy_asked import commands, runtime_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundled(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with Engine.open(
        db_url, workflows=ROOT / "workflows", policies=ROOT / "policies", clock=clock
    ) as engine:
        yield engine


def by_keywords(runtime: PolicyRuntime, command: Command) -> Request:
    """The request as it was built before the lean path: by keywords, nothing kept."""
    wf = command.workflow
    actor = runtime.resolve(command.actor)
    start = command.item is None or command.edge is None
    entered = runtime.request(command).entered  # routed by the engine's gateways: as is
    return Request(
        workflow=wf.id,
        state=None if start or command.item is None else command.item.state,
        trigger="start" if start else (command.trigger or command.edge.trigger),  # type: ignore[union-attr]  # not start: an edge
        entered=entered,
        actor=actor.id,
        roles=actor.roles,
        attributes=actor.attributes,
        data=command.data,
        form=command.form,
        form_spec=wf.definition.data if start else command.edge.form,  # type: ignore[union-attr]  # not start: an edge
        edge_roles=frozenset(wf.definition.start.roles) if start else command.edge.roles,  # type: ignore[union-attr]  # not start: an edge
        now=command.now,
        today=command.now.astimezone(runtime.zone).date(),
        probe=command.probe,
        kind=command.kind,
        before=command.item.data if command.item is not None else None,
    )


def test_every_request_is_built_as_by_keywords(bundled: Engine) -> None:
    runtime = runtime_of(bundled)
    seen = 0
    for workflow in sorted(runtime.policy.workflows):
        for command in commands(bundled, workflow):
            try:
                built = runtime.request(command)
            except Exception:  # no gateway route for empty data: not a request
                continue
            assert built == by_keywords(runtime, command), (workflow, command.trigger)
            seen += 1
    assert seen > 1000


def test_the_day_kept_follows_now_across_midnight(bundled: Engine) -> None:
    runtime = runtime_of(bundled)  # Asia/Shanghai: midnight is 16:00 UTC
    before = dt.datetime(2026, 12, 2, 15, 59, tzinfo=dt.UTC)
    after = dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)
    days = [runtime.today(t) for t in (before, before, after, after, before)]
    assert days == [dt.date(2026, 12, 2)] * 2 + [dt.date(2026, 12, 3)] * 2 + [dt.date(2026, 12, 2)]
    # the same instant in another zone is the same day
    assert runtime.today(after.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == dt.date(
        2026, 12, 3
    )


def fresh(rule: PostRecordRule) -> PostRecordRule:
    """The same rule built anew: nothing kept yet."""
    return PostRecordRule(
        rule.id, rule.posts, rule.closure, rule.post_field, rule.records, rule.reason
    )


def test_posts_trained_decides_as_a_fresh_rule_for_every_pair_of_role_sets(
    bundled: Engine,
) -> None:
    runtime = runtime_of(bundled)
    rule = next(
        r
        for rules in runtime.policy.workflows.values()
        for r in rules.rules
        if isinstance(r, PostRecordRule)
    )
    known = sorted(runtime.policy.roles.known)
    workflows = [bundled.workflow(w) for w in bundled.workflows]
    edge_sets = {e.roles for wf in workflows for s in wf.definition.states for e in wf.edges(s)}
    edge_sets |= {frozenset({p}) for p in rule.posts} | {frozenset(rule.posts), frozenset()}
    role_sets = [frozenset({r}) for r in known] + [frozenset(rule.posts)]
    role_sets += [frozenset(pair) for pair in itertools.combinations(known, 2)]
    role_sets = [runtime.policy.roles.expand(r) for r in role_sets]
    valid = (dt.date(2026, 12, 2) + dt.timedelta(days=30)).isoformat()
    records: dict[str, list[dict[str, Any]]] = {
        rule.records.workflow: [
            {"_state": "passed", "trainee": "tester", "post": post, "course": "post_basics",
             "valid_until": valid}
            for post in sorted(rule.posts)[::2]
        ]
    }  # fmt: skip
    facts = ListFacts([], records)
    now = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    decided = refused = 0
    # twice over, the second time in reverse: every answer kept is asked again
    pairs = list(itertools.product(role_sets, sorted(edge_sets, key=sorted)))
    for roles, edge_roles in [*pairs, *reversed(pairs)]:
        request = Request(
            "comments", "classify", "classify", ("route",), "tester", roles, {}, {}, {}, {},
            edge_roles, now, now.date(),
        )  # fmt: skip
        cold = fresh(rule)
        assert rule.acting_posts(request) == cold.acting_posts(request), (roles, edge_roles)
        assert rule.applies(request) == cold.applies(request)
        if cold.applies(request):
            verdict = rule.judge(request, facts)
            assert verdict == fresh(rule).judge(request, facts), (roles, edge_roles)
            decided += 1
            refused += verdict is not None
    assert decided > 100
    assert 0 < refused < decided


def test_separation_of_duties_finds_the_steps_a_step_matches_as_asking_each(
    bundled: Engine,
) -> None:
    runtime = runtime_of(bundled)
    compared = matched = 0
    for workflow, rules in sorted(runtime.policy.workflows.items()):
        wf = bundled.workflow(workflow)
        places: set[tuple[str | None, str | None]] = {(None, None), ("nowhere", "approve")}
        places |= {(s, e.trigger) for s in wf.definition.states for e in wf.edges(s)}
        places |= {(k.state, k.trigger) for r in rules.rules for k in getattr(r, "steps", ())}
        for rule in rules.rules:
            if not isinstance(rule, DistinctActorsRule):
                continue
            for kind, (source, trigger) in itertools.product(
                ["start", "fire", "route", "timer", "handler", "collect"], sorted(places, key=str)
            ):
                step = Step(3, kind, trigger, source, "somewhere", "wang", {})
                expected = tuple(k for k in rule.steps if k.matches_step(step))
                assert rule.matching(step) == expected, (rule.id, step)
                compared += 1
                matched += bool(expected)
    assert compared > 800
    assert matched > 20
