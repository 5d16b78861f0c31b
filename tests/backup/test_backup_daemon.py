"""The daemon's scheduled backups (``run --backup-dir``), as real processes (SEC-4).

``--once`` (the cron-driven set-up) takes a backup when one is due by the folder's
newest backup, and not otherwise; a served daemon takes one at each interval on a worker
of its own and keeps the newest ``--backup-keep``. Waits poll the folder with a cap.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.backup import backups_in, verify_backup
from tests.engine.test_clocks import CONSULT
from tests.helpers.cli import run_cli
from tests.helpers.processes import run, start, wait_exit, wait_until

ASSISTANT = Actor("li", {"ops_assistant"})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An installation: workflows/ and a SQLite file holding two items."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "consult.yaml").write_text(CONSULT, encoding="utf-8")
    with Engine.open(url_of(tmp_path), workflows=tmp_path / "workflows") as engine:
        for _ in range(2):
            engine.start("consult", actor=ASSISTANT)
    return tmp_path


def url_of(home: Path) -> str:
    return f"sqlite:///{home / 'cmc.db'}"


def once(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "cmc_workflow", "run", "--db", url_of(home), "--once", *args],
        cwd=home,
        capture_output=True,
        text=True,
    )


def events(stderr: str, name: str) -> list[dict[str, object]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


@pytest.mark.req("SEC-4")
def test_run_once_backs_up_when_a_backup_is_due_and_not_otherwise(home: Path) -> None:
    folder = home / "offsite"
    first = once(home, "--backup-dir", str(folder))
    assert first.returncode == 0, first.stderr
    assert len(events(first.stderr, "backup_taken")) == 1
    (backup,) = backups_in(folder)
    assert backup.manifest["census"]["item_count"] == 2
    assert verify_backup(backup.file).ok

    again = once(home, "--backup-dir", str(folder))  # every 1d: the one just taken will do
    assert again.returncode == 0, again.stderr
    assert events(again.stderr, "backup_taken") == []
    assert len(backups_in(folder)) == 1

    taken_at = dt.datetime.fromisoformat(str(backup.manifest["created_at"]))
    wait_until(
        lambda: dt.datetime.now(dt.UTC) > taken_at + dt.timedelta(seconds=1.1),
        "a second past the first backup",
    )
    due = once(home, "--backup-dir", str(folder), "--backup-every", "1s")
    assert due.returncode == 0, due.stderr
    assert len(events(due.stderr, "backup_taken")) == 1
    assert len(backups_in(folder)) == 2


@pytest.mark.req("SEC-4")
def test_a_served_daemon_backs_up_every_interval_and_keeps_the_newest(home: Path) -> None:
    folder = home / "offsite"
    daemon = start(
        [
            sys.executable,
            "-m",
            "cmc_workflow",
            "run",
            "--db",
            url_of(home),
            "--poll",
            "0.2",
            "--backup-dir",
            str(folder),
            "--backup-every",
            "1s",
            "--backup-keep",
            "2",
        ],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[str] = set()

    def three_taken() -> bool:
        seen.update(b.file.name for b in backups_in(folder) if folder.is_dir())
        return len(seen) >= 3

    wait_until(three_taken, "three scheduled backups")
    daemon.send_signal(signal.SIGTERM)
    assert wait_exit(daemon, "the daemon") == 0
    assert daemon.stderr is not None
    stderr = daemon.stderr.read()
    assert events(stderr, "backup_failed") == []
    kept = backups_in(folder)
    assert len(kept) == 2, [b.file.name for b in kept]
    for backup in kept:
        assert verify_backup(backup.file).ok


def test_backup_options_are_checked_before_the_daemon_starts(home: Path) -> None:
    bad = run_cli(
        "run", "--db", url_of(home), "--backup-dir", "x", "--backup-every", "sometimes", cwd=home
    )
    assert bad.exit_code == 2
    assert "--backup-every" in bad.stderr
    assert "crontab" in bad.stderr
    alone = run_cli("run", "--db", url_of(home), "--backup-keep", "3", cwd=home)
    assert alone.exit_code == 2
    assert "needs --backup-dir" in alone.stderr
    cron = run_cli(
        "run", "--db", url_of(home), "--backup-dir", "x", "--backup-every", "0 2 * * 7", cwd=home
    )
    assert cron.exit_code == 2  # weekday 7 does not exist (0 is Monday)
