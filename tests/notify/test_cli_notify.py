"""``cmc-workflow notify test`` and ``notify log`` as operators run them: subprocesses
against a real SMTP server and webhook on loopback; addresses masked in the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cmc_workflow import Actor, Engine
from cmc_workflow.exits import Exit
from tests.helpers.processes import run
from tests.notify.flows import SECRETS, TASK, notifications
from tests.notify.servers import Hook, Mailbox, free_port

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")


def home_with(tmp_path: Path, smtp_port: int, hook_url: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "task.yaml").write_text(TASK, encoding="utf-8")
    text = yaml.safe_dump(notifications(smtp_port, hook_url), allow_unicode=True)
    (tmp_path / "workflows" / "notifications.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "-m", "cmc_workflow", *args],
        cwd=home,
        capture_output=True,
        text=True,
        env={**os.environ, **(SECRETS if env is None else env)},
    )


def test_notify_test_sends_through_each_transport_of_the_person(
    tmp_path: Path, box: Mailbox, hook: Hook
) -> None:
    home = home_with(tmp_path, box.port, hook.url)
    done = cli(home, "notify", "test", "--to", "wang", "--json")
    assert done.returncode == Exit.OK, done.stderr
    results = json.loads(done.stdout)
    assert [(r["transport"], r.get("sent")) for r in results] == [("mail", True), ("hook", True)]
    assert (
        results[0]["address"] == "wa**@lib.example.cn" or "@lib.example.cn" in results[0]["address"]
    )
    assert "wang@" not in done.stdout  # masked
    [mail] = box.mails
    assert mail["To"] == "wang@lib.example.cn"
    assert "测试消息" in mail["Subject"]
    assert json.loads(hook.requests[0]["body"])["event"] == "test"


def test_notify_test_with_a_transport_down_exits_1_and_says_why(tmp_path: Path, hook: Hook) -> None:
    home = home_with(tmp_path, free_port(), hook.url)  # nobody listens for SMTP
    done = cli(home, "notify", "test", "--to", "wang")
    assert done.returncode == Exit.PROBLEMS
    assert "mail" in done.stdout
    assert "FAILED: " in done.stdout
    assert "失败：" in done.stdout
    assert "hook" in done.stdout


def test_a_missing_secret_stops_notify_test_with_the_place(
    tmp_path: Path, box: Mailbox, hook: Hook
) -> None:
    home = home_with(tmp_path, box.port, hook.url)
    done = cli(home, "notify", "test", "--to", "wang", env={"CMC_TEST_SMTP_PASSWORD": "x"})
    assert done.returncode == Exit.PROBLEMS
    assert "notifications.yaml:" in done.stderr
    assert "E-NOTIFY-SECRET" in done.stderr
    assert box.mails == []


def test_notify_log_shows_each_attempt_with_addresses_masked(
    tmp_path: Path, box: Mailbox, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_with(tmp_path, box.port, hook.url)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{home / 'cmc.db'}"
    lead = Actor("zhao", {"lead"})
    hook.down = True
    with Engine.open(url, workflows=home / "workflows") as engine:
        item = engine.start("task", actor=lead)
        engine.fire(item.id, "assign", actor=lead, data={"assignees": ["wang"]})
        engine.run_due()
    done = cli(home, "notify", "log", "--db", url, "--item", str(item.id), "--json")
    assert done.returncode == Exit.OK, done.stderr
    views = {v["transport"]: v for v in json.loads(done.stdout)}
    assert views["mail"]["status"] == "sent"
    assert [a["result"] for a in views["mail"]["attempts"]] == ["sent"]
    assert views["hook"]["status"] == "pending"
    assert [a["result"] for a in views["hook"]["attempts"]] == ["failed"]
    assert "503" in views["hook"]["attempts"][0]["error"]
    assert "wang@lib.example.cn" not in done.stdout
    table = cli(home, "notify", "log", "--db", url)
    assert table.returncode == Exit.OK
    assert "failed" in table.stdout
