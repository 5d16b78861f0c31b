"""A deadline step that reassigns, not only notifies (issue 14, part 3): ``action:
reassign, to: <role>`` moves the task to the holder of the role with the least open work
when the clock says so, as the engine (a ``task`` history row, op ``escalate``, and the
timer's audit record naming the new assignee). A reassign step to a role that cannot act
in the state is a load error with its place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import DefinitionError, PolicyDenied
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import EngineFactory

HR = Actor("hr1")
DAY = dt.date(2025, 9, 1)
ZHANG, CHEN, LIU = Actor("zhang"), Actor("chen"), Actor("liu")

REPLY = """\
id: reply
label: {zh: 读者咨询答复, en: Reply to a reader}
roles:
  ops_assistant: {zh: 运营助理, en: Operations assistant}
start: {state: open, roles: [ops_assistant]}
states:
  open:
    type: userTask
    label: {zh: 待答复, en: Open}
    deadline:
      within: 2 working hours
      steps:
        - {at: 50%, action: reassign, to: ops_assistant}
    transitions:
      - {trigger: reply, target: answered, roles: [ops_assistant]}
  answered:
    type: endEvent
    label: {zh: 已答复, en: Answered}
"""


@pytest.fixture
def register(db_url: str, clock: FakeClock) -> Iterator[Register]:
    store = Store.open(db_url)
    reg = Register(store, clock=clock)
    for name, who in (("张三", "zhang"), ("陈晨", "chen"), ("刘洋", "liu")):
        entry = PersonEntry(name, who, education="bachelor", experience_years=3)
        reg.add(HR, entry, [PostEntry("ops_assistant", {}, DAY)])
    yield reg
    store.close()


@pytest.fixture
def engine(register: Register, engine_factory: EngineFactory, tmp_path: Path) -> Engine:
    (tmp_path / "reply.yaml").write_text(REPLY, encoding="utf-8")
    return engine_factory(workflows=[tmp_path / "reply.yaml"])


def assignees(engine: Engine, item_id: int) -> list[tuple[str, str | None]]:
    return [(h.form["op"], h.form["assignee"]) for h in engine.history(item_id) if h.kind == "task"]


def test_the_deadline_step_reassigns_on_time(engine: Engine, clock: FakeClock) -> None:
    # Fri 2025-09-26 15:00 local: the step is due at 50% of 2 working hours, 16:00
    item = engine.start("reply", actor=ZHANG, data={})
    engine.claim(item.id, actor=ZHANG)
    clock.advance(minutes=30)
    busy = engine.start("reply", actor=CHEN, data={})  # its step is due at 16:30
    engine.claim(busy.id, actor=CHEN)  # chen has open work, liu none
    clock.advance(minutes=20)
    engine.run_due()
    assert assignees(engine, item.id) == [("claim", "zhang")]  # not yet due
    clock.advance(minutes=20)
    engine.run_due()
    assert assignees(engine, busy.id) == [("claim", "chen")]  # not yet due
    assert assignees(engine, item.id) == [("claim", "zhang"), ("escalate", "liu")]
    (event,) = [h for h in engine.history(item.id) if h.kind == "task"][1:]
    assert event.actor == "system"
    timer_records = [
        r
        for r in engine.audit_trail(item.id)
        if r["command"] == "timer" and r["detail"].get("action") == "reassign"
    ]
    assert [r["detail"]["assignee"] for r in timer_records] == ["liu"]
    with pytest.raises(PolicyDenied):
        engine.fire(item.id, "reply", actor=ZHANG)  # now liu's
    assert engine.fire(item.id, "reply", actor=LIU).state == "answered"


def test_the_step_is_fenced_by_the_state_visit(engine: Engine, clock: FakeClock) -> None:
    item = engine.start("reply", actor=ZHANG, data={})
    engine.claim(item.id, actor=ZHANG)
    engine.fire(item.id, "reply", actor=ZHANG)
    clock.advance(hours=3)
    engine.run_due()
    assert assignees(engine, item.id) == [("claim", "zhang")]


def test_a_reassign_to_a_role_that_cannot_act_there_is_a_located_load_error(
    tmp_path: Path, engine_factory: EngineFactory
) -> None:
    broken = REPLY.replace(
        "roles:\n  ops_assistant: {zh: 运营助理, en: Operations assistant}\n",
        "roles:\n  ops_assistant: {zh: 运营助理, en: Operations assistant}\n"
        "  ops_manager: {zh: 运营经理, en: Operations manager}\n",
    ).replace("action: reassign, to: ops_assistant", "action: reassign, to: ops_manager")
    path = tmp_path / "reply.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        engine_factory(workflows=[path])
    (problem,) = [p for p in caught.value.problems if p.code == "E-DEADLINE-STEP"]
    assert "ops_manager" in problem.message
    assert (problem.line, problem.column) == (14, 43)  # the `to:` of the step
