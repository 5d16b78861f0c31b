"""Group commit of due timers: a bounded group claimed, fired and marked per transaction.

What a group must keep of one transaction per timer: a refused or failing step rolls back
only its own writes and is recorded (the others commit); a step that moves its item
leaves the timers it cancelled cancelled, even when they were claimed in the same group;
a runner killed in the middle of a group leaves every timer of it pending, and the next
runner fires each exactly once; two runners on PostgreSQL never fire one timer twice.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from structlog.testing import capture_logs

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import PolicyDenied
from cmc_workflow.extensions import Change, Command, Extension
from cmc_workflow.runner.assemble import load_definitions, open_engine
from cmc_workflow.store import StoreTx
from cmc_workflow.store.database import READ_ONLY, open_database
from cmc_workflow.store.tables import audit, timers
from cmc_workflow.testing import FakeClock
from tests.helpers.processes import CAP, start, wait_exit, wait_until
from tests.runner.test_timers import WAITING, arm_due_timers, fired_exactly_once

EXPIRING = """\
id: expiring
label: {zh: 限时, en: Expiring}
roles:
  editor: {zh: 编辑, en: Editor}
  system: {zh: 系统, en: System (timers)}
data:
  keep: {type: boolean, required: false}
  deny: {type: boolean, required: false}
  late: {type: boolean, required: false}
start: {state: proposed, roles: [editor]}
states:
  proposed:
    type: userTask
    label: {zh: 已提出, en: Proposed}
    deadline:
      within: 4 days
      steps:
        - {at: 25%, action: fire, trigger: expire}
        - {at: 50%, action: warn}
    transitions:
      - {trigger: accept, target: done, roles: [editor]}
      - {trigger: expire, target: expired, roles: [system], guard: "data.keep != true"}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
  expired:
    type: endEvent
    label: {zh: 已过期, en: Expired}
"""

T0 = dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=5)  # every step of every clock is due
EDITOR = Actor("wang", {"editor"})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "workflows"
    path.mkdir()
    (path / "waiting.yaml").write_text(WAITING, encoding="utf-8")
    (path / "expiring.yaml").write_text(EXPIRING, encoding="utf-8")
    return path


class RefuseDenied(Extension):
    """A policy that refuses the engine's own step on items whose data say ``deny``."""

    def check(self, command: Command, tx: StoreTx) -> None:
        if command.kind != "start" and command.data.get("deny"):
            raise PolicyDenied("test-deny", "the engine may not expire it", "引擎不得使其过期")


class RefuseAfterItWrote(Extension):
    """Refuses the engine's step on items whose data say ``late``, after the step wrote its
    history and the clocks stopped (an extension's after_change runs last)."""

    def after_change(self, tx: StoreTx, change: Change) -> None:
        if change.kind != "start" and change.data.get("late"):
            raise PolicyDenied("test-late", "refused after the step wrote", "写入后被拒绝")


def commits_during(engine: Engine, run: Any) -> tuple[Any, int]:
    """What ``run()`` returned and how many transactions it committed."""
    seen = [0]

    def count(*_args: Any) -> None:
        seen[0] += 1

    event.listen(engine.store.engine, "commit", count)
    try:
        return run(), seen[0]
    finally:
        event.remove(engine.store.engine, "commit", count)


def statuses(clocks: Clocks, item_id: int) -> dict[str, str]:
    return {t.action: t.status for t in clocks.timers(item_id)}


def test_a_group_fires_many_timers_in_one_transaction(db_url: str, folder: Path) -> None:
    arm_due_timers(db_url, folder, 25)
    clocks = Clocks(WorkingCalendar(), batch=100, group=10)
    with Engine.open(db_url, workflows=folder, clock=FakeClock(LATER), extensions=[clocks]) as e:
        fired, commits = commits_during(e, lambda: clocks.run_due(LATER))
    assert fired == 25
    assert commits == 1 + 3  # the read that found work due, then groups of 10, 10 and 5
    fired_exactly_once(db_url, 25)


def test_a_refused_or_failing_step_in_a_group_does_not_undo_the_others(
    db_url: str, folder: Path
) -> None:
    clock = FakeClock(T0)
    clocks = Clocks(WorkingCalendar(), group=50)
    with Engine.open(
        db_url, workflows=folder, clock=clock, extensions=[clocks, RefuseDenied()]
    ) as engine:
        kept = engine.start("expiring", actor=EDITOR, data={"keep": True}).id  # guard fails
        denied = engine.start("expiring", actor=EDITOR, data={"deny": True}).id  # policy
        plain = [engine.start("expiring", actor=EDITOR).id for _ in range(2)]
        clock.now = LATER
        fired, commits = commits_during(engine, lambda: clocks.run_due(LATER))

        assert commits == 2  # the read that found work due, and one group
        # both refusals are recorded, and the items stay where they were
        for item_id in (kept, denied):
            assert engine.get(item_id).state == "proposed"
            assert statuses(clocks, item_id) == {
                "fire": "failed",
                "warn": "fired",
                "breach": "fired",
            }
        (failed,) = [t for t in clocks.timers(kept) if t.action == "fire"]
        assert "condition does not hold" in (failed.error or "")
        trail = [r for r in engine.audit_trail(denied) if r["command"] == "timer"]
        refused = [r for r in trail if r["outcome"] == "refused"]
        assert [(r["rule"], r["detail"]["reason_zh"]) for r in refused] == [
            ("test-deny", "引擎不得使其过期")
        ]
        # the others moved on in the same transaction; the timers their step cancelled,
        # claimed in the same group, stay cancelled (read again, not fired)
        for item_id in plain:
            assert engine.get(item_id).state == "expired"
            assert statuses(clocks, item_id) == {
                "fire": "fired",
                "warn": "cancelled",
                "breach": "cancelled",
            }
            cancelled = {t.id for t in clocks.timers(item_id) if t.status == "cancelled"}
            trail = engine.audit_trail(item_id)
            assert not [r for r in trail if r["detail"].get("timer_id") in cancelled]
            # the step moved the item at its own due time (25%), in time although polled
            # after the clock's due time: the stop records no breach (issue 13)
            assert not [r for r in trail if r["rule"] == "deadline:proposed:breach"]
            assert [c.status for c in clocks.clocks(item_id)] == ["met"]
        assert fired == 2 * 3 + 2  # claimed and handled: fired, failed; not the cancelled
        with engine.store.read() as tx:
            assert tx.verify_audit().ok  # the chains hold across the rolled-back steps


def test_a_step_refused_after_it_wrote_leaves_the_chains_whole_for_the_rest_of_the_group(
    db_url: str, folder: Path
) -> None:
    clock = FakeClock(T0)
    clocks = Clocks(WorkingCalendar(), group=50)
    with Engine.open(
        db_url, workflows=folder, clock=clock, extensions=[clocks, RefuseAfterItWrote()]
    ) as engine:
        late = engine.start("expiring", actor=EDITOR, data={"late": True}).id
        plain = engine.start("expiring", actor=EDITOR).id
        clock.now = LATER
        _fired, commits = commits_during(engine, lambda: clocks.run_due(LATER))
        assert commits == 2  # the read that found work due, and one group

        # the refused step's history, audit and clock changes rolled back to its savepoint;
        # the same item's warning and breach, later in the group, chain on what is left
        assert engine.get(late).state == "proposed"
        assert [h.trigger for h in engine.history(late)] == [None]  # the start alone
        assert statuses(clocks, late) == {"fire": "failed", "warn": "fired", "breach": "fired"}
        assert [c.status for c in clocks.clocks(late)] == ["breached"]  # running, past due
        assert engine.get(plain).state == "expired"
        with engine.store.read() as tx:
            verified = tx.verify_audit()
        assert verified.ok, verified.findings


STALL = """
import datetime as dt, sys, time
from pathlib import Path
from cmc_workflow import Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.extensions import Extension

url, folder, marker, now = sys.argv[1:5]
now = dt.datetime.fromisoformat(now)

class Stall(Extension):
    def after_change(self, tx, change):
        Path(marker).write_text("stalled", encoding="utf-8")
        time.sleep(600)  # killed here, in the middle of the group's transaction

clocks = Clocks(WorkingCalendar(), group=50)
with Engine.open(url, workflows=folder, clock=lambda: now, extensions=[clocks, Stall()]):
    clocks.run_due(now)
"""
"""A runner whose group stalls at its first ``fire`` step, after the due warnings before
it were fired in the same transaction (a transition's after_change is the hook)."""


def timer_audit_count(url: str) -> int:
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:  # no write lock
            return int(
                conn.execute(
                    select(func.count()).select_from(audit).where(audit.c.command == "timer")
                ).scalar_one()
            )
    finally:
        database.dispose()


def pending_count(url: str) -> int:
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(timers).where(timers.c.status == "pending")
                ).scalar_one()
            )
    finally:
        database.dispose()


def test_a_runner_killed_mid_group_leaves_every_timer_of_it_to_the_next(
    db_url: str, folder: Path, tmp_path: Path
) -> None:
    arm_due_timers(db_url, folder, 5, due=T0)  # warnings due at T0, before the fire step
    clocks = Clocks(WorkingCalendar())
    with Engine.open(db_url, workflows=folder, clock=FakeClock(T0), extensions=[clocks]) as e:
        item_id = e.start("expiring", actor=EDITOR).id  # fire step due at T0 + 1 day
    marker = tmp_path / "stalled"
    child = start(
        [sys.executable, "-c", STALL, db_url, str(folder), str(marker), LATER.isoformat()],
        cwd=tmp_path,
    )
    wait_until(marker.exists, "the runner to stall in the middle of its group")
    child.send_signal(signal.SIGKILL)
    assert wait_exit(child) == -signal.SIGKILL
    # the five warnings it fired before the stall rolled back with the group
    assert pending_count(db_url) == 5 + 3
    assert timer_audit_count(db_url) == 0

    clock = FakeClock(LATER)
    with Engine.open(db_url, workflows=folder, clock=clock, extensions=[clocks]) as engine:
        # PostgreSQL releases the dead runner's row locks once it notices the connection
        # closed; until then its timers are skipped, not waited on
        wait_until(
            lambda: clocks.run_due(LATER) == 0 and pending_count(db_url) == 0,
            "every timer of the killed group to be fired by the next runner",
            cap=CAP,
        )
        assert engine.get(item_id).state == "expired"
        assert statuses(clocks, item_id) == {
            "fire": "fired",
            "warn": "cancelled",
            "breach": "cancelled",
        }
    database = open_database(db_url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:
            details = conn.execute(
                select(audit.c.detail).where(
                    audit.c.command == "timer", audit.c.workflow_id == "waiting"
                )
            ).scalars()
            once = Counter(d["timer_id"] for d in details)
    finally:
        database.dispose()
    assert len(once) == 5  # the warnings, each fired once after all
    assert set(once.values()) == {1}


@pytest.mark.postgres
def test_two_runners_on_postgres_never_fire_one_timer_twice(
    postgres_url: str, folder: Path
) -> None:
    count = 600
    arm_due_timers(postgres_url, folder, count, due=T0)
    runners = []
    for name in ("r1", "r2"):
        clocks = Clocks(WorkingCalendar(), batch=10_000, group=25)
        engine = Engine.open(
            postgres_url,
            workflows=folder,
            clock=FakeClock(LATER),
            extensions=[clocks],
            runner=name,
        )
        runners.append((engine, clocks))
    fired: dict[str, int] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def work(name: str, clocks: Clocks) -> None:
        try:
            go.wait(timeout=CAP)
            total = 0
            while (n := clocks.run_due(LATER)) > 0:
                total += n
            fired[name] = total
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(name, clocks))
        for name, (_engine, clocks) in zip(("r1", "r2"), runners, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=CAP)
    finally:
        for engine, _clocks in runners:
            engine.close()
    assert not errors, errors
    assert sum(fired.values()) == count  # each claimed by exactly one of them
    by_runner = fired_exactly_once(postgres_url, count)
    assert sum(by_runner.values()) == count
    assert set(by_runner) <= {"r1", "r2"}


@pytest.mark.postgres
def test_concurrent_groups_are_disjoint_and_never_wait(postgres_url: str, folder: Path) -> None:
    arm_due_timers(postgres_url, folder, 5, due=T0)
    with (
        Engine.open(postgres_url, workflows=folder) as first,
        Engine.open(postgres_url, workflows=folder) as second,
        first.store.write() as a,
    ):
        one = a.claim_due_timers(LATER, 3)
        with second.store.write() as b:
            two = b.claim_due_timers(LATER, 10)  # the three locked ones are skipped
    assert len(one) == 3
    assert len(two) == 2
    assert {d.timer.id for d in one}.isdisjoint({d.timer.id for d in two})


def test_timers_of_a_disabled_workflow_wait_for_its_fixed_file(db_url: str, folder: Path) -> None:
    """Issue 17, item 4: a broken file disables its workflows; their due timers are left
    pending (not fired, not failed) with a warning at every pass, the other workflows'
    timers fire, and once the file is fixed the waiting timers fire too."""
    clock = FakeClock(T0)
    operator = Actor("li", {"operator"})
    with Engine.open(db_url, workflows=folder, clock=clock) as engine:
        waiting = engine.start("waiting", actor=operator).id
        expiring = engine.start("expiring", actor=EDITOR).id
    good = (folder / "expiring.yaml").read_text(encoding="utf-8")
    (folder / "expiring.yaml").write_text(good.replace("type: endEvent", "type: endEvnt", 1))
    loaded = load_definitions([folder], isolated=True)
    assert set(loaded.disabled) == {"expiring"}

    clock.now = LATER
    clocks = Clocks(WorkingCalendar(), group=50)
    with open_engine(db_url, loaded, clock=clock, extensions=[clocks]), capture_logs() as logs:
        assert clocks.run_due(LATER) == len(statuses(clocks, waiting))  # 'waiting' only
        assert set(statuses(clocks, waiting).values()) == {"fired"}
        assert set(statuses(clocks, expiring).values()) == {"pending"}
        assert clocks.next_due() is None  # no wake-up for the waiting timers
        assert clocks.run_due(LATER) == 0
        warned = [e for e in logs if e["event"] == "timers_waiting_on_disabled_workflows"]
        assert len(warned) == 2  # repeated at every pass while they wait
        assert warned[0]["workflows"] == ["expiring"]
        assert warned[0]["files"] == [str(folder / "expiring.yaml")]
        assert "expiring" in warned[0]["message_zh"]

    (folder / "expiring.yaml").write_text(good, encoding="utf-8")
    fixed = Clocks(WorkingCalendar(), group=50)
    with Engine.open(db_url, workflows=folder, clock=clock, extensions=[fixed]):
        assert fixed.run_due(LATER) >= 1
        assert "pending" not in statuses(fixed, expiring).values()
