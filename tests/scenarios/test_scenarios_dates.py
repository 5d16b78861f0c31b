"""Dates that move items (issue 13, part 4), walked through the public API with a
controlled clock (Fri 2025-09-26 15:00 Asia/Shanghai):

- an operating self-media account leaves ``operating`` when its ``qualified_until`` has
  passed (ACC-2, INS-8), a passed training record when its ``valid_until`` has passed
  before the 12-month cycle (TRN-3, TRN-4), an acknowledged hot-event notice when the
  event's ``ends_at`` has passed (EMG-3), each by a ``fire`` step of an ``until:`` deadline
  that the durable timers fire;
- ``when:`` on ``requires_record`` asks for the record only when the judged item meets it;
- a ``fire`` step is judged by its own due time (polled late, it is still in time), and a
  breach timer polled at the very due instant records no breach (an act then is in time).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import DefinitionError
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, LEAD, OPS, POLICIES, PUBLISHING, TOPIC, WORKFLOWS, ok_handler
from tests.helpers.records import (
    QUALIFICATION_RECHECK,
    RECORD_WORKFLOWS,
    qualify_account,
    train,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
EMERGENCY = [
    WORKFLOWS / "emergency_plans.yaml",
    WORKFLOWS / "hot_event_notice.yaml",
    WORKFLOWS / "inspections" / "ins_09_emergency_drill.yaml",
]
ACCOUNT_POLICIES = [POLICIES / f"{name}.yaml" for name in ("roles", "publishing", "accounts")]
AUTHORITY = Actor("gao", {"authority"})
OPERATOR = Actor("li", {"operator"})
INTEGRATOR = Actor("chen", {"integrator"}, {"application": "app-7"})
NOTICE: dict[str, Any] = {
    "application": "app-7",
    "event": "国庆文化惠民政策发布",
    "expected_at": "2025-09-30T09:00+08:00",
    "ends_at": "2025-10-02T18:00+08:00",
    "expected_volume": 50000,
    "answers": ["惠民券每人限领一次"],
}


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)


def last_step(engine: Engine, item_id: int) -> tuple[str, str | None, str]:
    step = engine.history(item_id)[-1]
    return step.kind, step.trigger, step.actor


def clocks_in(clocks: Clocks, item_id: int, state: str) -> list[tuple[str, Any]]:
    return [(c.status, c.breached_at) for c in clocks.clocks(item_id) if c.state == state]


@pytest.fixture
def engine_options(clocks: Clocks) -> dict[str, Any]:
    return {
        "workflows": [PUBLISHING, *RECORD_WORKFLOWS, QUALIFICATION_RECHECK, *EMERGENCY],
        "policies": [*ACCOUNT_POLICIES, POLICIES / "emergency.yaml"],
        "handlers": {"publish_to_channels": ok_handler},
        "extensions": [clocks],
    }


# -- ACC-2 / INS-8: an account's qualification ends by its date -------------------------------
@pytest.mark.req("ACC-2", "INS-8")
def test_acc_2_an_operating_account_stops_operating_when_qualified_until_passes(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    account = qualify_account(engine, "fslib-weibo", qualified_until="2025-10-20")
    running = clocks.clocks(account.id)[-1]
    assert (running.state, running.due_at) == ("operating", local(2025, 10, 21, 0, 0))
    # a month ahead the operations manager is told; the account still operates
    clock.now = local(2025, 9, 30, 9, 0)
    engine.run_due()
    assert engine.get(account.id).state == "operating"
    assert [r.name for r in engine.outbox(account.id) if r.kind == "notify"][-1] == "ops_manager"
    # the whole of the last day counts
    clock.now = local(2025, 10, 20, 23, 59)
    engine.run_due()
    assert engine.get(account.id).state == "operating"
    # the date has passed: the account moves by itself, the authority is told
    clock.now = local(2025, 10, 21, 8, 0)
    engine.run_due()
    moved = engine.get(account.id)
    assert moved.state == "suspended"
    assert last_step(engine, account.id) == ("timer", "expire", "system")
    assert [r.name for r in engine.outbox(account.id) if r.kind == "notify"][-1] == "authority"
    # an expiry on time is not a missed deadline
    assert clocks_in(clocks, account.id, "operating") == [("met", None)]
    # certified again with a new date, it operates and is due by that date
    again = engine.fire(
        account.id,
        "recertify",
        actor=OPS,
        data={"certification": "CERT-2", "qualified_until": "2026-10-20"},
    )
    assert again.state == "operating"
    assert clocks.clocks(account.id)[-1].due_at == local(2026, 10, 21, 0, 0)


# -- TRN-3 / TRN-4: a training record ends with its validity -----------------------------------
@pytest.mark.req("TRN-3", "TRN-4")
def test_trn_4_a_passed_record_expires_when_its_validity_ends_before_the_cycle(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    record = train(engine, EDITOR.id, valid_until="2025-12-31")
    (cycle,) = [c for c in clocks.clocks(record.id) if c.state == "passed"]
    # 12 months would end on Mon 2026-09-28; the certificate ends sooner
    assert cycle.due_at == local(2026, 1, 1, 0, 0)
    assert cycle.within == "within 12 months, until data.valid_until"
    clock.now = local(2025, 12, 31, 23, 59)
    engine.run_due()
    assert engine.get(record.id).state == "passed"
    clock.now = local(2026, 1, 1, 0, 0)  # polled at the very due instant
    engine.run_due()
    expired = engine.get(record.id)
    assert (expired.state, expired.is_open) == ("expired", False)
    assert last_step(engine, record.id) == ("timer", "cycle_due", "system")
    assert clocks_in(clocks, record.id, "passed") == [("met", None)]
    (again,) = engine.children(record.id)
    assert (again.state, again.data["reason"]) == ("planned", "cycle")


@pytest.mark.req("TRN-4")
def test_trn_4_the_cycle_still_comes_first_when_the_validity_is_longer(
    engine: Engine, clocks: Clocks
) -> None:
    record = train(engine, EDITOR.id, valid_until="2027-06-30")
    (cycle,) = [c for c in clocks.clocks(record.id) if c.state == "passed"]
    assert cycle.due_at == local(2026, 9, 28, 17, 30)  # 12 months, the 26th a Saturday


# -- EMG-3: a hot-event notice moves on when the event is over ----------------------------------
@pytest.mark.req("EMG-3")
def test_emg_3_a_notice_moves_to_its_summary_when_the_event_has_ended(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    item = engine.start("hot_event_notice", actor=INTEGRATOR, data=NOTICE)
    item = engine.fire(item.id, "acknowledge", actor=AUTHORITY)
    assert item.state == "prepared"
    assert clocks.clocks(item.id)[-1].due_at == local(2025, 10, 2, 18, 0)
    clock.now = local(2025, 10, 2, 17, 59)
    engine.run_due()
    assert engine.get(item.id).state == "prepared"
    clock.now = local(2025, 10, 2, 18, 30)
    engine.run_due()
    assert engine.get(item.id).state == "ended"
    assert last_step(engine, item.id) == ("timer", "event_ended", "system")
    assert clocks_in(clocks, item.id, "prepared") == [("met", None)]
    # the summary is what the ended notice waits for
    with pytest.raises(Exception, match="summary"):
        engine.fire(item.id, "close", actor=INTEGRATOR, data={"actual_volume": 62000})
    done = engine.fire(
        item.id, "close", actor=INTEGRATOR, data={"actual_volume": 62000, "summary": "平稳"}
    )
    assert done.state == "closed"


@pytest.mark.req("EMG-3")
def test_emg_3_a_notice_without_an_end_waits_for_a_person(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    data = {k: v for k, v in NOTICE.items() if k != "ends_at"}
    item = engine.start("hot_event_notice", actor=INTEGRATOR, data=data)
    item = engine.fire(item.id, "acknowledge", actor=AUTHORITY)
    assert [c.state for c in clocks.clocks(item.id)] == ["acknowledging"]
    clock.now = local(2026, 1, 1, 0, 0)
    engine.run_due()
    assert engine.get(item.id).state == "prepared"


# -- the lateness of fire steps and breaches ---------------------------------------------------
TICKET = """\
id: ticket
label: {zh: 工单, en: Ticket}
roles:
  clerk: {zh: 办事员, en: Clerk}
start: {state: open, roles: [clerk]}
states:
  open:
    type: userTask
    label: {zh: 处理中, en: Open}
    deadline:
      within: 2 hours
      steps:
        - {at: 100%, action: %s}
    transitions:
      - {trigger: close, target: closed, roles: [clerk]}
      - {trigger: lapse, target: lapsed, roles: [clerk]}
  closed: {type: endEvent, label: {zh: 已办结, en: Closed}}
  lapsed: {type: endEvent, label: {zh: 已失效, en: Lapsed}}
"""
CLERK = Actor("zhao", {"clerk"})


def ticket_engine(
    tmp_path: Path, db_url: str, clock: FakeClock, clocks: Clocks, step: str
) -> Engine:
    path = tmp_path / "ticket.yaml"
    path.write_text(TICKET.replace("%s", step), encoding="utf-8")
    return Engine.open(db_url, workflows=[path], clock=clock, extensions=[clocks])


@pytest.mark.req("ACC-2", "TRN-4", "EMG-3")
def test_a_fire_step_at_100_percent_is_judged_at_its_own_due_time(
    tmp_path: Path, db_url: str, clock: FakeClock, clocks: Clocks
) -> None:
    with ticket_engine(tmp_path, db_url, clock, clocks, "fire, trigger: lapse") as engine:
        item = engine.start("ticket", actor=CLERK)
        due = clocks.clocks(item.id)[0].due_at
        assert due == local(2025, 9, 26, 17, 0)
        clock.now = due + dt.timedelta(minutes=30)  # the daemon polls half an hour late
        engine.run_due()
        assert engine.get(item.id).state == "lapsed"
        (view,) = clocks.clocks(item.id)
        assert (view.status, view.breached_at) == ("met", None)
        statuses = {t.action: t.status for t in clocks.timers(item.id)}
        assert statuses == {"fire": "fired", "breach": "cancelled"}


@pytest.mark.req("ACC-2", "TRN-4", "EMG-3")
def test_a_breach_polled_at_the_due_instant_is_not_recorded_and_an_act_then_is_in_time(
    tmp_path: Path, db_url: str, clock: FakeClock, clocks: Clocks
) -> None:
    with ticket_engine(tmp_path, db_url, clock, clocks, "warn") as engine:
        first = engine.start("ticket", actor=CLERK)
        second = engine.start("ticket", actor=CLERK)
        due = clocks.clocks(first.id)[0].due_at
        clock.now = due
        engine.run_due()  # the warning fires; the breach waits for the instant after
        assert [(c.status, c.breached_at) for c in clocks.clocks(first.id)] == [("warning", None)]
        # a person acting at the due instant is in time
        engine.fire(first.id, "close", actor=CLERK)
        assert clocks_in(clocks, first.id, "open") == [("met", None)]
        # one microsecond later the deadline is missed, and the timer records it
        clock.now = due + dt.timedelta(microseconds=1)
        engine.run_due()
        (late,) = clocks.clocks(second.id)
        assert (late.status, late.breached_at) == ("breached", clock.now)
        breach = [t for t in clocks.timers(second.id) if t.action == "breach"]
        assert [t.status for t in breach] == ["fired"]


# -- when: on requires_record ------------------------------------------------------------------
WHEN_POLICY = """\
kind: policy
id: reposts
label: {zh: 转载稿件, en: Reposts}
workflows:
  publishing:
    steps:
      repost_assign: {state: selected, trigger: assign, label: {zh: 派发人, en: assigning lead}}
    requires_record:
      - id: reposts_need_skills
        steps: [repost_assign]
        subject: data.assignees
        workflow: training
        states: [passed]
        field: trainee
        where: data.course == 'operational_skills'
        when: data.repost == true
        reason:
          zh: 转载稿件须派给已通过操作技能培训的编辑
          en: a repost is assigned only to editors trained in operational skills
"""


def when_engine(tmp_path: Path, db_url: str, clock: FakeClock, text: str) -> Engine:
    path = tmp_path / "reposts.yaml"
    path.write_text(text, encoding="utf-8")
    return Engine.open(
        db_url,
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=[*ACCOUNT_POLICIES, path],
        handlers={"publish_to_channels": ok_handler},
        clock=clock,
    )


@pytest.mark.req("TRN-3")
def test_requires_record_when_asks_for_the_record_only_when_the_item_meets_it(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    assign = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
    with when_engine(tmp_path, db_url, clock, WHEN_POLICY) as engine:
        train(engine, EDITOR.id)  # post basics only
        plain = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
        plain = engine.fire(plain.id, "approve", actor=LEAD)
        assert engine.fire(plain.id, "assign", actor=LEAD, data=assign).state == "assigned"
        reposted = {**TOPIC, "repost": True, "source": "人民网", "original_author": "李四"}
        repost = engine.start("publishing", actor=EDITOR, data=reposted)
        repost = engine.fire(repost.id, "approve", actor=LEAD)
        with pytest.raises(PolicyDenied) as denied:
            engine.fire(repost.id, "assign", actor=LEAD, data=assign)
        assert denied.value.rule == "reposts_need_skills"
        train(engine, EDITOR.id, course="operational_skills")
        assert engine.fire(repost.id, "assign", actor=LEAD, data=assign).state == "assigned"


@pytest.mark.req("TRN-3")
@pytest.mark.parametrize(
    ("when", "code", "column"),
    [("data.repost ==", "E-GUARD-SYNTAX", 29), ("data.reposted == true", "E-POLICY-FIELD", 15)],
)
def test_requires_record_when_is_checked_with_its_place(
    tmp_path: Path, db_url: str, clock: FakeClock, when: str, code: str, column: int
) -> None:
    text = WHEN_POLICY.replace("when: data.repost == true", f"when: {when}")
    with pytest.raises(DefinitionError) as bad:
        when_engine(tmp_path, db_url, clock, text).close()
    found = [(p.code, p.line, p.column) for p in bad.value.problems]
    assert found == [(code, 16, column)]
    assert bad.value.problems[0].file.endswith("reposts.yaml")


ACCEPT_POLICY = WHEN_POLICY.replace(
    "repost_assign: {state: selected, trigger: assign",
    "repost_accept: {state: assigned, trigger: accept",
).replace(
    "steps: [repost_assign]\n        subject: data.assignees",
    "steps: [repost_accept]\n        subject: actor",
)


@pytest.mark.req("TRN-3")
def test_requires_record_when_over_the_items_data_is_judged_ahead_by_allowed(
    tmp_path: Path, db_url: str, clock: FakeClock
) -> None:
    """when: reads only the item's data, so allowed() judges the rule before the form."""
    assign = {"assignees": [EDITOR.id], "due_date": "2025-10-10"}
    with when_engine(tmp_path, db_url, clock, ACCEPT_POLICY) as engine:
        train(engine, EDITOR.id)
        items = []
        for data in (dict(TOPIC), {**TOPIC, "repost": True, "source": "人民网"}):
            item = engine.start("publishing", actor=EDITOR, data=data)
            item = engine.fire(item.id, "approve", actor=LEAD)
            items.append(engine.fire(item.id, "assign", actor=LEAD, data=assign))
        plain, repost = items

        def accept(item_id: int) -> tuple[bool, tuple[str, ...]]:
            (found,) = [a for a in engine.allowed(item_id, EDITOR) if a.trigger == "accept"]
            return found.allowed, found.rules

        assert accept(plain.id) == (True, ())
        assert accept(repost.id) == (False, ("reposts_need_skills",))
        train(engine, EDITOR.id, course="operational_skills")
        assert accept(repost.id) == (True, ())
        assert engine.fire(repost.id, "accept", actor=EDITOR).state == "drafting"
