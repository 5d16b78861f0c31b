"""STF-5: the open work of a person on leave or gone (post ended) moves to another holder
of the same post: the named substitute, else the holder with the least open work; as a
tracked event in each item's history, by the runner's pass (``run_due``) once the leave
starts. On SQLite and PostgreSQL (skipped cleanly without ``CMC_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import PolicyDenied, RegisterRefused, TaskRefused
from cmc_workflow.staff.register import PersonEntry, PostEntry, Register
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, TOPIC, UNGUARDED_PUBLISHING, EngineFactory

HR = Actor("hr1")
DAY = dt.date(2025, 9, 1)
TODAY = dt.date(2025, 9, 26)  # the test clock's local day
WANG = Actor("wang")
LI, ZHAO, QIAN, SUN = Actor("li"), Actor("zhao"), Actor("qian"), Actor("sun")


def qualified(name: str, person_id: str) -> PersonEntry:
    return PersonEntry(name, person_id, education="bachelor", experience_years=5)


@pytest.fixture
def register(db_url: str, clock: FakeClock) -> Iterator[Register]:
    store = Store.open(db_url)
    reg = Register(store, clock=clock)
    reg.add(HR, qualified("王芳", "wang"), [PostEntry("editor", {"channels": ["web"]}, DAY)])
    for name, who in (("李雷", "li"), ("赵敏", "zhao"), ("钱进", "qian")):
        reg.add(HR, qualified(name, who), [PostEntry("channel_lead", {}, DAY)])
    reg.add(HR, qualified("孙明", "sun"), [PostEntry("ops_manager", {}, DAY)])
    yield reg
    store.close()


@pytest.fixture
def engine(register: Register, engine_factory: EngineFactory) -> Engine:
    return engine_factory(workflows=[UNGUARDED_PUBLISHING], policies=[POLICIES / "roles.yaml"])


def claimed_by(engine: Engine, actor: Actor) -> int:
    item = engine.start("publishing", actor=WANG, data=dict(TOPIC))
    engine.claim(item.id, actor=actor)
    return item.id


def holder(engine: Engine, item_id: int) -> str | None:
    events = [h for h in engine.history(item_id) if h.kind == "task"]
    return events[-1].form["assignee"] if events else None


@pytest.mark.req("STF-5")
@pytest.mark.enforces("STF-5", element="cmc_workflow/engine/tasks.py")
def test_leave_with_a_substitute_moves_the_open_work_when_it_starts(
    engine: Engine, register: Register, clock: FakeClock
) -> None:
    first, second = claimed_by(engine, LI), claimed_by(engine, LI)
    claimed_by(engine, QIAN)  # qian is busier than zhao: the substitute is chosen anyway
    claimed_by(engine, QIAN)
    start = TODAY + dt.timedelta(days=3)
    register.leave(HR, "li", start, start + dt.timedelta(days=4), substitute="qian")
    engine.run_due()
    assert holder(engine, first) == "li"  # not yet: the leave starts in three days
    clock.advance(days=3)
    engine.run_due()
    assert (holder(engine, first), holder(engine, second)) == ("qian", "qian")
    (event,) = [h for h in engine.history(first) if h.kind == "task" and h.form["op"] == "cover"]
    assert event.actor == "system"
    assert event.form == {"op": "cover", "assignee": "qian", "previous": "li"}
    records = [r for r in engine.audit_trail(first) if r["command"] == "task.cover"]
    assert len(records) == 1
    assert "cover for li" in records[0]["reason"]
    # the substitute may act on it; li, on leave, may not
    with pytest.raises(PolicyDenied) as refused:
        engine.fire(first, "approve", actor=LI)
    assert refused.value.rule == "task_claimed"
    assert engine.fire(first, "approve", actor=QIAN).state == "selected"
    engine.run_due()  # a second pass moves nothing twice
    assert len([h for h in engine.history(second) if h.kind == "task"]) == 2


@pytest.mark.req("STF-5")
def test_without_a_substitute_the_holder_with_the_least_open_work_takes_over(
    engine: Engine, register: Register
) -> None:
    item_id = claimed_by(engine, LI)
    claimed_by(engine, ZHAO)
    register.leave(HR, "li", TODAY, TODAY)
    engine.run_due()
    assert holder(engine, item_id) == "qian"  # zhao holds one, qian none


@pytest.mark.req("STF-5")
def test_a_substitute_who_does_not_hold_the_post_is_passed_over(
    engine: Engine, register: Register
) -> None:
    item_id = claimed_by(engine, LI)
    claimed_by(engine, QIAN)
    register.leave(HR, "li", TODAY, TODAY, substitute="wang")  # an editor
    engine.run_due()
    assert holder(engine, item_id) == "zhao"


@pytest.mark.req("STF-5")
def test_nobody_can_delegate_to_a_person_on_leave(engine: Engine, register: Register) -> None:
    item_id = claimed_by(engine, LI)
    register.leave(HR, "zhao", TODAY, TODAY + dt.timedelta(days=2))
    with pytest.raises(TaskRefused) as caught:
        engine.delegate(item_id, "zhao", actor=LI)
    assert caught.value.rule == "task_target_not_holder"


@pytest.mark.req("STF-5")
def test_the_work_of_a_person_whose_post_ended_moves_on_the_next_pass(
    engine: Engine, register: Register, clock: FakeClock
) -> None:
    item_id = claimed_by(engine, LI)
    (post,) = list(register.person("li").active_posts(TODAY))  # type: ignore[union-attr]
    register.end_post(HR, post.id, TODAY)
    engine.run_due()
    assert holder(engine, item_id) == "li"  # the post is held through its last day
    clock.advance(days=1)
    engine.run_due()
    assert holder(engine, item_id) in {"zhao", "qian"}


@pytest.mark.req("STF-5")
def test_bad_leave_is_refused_in_both_languages_and_audited(register: Register) -> None:
    cases: list[tuple[str, dt.date, str | None, str]] = [
        ("nobody", TODAY, None, "E-STAFF-UNKNOWN"),
        ("li", TODAY - dt.timedelta(days=1), None, "E-STAFF-DATES"),
        ("li", TODAY, "Li", "E-STAFF-SUBSTITUTE"),  # li is Li
        ("li", TODAY, "ghost", "E-STAFF-SUBSTITUTE"),
    ]
    for person, last, substitute, rule in cases:
        with pytest.raises(RegisterRefused) as caught:
            register.leave(HR, person, TODAY, last, substitute)
        assert caught.value.rule == rule
        assert caught.value.reason_zh
    assert register.leaves() == []
    with register.store.read() as tx:
        refused = [r["rule"] for r in tx.audit_records() if r["command"] == "staff.leave"]
    assert refused == [rule for *_, rule in cases]
    written = register.leave(HR, "LI", TODAY, TODAY, "Qian")
    assert (written.person_id, written.substitute) == ("li", "qian")
    assert register.leaves("li") == [written]
