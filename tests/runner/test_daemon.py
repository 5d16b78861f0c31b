"""The runner daemon as operators run it: a subprocess, its exit codes, signals, reloads.

Also the ``status`` and ``calendar`` commands of :mod:`cmc_workflow.cli.time`.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cmc_workflow import Actor, Engine, HandlerContext, HandlerRegistry
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.cli import main
from cmc_workflow.cli.run import _resolve_handlers
from cmc_workflow.clocks import Clocks
from cmc_workflow.runner.daemon import (
    EXIT_CODES,
    EXIT_DATABASE,
    EXIT_DEFINITION,
    EXIT_OK,
    EXIT_USAGE,
    Daemon,
    DaemonConfig,
)
from cmc_workflow.store import schema
from cmc_workflow.store import timers as sql
from cmc_workflow.store.database import READ_ONLY, open_database
from cmc_workflow.store.tables import definitions, runners, timers
from cmc_workflow.testing import FakeClock
from tests.engine.test_clocks import CONSULT
from tests.helpers import ROOT
from tests.helpers.processes import CAP, run, start
from tests.helpers.processes import wait_until as wait_for

ASSISTANT = Actor("li", {"ops_assistant"})
PAST = dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC)  # every timer armed then is due now

SCHEDULES = """\
kind: schedules
schedules:
  every_minute:
    workflow: consult
    cron: "* * * * *"
    role: ops_assistant
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A folder like an installation: workflows/ and a SQLite file, no policies/."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    return tmp_path


def url_of(home: Path) -> str:
    return f"sqlite:///{home / 'cmc.db'}"


def start_items(home: Path, count: int) -> list[int]:
    """Items whose timers (warn, escalate, breach) were armed in 2025: all due now."""
    clocks = Clocks(WorkingCalendar())
    with Engine.open(
        url_of(home), workflows=home / "workflows", clock=FakeClock(PAST), extensions=[clocks]
    ) as engine:
        return [engine.start("consult", actor=ASSISTANT).id for _ in range(count)]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "cmc_workflow", *args],
        cwd=home,
        capture_output=True,
        text=True,
    )


def spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    """A daemon process, ended by its pid after the test whatever happens."""
    return start(
        [sys.executable, "-m", "cmc_workflow", *args],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def events(stderr: str) -> list[dict[str, object]]:
    """The daemon's JSON log lines."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def scalar(url: str, query: object) -> object:
    database = open_database(url)
    try:
        with database.connect().execution_options(**READ_ONLY) as conn:  # no write lock
            return conn.execute(query).scalar_one()  # type: ignore[call-overload]
    finally:
        database.dispose()


def pending_timers(url: str) -> int:
    return int(str(scalar(url, select(func.count()).where(timers.c.status == sql.PENDING))))


# -- --once --------------------------------------------------------------------------------------
@pytest.mark.req("CMT-2")
def test_once_runs_the_due_work_and_exits_0(home: Path) -> None:
    items = start_items(home, 3)
    done = cli(home, "run", "--db", url_of(home), "--once")

    assert done.returncode == EXIT_OK, done.stderr
    assert pending_timers(url_of(home)) == 0
    logged = events(done.stderr)
    names = [e["event"] for e in logged]
    assert names.count("timer_fired") == 9  # warn, escalate, breach of each item
    assert names.count("notification") == 6  # reminders and escalations, from the outbox
    assert names[-1] == "daemon_once_done"
    assert all(e.get("runner") for e in logged if e["event"] == "timer_fired")
    clocks = Clocks(WorkingCalendar())
    with Engine.open(url_of(home), workflows=home / "workflows", extensions=[clocks]) as engine:
        assert [c.status for i in items for c in clocks.clocks(i)] == ["breached"] * 3
        assert all(o.delivered_at for i in items for o in engine.outbox(i))
    stopped = scalar(url_of(home), select(runners.c.stopped_at))
    assert stopped is not None
    again = cli(home, "run", "--db", url_of(home), "--once")
    assert again.returncode == EXIT_OK
    assert "timer_fired" not in again.stderr


def test_definition_problems_at_start_exit_1_with_their_places(home: Path) -> None:
    (home / "workflows" / "broken.yaml").write_text("id: broken\nlabel: [\n", encoding="utf-8")
    done = cli(home, "run", "--db", url_of(home), "--once")
    assert done.returncode == EXIT_DEFINITION
    problems = [e["problem"] for e in events(done.stderr) if e["event"] == "definition_problem"]
    assert problems
    assert all(str(p).startswith("workflows/broken.yaml:") for p in problems)
    assert "E-YAML-SYNTAX" in str(problems[0])


def test_a_database_behind_the_schema_exits_3(home: Path) -> None:
    database = open_database(url_of(home))
    schema.upgrade(database, "0002")
    database.dispose()
    done = cli(home, "run", "--db", url_of(home), "--once")
    assert done.returncode == EXIT_DATABASE
    assert "db upgrade" in done.stderr


def test_a_bad_command_line_exits_2(home: Path) -> None:
    runner = CliRunner()
    workflows = str(home / "workflows")
    for args in (
        ["--workflows", workflows, "--handlers", "no_such_module:handlers"],
        ["--workflows", workflows, "--handlers", "json:dumps"],  # not a registry
        ["--workflows", str(home / "missing")],
        ["--workflows", workflows, "--business-hours", "9-5"],
    ):
        done = runner.invoke(main, ["run", "--db", url_of(home), *args])
        assert done.exit_code == EXIT_USAGE, (args, done.output)
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 130}


# -- serving -------------------------------------------------------------------------------------
@pytest.fixture
def served(home: Path) -> subprocess.Popen[str]:
    """A serving daemon (ended after the test by the autouse fixture of conftest)."""
    return spawn(home, "run", "--db", url_of(home), "--poll", "0.2", "--reload-interval", "0.2")


def heartbeat_seen(url: str) -> bool:
    try:
        return scalar(url, select(func.count()).select_from(runners)) == 1
    except Exception:  # the daemon is still creating the database
        return False


def test_sigterm_stops_the_daemon_gracefully(home: Path, served: subprocess.Popen[str]) -> None:
    wait_for(lambda: heartbeat_seen(url_of(home)), "the first heartbeat")
    served.send_signal(signal.SIGTERM)
    _out, err = served.communicate(timeout=CAP)  # a cap for a loaded machine

    assert served.returncode == EXIT_OK, err
    names = [e["event"] for e in events(err)]
    assert names[-2:] == ["daemon_stopping", "daemon_stopped"]
    assert scalar(url_of(home), select(runners.c.stopped_at)) is not None


def test_a_running_daemon_fires_timers_armed_by_another_process(
    home: Path, served: subprocess.Popen[str]
) -> None:
    wait_for(lambda: heartbeat_seen(url_of(home)), "the first heartbeat")
    start_items(home, 2)  # armed by "another process": found by the next poll
    wait_for(lambda: pending_timers(url_of(home)) == 0, "the daemon to fire them")
    served.send_signal(signal.SIGTERM)
    assert served.wait(timeout=CAP) == EXIT_OK


def test_a_broken_edit_is_logged_and_the_running_version_stays_in_force(
    home: Path, served: subprocess.Popen[str]
) -> None:
    url = url_of(home)
    wait_for(lambda: heartbeat_seen(url), "the first heartbeat")
    file = home / "workflows" / "consult.yaml"
    replace(file, CONSULT.replace("  open:\n", "  open:\n    bogus: 1\n"))
    time.sleep(1.0)  # several reload checks see the broken file
    start_original_item(home)  # the daemon keeps working on the running version
    wait_for(lambda: pending_timers(url) == 0, "the daemon to fire the new timers")
    assert scalar(url, select(func.count()).select_from(definitions)) == 1

    replace(file, CONSULT + "\n# the second version\n")
    wait_for(
        lambda: scalar(url, select(func.count()).select_from(definitions)) == 2,
        "the fixed file to become a new version",
    )
    served.send_signal(signal.SIGTERM)
    _out, err = served.communicate(timeout=CAP)  # a cap for a loaded machine
    assert served.returncode == EXIT_OK
    logged = events(err)
    refused = [e for e in logged if e["event"] == "reload_refused"]
    assert refused
    assert all(e["kept"] == "the running versions stay in force" for e in refused)
    problems = [str(p) for e in refused for p in e["problems"]]  # type: ignore[attr-defined]
    assert any("consult.yaml:" in p and "E-UNKNOWN-KEY" in p for p in problems)
    assert [e["changed"] for e in logged if e["event"] == "reloaded"] == [["consult"]]


def replace(file: Path, text: str) -> None:
    """Edit a definition the way docs/daemon.md advises: write aside, then rename."""
    aside = file.with_suffix(".yaml.tmp")
    aside.write_text(text, encoding="utf-8")
    aside.replace(file)


def start_original_item(home: Path) -> None:
    """Start an item with the text the daemon loaded first (the file on disk is broken)."""
    original = home / "original"
    original.mkdir(exist_ok=True)
    (original / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    clocks = Clocks(WorkingCalendar())
    with Engine.open(
        url_of(home), workflows=original, clock=FakeClock(PAST), extensions=[clocks]
    ) as engine:
        engine.start("consult", actor=ASSISTANT)


def test_schedules_start_items_in_a_served_daemon(tmp_path: Path) -> None:
    clock = FakeClock(dt.datetime(2025, 9, 26, 1, 0, 30, tzinfo=dt.UTC))
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    (tmp_path / "workflows" / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    config = DaemonConfig(
        db=f"sqlite:///{tmp_path / 'd.db'}",
        workflows=(tmp_path / "workflows",),
        poll_interval=60,
        reload_interval=60,
    )
    daemon = Daemon(config, clock=clock)
    assert daemon.run_once().due_work == 0  # first seen now: nothing due yet
    clock.advance(minutes=2)
    daemon = Daemon(config, clock=clock)
    report = daemon.run_once()
    assert report.due_work >= 2  # 2 occurrences (and the timers they armed, if due)
    assert daemon.state == "stopped"
    with Engine.open(config.db, workflows=config.workflows) as engine:
        assert engine.get(1).created_by == "schedule:every_minute"
        assert engine.get(2).created_by == "schedule:every_minute"


# -- status and calendar commands ---------------------------------------------------------------
def test_status_reports_next_timers_lag_and_heartbeats(home: Path) -> None:
    start_items(home, 1)
    done = cli(home, "status", "--db", url_of(home), "--json", "--max-lag", "60")
    assert done.returncode == 1  # the timers armed in 2025 wait: the daemons are behind
    report = json.loads(done.stdout)
    assert report["behind"]
    assert report["timers"]["pending"] == 3
    assert report["timers"]["lag_seconds"] > 60
    assert [t["action"] for t in report["timers"]["next"]] == ["warn", "escalate", "breach"]
    assert len(report["clocks"]["overdue"]) == 1
    assert cli(home, "run", "--db", url_of(home), "--once").returncode == 0
    done = cli(home, "status", "--db", url_of(home))
    assert done.returncode == 0, done.stderr
    assert "Runners" in done.stdout
    assert "0 pending" in done.stdout


def test_status_of_an_unreachable_database_exits_3(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["status", "--db", "postgresql://nobody@127.0.0.1:1/none"])
    assert done.exit_code == 3


@pytest.mark.req("CMT-2")
def test_calendar_add_days_prints_the_due_time_and_the_rule(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["calendar", "add-days", "2025-09-26T15:00", "2"])
    assert done.exit_code == 0, done.output
    assert "due          2025-09-29 17:30 Monday" in done.output
    assert "2 working days, receipt day not counted" in done.output
    assert "provisional  no" in done.output
    late = runner.invoke(main, ["calendar", "add-days", "2026-12-30T10:00", "2", "--json"])
    record = json.loads(late.output)
    assert record["provisional"]
    assert record["guessed_years"] == [2027]


def test_calendar_status_names_each_years_source(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main, ["calendar", "status", "2025", "2027", "--json", "--calendars", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    years = {y["year"]: y["source"] for y in json.loads(done.output)["years"]}
    assert years == {2025: "official", 2027: "provisional"}
    text = runner.invoke(main, ["calendar", "status", "2027", "--calendars", str(tmp_path)])
    assert "2027 is provisional" in text.output


def test_the_readme_command_runs_the_bundled_workflows(tmp_path: Path) -> None:
    done = run(
        [
            sys.executable,
            "-m",
            "cmc_workflow",
            "run",
            "--db",
            f"sqlite:///{tmp_path / 'cmc.db'}",
            "--workflows",
            str(ROOT / "workflows"),
            "--policies",
            str(ROOT / "policies"),
            "--once",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    started = [e for e in events(done.stderr) if e["event"] == "daemon_once"]
    assert started


def test_handlers_resolve_from_a_registry_a_mapping_or_a_factory() -> None:
    def handler(ctx: HandlerContext) -> None:
        return None

    module = types.ModuleType("cmc_test_handlers")
    module.registry = HandlerRegistry({"publish_to_channels": handler})  # type: ignore[attr-defined]
    module.mapping = {"publish_to_channels": handler}  # type: ignore[attr-defined]
    module.factory = lambda: {"publish_to_channels": handler}  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        for attr in ("registry", "mapping", "factory"):
            found = _resolve_handlers(f"cmc_test_handlers:{attr}")
            assert found is not None
            assert found.names() == ["publish_to_channels"]
        assert _resolve_handlers(None) is None
    finally:
        del sys.modules[module.__name__]
