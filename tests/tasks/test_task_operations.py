"""Task operations on user tasks (issue 14, part 3): claim and unclaim from a role's
queue, delegate and hand back, reassign by a lead. Each is one command with its history
row and audit record; each refusal names its rule, in both languages, and is audited.
Run on SQLite and PostgreSQL (skipped cleanly without ``CMC_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import (
    ConflictError,
    DefinitionError,
    IdentityRefused,
    PolicyDenied,
    TaskRefused,
)
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import Store, schema
from cmc_workflow.store.tables import items
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, TOPIC, UNGUARDED_PUBLISHING, EngineFactory

HR = Actor("hr1")
DAY = dt.date(2025, 9, 1)
WANG = Actor("wang")  # editor
LI = Actor("li")  # channel lead
ZHAO = Actor("zhao")  # channel lead
SUN = Actor("sun")  # operations manager (a lead)


def qualified(name: str, person_id: str) -> PersonEntry:
    return PersonEntry(name, person_id, education="bachelor", experience_years=5)


@pytest.fixture
def register(db_url: str, clock: FakeClock) -> Iterator[Register]:
    store = Store.open(db_url)
    reg = Register(store, clock=clock)
    reg.add(HR, qualified("王芳", "wang"), [PostEntry("editor", {"channels": ["web"]}, DAY)])
    reg.add(HR, qualified("李雷", "li"), [PostEntry("channel_lead", {}, DAY)])
    reg.add(HR, qualified("赵敏", "zhao"), [PostEntry("channel_lead", {}, DAY)])
    reg.add(HR, qualified("孙明", "sun"), [PostEntry("ops_manager", {}, DAY)])
    yield reg
    store.close()


@pytest.fixture
def engine(register: Register, engine_factory: EngineFactory) -> Engine:
    return engine_factory(workflows=[UNGUARDED_PUBLISHING], policies=[POLICIES / "roles.yaml"])


def proposed(engine: Engine) -> int:
    """An item waiting in ``proposed`` on the channel leads' queue."""
    item = engine.start("publishing", actor=WANG, data=dict(TOPIC))
    assert item.state == "proposed"
    return item.id


def task_events(engine: Engine, item_id: int) -> list[dict[str, Any]]:
    return [dict(h.form) for h in engine.history(item_id) if h.kind == "task"]


def audited(engine: Engine, item_id: int, command: str) -> list[dict[str, Any]]:
    return [r for r in engine.audit_trail(item_id) if r["command"] == command]


def refusal(engine: Engine, call: Any, rule: str, item_id: int, command: str) -> TaskRefused:
    before = engine.get(item_id)
    with pytest.raises(TaskRefused) as caught:
        call()
    exc = caught.value
    assert exc.rule == rule
    assert rule in str(exc)
    assert rule in exc.reason_zh
    assert any("\u4e00" <= ch <= "\u9fff" for ch in exc.reason_zh)
    (record,) = [r for r in audited(engine, item_id, command) if r["outcome"] == "refused"][-1:]
    assert record["rule"] == rule
    after = engine.get(item_id)
    assert (after.version, after.state) == (before.version, before.state)  # nothing written
    return exc


def test_claim_takes_the_task_from_the_queue_and_records_it(engine: Engine) -> None:
    item_id = proposed(engine)
    mine, queue = engine.my_tasks(LI)
    assert [i.id for i in queue] == [item_id]
    assert mine == []
    version = engine.get(item_id).version
    claimed = engine.claim(item_id, actor=LI)
    assert claimed.version == version + 1
    assert task_events(engine, item_id) == [{"op": "claim", "assignee": "li", "previous": None}]
    (record,) = audited(engine, item_id, "task.claim")
    assert record["outcome"] == "accepted"
    assert record["actor"] == "li"
    assert record["detail"]["assignee"] == "li"
    mine, queue = engine.my_tasks(LI)
    assert [i.id for i in mine] == [item_id]
    assert queue == []
    # no longer in the other lead's inbox
    assert item_id not in [i.id for i in engine.inbox(ZHAO)]


def test_unclaim_puts_it_back_in_the_queue(engine: Engine) -> None:
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    engine.unclaim(item_id, actor=LI)
    assert item_id in [i.id for i in engine.my_tasks(ZHAO)[1]]
    assert [e["op"] for e in task_events(engine, item_id)] == ["claim", "unclaim"]
    engine.claim(item_id, actor=ZHAO)  # anyone of the role may claim it now
    assert task_events(engine, item_id)[-1]["assignee"] == "zhao"


def test_claim_refusals(engine: Engine) -> None:
    item_id = proposed(engine)
    refusal(
        engine,
        lambda: engine.claim(item_id, actor=WANG),
        "task_role_not_held",
        item_id,
        "task.claim",
    )
    engine.claim(item_id, actor=LI)
    exc = refusal(
        engine, lambda: engine.claim(item_id, actor=ZHAO), "task_claimed", item_id, "task.claim"
    )
    assert "li" in str(exc)
    refusal(
        engine, lambda: engine.unclaim(item_id, actor=ZHAO), "task_claimed", item_id, "task.unclaim"
    )


def test_a_claimed_role_the_register_does_not_give_cannot_claim(engine: Engine) -> None:
    """Identity comes from the register: wang claiming to be a channel lead is refused
    before the task rules are asked."""
    item_id = proposed(engine)
    with pytest.raises(IdentityRefused) as caught:
        engine.claim(item_id, actor=Actor("wang", {"channel_lead"}))
    assert getattr(caught.value, "rule", None) == "role_not_held"
    assert audited(engine, item_id, "task.claim")[-1]["outcome"] == "refused"


def test_a_claimed_task_is_fired_only_by_its_holder(engine: Engine) -> None:
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    allowed = {a.trigger: a for a in engine.allowed(item_id, ZHAO)}
    assert not allowed["approve"].allowed
    assert "task_claimed" in allowed["approve"].rules
    with pytest.raises(PolicyDenied) as caught:
        engine.fire(item_id, "approve", actor=ZHAO)
    assert caught.value.rule == "task_claimed"
    assert "li" in caught.value.reason_zh
    moved = engine.fire(item_id, "approve", actor=LI)
    assert moved.state == "selected"
    # the next state is a new visit: back in the role's queue, no write needed
    assert item_id in [i.id for i in engine.my_tasks(ZHAO)[1]]
    engine.claim(item_id, actor=ZHAO)


def test_delegate_and_hand_back(engine: Engine) -> None:
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    engine.delegate(item_id, "Zhao", actor=LI)  # ids compare as a person reads them
    assert [i.id for i in engine.my_tasks(ZHAO)[0]] == [item_id]
    assert engine.my_tasks(LI) == ([], [])
    refusal(
        engine,
        lambda: engine.hand_back(item_id, actor=LI),
        "task_claimed",
        item_id,
        "task.hand_back",
    )
    engine.hand_back(item_id, actor=ZHAO)
    assert [i.id for i in engine.my_tasks(LI)[0]] == [item_id]
    assert [(e["op"], e["assignee"], e["previous"]) for e in task_events(engine, item_id)] == [
        ("claim", "li", None),
        ("delegate", "zhao", "li"),
        ("hand_back", "li", "zhao"),
    ]
    # handed back: li holds it as a plain claim, nothing to hand back again
    refusal(
        engine,
        lambda: engine.hand_back(item_id, actor=LI),
        "task_not_delegated",
        item_id,
        "task.hand_back",
    )


def test_delegate_refusals(engine: Engine) -> None:
    item_id = proposed(engine)
    refusal(
        engine,
        lambda: engine.delegate(item_id, "zhao", actor=LI),
        "task_not_assigned",
        item_id,
        "task.delegate",
    )
    engine.claim(item_id, actor=LI)
    # wang is in the register but holds no role of the state; nobody is not in it at all
    refusal(
        engine,
        lambda: engine.delegate(item_id, "wang", actor=LI),
        "task_target_not_holder",
        item_id,
        "task.delegate",
    )
    refusal(
        engine,
        lambda: engine.delegate(item_id, "nobody", actor=LI),
        "task_target_not_holder",
        item_id,
        "task.delegate",
    )
    refusal(
        engine,
        lambda: engine.delegate(item_id, "LI", actor=LI),
        "task_target_self",
        item_id,
        "task.delegate",
    )
    refusal(
        engine,
        lambda: engine.delegate(item_id, "li", actor=ZHAO),
        "task_claimed",
        item_id,
        "task.delegate",
    )


def test_reassign_by_a_lead_only(engine: Engine) -> None:
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    refusal(
        engine,
        lambda: engine.reassign(item_id, "zhao", actor=WANG),
        "task_not_lead",
        item_id,
        "task.reassign",
    )
    refusal(
        engine,
        lambda: engine.reassign(item_id, "wang", actor=SUN),
        "task_target_not_holder",
        item_id,
        "task.reassign",
    )
    engine.reassign(item_id, "zhao", actor=SUN)
    (record,) = [r for r in audited(engine, item_id, "task.reassign") if r["outcome"] == "accepted"]
    assert record["actor"] == "sun"
    assert record["detail"]["previous"] == "li"
    assert [i.id for i in engine.my_tasks(ZHAO)[0]] == [item_id]
    with pytest.raises(PolicyDenied):
        engine.fire(item_id, "approve", actor=LI)


def test_operations_only_on_open_user_tasks(engine: Engine) -> None:
    item_id = proposed(engine)
    engine.fire(item_id, "delete", actor=LI, data={"reason": "重复选题"})
    assert engine.get(item_id).closed_at is not None
    refusal(
        engine, lambda: engine.claim(item_id, actor=LI), "task_not_user_task", item_id, "task.claim"
    )


def test_a_stale_form_sees_the_claim(engine: Engine) -> None:
    """A task operation moves the item's version on: a fire with the version read before
    it is a conflict, not a silent override."""
    item_id = proposed(engine)
    seen = engine.get(item_id).version
    engine.claim(item_id, actor=LI)
    with pytest.raises(ConflictError):
        engine.fire(item_id, "approve", actor=LI, expected_version=seen)


LEADS_POLICY = """\
kind: policy
id: team_leads
label: {zh: 团队负责人, en: Team leads}
workflows:
  publishing:
    leads: [channel_lead, {role}]
"""


def test_the_lead_roles_are_a_policy_setting(
    register: Register, engine_factory: EngineFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "leads.yaml"
    policy.write_text(LEADS_POLICY.replace(", {role}", ""), encoding="utf-8")
    engine = engine_factory(
        workflows=[UNGUARDED_PUBLISHING], policies=[POLICIES / "roles.yaml", policy]
    )
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    # the operations manager leads by default, not where the policy names the leads
    exc = refusal(
        engine,
        lambda: engine.reassign(item_id, "zhao", actor=SUN),
        "task_not_lead",
        item_id,
        "task.reassign",
    )
    assert "channel_lead" in str(exc)
    engine.reassign(item_id, "zhao", actor=LI)  # li is a channel lead
    assert [i.id for i in engine.my_tasks(ZHAO)[0]] == [item_id]


def test_a_lead_role_nobody_declares_is_a_located_problem(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "leads.yaml"
    policy.write_text(LEADS_POLICY.replace("{role}", "team_boss"), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        engine_factory(workflows=[UNGUARDED_PUBLISHING], policies=[POLICIES / "roles.yaml", policy])
    (problem,) = caught.value.problems
    assert problem.code == "E-TASK-LEADS"
    assert (Path(problem.file).name, problem.line, problem.column) == ("leads.yaml", 6, 27)
    assert "team_boss" in problem.message


def test_two_people_claiming_at_once_one_wins(engine: Engine) -> None:
    """The item row is locked by each claim: of two racing claims one is accepted, the
    other refused as claimed (or a retryable conflict), never both."""
    item_id = proposed(engine)
    barrier = threading.Barrier(2, timeout=60)
    outcomes: dict[str, str] = {}

    def claim(actor: Actor) -> None:
        barrier.wait()
        try:
            engine.claim(item_id, actor=actor)
            outcomes[actor.id] = "claimed"
        except TaskRefused as exc:
            outcomes[actor.id] = exc.rule
        except ConflictError:
            outcomes[actor.id] = "conflict"

    threads = [threading.Thread(target=claim, args=(a,)) for a in (LI, ZHAO)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes.values()) in (["claimed", "task_claimed"], ["claimed", "conflict"])
    winner = next(who for who, done in outcomes.items() if done == "claimed")
    assert task_events(engine, item_id) == [{"op": "claim", "assignee": winner, "previous": None}]


def _task_facts(engine: Engine, item_id: int) -> Any:
    with engine.store.engine.connect() as conn:
        facts = conn.execute(select(items.c.facts).where(items.c.id == item_id)).scalar_one()
    return (facts or {}).get("task")


def test_a_fire_on_a_user_task_reads_no_assignment(engine: Engine) -> None:
    """The guard judges by the assignment's copy in the item's facts, written with the
    item by the claim: a fire reads ``task_assignments`` no more (issue 12)."""
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    assert _task_facts(engine, item_id) == {"state": "proposed", "visit": 1, "assignee": "li"}
    seen: list[str] = []

    def on_execute(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.store.engine, "before_cursor_execute", on_execute)
    try:
        with pytest.raises(PolicyDenied) as caught:
            engine.fire(item_id, "approve", actor=ZHAO)
        engine.fire(item_id, "approve", actor=LI)
    finally:
        event.remove(engine.store.engine, "before_cursor_execute", on_execute)
    assert caught.value.rule == "task_claimed"
    assert seen
    assert not [s for s in seen if "task_assignments" in s]


def test_migration_0013_copies_earlier_assignments_into_the_facts(engine: Engine) -> None:
    """Assignments made before the guard read the facts are copied into them by the
    migration (and taken out again going down): the guard still refuses after it."""
    item_id = proposed(engine)
    engine.claim(item_id, actor=LI)
    database = engine.store.engine
    schema.downgrade(database, "0011")
    assert _task_facts(engine, item_id) is None
    schema.upgrade(database)
    assert _task_facts(engine, item_id) == {"state": "proposed", "visit": 1, "assignee": "li"}
    with pytest.raises(PolicyDenied) as caught:
        engine.fire(item_id, "approve", actor=ZHAO)
    assert caught.value.rule == "task_claimed"
