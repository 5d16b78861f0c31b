"""Every path to publication is judged: steps the engine takes itself (a deadline step's
``action: fire``, a serviceTask's outcome, a gathered item) go through the same policy
decision as a person's command, with ``system`` as the actor, and never count as a
person's approval.

Two layers: the load-time proof refuses a definition in which a timer or a handler
outcome reaches a guarded state without the required stages (``E-POLICY-BYPASS`` naming
the deadline step), and the run-time rules refuse such a step even when a definition
escaped the proof (defence in depth: an engine built from the parts, proof skipped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cmc_workflow import Actor, Engine, HandlerContext
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.cli import main
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.definition.models import Label
from cmc_workflow.errors import DefinitionError, PolicyDenied
from cmc_workflow.model import SYSTEM
from cmc_workflow.policy.checks import build_policy_set
from cmc_workflow.policy.extension import extensions_for
from cmc_workflow.policy.rules import ListFacts, Request, RequiredStagesRule, Rounds, Step, StepKey
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    LEAD,
    OPS,
    POLICIES,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    SECOND_REVIEWER,
    TOPIC,
    WORKFLOWS,
)
from tests.helpers.records import RECORD_WORKFLOWS, train_editors

DRILL = WORKFLOWS / "inspections" / "ins_09_emergency_drill.yaml"

TIMER_SIGN = "        - {after: 2 working days, action: fire, trigger: sign}\n"
TIMER_SECOND_APPROVE = "        - {after: 3 working days, action: fire, trigger: approve}\n"


def _with_timer(tmp_path: Path, state: str, step: str) -> Path:
    """publishing.yaml with ``step`` added to ``state``'s deadline ladder."""
    text = PUBLISHING.read_text(encoding="utf-8")
    head, tail = text.split(f"\n  {state}:\n", 1)
    ladder = "      steps:\n"
    at = tail.index(ladder) + len(ladder)
    variant = tmp_path / "publishing.yaml"
    variant.write_text(f"{head}\n  {state}:\n{tail[:at]}{step}{tail[at:]}", encoding="utf-8")
    return variant


# -- the load-time proof sees timer edges --------------------------------------------------


@pytest.mark.req("PUB-5", "PUB-6")
def test_a_deadline_step_that_signs_off_is_refused_at_load_with_the_step_named(
    tmp_path: Path,
) -> None:
    variant = _with_timer(tmp_path, "signoff", TIMER_SIGN)
    line = variant.read_text(encoding="utf-8").splitlines().index(TIMER_SIGN.rstrip("\n")) + 1
    loaded = load_paths([variant, *RECORD_WORKFLOWS, *PUBLISHING_POLICIES])
    bypass = [p for p in loaded.problems if p.code == "E-POLICY-BYPASS"]
    assert bypass, [p.code for p in loaded.problems]
    problem = bypass[0]
    assert (problem.file, problem.line) == (str(variant), line)
    assert "signoff" in problem.message
    assert "timer" in problem.message
    assert "publishing" in problem.message
    # signoff.sign is pinned to ops_manager: the timer would be refused every time anyway
    pinned = [p for p in loaded.problems if p.code == "E-POLICY-SYSTEM-PINNED"]
    assert [(p.file, p.line) for p in pinned] == [(str(variant), line)]
    assert "ops_manager" in pinned[0].message
    result = CliRunner().invoke(
        main,
        ["validate", str(variant), *map(str, RECORD_WORKFLOWS), *map(str, PUBLISHING_POLICIES)],
    )
    assert result.exit_code != 0
    assert "E-POLICY-BYPASS" in result.output
    assert f":{line}:" in result.output


@pytest.mark.req("PUB-5")
def test_a_deadline_step_that_passes_the_second_review_is_refused_at_load(
    tmp_path: Path,
) -> None:
    variant = _with_timer(tmp_path, "second_review", TIMER_SECOND_APPROVE)
    with pytest.raises(DefinitionError) as caught:
        Engine.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            workflows=[variant, *RECORD_WORKFLOWS],
            policies=PUBLISHING_POLICIES,
        )
    codes = [p.code for p in caught.value.problems]
    assert "E-POLICY-BYPASS" in codes, codes
    assert any("second_review" in p.message for p in caught.value.problems)


# -- the run-time rules judge the engine's own steps ----------------------------------------


def _key(name: str, state: str, trigger: str) -> StepKey:
    return StepKey(name, state, trigger, Label(zh=name, en=name))


def _request(kind: str) -> Request:
    now = dt.datetime(2025, 9, 26, 7, tzinfo=dt.UTC)
    return Request(
        workflow="publishing",
        state="signoff",
        trigger="sign",
        entered=("publishing",),
        actor=SYSTEM.id if kind != "fire" else OPS.id,
        roles=frozenset(SYSTEM.roles if kind != "fire" else OPS.roles),
        attributes={},
        data={},
        form={},
        form_spec={},
        edge_roles=frozenset({"ops_manager"}),
        now=now,
        today=now.date(),
        kind=kind,
    )


@pytest.mark.req("PUB-6")
@pytest.mark.parametrize("kind", ["timer", "handler", "collect"])
def test_a_required_stage_is_never_satisfied_by_the_engine(kind: str) -> None:
    rule = RequiredStagesRule(
        "reviewed_and_signed_off",
        "publishing",
        [
            _key("first", "first_review", "approve"),
            _key("second", "second_review", "approve"),
            _key("signoff", "signoff", "sign"),
        ],
        Rounds(),
        None,
    )
    history = [
        Step(1, "fire", "approve", "first_review", "second_review", "zhao", {}),
        Step(2, "fire", "approve", "second_review", "signoff", "qian", {}),
    ]
    assert rule.judge(_request("fire"), ListFacts(history)) is None
    denial = rule.judge(_request(kind), ListFacts(history))
    assert denial is not None
    assert denial.rule == "reviewed_and_signed_off"
    assert "signoff" in denial.reason_en
    assert "signoff" in denial.reason_zh


class Channels:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def __call__(self, ctx: HandlerContext) -> None:
        self.sent.append(ctx.item_id)


@pytest.fixture
def unproven(tmp_path: Path, db_url: str, clock: FakeClock) -> Iterator[tuple[Engine, Channels]]:
    """An engine on publishing with a timer that signs off, built from its parts so that
    the load-time proof is skipped: what the run-time rules alone do."""
    variant = _with_timer(tmp_path, "signoff", TIMER_SIGN)
    loaded = load_paths([variant, *RECORD_WORKFLOWS, *PUBLISHING_POLICIES])
    assert {p.code for p in loaded.problems} == {"E-POLICY-BYPASS", "E-POLICY-SYSTEM-PINNED"}
    policy, _problems = build_policy_set(loaded)
    channels = Channels()
    store = Store.open(db_url, migrate=True)
    engine = Engine(
        store,
        loaded.workflows,
        clock=clock,
        handlers={"publish_to_channels": channels},
        extensions=[*extensions_for(policy), Clocks(WorkingCalendar())],
    )
    try:
        train_editors(engine)
        yield engine, channels
    finally:
        engine.close()


def _to_signoff(engine: Engine) -> int:
    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    path: list[tuple[str, Actor, dict[str, Any]]] = [
        ("approve", LEAD, {}),
        ("assign", LEAD, {"assignees": [EDITOR.id], "due_date": "2025-10-10"}),
        ("accept", EDITOR, {}),
        ("submit", EDITOR, {"content": "正文"}),
        ("approve", REVIEWER, CHECKLIST),
        ("approve", SECOND_REVIEWER, CHECKLIST),
    ]
    for trigger, actor, form in path:
        item = engine.fire(item.id, trigger, actor=actor, data=form)
    assert item.state == "signoff"
    return item.id


@pytest.mark.req("PUB-6")
def test_a_timer_that_would_sign_off_is_refused_and_the_item_stays(
    unproven: tuple[Engine, Channels], clock: FakeClock
) -> None:
    engine, channels = unproven
    item_id = _to_signoff(engine)
    clock.advance(days=10)
    engine.run_due()
    assert engine.get(item_id).state == "signoff"
    assert channels.sent == []
    assert [h.kind for h in engine.history(item_id)].count("timer") == 0
    refused = [
        a
        for a in engine.audit_trail(item_id)
        if a["outcome"] == "refused" and a["actor"] == "system"
    ]
    assert len(refused) == 1, refused
    assert refused[0]["trigger"] == "sign"
    assert refused[0]["rule"] == "permissions"
    assert refused[0]["detail"]["reason_zh"]
    # the timer is done with (failed), not retried on every pass
    engine.run_due()
    assert len([a for a in engine.audit_trail(item_id) if a["outcome"] == "refused"]) == 1
    # the sign-off by the operations manager still publishes
    assert engine.fire(item_id, "sign", actor=OPS).state == "published"
    assert channels.sent == [item_id]


MAILING = """\
id: mailing
version: 1
label: {zh: 邮寄, en: Mailing}
roles:
  clerk: {zh: 文员, en: Clerk}
handlers:
  send: {description: posts the letter}
data:
  hold: {type: boolean, required: false}
start: {state: draft, roles: [clerk]}
states:
  draft:
    type: userTask
    label: {zh: 起草, en: Draft}
    transitions:
      - {trigger: send, target: sending, roles: [clerk]}
  sending:
    type: serviceTask
    label: {zh: 寄送中, en: Sending}
    handler: send
    transitions:
      - {trigger: done, target: sent, default: true}
  sent:
    type: endEvent
    label: {zh: 已寄出, en: Sent}
"""

MAILING_POLICY = """\
kind: policy
id: mailing
label: {zh: 邮寄, en: Mailing}
workflows:
  mailing:
    steps:
      delivered: {state: sending, trigger: done, label: {zh: 寄出, en: delivery}}
    forbid_data:
      - id: held_mail_stays
        steps: [delivered]
        when: data.hold == true
        reason: {zh: 暂扣的邮件不得寄出, en: held mail is not sent}
"""


@pytest.mark.req("SEC-1")
def test_a_handler_outcome_the_policy_refuses_leaves_the_item_in_the_service_task(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    (tmp_path / "mailing.yaml").write_text(MAILING, encoding="utf-8")
    (tmp_path / "policy.yaml").write_text(MAILING_POLICY, encoding="utf-8")
    sent: list[int] = []

    def send(ctx: HandlerContext) -> None:
        sent.append(ctx.item_id)

    clerk = Actor("he", {"clerk"})
    with Engine.open(
        db_url,
        workflows=tmp_path / "mailing.yaml",
        policies=tmp_path / "policy.yaml",
        clock=clock,
        handlers={"send": send},
    ) as engine:
        free = engine.start("mailing", actor=clerk, data={})
        held = engine.start("mailing", actor=clerk, data={"hold": True})
        assert engine.fire(free.id, "send", actor=clerk).state == "sent"
        assert engine.fire(held.id, "send", actor=clerk).state == "sending"
        assert sent == [free.id, held.id]
        refused = [a for a in engine.audit_trail(held.id) if a["outcome"] == "refused"]
        assert [(a["actor"], a["command"], a["rule"]) for a in refused] == [
            ("system", "handler", "held_mail_stays")
        ]
        assert refused[0]["detail"]["reason_zh"] == "暂扣的邮件不得寄出"
        # the delivery is finished, not retried into the same refusal
        engine.run_due()
        assert sent == [free.id, held.id]
        assert engine.get(held.id).state == "sending"


@pytest.mark.req("EMG-2")
def test_a_timer_that_would_approve_an_emergency_plan_is_refused_at_load(tmp_path: Path) -> None:
    plans = (WORKFLOWS / "emergency_plans.yaml").read_text(encoding="utf-8")
    ladder = "        - {at: 80%, action: warn}\n"
    assert plans.count(ladder) == 1
    variant = tmp_path / "emergency_plans.yaml"
    variant.write_text(
        plans.replace(ladder, ladder + "        - {at: 90%, action: fire, trigger: approve}\n"),
        encoding="utf-8",
    )
    others = [WORKFLOWS / "hot_event_notice.yaml", DRILL, POLICIES / "roles.yaml"]
    loaded = load_paths([variant, *others, POLICIES / "emergency.yaml"])
    # the timer skips the approval, and it fires a step pinned to the authority
    codes = sorted(p.code for p in loaded.problems)
    assert codes == ["E-POLICY-BYPASS", "E-POLICY-SYSTEM-PINNED"], loaded.problems
    assert len({(p.file, p.line) for p in loaded.problems}) == 1
    problem = next(p for p in loaded.problems if p.code == "E-POLICY-BYPASS")
    assert problem.file == str(variant)
    assert "in_force" in problem.message
    assert "timer" in problem.message
    assert "plan_approved_before_in_force" in problem.message


COLLECTOR = """\
id: sweep
label: {zh: 清理, en: Sweep}
roles:
  chief: {zh: 主任, en: Chief}
start: {state: open, roles: [chief]}
states:
  open:
    type: userTask
    label: {zh: 待清理, en: Open}
    transitions:
      - trigger: sweep
        target: swept
        roles: [chief]
        collects: {workflow: memo, states: [signoff], trigger: sign}
  swept:
    type: endEvent
    label: {zh: 已清理, en: Swept}
"""


@pytest.mark.req("PUB-6")
def test_a_collects_that_fires_the_sign_off_on_gathered_items_is_a_bypass(
    tmp_path: Path,
) -> None:
    case = Path(__file__).resolve().parents[1] / "broken" / "policy_timer_bypass"
    memo = (case / "memo.yaml").read_text(encoding="utf-8")
    (tmp_path / "memo.yaml").write_text(
        memo.replace("action: fire, trigger: sign}", "action: warn}"),
        encoding="utf-8",
    )
    (tmp_path / "memo_policy.yaml").write_text(
        (case / "memo_policy.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert load_paths([tmp_path]).problems == []  # a person signs: the rule holds
    (tmp_path / "sweep.yaml").write_text(COLLECTOR, encoding="utf-8")
    loaded = load_paths([tmp_path])
    bypass = [p for p in loaded.problems if p.code == "E-POLICY-BYPASS"]
    assert len(bypass) == 1, loaded.problems
    assert bypass[0].file == str(tmp_path / "sweep.yaml")
    assert "collects: of sweep.open" in bypass[0].message


@pytest.mark.req("PUB-6", "SEC-1")
def test_fire_system_called_directly_is_judged_and_its_refusal_audited(
    unproven: tuple[Engine, Channels],
) -> None:
    engine, channels = unproven
    item = engine.get(_to_signoff(engine))
    with pytest.raises(PolicyDenied) as refused:
        engine.fire_system(item.id, "sign", state="signoff", visit=item.visit, reason="by hand")
    assert refused.value.rule == "permissions"
    assert refused.value.reason_zh
    assert engine.get(item.id).state == "signoff"
    assert channels.sent == []
    trail = [a for a in engine.audit_trail(item.id) if a["outcome"] == "refused"]
    assert [(a["actor"], a["command"], a["trigger"], a["rule"]) for a in trail] == [
        ("system", "timer", "sign", "permissions")
    ]
    assert trail[0]["reason"].startswith("by hand: ")
