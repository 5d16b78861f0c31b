"""SEC-4: a process killed (SIGKILL) at any instant loses no accepted transition and leaves
no item half-moved.

A worker process runs publishing lifecycles in a loop; the test kills it at a random
moment after it reported some commits, reopens the database and checks every invariant
of :func:`tests.helpers.check_invariants`, that every command the worker saw return is
still there, and (SQLite) ``PRAGMA integrity_check``. A few kills per store, on the
same database, each worker starting where the last one died.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from cmc_workflow import Engine
from cmc_workflow.store.database import open_database
from cmc_workflow.testing import FakeClock
from tests.helpers import ROOT, check_invariants, ok_handler
from tests.helpers import UNGUARDED_PUBLISHING as PUBLISHING
from tests.helpers.processes import CAP, start

KILLS = 3
COMMITS_BEFORE_KILL = 25


def run_and_kill(db_url: str, rng: random.Random) -> dict[int, int]:
    """Start a worker, let it commit a little, SIGKILL it; returns {item id: version seen}."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = start(
        [sys.executable, "-m", "tests.helpers.crash_worker", db_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # a worker that hangs (instead of committing) is killed after the cap, which ends
    # the reading below and fails the test with the message under it
    watchdog = threading.Timer(CAP, worker.kill)
    watchdog.start()
    seen: dict[int, int] = {}
    try:
        assert worker.stdout is not None
        wanted = COMMITS_BEFORE_KILL + rng.randrange(COMMITS_BEFORE_KILL)
        for _ in range(wanted):
            line = worker.stdout.readline()
            if not line:
                break
            item_id, version, _state = line.split()
            seen[int(item_id)] = int(version)
        time.sleep(rng.uniform(0, 0.02))  # land somewhere inside a command
        worker.send_signal(signal.SIGKILL)
        rest, _ = worker.communicate(timeout=CAP)
    finally:
        watchdog.cancel()  # the autouse fixture of conftest ends the worker in any case
    assert worker.returncode == -signal.SIGKILL, "the worker died before it was killed"
    for line in rest.splitlines():
        item_id, version, _state = line.split()
        seen[int(item_id)] = int(version)
    assert len(seen) >= 2, "the worker committed too little before the kill"
    return seen


@pytest.mark.slow
@pytest.mark.req("SEC-4")
def test_a_killed_runner_loses_no_accepted_transition(db_url: str, clock: FakeClock) -> None:
    rng = random.Random(os.getpid())
    committed: dict[int, int] = {}
    for _kill in range(KILLS):
        committed.update(run_and_kill(db_url, rng))
        assert check_invariants(db_url) == []
        # reopening recovers (WAL replay on SQLite) and the engine carries on
        with Engine.open(
            db_url,
            workflows=PUBLISHING,
            clock=clock,
            handlers={"publish_to_channels": ok_handler},
        ) as engine:
            for item_id, version in committed.items():
                assert engine.get(item_id).version >= version, f"item {item_id} lost a step"
            engine.deliver_outbox()
    database = open_database(db_url)
    try:
        with database.connect() as conn:
            if database.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            stored = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
    finally:
        database.dispose()
    assert stored >= len(committed)
    assert check_invariants(db_url) == []
