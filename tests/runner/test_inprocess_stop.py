"""The in-process runner in an asyncio host, and its clean stop: the pass under way
finishes (within a bound), the delivery marks are written, the heartbeat says stopped."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from cmc_workflow import Engine, HandlerContext, HandlerRegistry
from cmc_workflow.runner.core import PeriodicJob, Runner
from tests.helpers.processes import CAP, wait_until
from tests.runner.test_inprocess import CLERK, TICKET, WARN_RULE


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "ticket.yaml").write_text(TICKET, encoding="utf-8")
    return folder


class SlowNotifier:
    """A notifier that holds the pass under way until it is released."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []

    def __call__(self, role: str, ctx: HandlerContext) -> None:
        self.threads.append(threading.current_thread().name)
        self.called.set()
        assert self.release.wait(CAP), "the test never released the notifier"


def open_engine(url: str, workflows: Path, notifier: SlowNotifier) -> Engine:
    return Engine.open(url, workflows=workflows, handlers=HandlerRegistry(notifier=notifier))


def start_due_ticket(engine: Engine, due_in: float = 0.0) -> int:
    """A ticket whose warning (with a notice to the clerk) falls due in ``due_in`` s."""
    received = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=due_in - 60)
    return engine.start("ticket", actor=CLERK, data={"received": received.isoformat()}).id


def delivered_elsewhere(url: str, workflows: Path, item_id: int) -> bool:
    """Whether the database (read by another engine) holds the notice as delivered."""
    with Engine.open(url, workflows=workflows) as other, other.store.read() as tx:
        return all(row.delivered_at is not None for row in tx.outbox_of(item_id))


def heartbeat(engine: Engine, runner: str) -> Any:
    with engine.store.read() as tx:
        return next(r for r in tx.runner_rows() if r.runner == runner)


def test_stop_waits_for_the_pass_under_way_and_writes_its_marks(
    tmp_path: Path, workflows: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    notifier = SlowNotifier()
    with open_engine(url, workflows, notifier) as engine:
        item = start_due_ticket(engine)
        runner = engine.run_due_work(poll_interval=0.2).start()
        assert notifier.called.wait(CAP), "the pass never reached the notifier"
        stopped: list[bool] = []
        stopping = threading.Thread(target=lambda: stopped.append(runner.stop()))
        stopping.start()
        wait_until(lambda: runner.state == "stopping", "the stop to begin")
        time.sleep(0.3)  # the stop must still be waiting for the pass
        assert stopped == []
        assert runner.state == "stopping"
        notifier.release.set()
        stopping.join(CAP)
        assert stopped == [True]
        assert runner.state == "stopped"
        # the pass committed its timer and the mark of its delivery, visible elsewhere
        assert delivered_elsewhere(url, workflows, item)
        assert [a["rule"] for a in engine.audit_trail(item)].count(WARN_RULE) == 1
        row = heartbeat(engine, runner.runner)
        assert row.stopped_at is not None
        assert row.detail["kind"] == "in-process"
        assert notifier.threads
        assert "MainThread" not in notifier.threads


def test_a_bounded_stop_returns_and_the_late_pass_still_commits_whole(
    tmp_path: Path, workflows: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'bounded.db'}"
    notifier = SlowNotifier()
    with open_engine(url, workflows, notifier) as engine:
        item = start_due_ticket(engine)
        runner = engine.run_due_work(poll_interval=0.2, stop_timeout=0.2).start()
        assert notifier.called.wait(CAP)
        began = time.monotonic()
        assert runner.stop() is False  # the pass is held: the bound ends the wait
        assert time.monotonic() - began < 5
        assert runner.state == "stopped"
        assert heartbeat(engine, runner.runner).stopped_at is not None
        notifier.release.set()
        wait_until(lambda: delivered_elsewhere(url, workflows, item), "the late pass to commit")
        row = heartbeat(engine, runner.runner)
        assert row.stopped_at is not None  # the late pass's heartbeat keeps the stop
        assert [a["rule"] for a in engine.audit_trail(item)].count(WARN_RULE) == 1


def test_an_asyncio_host_runs_the_passes_off_its_event_loop(
    tmp_path: Path, workflows: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'async.db'}"
    notifier = SlowNotifier()

    async def host() -> tuple[float, Runner, int]:
        engine = await asyncio.to_thread(open_engine, url, workflows, notifier)
        try:
            async with engine.run_due_work(poll_interval=0.5) as runner:
                item = await asyncio.to_thread(start_due_ticket, engine, 2.0)
                longest = 0.0
                while not notifier.called.is_set():  # the loop keeps ticking meanwhile
                    before = time.monotonic()
                    await asyncio.sleep(0.02)
                    longest = max(longest, time.monotonic() - before)
                threading.Timer(1.0, notifier.release.set).start()
                while not notifier.release.is_set():  # the pass is held in its thread
                    before = time.monotonic()
                    await asyncio.sleep(0.02)
                    longest = max(longest, time.monotonic() - before)
                assert runner.state == "running"
            assert runner.state == "stopped"
            return longest, runner, item
        finally:
            await asyncio.to_thread(engine.close)

    longest, runner, item = asyncio.run(asyncio.wait_for(host(), CAP))
    assert longest < 0.9, f"the event loop waited {longest:.2f} s"  # the pass held 1 s
    assert notifier.threads
    assert "MainThread" not in notifier.threads
    assert delivered_elsewhere(url, workflows, item)
    with Engine.open(url, workflows=workflows) as engine:
        row = heartbeat(engine, runner.runner)
        assert row.stopped_at is not None
        assert row.detail["kind"] == "in-process"
        [warned] = [a for a in engine.audit_trail(item) if a["rule"] == WARN_RULE]
        assert 0 <= warned["detail"]["late_seconds"] < 4.0  # woken at the due time


def test_periodic_jobs_run_between_passes_and_survive_their_errors(
    tmp_path: Path, workflows: Path
) -> None:
    calls: list[bool] = []

    def job() -> None:
        calls.append(runner.exclusive().locked())  # a pass would hold this lock
        if len(calls) == 1:
            raise OSError("the backup disk is full")

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Engine.open(url, workflows=workflows) as engine:
        runner = Runner(engine, poll_interval=0.1, jobs=[PeriodicJob("backup", 0.1, job)])
        with capture_logs() as logs, runner:
            wait_until(lambda: len(calls) >= 3, "the job to run again after its error")
        count = len(calls)
        time.sleep(0.3)
        assert len(calls) == count  # never once stopped
    assert not any(calls)
    failed = [e for e in logs if e["event"] == "job_failed"]
    assert [e["job"] for e in failed] == ["backup"]
    with pytest.raises(ValueError, match="clash"):
        Runner(engine, jobs=[PeriodicJob("poll", 1, job)])
