"""Issue 14's done-when: with the daemon running (a real ``cmc-workflow run`` process) and
the SMTP and webhook servers on loopback, assigning a task delivers an e-mail and a webhook
to the assignee, and an SLA warning reaches them before the breach; the delivery records
show each attempt."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.store.port import NoticeAttemptRow, NoticeRow
from cmc_workflow.store.repository import SqlStore
from cmc_workflow.testing import FakeClock
from tests.helpers.processes import start, wait_until
from tests.notify.flows import SECRETS, TASK, notifications
from tests.notify.servers import Hook, Mailbox

# aiosmtpd 1.4 warns about its own legacy attribute on every successful AUTH (in its thread)
pytestmark = [
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated"),
    pytest.mark.slow,
]

LEAD = Actor("zhao", {"lead"})
# a deadline of minutes, so that a real daemon reaches the warning and then the breach
SHORT = TASK.replace("within: 2 working days", "within: 2 minutes")


def mails_to(box: Mailbox, address: str, words: str) -> list[str]:
    return [m["Subject"] for m in list(box.mails) if m["To"] == address and words in m["Subject"]]


def heartbeats(url: str) -> bool:
    store = SqlStore.open(url)
    try:
        with store.read() as tx:
            return bool(tx.runner_rows())
    finally:
        store.close()


def test_the_daemon_mails_and_posts_the_assignee_a_task_then_the_warning_before_the_breach(
    tmp_path: Path, box: Mailbox, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "task.yaml").write_text(SHORT, encoding="utf-8")
    config = notifications(box.port, hook.url)
    (tmp_path / "workflows" / "notifications.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True), encoding="utf-8"
    )
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    Engine.open(url, workflows=tmp_path / "workflows").close()  # the database, before the daemon
    daemon = start(
        [sys.executable, "-m", "cmc_workflow", "run", "--db", url, "--poll", "0.2"],
        cwd=tmp_path,
        env={**os.environ, **SECRETS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: heartbeats(url), "the daemon's first heartbeat")
    # assigned 112 s ago, once the daemon runs: the warning (at 50% of 2 minutes) is due
    # now and the breach in about 8 s, whatever the daemon's start-up cost
    clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=112))
    with Engine.open(
        url, workflows=tmp_path / "workflows", clock=clock, extensions=[Clocks(WorkingCalendar())]
    ) as engine:
        item = engine.start("task", actor=LEAD)
        engine.fire(item.id, "assign", actor=LEAD, data={"assignees": ["wang"]})
    address = "wang@lib.example.cn"
    wait_until(lambda: mails_to(box, address, "新待办"), "the task's e-mail to the assignee")
    wait_until(lambda: [b for b in hook.bodies() if b["event"] == "task"], "the task's webhook")
    wait_until(lambda: mails_to(box, address, "时限预警"), "the SLA warning's e-mail")
    wait_until(lambda: mails_to(box, address, "已超时"), "the breach's e-mail")
    assert daemon.poll() is None

    order = [m["Subject"] for m in list(box.mails) if m["To"] == address]
    warned = next(i for i, s in enumerate(order) if "时限预警" in s)
    breached = next(i for i, s in enumerate(order) if "已超时" in s)
    assert warned < breached, order
    [task_hook] = [r for r in hook.requests if json.loads(r["body"])["event"] == "task"]
    secret = SECRETS["CMC_TEST_HOOK_SECRET"].encode()
    expected = "sha256=" + hmac.new(secret, task_hook["body"], hashlib.sha256).hexdigest()
    assert task_hook["headers"]["x-cmc-signature"] == expected
    assert json.loads(task_hook["body"])["person"] == "wang"

    store = SqlStore.open(url)
    wanted = {("task", "mail"), ("task", "hook"), ("warn", "mail"), ("breach", "mail")}

    def recorded() -> tuple[list[NoticeRow], dict[int, list[NoticeAttemptRow]]]:
        with store.read() as tx:
            notices = [n for n in tx.notices(item.id) if n.person_id == "wang"]
            return notices, {n.id: tx.notice_attempts(n.id) for n in notices}

    def all_sent() -> bool:  # the mail arrives before the daemon's commit marks it sent
        notices, _ = recorded()
        return wanted <= {(n.event, n.transport) for n in notices if n.status == "sent"}

    try:
        wait_until(all_sent, "every notice recorded as sent")
        notices, attempts = recorded()
    finally:
        store.close()
    for notice in notices:
        if notice.status == "sent":
            assert [a.result for a in attempts[notice.id]][-1] == "sent"
            assert len(attempts[notice.id]) == notice.attempts
            assert all(a.transport == notice.transport for a in attempts[notice.id])
