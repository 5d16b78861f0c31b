"""Notifications that reach people (issue 14, part 4), end to end in the engine with real
servers on loopback: an aiosmtpd SMTP server (with AUTH) and an HTTP server checking the
webhook's signature. The assignee first, the role's people otherwise; retries, the dead
letter, the digest and quiet hours; each attempt recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.notify.config import NotificationsFile
from cmc_workflow.notify.extension import Notifications, bind_secrets
from cmc_workflow.testing import FakeClock
from tests.notify.flows import SECRETS, TASK, notifications
from tests.notify.servers import Hook, Mailbox

# aiosmtpd 1.4 warns about its own legacy attribute on every successful AUTH (in its thread)
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

LEAD = Actor("zhao", {"lead"})
WANG = Actor("wang", {"editor"})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "task.yaml").write_text(TASK, encoding="utf-8")
    return tmp_path


def open_engine(
    url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook, **extra: Any
) -> tuple[Engine, Notifications]:
    config = NotificationsFile.model_validate(notifications(box.port, hook.url, **extra))
    notify = Notifications(config, bind_secrets(config, None, SECRETS))
    engine = Engine.open(
        url,
        workflows=home / "workflows",
        clock=clock,
        extensions=[Clocks(WorkingCalendar()), notify],
    )
    return engine, notify


def assign(engine: Engine, *people: str) -> int:
    item = engine.start("task", actor=LEAD)
    engine.fire(item.id, "assign", actor=LEAD, data={"assignees": list(people)})
    return item.id


def test_assigning_a_task_mails_and_signs_a_webhook_to_the_assignee_only(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook)
    with engine:
        item = assign(engine, "wang")
        engine.run_due()
        to_wang = [m for m in box.mails if m["To"] == "wang@lib.example.cn"]
        assert len(to_wang) == 1, [m["To"] for m in box.mails]
        assert "新待办" in to_wang[0]["Subject"]
        assert "New task" in to_wang[0].get_content()
        assert box.logins  # AUTH was used
        # the new task of "new" went to the lead (role lead -> zhao has no address: none)
        assert all(m["To"] != "li@lib.example.cn" for m in box.mails)  # not the role's others
        [request] = [r for r in hook.requests if r["status"] == 200]
        body = request["body"]
        expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        assert request["headers"]["x-cmc-signature"] == expected
        assert int(request["headers"]["x-cmc-timestamp"]) > 0
        facts = json.loads(body)
        assert facts["event"] == "task"
        assert facts["person"] == "wang"
        assert facts["item_id"] == item
        assert facts["state"] == "assigned"
        with engine.store.read() as tx:
            notices = [n for n in tx.notices(item) if n.person_id == "wang"]
            assert {n.transport for n in notices} == {"mail", "hook"}
            assert all(n.status == "sent" and n.attempts == 1 for n in notices)
            attempts = [a for n in notices for a in tx.notice_attempts(n.id)]
        assert [(a.result, a.error) for a in attempts] == [("sent", None)] * 2


def test_without_an_assignee_the_roles_people_are_told(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook)
    with engine:
        item = engine.start("task", actor=LEAD).id
        engine.run_due()
        with engine.store.read() as tx:
            notices = tx.notices(item)
    # "new" waits on the lead: zhao, who has no e-mail address filed: nothing sent, logged
    assert notices == []
    assert box.mails == []


def test_a_transport_that_is_down_is_retried_and_the_message_arrives_once(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook)
    hook.down = True
    with engine:
        item = assign(engine, "wang")
        engine.run_due()
        assert hook.bodies() == []
        with engine.store.read() as tx:
            [notice] = [n for n in tx.notices(item) if n.transport == "hook"]
        assert notice.status == "pending"
        assert notice.attempts == 1
        assert "503" in (notice.last_error or "")
        engine.run_due()  # not yet: the backoff (60 s) holds it
        assert len(hook.requests) == 1
        hook.down = False
        clock.advance(seconds=61)
        engine.run_due()
        clock.advance(seconds=600)
        engine.run_due()
        assert len(hook.bodies()) == 1  # arrived, and only once
        with engine.store.read() as tx:
            [notice] = [n for n in tx.notices(item) if n.transport == "hook"]
            attempts = tx.notice_attempts(notice.id)
        assert notice.status == "sent"
        assert [a.result for a in attempts] == ["failed", "sent"]
        assert attempts[1].at - attempts[0].at >= dt.timedelta(seconds=60)
        assert len([m for m in box.mails if m["To"] == "wang@lib.example.cn"]) == 1


def test_after_max_attempts_a_notice_is_a_dead_letter(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook)
    hook.down = True
    with engine:
        item = assign(engine, "wang")
        for _ in range(6):
            engine.run_due()
            clock.advance(hours=1)
        with engine.store.read() as tx:
            [notice] = [n for n in tx.notices(item) if n.transport == "hook"]
            attempts = tx.notice_attempts(notice.id)
    assert notice.status == "dead"
    assert [a.result for a in attempts] == ["failed", "failed", "dead"]
    assert len(hook.requests) == 3  # never tried again once dead


def test_an_sla_warning_reaches_the_assignee_before_the_breach(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook)
    with engine:
        item = assign(engine, "wang")
        engine.run_due()
        seen = len(box.mails)
        for _ in range(40):  # step through the working days, an hour at a time
            clock.advance(hours=2)
            engine.run_due()
        subjects = [m["Subject"] for m in box.mails[seen:] if m["To"] == "wang@lib.example.cn"]
        with engine.store.read() as tx:
            events = [(n.event, n.sent_at) for n in tx.notices(item) if n.transport == "mail"]
    assert any("时限预警" in s for s in subjects), subjects
    assert any("已超时" in s for s in subjects), subjects
    warned = next(at for e, at in events if e == "warn")
    breached = next(at for e, at in events if e == "breach")
    assert warned is not None
    assert breached is not None
    assert warned < breached


def test_warnings_for_one_person_come_as_one_digest(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    engine, _ = open_engine(db_url, home, clock, box, hook, digest_minutes=30)
    with engine:
        items = [assign(engine, "wang") for _ in range(4)]
        engine.run_due()
        before = len(box.mails)
        for _ in range(40):
            clock.advance(hours=2)
            engine.run_due()
            with engine.store.read() as tx:
                if any(n.event == "warn" for i in items for n in tx.notices(i)):
                    break
        clock.advance(minutes=31)
        engine.run_due()
        digests = [m for m in box.mails[before:] if "4 项时限预警" in m["Subject"]]
    assert len(digests) == 1, [(m["To"], m["Subject"]) for m in box.mails[before:]]
    assert digests[0]["To"] == "wang@lib.example.cn"
    assert sum("时限预警" in m["Subject"] for m in box.mails[before:]) == 1  # not 4 mails
    assert all(f"#{i}" in digests[0].get_content() for i in items)


def test_quiet_hours_hold_a_task_but_not_a_breach(
    db_url: str, home: Path, box: Mailbox, hook: Hook
) -> None:
    # 23:00 in Shanghai on a Friday
    clock = FakeClock(dt.datetime(2025, 9, 26, 15, 0, tzinfo=dt.UTC))
    quiet = {"start": "22:00", "end": "07:30"}
    engine, _ = open_engine(f"{db_url}", home, clock, box, hook, quiet_hours=quiet)
    with engine:
        item = assign(engine, "wang")
        engine.run_due()
        assert box.mails == []
        with engine.store.read() as tx:
            [mail] = [n for n in tx.notices(item) if n.transport == "mail"]
        assert mail.available_at == dt.datetime(2025, 9, 26, 23, 30, tzinfo=dt.UTC)
        clock.advance(hours=8, minutes=31)
        engine.run_due()
        assert [m["To"] for m in box.mails] == ["wang@lib.example.cn"]


QUALIFIED: dict[str, Any] = {"education": "bachelor", "experience_years": 3}
DRAFT = """\
id: draft
label: {zh: 稿件, en: Draft}
roles:
  editor: {zh: 编辑, en: Editor}
data:
  channels: {type: list, required: false, label: {zh: 渠道, en: Channels}}
start: {state: writing, roles: [editor]}
states:
  writing:
    type: userTask
    label: {zh: 撰写中, en: Writing}
    transitions:
      - {trigger: finish, target: done, roles: [editor]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def test_without_an_assignee_the_registers_holders_of_the_role_in_post_are_told(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    from cmc_workflow.staff.register import PersonEntry, PostEntry, Register

    (home / "workflows" / "draft.yaml").write_text(DRAFT, encoding="utf-8")
    engine, _ = open_engine(db_url, home, clock, box, hook)
    with engine:
        register = Register(engine.store, clock=clock)
        hr = Actor("hr1")
        day = clock().date() - dt.timedelta(days=30)
        register.add(
            hr,
            PersonEntry("王芳", "wang", email="wang.reg@lib.example.cn", **QUALIFIED),
            [PostEntry("editor", {"channels": ["wechat", "web"]}, day)],
        )
        register.add(
            hr,
            PersonEntry("李雷", "li", email="li.reg@lib.example.cn", **QUALIFIED),
            [PostEntry("editor", {}, day, day + dt.timedelta(days=1))],
        )  # left
        register.add(
            hr,
            PersonEntry("赵敏", "zhao", email="zhao.reg@lib.example.cn", **QUALIFIED),
            [PostEntry("reviewer", {}, day)],
        )
        register.add(
            hr,
            PersonEntry("周杰", "zhou", email="zhou.reg@lib.example.cn", **QUALIFIED),
            [PostEntry("editor", {"channels": ["weibo"]}, day)],  # not this item's channel
        )
        data = {"channels": ["wechat"]}
        item = engine.start("draft", actor=Actor("wang", {"editor"}), data=data).id
        engine.run_due()
        with engine.store.read() as tx:
            notices = tx.notices(item)
    # the register's address wins over the file's; li's post ended; zhao is no editor;
    # zhou's post covers weibo only
    assert sorted(m["To"] for m in box.mails) == ["wang.reg@lib.example.cn"]
    assert {(n.person_id, n.transport) for n in notices} == {("wang", "mail"), ("wang", "hook")}


@pytest.mark.req("FLT-1")
def test_flt_1_a_fault_reaches_the_integrator_and_the_authority_at_once_even_in_quiet_hours(
    db_url: str, tmp_path: Path, box: Mailbox, hook: Hook
) -> None:
    from tests.helpers import ROOT

    clock = FakeClock(dt.datetime(2025, 9, 26, 15, 0, tzinfo=dt.UTC))  # 23:00 in Shanghai
    people = {
        "sun": {"email": "sun@integrator.example.cn", "transports": ["mail", "hook"]},
        "gao": {"email": "gao@authority.example.cn"},
    }
    values = notifications(box.port, hook.url, quiet_hours={"start": "22:00", "end": "07:30"})
    values.update(people=people, roles={"integrator": ["sun"], "authority": ["gao"]})
    config = NotificationsFile.model_validate(values)
    notify = Notifications(config, bind_secrets(config, None, SECRETS))
    with Engine.open(
        db_url,
        workflows=ROOT / "workflows" / "faults.yaml",
        clock=clock,
        extensions=[Clocks(WorkingCalendar()), notify],
    ) as engine:
        symptom = "读者王芳（13800138000）反映小程序无法登录"
        item = engine.start(
            "faults",
            actor=Actor("op", {"operator"}),
            data={"application": "app-7", "system_name": "借阅小程序", "symptom": symptom},
        )
        engine.run_due()  # no time passes: "at once", quiet hours or not
        with engine.store.read() as tx:
            events = {(n.event, n.person_id, n.status) for n in tx.notices(item.id)}
    assert sorted(m["To"] for m in box.mails if "故障报告" in m["Subject"]) == [
        "gao@authority.example.cn",
        "sun@integrator.example.cn",
        "sun@integrator.example.cn",  # the report's notify: and the new task to acknowledge
    ]
    assert ("fault", "gao", "sent") in events
    assert [json.loads(r["body"])["event"] for r in hook.requests] == ["fault", "fault"]
    # SEC-3: nothing of the item's data (a reader's name and phone) in any body
    bodies = [m.as_string() for m in box.mails] + [r["body"].decode() for r in hook.requests]
    assert all("13800138000" not in b and "王芳" not in b for b in bodies)
