"""The daemon at its edges, as a subprocess: a signal during start-up, and every kind of
bad file dropped into a watched folder while it serves (refused, timers keep firing)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cmc_workflow import Engine, _signals
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import ConflictError
from cmc_workflow.located import MAX_DEPTH, MAX_FILE_BYTES
from cmc_workflow.runner.daemon import EXIT_OK
from cmc_workflow.store import Store
from cmc_workflow.testing import FakeClock
from tests.engine.test_clocks import CONSULT
from tests.helpers.processes import CAP, end, start
from tests.runner.test_daemon import (
    ASSISTANT,
    PAST,
    events,
    heartbeat_seen,
    pending_timers,
    url_of,
    wait_for,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An installation folder: workflows/ with the consult workflow, calendars/, a SQLite file."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    (tmp_path / "calendars").mkdir()
    return tmp_path


class Daemon:
    """A ``cmc-workflow run`` subprocess whose stderr is collected as it is written."""

    def __init__(self, home: Path, *args: str) -> None:
        self.process = start(
            [sys.executable, "-m", "cmc_workflow", "run", "--db", url_of(home), *args],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def events_named(self, name: str) -> list[dict[str, object]]:
        return [e for e in events(self.log) if e.get("event") == name]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.stop_wait()

    def stop_wait(self) -> int:
        """The exit code once the process has ended (signalled already) and its log read."""
        code = self.process.wait(timeout=CAP)
        self._reader.join(CAP)
        return code

    def end(self) -> None:
        """Teardown: the process we started, by its pid, whatever state it is in."""
        end(self.process)
        self._reader.join(CAP)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.end()


def sigterm_is_caught(pid: int) -> bool:
    """True once the process has a handler for SIGTERM (its SigCgt mask has bit 15)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_sigterm_during_start_up_stops_it_cleanly_with_0(home: Path, daemons: list[Daemon]) -> None:
    # The test holds the database while the daemon starts: its start-up cannot get past
    # opening it, so the signal lands in start-up however long the test waits to send it
    # (on a busy machine the whole start-up once fitted between two polls of the handler).
    hold = sqlite3.connect(home / "cmc.db", isolation_level=None)
    try:
        hold.execute("BEGIN EXCLUSIVE")
        daemon = Daemon(home, "--calendars", str(home / "calendars"))
        daemons.append(daemon)
        # as soon as a handler is there: while the package is still importing, long
        # before the definitions load and the scheduler starts
        wait_for(lambda: sigterm_is_caught(daemon.process.pid), "the early SIGTERM handler")
        daemon.process.send_signal(signal.SIGTERM)
    finally:
        hold.close()  # the daemon's open goes on (if it got that far), then it stops
    code = daemon.stop_wait()
    assert code == EXIT_OK, daemon.log
    assert daemon.events_named("daemon_started") == []  # it never served
    assert [e.get("before") for e in daemon.events_named("daemon_stopped")] == ["start-up"]
    assert "Traceback" not in daemon.log


def drop_bad_files(folder: Path) -> dict[str, str]:
    """Every kind of bad file, named like YAML; returns name -> the code that refuses it."""
    os.mkfifo(folder / "pipe.yaml")
    (folder / "big.yaml").write_text("# " + "x" * (MAX_FILE_BYTES + 10) + "\n", encoding="utf-8")
    deep = "id: deep\nlabel: " + "[" * (MAX_DEPTH + 400) + "]" * (MAX_DEPTH + 400) + "\n"
    (folder / "deep.yaml").write_text(deep, encoding="utf-8")
    (folder / "garbage.yaml").write_bytes(bytes(range(256)) * 64)
    (folder / "dir.yaml").mkdir()
    return {
        "pipe.yaml": "E-FILE-KIND",
        "big.yaml": "E-FILE-SIZE",
        "deep.yaml": "E-YAML-DEPTH",
        "garbage.yaml": "E-READ",
        "dir.yaml": "E-FILE-KIND",
    }


def start_items(home: Path, count: int) -> None:
    """Items of the same consult text (so the same version) whose timers are all due now;
    started from a clean copy, since the watched folder now holds the bad files."""
    clean = home / "clean"
    clean.mkdir(exist_ok=True)
    (clean / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    clocks = Clocks(WorkingCalendar())
    with Engine.open(
        url_of(home), workflows=clean, clock=FakeClock(PAST), extensions=[clocks]
    ) as engine:
        for _ in range(count):
            engine.start("consult", actor=ASSISTANT)


def refused_codes(daemon: Daemon, what: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in daemon.events_named("reload_refused"):
        if event.get("what") != what:
            continue
        for problem in event["problems"]:  # type: ignore[attr-defined]
            file, _, rest = str(problem).partition(":")
            code = next(word for word in rest.split() if word.startswith("E-"))
            found.setdefault(Path(file).name, set()).add(code)
    return found


@pytest.mark.req("SEC-4")
@pytest.mark.parametrize("folder", ["workflows", "calendars"])
def test_bad_files_in_a_watched_folder_are_refused_and_timers_keep_firing(
    home: Path, daemons: list[Daemon], folder: str
) -> None:
    url = url_of(home)
    daemon = Daemon(
        home,
        "--calendars",
        str(home / "calendars"),
        "--poll",
        "0.2",
        "--reload-interval",
        "0.2",
    )
    daemons.append(daemon)
    wait_for(lambda: heartbeat_seen(url), "the first heartbeat", cap=CAP)

    expected = drop_bad_files(home / folder)
    what = "definitions" if folder == "workflows" else "calendars"
    wait_for(
        lambda: set(refused_codes(daemon, what)) >= set(expected),
        f"reload_refused for every bad file in {folder}/",
        cap=CAP,
    )
    refused = refused_codes(daemon, what)
    for name, code in expected.items():
        assert code in refused[name], (name, refused)
    assert daemon.events_named("pass_crashed") == []

    start_items(home, 2)  # the running version keeps firing the timers armed by others
    wait_for(lambda: pending_timers(url) == 0, "the daemon to fire the timers", cap=CAP)
    assert daemon.stop() == EXIT_OK, daemon.log
    assert daemon.events_named("daemon_stopped")
    assert "Traceback" not in daemon.log


# -- PostgreSQL: the lock order between runners ----------------------------------------------------
@pytest.fixture
def consult(tmp_path: Path) -> Path:
    """A folder holding only the consult workflow."""
    folder = tmp_path / "consult"
    folder.mkdir()
    (folder / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    return folder


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    store = Store.open(postgres_url, migrate=True)
    yield store
    store.close()


@pytest.mark.postgres
def test_a_claimed_timer_holds_its_item_so_no_runner_claims_a_sibling(
    pg_store: Store, postgres_url: str, consult: Path
) -> None:
    clocks = Clocks(WorkingCalendar())
    with Engine.open(
        postgres_url, workflows=consult, clock=FakeClock(PAST), extensions=[clocks]
    ) as engine:
        first = engine.start("consult", actor=ASSISTANT).id
    now = dt.datetime.now(dt.UTC)
    with pg_store.write() as a:
        claimed = a.claim_due_timer(now)
        assert claimed is not None
        assert claimed.timer.item_id == first
        with pg_store.write() as b:  # another runner, while A fires its timer
            # the item's other due timers are skipped, not claimed: B would otherwise
            # hold one that A's transition cancels, while waiting for A's item
            assert b.claim_due_timer(now) is None
    with Engine.open(
        postgres_url, workflows=consult, clock=FakeClock(PAST), extensions=[clocks]
    ) as engine:
        second = engine.start("consult", actor=ASSISTANT).id
    with pg_store.write() as a:
        claimed = a.claim_due_timer(now)
        assert claimed is not None
        with pg_store.write() as b:  # a timer of another item is still there to take
            other = b.claim_due_timer(now)
            assert other is not None
            assert {claimed.timer.item_id, other.timer.item_id} == {first, second}


@pytest.mark.postgres
def test_a_deadlock_is_a_retryable_conflict(
    pg_store: Store, postgres_url: str, consult: Path
) -> None:
    with Engine.open(postgres_url, workflows=consult) as engine:
        ids = [engine.start("consult", actor=ASSISTANT).id for _ in range(2)]
    both_hold_one = threading.Barrier(2, timeout=CAP)
    outcome: dict[str, BaseException | None] = {}

    def lock(name: str, order: list[int]) -> None:
        try:
            with pg_store.write() as tx:
                bump = text("UPDATE items SET updated_at = updated_at WHERE id = :id")
                tx.conn.execute(bump, {"id": order[0]})
                both_hold_one.wait()
                tx.conn.execute(bump, {"id": order[1]})
            outcome[name] = None
        except BaseException as exc:  # handed to the test below
            outcome[name] = exc

    threads = [
        threading.Thread(target=lock, args=("a", ids)),
        threading.Thread(target=lock, args=("b", ids[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CAP)
    assert sorted(outcome) == ["a", "b"]
    errors = [e for e in outcome.values() if e is not None]
    assert len(errors) == 1  # PostgreSQL broke the cycle by failing one of them
    assert isinstance(errors[0], ConflictError), repr(errors[0])
    assert errors[0].retryable
    assert "deadlock" in str(errors[0])


@pytest.mark.parametrize(
    ("argv", "orig_argv", "armed"),
    [
        (["/srv/venv/bin/cmc-workflow", "run", "--once"], [], True),
        (["-m", "run"], ["python3", "-m", "cmc_workflow", "run"], True),
        (["/srv/venv/bin/cmc-workflow", "show", "1"], [], False),
        (["-m", "show"], ["python3", "-m", "cmc_workflow", "show"], False),
        # a program that merely imports the library keeps its own signal handling
        (["/srv/app/manage.py", "run"], ["python3", "/srv/app/manage.py", "run"], False),
        (["-m", "run"], ["python3", "-m", "otherapp", "run"], False),
    ],
)
def test_only_the_run_command_arms_the_early_signal_handlers(
    argv: list[str], orig_argv: list[str], armed: bool
) -> None:
    assert _signals.is_daemon_command(argv, orig_argv) is armed
