"""The permission matrix of the publishing workflow under the bundled policies.

For every state an item can rest in, every trigger there, every set of roles and every
kind of person (a stranger to the item, its author, its first and its second reviewer),
``allowed()`` must say allowed or name exactly the rules that refuse, and ``fire()`` must
refuse with the first of them — each refusal audited. The expectations are written out
by hand from the workflow's role lists and the policies' rules, not derived from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.errors import NotPermitted
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    ok_handler,
)
from tests.helpers.records import RECORD_WORKFLOWS, train

ROLES = ("editor", "channel_lead", "reviewer", "ops_manager")
ROLE_SETS = [frozenset(c) for n in range(len(ROLES) + 1) for c in combinations(ROLES, n)] + [
    frozenset({"ops_assistant"}),
    frozenset({"integrator"}),
]

MAY: dict[tuple[str, str], frozenset[str]] = {
    ("proposed", "edit"): frozenset({"channel_lead"}),
    ("proposed", "approve"): frozenset({"channel_lead"}),
    ("proposed", "return"): frozenset({"channel_lead"}),
    ("proposed", "delete"): frozenset({"channel_lead"}),
    ("returned", "resubmit"): frozenset({"editor"}),
    ("returned", "withdraw"): frozenset({"editor"}),
    ("selected", "assign"): frozenset({"channel_lead"}),
    ("selected", "delete"): frozenset({"channel_lead"}),
    ("assigned", "accept"): frozenset({"editor"}),
    ("assigned", "reassign"): frozenset({"channel_lead"}),
    ("drafting", "submit"): frozenset({"editor"}),
    ("first_review", "approve"): frozenset({"reviewer"}),
    ("first_review", "reject"): frozenset({"reviewer"}),
    ("second_review", "approve"): frozenset({"reviewer"}),
    ("second_review", "reject"): frozenset({"reviewer"}),
    ("signoff", "sign"): frozenset({"ops_manager"}),
    ("signoff", "reject"): frozenset({"ops_manager"}),
    ("published", "archive"): frozenset({"editor", "ops_manager"}),
    ("published", "report_error"): frozenset({"editor", "channel_lead", "reviewer", "ops_manager"}),
    ("correction", "correct"): frozenset({"ops_manager"}),
    ("correction", "retract"): frozenset({"ops_manager"}),
    ("correction", "dismiss"): frozenset({"ops_manager"}),
}
"""Who the workflow lets fire what (the policies tighten nothing further here)."""

REFUSED_BY_RULE: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("author", "first_review", "approve"): ("author_does_not_review",),
    ("author", "second_review", "approve"): ("author_does_not_review",),
    ("author", "signoff", "sign"): ("author_does_not_review",),
    ("first_reviewer", "second_review", "approve"): ("distinct_reviewers",),
    # only the author is assigned (PUB-3) and holds a passed post-basics record (TRN-3)
    ("stranger", "assigned", "accept"): ("only_assignees_take_up_the_work", "acceptor_trained"),
    ("first_reviewer", "assigned", "accept"): (
        "only_assignees_take_up_the_work",
        "acceptor_trained",
    ),
    ("second_reviewer", "assigned", "accept"): (
        "only_assignees_take_up_the_work",
        "acceptor_trained",
    ),
}
"""(who, state, trigger) refused by policy rules even with the right role, in judging order."""

WHO = {"stranger": "probe", "author": EDITOR.id, "first_reviewer": REVIEWER.id}
WHO["second_reviewer"] = SECOND_REVIEWER.id

ASSIGN = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
TO_PUBLISHED: list[tuple[str, Actor, dict[str, Any]]] = [
    ("approve", LEAD, {}),
    ("assign", LEAD, ASSIGN),
    ("accept", EDITOR, {}),
    ("submit", EDITOR, {"content": "正文"}),
    ("approve", REVIEWER, CHECKLIST),
    ("approve", SECOND_REVIEWER, CHECKLIST),
    ("sign", OPS, {}),
]
CORRECTION = [("report_error", LEAD, {"description": "错字"})]
RESTING = ["selected", "assigned", "drafting", "first_review", "second_review", "signoff"]
PATHS: dict[str, list[tuple[str, Actor, dict[str, Any]]]] = {
    "proposed": [],
    "returned": [("return", LEAD, {"reason": "角度不清"})],
    "deleted": [("delete", LEAD, {"reason": "重复"})],
    **{state: TO_PUBLISHED[:n] for n, state in enumerate(RESTING, start=1)},
    "published": TO_PUBLISHED,
    "correction": TO_PUBLISHED + CORRECTION,
    "archived": [*TO_PUBLISHED, ("archive", EDITOR, {"category": "活动"})],
    "retracted": [
        *TO_PUBLISHED,
        *CORRECTION,
        ("retract", OPS, {"department": "编辑部", "reason": "失实"}),
    ],
}

FORMS: dict[tuple[str, str], dict[str, Any]] = {
    ("proposed", "edit"): {"title": "新标题"},
    ("proposed", "return"): {"reason": "x"},
    ("proposed", "delete"): {"reason": "x"},
    ("selected", "assign"): ASSIGN,
    ("selected", "delete"): {"reason": "x"},
    ("assigned", "reassign"): ASSIGN,
    ("drafting", "submit"): {"content": "正文"},
    ("first_review", "approve"): CHECKLIST,
    ("first_review", "reject"): {"reason": "x"},
    ("second_review", "approve"): CHECKLIST,
    ("second_review", "reject"): {"reason": "x"},
    ("signoff", "reject"): {"reason": "x"},
    ("published", "archive"): {"category": "x"},
    ("published", "report_error"): {"description": "x"},
    ("correction", "correct"): {"department": "x", "correction": "y"},
    ("correction", "retract"): {"department": "x", "reason": "y"},
    ("correction", "dismiss"): {"department": "x"},
}


def expected(who: str, state: str, trigger: str, roles: frozenset[str]) -> tuple[str, ...]:
    if not roles & MAY[(state, trigger)]:
        return ("NotPermitted",)
    return REFUSED_BY_RULE.get((who, state, trigger), ())


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, int]]]:
    folder: Path = tmp_path_factory.mktemp("matrix")
    engine = Engine.open(
        f"sqlite:///{folder / 'cmc.db'}",
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=PUBLISHING_POLICIES,
        clock=FakeClock(),
        handlers={"publish_to_channels": ok_handler},
    )
    train(engine, EDITOR.id)
    items = {}
    for state, path in PATHS.items():
        item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
        for trigger, actor, form in path:
            item = engine.fire(item.id, trigger, actor=actor, data=dict(form))
        assert item.state == state
        items[state] = item.id
    yield engine, items
    engine.close()


def refusals(engine: Engine) -> int:
    with engine.store.read() as tx:
        count: int = tx.conn.execute(
            select(func.count()).select_from(audit).where(audit.c.outcome == "refused")
        ).scalar_one()
    return count


@pytest.mark.req("PUB-5", "PUB-6", "SEC-1")
@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("state", list(PATHS))
def test_matrix(matrix: tuple[Engine, dict[str, int]], state: str, who: str) -> None:
    engine, items = matrix
    item_id = items[state]
    triggers = [t for (s, t) in MAY if s == state]
    before = refusals(engine)
    fired = 0
    wrong = []
    for roles in ROLE_SETS:
        actor = Actor(WHO[who], roles)
        got = {a.trigger: a.rules for a in engine.allowed(item_id, actor)}
        assert list(got) == triggers, (state, sorted(roles))
        for trigger in triggers:
            want = expected(who, state, trigger, roles)
            if got[trigger] != want:
                wrong.append((sorted(roles), trigger, got[trigger], want))
                continue
            if not want:
                continue
            form = dict(FORMS.get((state, trigger), {}))
            with pytest.raises((NotPermitted, PolicyDenied)) as raised:
                engine.fire(item_id, trigger, actor=actor, data=form)
            rule = getattr(raised.value, "rule", type(raised.value).__name__)
            if rule != want[0]:
                wrong.append((sorted(roles), trigger, f"fire: {rule}", want))
            fired += 1
    assert wrong == []
    assert engine.get(item_id).state == state  # nothing refused moved the item
    assert refusals(engine) - before == fired  # every refusal is in the audit log


@pytest.mark.req("PUB-1", "PUB-12")
def test_start_matrix(matrix: tuple[Engine, dict[str, int]]) -> None:
    engine, _items = matrix
    for roles in ROLE_SETS:
        actor = Actor("starter", roles)
        for data, rule in [(TOPIC, None), ({**TOPIC, "monetization": True}, "no_monetization")]:
            want = rule if "editor" in roles else "NotPermitted"
            if want is None:
                assert engine.start("publishing", actor=actor, data=dict(data)).state == "proposed"
                continue
            with pytest.raises((NotPermitted, PolicyDenied)) as raised:
                engine.start("publishing", actor=actor, data=dict(data))
            assert getattr(raised.value, "rule", type(raised.value).__name__) == want, roles
