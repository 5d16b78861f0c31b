"""The in-process runner (issue 18, part 1): deadlines and schedules fire inside the
application that embeds the engine, with no daemon and no clock moved by hand.

Host processes here are real subprocesses (ended by their pid after each test): a plain
program that opens the engine with ``run_due_work=True`` and waits for SIGTERM. Deadlines
are short real durations: a clock that counts from a ``received`` moment set in the past
(``counts_from``), so that its warning falls due seconds after the item starts.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cmc_workflow import Actor, Engine
from cmc_workflow.engine import assemble
from cmc_workflow.errors import DatabaseReadOnly
from cmc_workflow.runner.assemble import load_definitions
from cmc_workflow.store import Store
from cmc_workflow.store.database import READ_ONLY, open_database
from cmc_workflow.store.tables import audit, runners, timers
from tests.helpers.processes import run, start, wait_exit, wait_until

CLERK = Actor("zhao", {"clerk"})

TICKET = """\
id: ticket
label: {zh: 工单, en: Ticket}
roles:
  clerk: {zh: 办事员, en: Clerk}
data:
  received: {type: datetime, required: false}
start: {state: open, roles: [clerk]}
states:
  open:
    type: userTask
    label: {zh: 待处理, en: Open}
    deadline:
      within: 2 minutes
      counts_from: received
      steps:
        - {at: 50%, action: warn, to: clerk}
        - {at: 100%, action: breach}
    transitions:
      - {trigger: close, target: closed, roles: [clerk]}
  closed:
    type: endEvent
    label: {zh: 已办结, en: Closed}
"""

INSPECTION = """\
kind: schedules
schedules:
  inspection:
    workflow: ticket
    cron: "* * * * *"
    role: clerk
"""

HOST = """\
import signal, sys, threading
from cmc_workflow import Engine

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
engine = Engine.open(sys.argv[1], workflows=sys.argv[2], run_due_work=True)
while not stop.wait(0.5):
    pass
engine.close()
"""
"""A plain program embedding the engine: the runner starts with it and stops with it."""

WARN_RULE = "deadline:open:warn"
SLOWLY = 0.25
"""How often (seconds) the long waits look (for firings due seconds to a minute ahead): a
look opens the database (an engine, for the inspection: 10 ms of CPU), which polled every
50 ms took a sixth of a core from the tests running beside this one, for nothing."""
ON_TIME = 4.0
"""How late (seconds) a firing may be and still count as on time: less than the runner's
default poll interval (5 s), so only the wake-up planned at the due time meets it."""


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "ticket.yaml").write_text(TICKET, encoding="utf-8")
    return folder


def host(url: str, workflows: Path, log: Path) -> subprocess.Popen[str]:
    """A host process with the in-process runner on (ended by its pid after the test)."""
    out = log.open("w", encoding="utf-8")
    try:
        return start(
            [sys.executable, "-c", HOST, url, str(workflows)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        out.close()  # the child holds its own descriptor


def rows(url: str, query: Any) -> list[Any]:
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:
            return list(conn.execute(query))
    finally:
        database.dispose()


def status(url: str) -> dict[str, Any]:
    done = run(
        [sys.executable, "-m", "cmc_workflow", "status", "--db", url, "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def running_hosts(url: str, pids: set[int]) -> list[dict[str, Any]]:
    """The heartbeats of the hosts with ``pids``, as ``status`` shows them, once each of
    them wrote one: awaited in the table (``status`` is a process of a second's CPU each
    time, and polled it took the CPU the hosts were starting with), then asked once."""
    wait_until(
        lambda: {r.pid for r in rows(url, select(runners.c.pid))} >= pids,
        f"the first heartbeat of each host {sorted(pids)}",
    )
    found = [r for r in status(url)["runners"] if r["pid"] in pids]
    assert {r["pid"] for r in found} == pids, found
    return found


def start_tickets(url: str, workflows: Path, due_in: list[float]) -> list[int]:
    """Tickets whose warning (at 50% of 2 minutes) falls due ``due_in`` seconds from now;
    started by this process, which runs nothing due."""
    now = dt.datetime.now(dt.UTC)
    with Engine.open(url, workflows=workflows) as engine:
        return [
            engine.start(
                "ticket",
                actor=CLERK,
                data={"received": (now + dt.timedelta(seconds=s - 60)).isoformat()},
            ).id
            for s in due_in
        ]


def warnings(url: str) -> list[dict[str, Any]]:
    """The audit records of fired warnings (one per timer fired)."""
    found = rows(url, select(audit.c.detail).where(audit.c.rule == WARN_RULE))
    return [row.detail for row in found]


@pytest.mark.slow
def test_a_host_process_fires_the_sla_warning_and_the_inspection_on_time(
    tmp_path: Path, workflows: Path
) -> None:
    (workflows / "inspection.yaml").write_text(INSPECTION, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    Engine.open(url, workflows=workflows).close()  # the database exists before the host
    app = host(url, workflows, tmp_path / "host.log")
    [beat] = running_hosts(url, {app.pid})
    assert beat["kind"] == "in-process"
    assert beat["stopped_at"] is None
    (ticket,) = start_tickets(url, workflows, [15.0])  # armed by another process

    [warned] = wait_until(lambda: warnings(url), "the SLA warning", every=SLOWLY)
    assert warned["action"] == "warn"
    assert 0 <= warned["late_seconds"] < ON_TIME, warned
    inspection = wait_until(
        lambda: inspections(url, workflows), "the scheduled inspection", every=SLOWLY
    )
    due_at, item = inspection
    assert item.created_by == "schedule:inspection"
    assert dt.timedelta(0) <= item.created_at - due_at < dt.timedelta(seconds=ON_TIME)
    with Engine.open(url, workflows=workflows) as engine:
        assert engine.outbox(ticket)[0].delivered_at is not None  # the notice to the clerk

    app.send_signal(signal.SIGTERM)
    assert wait_exit(app) == 0, (tmp_path / "host.log").read_text(encoding="utf-8")
    [stopped] = [r for r in status(url)["runners"] if r["pid"] == app.pid]
    assert stopped["stopped_at"] is not None


def inspections(url: str, workflows: Path) -> tuple[dt.datetime, Any] | None:
    """The first occurrence of the inspection that started an item, and that item."""
    with Engine.open(url, workflows=workflows) as engine, engine.store.read() as tx:
        run_row = tx.latest_runs().get("inspection")
        if run_row is None or run_row.item_id is None:
            return None
        return run_row.due_at, engine.get(run_row.item_id)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_host_processes_on_one_postgresql_database_fire_each_timer_once(
    tmp_path: Path, workflows: Path, postgres_url: str
) -> None:
    apps = [host(postgres_url, workflows, tmp_path / f"host{n}.log") for n in (1, 2)]
    pids = {app.pid for app in apps}
    beats = running_hosts(postgres_url, pids)
    assert {b["kind"] for b in beats} == {"in-process"}
    assert len({b["runner"] for b in beats}) == 2
    count = 40
    # due over 8 s from 12 s on: both runners wake for each and race for the claims
    tickets = start_tickets(postgres_url, workflows, [12.0 + i * 0.2 for i in range(count)])

    wait_until(lambda: len(warnings(postgres_url)) >= count, "every warning", every=SLOWLY)
    for app in apps:  # stop both: nothing may fire after
        app.send_signal(signal.SIGTERM)
    for n, app in enumerate(apps, 1):
        assert wait_exit(app) == 0, (tmp_path / f"host{n}.log").read_text(encoding="utf-8")

    fired = Counter(detail["timer_id"] for detail in warnings(postgres_url))
    assert len(fired) == count
    assert set(fired.values()) == {1}, fired  # each timer once, never twice
    firers = rows(
        postgres_url,
        select(timers.c.item_id, timers.c.runner).where(timers.c.action == "warn"),
    )
    assert sorted(r.item_id for r in firers) == tickets
    runners = {b["runner"] for b in beats}
    assert {r.runner for r in firers} <= runners
    by_runner = Counter(r.runner for r in firers)
    late = sorted(detail["late_seconds"] for detail in warnings(postgres_url))
    shares = sorted(by_runner.values())
    print(f"per host {shares}, late median {late[count // 2]} s, max {late[-1]} s")  # -s
    assert late[-1] < ON_TIME
    stopped = [r for r in status(postgres_url)["runners"] if r["pid"] in pids]
    assert all(r["stopped_at"] is not None for r in stopped)


def test_a_read_only_database_refuses_a_runner(tmp_path: Path, workflows: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ro.db'}"
    Engine.open(url, workflows=workflows).close()
    store = Store.open(url, read_only=True)
    with (
        assemble(store, load_definitions([workflows])) as engine,
        pytest.raises(DatabaseReadOnly, match="a runner writes"),
    ):
        engine.run_due_work()


def test_stopping_a_host_that_never_started_its_clock(tmp_path: Path, workflows: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idle.db'}"
    with Engine.open(url, workflows=workflows) as engine:
        runner = engine.run_due_work()
        assert runner.state == "created"
        assert runner.stop() is True
        assert runner.state == "stopped"
        again = engine.run_due_work()  # a stopped runner may be replaced
        with pytest.raises(RuntimeError, match="already has a runner"):
            engine.run_due_work()
        again.stop()
    with pytest.raises(RuntimeError, match="starts once"):
        runner.start()


FORKING = """\
import os, sys
from cmc_workflow import Engine

engine = Engine.open(sys.argv[1], workflows=sys.argv[2])
runner = engine.run_due_work().start()
pid = os.fork()  # what gunicorn --preload does to an application that started a runner
if pid == 0:
    print("child", runner.state, flush=True)
    again = engine.run_due_work()  # the child may start its own
    print("child again", again.state, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", runner.state, flush=True)
engine.close()
"""


def test_a_runner_started_before_a_fork_says_so_in_the_child(
    tmp_path: Path, workflows: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    Engine.open(url, workflows=workflows).close()
    done = run(
        [sys.executable, "-c", FORKING, url, str(workflows)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout  # the log lines of the parent's runner thread come in between
    assert "child stopped\n" in said  # its clock's thread stayed in the parent
    assert "child again created\n" in said
    assert "parent running\n" in said
    # a warning of the library: on stderr through standard logging (the host configured none)
    assert "runner_lost_in_fork" in done.stderr
    [beat] = status(url)["runners"]
    assert beat["kind"] == "in-process"
    assert beat["stopped_at"] is not None  # stopped by the parent's close, once
