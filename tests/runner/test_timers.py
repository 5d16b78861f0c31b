"""Durable timers: claimed once across runners, a poll that costs one index probe.

The multi-process tests run real daemons (``python -m cmc_workflow run``) against one
database full of due timers and check from the audit trail that each timer fired exactly
once, also when one daemon is killed with SIGKILL in the middle of its work.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text

from cmc_workflow import Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.store import timers as sql
from cmc_workflow.store.database import READ_ONLY, open_database
from cmc_workflow.store.tables import audit, definitions, items, runners, timers
from cmc_workflow.testing import FakeClock
from tests.helpers.processes import CAP, start
from tests.helpers.processes import wait_until as wait_for

WAITING = """\
id: waiting
label: {zh: 等待, en: Waiting}
roles:
  operator: {zh: 运营方, en: Operator}
start: {state: open, roles: [operator]}
states:
  open:
    type: userTask
    label: {zh: 待处理, en: Open}
    deadline:
      within: 2 working days
      steps:
        - {at: 50%, action: warn}
    transitions:
      - {trigger: close, target: closed, roles: [operator]}
  closed:
    type: endEvent
    label: {zh: 已关闭, en: Closed}
"""

PAST = dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "workflows"
    path.mkdir()
    (path / "waiting.yaml").write_text(WAITING, encoding="utf-8")
    return path


def arm_due_timers(url: str, folder: Path, count: int, due: dt.datetime = PAST) -> None:
    """``count`` open items of ``waiting``, each with one due 'warn' timer (bulk inserted:
    the engine would take too long to set up thousands)."""
    with (
        Engine.open(url, workflows=folder, clock=FakeClock(due)) as engine,
        engine.store.write() as tx,
    ):
        definition = tx.conn.execute(
            select(definitions.c.id).where(definitions.c.workflow_id == "waiting")
        ).scalar_one()
        first = tx.conn.execute(select(func.coalesce(func.max(items.c.id), 0))).scalar_one()
        tx.conn.execute(
            insert(items),
            [
                {
                    "workflow_id": "waiting",
                    "definition_id": definition,
                    "state": "open",
                    "data": {},
                    "visit": 1,
                    "seq": 1,
                    "version": 1,
                    "created_at": due,
                    "created_by": "bench",
                    "updated_at": due,
                }
                for _ in range(count)
            ],
        )
        tx.conn.execute(
            insert(timers),
            [
                {
                    "item_id": first + n,
                    "clock_id": None,
                    "state": "open",
                    "visit": 1,
                    "step": 0,
                    "action": "warn",
                    "due_at": due,
                    "status": sql.PENDING,
                    "created_at": due,
                }
                for n in range(1, count + 1)
            ],
        )


def fired_exactly_once(url: str, count: int) -> Counter[str]:
    """Assert every timer fired once (one audit record each); returns fired per runner."""
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:  # no write lock
            statuses = dict(
                conn.execute(select(timers.c.status, func.count()).group_by(timers.c.status)).all()
            )
            details = conn.execute(
                select(audit.c.detail).where(audit.c.command == "timer")
            ).scalars()
            fired = Counter(d["timer_id"] for d in details)
            runners = Counter(
                dict(
                    conn.execute(
                        select(timers.c.runner, func.count()).group_by(timers.c.runner)
                    ).all()
                )
            )
    finally:
        database.dispose()
    assert statuses == {"fired": count}
    assert len(fired) == count
    assert set(fired.values()) == {1}, "a timer fired twice"
    return runners


def count_fired(url: str) -> Counter[str]:
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:  # no write lock
            rows = conn.execute(
                select(timers.c.runner, func.count())
                .where(timers.c.status == sql.FIRED)
                .group_by(timers.c.runner)
            ).all()
    finally:
        database.dispose()
    return Counter(dict(rows))


def daemon(url: str, folder: Path, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """A real daemon process (ended by its pid after the test whatever happens)."""
    return start(
        [
            sys.executable,
            "-m",
            "cmc_workflow",
            "run",
            "--db",
            url,
            "--workflows",
            str(folder),
            "--runner",
            name,
            "--batch",
            "50",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=folder.parent,  # no ./policies or ./calendars of the repository
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return postgres_url


def finish(processes: Sequence[subprocess.Popen[bytes]], *, stop: bool = True) -> list[int]:
    """Their exit codes, once they stopped (with ``stop``: after a SIGTERM)."""
    for process in processes:
        if stop and process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        _out, err = process.communicate(timeout=CAP)  # a cap, not a speed limit
        assert b"Traceback" not in err, err.decode()
        assert process.returncode == 0, err.decode()[-3000:]
        codes.append(process.returncode)
    return codes


# -- several daemons, one database ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_four_daemons_fire_5000_due_timers_exactly_once_on_postgres(
    pg_url: str, folder: Path
) -> None:
    arm_due_timers(pg_url, folder, 5000)
    processes = [daemon(pg_url, folder, f"d{n}", "--once") for n in range(4)]
    assert finish(processes, stop=False) == [0, 0, 0, 0]
    runners = fired_exactly_once(pg_url, 5000)
    assert set(runners) <= {"d0", "d1", "d2", "d3"}


def serving(url: str) -> set[str]:
    """The runners that have written a heartbeat (they are past start-up)."""
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:  # no write lock
            return set(conn.execute(select(runners.c.runner)).scalars())
    finally:
        database.dispose()


def _kill_one_mid_run(url: str, folder: Path, count: int, daemons: int) -> None:
    with Engine.open(url, workflows=folder):
        pass  # the schema and the workflow's definition, before any daemon starts
    processes = {f"d{n}": daemon(url, folder, f"d{n}", "--poll", "0.2") for n in range(daemons)}
    wait_for(lambda: serving(url) == set(processes), "every daemon to be serving")
    arm_due_timers(url, folder, count)  # the daemons find them at their next poll
    wait_for(lambda: sum(count_fired(url).values()) >= 20, "the daemons to start firing")
    # the busiest daemon dies in the middle of its work (on SQLite the one that got the
    # write lock first tends to keep it, so it is the one doing the work)
    name, _ = count_fired(url).most_common(1)[0]
    victim = processes.pop(name)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=CAP)
    at_kill = count_fired(url)
    assert sum(at_kill.values()) < count, "the victim was not killed mid-run"
    wait_for(lambda: sum(count_fired(url).values()) == count, "every timer to be fired")
    assert finish(list(processes.values())) == [0] * (daemons - 1)
    fired = fired_exactly_once(url, count)
    # what the victim committed before it died stays its own: nothing lost, nothing redone
    assert fired[name] == at_kill[name]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_daemon_killed_mid_run_loses_and_doubles_nothing_on_postgres(
    pg_url: str, folder: Path
) -> None:
    _kill_one_mid_run(pg_url, folder, 1000, daemons=4)


@pytest.mark.slow
def test_two_daemons_on_one_sqlite_file_fire_each_timer_once_despite_a_kill(
    tmp_path: Path, folder: Path
) -> None:
    _kill_one_mid_run(f"sqlite:///{tmp_path / 'shared.db'}", folder, 1000, daemons=2)


# -- claiming, in one process ----------------------------------------------------------------
@pytest.mark.postgres
def test_concurrent_claims_skip_each_others_locked_timers(pg_url: str, folder: Path) -> None:
    arm_due_timers(pg_url, folder, 3)
    with (
        Engine.open(pg_url, workflows=folder) as first,
        Engine.open(pg_url, workflows=folder) as second,
    ):
        now = PAST + dt.timedelta(hours=1)
        with first.store.write() as a:
            one = a.claim_due_timer(now)
            with second.store.write() as b:
                two = b.claim_due_timer(now)
                assert one is not None
                assert two is not None
                assert one.timer.id != two.timer.id  # a locked row is skipped, not waited on


def test_a_poll_with_nothing_due_reads_one_index_and_takes_no_write_lock(
    db_url: str, folder: Path
) -> None:
    clocks = Clocks(WorkingCalendar())
    clock = FakeClock(PAST - dt.timedelta(days=1))
    arm_due_timers(db_url, folder, 200)
    with Engine.open(db_url, workflows=folder, clock=clock, extensions=[clocks]) as engine:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(engine.store.engine, "before_cursor_execute", record)
        try:
            assert clocks.run_due(clock()) == 0
        finally:
            event.remove(engine.store.engine, "before_cursor_execute", record)
        assert "BEGIN IMMEDIATE" not in statements  # SQLite: no write lock taken
        (query,) = [s for s in statements if s != "BEGIN"]
        assert "FROM timers" in query
        assert "FOR UPDATE" not in query
        if db_url.startswith("sqlite"):
            with engine.store.read() as tx:
                plan = " ".join(
                    str(row[-1])
                    for row in tx.conn.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT due_at FROM timers "
                            "WHERE status = 'pending' ORDER BY due_at LIMIT 1"
                        )
                    )
                )
            assert "ix_timers_due" in plan
            assert "SCAN timers" not in plan
        else:
            with engine.store.read() as tx:
                # 200 rows are few enough for a sequential scan to win: what matters is
                # that the index can answer the query, ORDER BY included (no sort)
                tx.conn.execute(text("SET LOCAL enable_seqscan = off"))
                plan = " ".join(
                    str(row[0])
                    for row in tx.conn.execute(
                        text(
                            "EXPLAIN SELECT due_at FROM timers "
                            "WHERE status = 'pending' ORDER BY due_at LIMIT 1"
                        )
                    )
                )
            assert "using ix_timers_due" in plan
            assert "Sort" not in plan


def test_run_due_fires_at_most_a_batch_per_call(db_url: str, folder: Path) -> None:
    clocks = Clocks(WorkingCalendar(), batch=7)
    arm_due_timers(db_url, folder, 20)
    clock = FakeClock(PAST + dt.timedelta(minutes=1))
    with Engine.open(db_url, workflows=folder, clock=clock, extensions=[clocks]) as engine:
        assert [clocks.run_due(clock()) for _ in range(4)] == [7, 7, 6, 0]
        assert engine.run_due().extensions == 0
    fired_exactly_once(db_url, 20)


def test_runner_heartbeats_are_recorded(db_url: str, folder: Path) -> None:
    with Engine.open(db_url, workflows=folder) as engine:
        with engine.store.write() as tx:
            tx.heartbeat("r1", "host", os.getpid(), PAST, {"state": "running"})
            tx.heartbeat("r1", "host", os.getpid(), PAST + dt.timedelta(seconds=5), {})
            tx.runner_stopped("r1", PAST + dt.timedelta(seconds=6))
        with engine.store.read() as tx:
            (row,) = tx.runner_rows()
        assert row.started_at == PAST
        assert row.heartbeat_at == PAST + dt.timedelta(seconds=5)
        assert row.stopped_at == PAST + dt.timedelta(seconds=6)
