"""Links between items: ``starts:``, ``collects:`` and ``children_closed``, carried out in
the command's own transaction on every store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import (
    EngineError,
    FormInvalid,
    GuardRejected,
    NotPermitted,
    PolicyDenied,
)
from cmc_workflow.model import engine_actor
from cmc_workflow.testing import FakeClock

OPERATOR = Actor("op-1", {"operator"})
AUTHORITY = Actor("auth-1", {"authority"})

REVIEW = """
id: review
label: {zh: 审查, en: Review}
roles:
  operator: {zh: 运营方, en: Operator}
  authority: {zh: 管理方, en: Authority}
data:
  gathered: {type: integer, required: false}
start: {state: open, roles: [operator]}
states:
  open:
    type: userTask
    label: {zh: 待审, en: Open}
    transitions:
      - trigger: raise_findings
        target: rectifying
        roles: [authority]
        form:
          findings: {type: list}
          severity: {type: string, required: false}
        starts:
          - workflow: fix
            for_each: form.findings
            data: {finding: each, review: item.id, severity: form.severity}
      - trigger: gather
        target: rectifying
        roles: [operator]
        collects:
          {workflow: note, states: [registered], trigger: collate, link: batch, count: gathered}
  rectifying:
    type: userTask
    label: {zh: 整改中, en: Rectifying}
    transitions:
      - trigger: close
        target: closed
        roles: [authority]
        children_closed: true
  closed:
    type: endEvent
    label: {zh: 已关闭, en: Closed}
"""

FIX = """
id: fix
label: {zh: 整改, en: Fix}
roles:
  operator: {zh: 运营方, en: Operator}
  authority: {zh: 管理方, en: Authority}
data:
  finding: {type: string, min: 1}
  review: {type: integer}
  severity: {type: choice, choices: [low, high], required: false}
start: {state: open, roles: [authority]}
states:
  open:
    type: userTask
    label: {zh: 待整改, en: Open}
    transitions:
      - {trigger: done, target: done, roles: [operator]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""

NOTE = """
id: note
label: {zh: 建议, en: Note}
roles:
  operator: {zh: 运营方, en: Operator}
data:
  text: {type: text}
start: {state: registered, roles: [operator]}
states:
  registered:
    type: userTask
    label: {zh: 已登记, en: Registered}
    transitions:
      - trigger: collate
        target: collated
        roles: [operator]
        guard: data.text != 'skip me'
        form:
          batch: {type: integer}
      - {trigger: drop, target: collated, roles: [operator]}
  collated:
    type: endEvent
    label: {zh: 已汇总, en: Collated}
"""

AUTO = """
id: batch
label: {zh: 批次, en: Batch}
roles:
  system: {zh: 系统, en: System}
  operator: {zh: 运营方, en: Operator}
data:
  gathered: {type: integer, required: false}
start: {state: gathering, roles: [system, operator]}
states:
  gathering:
    type: exclusiveGateway
    label: {zh: 汇总, en: Gather}
    transitions:
      - target: reviewing
        default: true
        collects:
          {workflow: note, states: [registered], trigger: collate, link: batch, count: gathered}
  reviewing:
    type: userTask
    label: {zh: 审阅, en: Reviewing}
    transitions:
      - {trigger: conclude, target: done, roles: [operator]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def _engine(tmp_path: Path, db_url: str, clock: FakeClock, *texts: str) -> Engine:
    folder = tmp_path / "wf"
    folder.mkdir(exist_ok=True)
    for n, text in enumerate(texts or (REVIEW, FIX, NOTE, AUTO)):
        (folder / f"w{n}.yaml").write_text(text, encoding="utf-8")
    return Engine.open(db_url, workflows=folder, clock=clock)


def test_starts_opens_one_child_per_element_in_the_same_command(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        review = engine.start("review", actor=OPERATOR)
        engine.fire(
            review.id,
            "raise_findings",
            actor=AUTHORITY,
            data={"findings": ["slow search", "broken link"], "severity": "high"},
        )
        children = engine.children(review.id)
        assert [(c.workflow, c.data["finding"], c.parent_id) for c in children] == [
            ("fix", "slow search", review.id),
            ("fix", "broken link", review.id),
        ]
        assert all(c.data == {**c.data, "review": review.id, "severity": "high"} for c in children)
        assert all(c.created_by == AUTHORITY.id for c in children)
        audit = engine.audit_trail(children[0].id)
        assert [(a["command"], a["outcome"]) for a in audit] == [("start", "accepted")]


def test_a_refused_child_refuses_the_whole_command(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        review = engine.start("review", actor=OPERATOR)
        # the child's data is invalid: an empty finding
        with pytest.raises(FormInvalid) as caught:
            engine.fire(review.id, "raise_findings", actor=AUTHORITY, data={"findings": [""]})
        assert "finding" in str(caught.value)
        # nothing half-done: the parent stayed, no child exists, the refusal is audited
        assert engine.get(review.id).state == "open"
        assert engine.children(review.id) == []
        assert [h.trigger for h in engine.history(review.id)] == [None]
        refused = engine.audit_trail(review.id)[-1]
        assert (refused["outcome"], refused["rule"]) == ("refused", "FormInvalid")


def test_a_child_needs_its_start_roles(tmp_path: Path, db_url: str, clock: FakeClock) -> None:
    lenient = REVIEW.replace(
        "roles: [authority]\n        form:", "roles: [authority, operator]\n        form:"
    )
    with _engine(tmp_path, db_url, clock, lenient, FIX, NOTE, AUTO) as engine:
        review = engine.start("review", actor=OPERATOR)
        raise_findings = engine.allowed(review.id, OPERATOR)[0]
        assert not raise_findings.allowed
        assert "may not start 'fix'" in raise_findings.reasons[0]
        with pytest.raises(NotPermitted, match="may not start 'fix'"):
            engine.fire(review.id, "raise_findings", actor=OPERATOR, data={"findings": ["x"]})
        assert engine.get(review.id).state == "open"
        assert engine.children(review.id) == []


def test_children_closed_refuses_until_every_child_is_closed(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        review = engine.start("review", actor=OPERATOR)
        engine.fire(review.id, "raise_findings", actor=AUTHORITY, data={"findings": ["a", "b"]})
        first, second = engine.children(review.id)
        engine.fire(first.id, "done", actor=OPERATOR)
        with pytest.raises(GuardRejected, match=rf"fix {second.id} \(open\)"):
            engine.fire(review.id, "close", actor=AUTHORITY)
        (close,) = engine.allowed(review.id, AUTHORITY)
        assert not close.allowed
        assert f"fix {second.id}" in close.reasons[0]
        engine.fire(second.id, "done", actor=OPERATOR)
        assert engine.allowed(review.id, AUTHORITY)[0].allowed
        assert engine.fire(review.id, "close", actor=AUTHORITY).state == "closed"


def test_collects_gathers_the_open_items_once_with_link_and_count(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        notes = [engine.start("note", actor=OPERATOR, data={"text": t}) for t in "abc"]
        engine.fire(notes[2].id, "drop", actor=OPERATOR)  # no longer registered
        review = engine.start("review", actor=OPERATOR)
        gathered = engine.fire(review.id, "gather", actor=OPERATOR)
        assert gathered.data["gathered"] == 2
        for note in notes[:2]:
            (_start, collate) = engine.history(note.id)
            assert (collate.kind, collate.trigger, collate.actor) == ("collect", "collate", "op-1")
            assert collate.form == {"batch": review.id}
            assert engine.get(note.id).state == "collated"
        assert [a["command"] for a in engine.audit_trail(notes[0].id)] == ["start", "collect"]
        # a second batch finds nothing left to gather
        again = engine.fire(engine.start("review", actor=OPERATOR).id, "gather", actor=OPERATOR)
        assert again.data["gathered"] == 0


def test_a_gathered_items_guard_refuses_the_whole_gathering(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        ok = engine.start("note", actor=OPERATOR, data={"text": "fine"})
        bad = engine.start("note", actor=OPERATOR, data={"text": "skip me"})
        review = engine.start("review", actor=OPERATOR)
        with pytest.raises(GuardRejected) as caught:
            engine.fire(review.id, "gather", actor=OPERATOR)
        assert caught.value.item_id == str(bad.id)
        assert engine.get(ok.id).state == "registered"
        assert engine.get(review.id).state == "open"


def test_a_gateway_route_gathers_right_after_a_scheduled_start(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    with _engine(tmp_path, db_url, clock) as engine:
        engine.start("note", actor=OPERATOR, data={"text": "more light"})
        batch = engine.start("batch", actor=engine_actor("schedule:batch", {"system"}))
        assert (batch.state, batch.data["gathered"]) == ("reviewing", 1)


LOOP = """
id: loop_{me}
label: {{zh: 循环, en: Loop}}
roles:
  operator: {{zh: 运营方, en: Operator}}
start: {{state: go, roles: [operator]}}
states:
  go:
    type: exclusiveGateway
    label: {{zh: 开始, en: Go}}
    transitions:
      - target: done
        default: true
        starts: [{{workflow: loop_{other}}}]
  done:
    type: endEvent
    label: {{zh: 完成, en: Done}}
"""


def test_workflows_that_start_each_other_stop_with_an_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'loop.db'}"
    texts = (LOOP.format(me="a", other="b"), LOOP.format(me="b", other="a"))
    with _engine(tmp_path, url, clock, *texts) as engine:
        with pytest.raises(EngineError, match="levels deep"):
            engine.start("loop_a", actor=OPERATOR)
        assert engine.inbox(Actor("x", {"operator"})) == []


NOTE_POLICY = """
kind: policy
id: notes
label: {zh: 建议规则, en: Note rules}
workflows:
  note:
    steps:
      collated: {state: registered, trigger: collate, label: {zh: 汇总, en: collated}}
    forbid_data:
      - id: no_secrets_in_batches
        steps: [collated]
        when: data.text == 'secret'
        reason: {zh: 机密建议不入汇总, en: a secret note is not batched}
"""


def test_a_gathered_items_policies_judge_the_gathering(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "notes.policy.yaml").write_text(NOTE_POLICY, encoding="utf-8")
    folder = tmp_path / "wf"
    folder.mkdir()
    for n, text in enumerate((REVIEW, FIX, NOTE, AUTO)):
        (folder / f"w{n}.yaml").write_text(text, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'p.db'}"
    policies = tmp_path / "notes.policy.yaml"
    with Engine.open(url, workflows=folder, policies=policies, clock=clock) as engine:
        secret = engine.start("note", actor=OPERATOR, data={"text": "secret"})
        review = engine.start("review", actor=OPERATOR)
        with pytest.raises(PolicyDenied) as caught:
            engine.fire(review.id, "gather", actor=OPERATOR)
        assert caught.value.rule == "no_secrets_in_batches"
        assert caught.value.item_id == str(secret.id)
        assert engine.get(secret.id).state == "registered"
