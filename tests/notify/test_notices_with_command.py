"""A transition's ``notify:`` writes its notices in the command's own transaction (issue 12,
round 5): they exist exactly when the command committed, the command costs no transaction
more than without a notifications file, and the outbox row says so (``noticed``), so that
its delivery writes nothing. A row without the mark (queued by an engine without the
notifications) still has its notices written when it is delivered, the same ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cmc_workflow import Actor, Engine
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.extensions import NOTICED, Change, Extension
from cmc_workflow.notify.config import NotificationsFile
from cmc_workflow.notify.extension import Notifications, bind_secrets
from cmc_workflow.store.port import NoticeRow
from cmc_workflow.testing import FakeClock
from tests.notify.flows import SECRETS, notifications
from tests.notify.servers import Hook, Mailbox

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

MEMO = """\
id: memo
label: {zh: 便函, en: Memo}
roles:
  lead: {zh: 组长, en: Lead}
  editor: {zh: 编辑, en: Editor}
start: {state: draft, roles: [lead]}
states:
  draft:
    type: userTask
    label: {zh: 起草, en: Draft}
    transitions:
      - trigger: send
        target: sent
        roles: [lead]
        notify: [editor]
  sent:
    type: endEvent
    label: {zh: 已发, en: Sent}
"""

LEAD = Actor("zhao", {"lead"})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "memo.yaml").write_text(MEMO, encoding="utf-8")
    return tmp_path


def told(box: Mailbox, hook: Hook) -> Notifications:
    config = NotificationsFile.model_validate(notifications(box.port, hook.url))
    return Notifications(config, bind_secrets(config, None, SECRETS))


def open_engine(
    url: str, home: Path, clock: FakeClock, *extensions: Extension, inline: bool = True
) -> Engine:
    return Engine.open(
        url,
        workflows=home / "workflows",
        clock=clock,
        extensions=[Clocks(WorkingCalendar()), *extensions],
        deliver_inline=inline,
    )


def commits(engine: Engine, run: Any) -> int:
    """The transactions committed on the engine's database while ``run()`` runs."""
    seen: list[object] = []

    def on_commit(*_args: Any) -> None:
        seen.append(None)

    db = engine.store.engine  # type: ignore[attr-defined]  # the SQL store's
    event.listen(db, "commit", on_commit)
    try:
        run()
    finally:
        event.remove(db, "commit", on_commit)
    return len(seen)


def notices_of(engine: Engine, item_id: int) -> list[NoticeRow]:
    with engine.store.read() as tx:
        return tx.notices(item_id)


def told_as(notices: list[NoticeRow]) -> set[tuple[Any, ...]]:
    """What a notice says and to whom, without what names its item or outbox row."""
    return {
        (
            n.event,
            n.role,
            n.person_id,
            n.transport,
            n.address,
            n.available_at,
            tuple(sorted((k, repr(v)) for k, v in n.payload.items() if k != "item_id")),
        )
        for n in notices
    }


def test_a_notify_costs_its_command_no_transaction_of_its_own(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    with open_engine(db_url, home, clock) as plain:
        item = plain.start("memo", actor=LEAD).id
        without = commits(plain, lambda: plain.fire(item, "send", actor=LEAD))
    with open_engine(db_url, home, clock, told(box, hook)) as engine:
        item = engine.start("memo", actor=LEAD).id
        with_notices = commits(engine, lambda: engine.fire(item, "send", actor=LEAD))
        notices = notices_of(engine, item)
    assert with_notices == without == 1
    # the editors of the file: wang by mail and webhook, li by mail
    assert {(n.person_id, n.transport) for n in notices} == {
        ("wang", "mail"),
        ("wang", "hook"),
        ("li", "mail"),
    }


def test_the_notices_commit_with_the_command_before_any_delivery(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    # no inline delivery: a runner that dies right after the commit leaves the outbox
    # row undelivered, and its notices already there
    with open_engine(db_url, home, clock, told(box, hook), inline=False) as engine:
        item = engine.start("memo", actor=LEAD).id
        engine.fire(item, "send", actor=LEAD)
        [row] = [r for r in engine.outbox(item) if r.kind == "notify"]
        assert row.delivered_at is None
        assert row.payload[NOTICED] is True
        written = notices_of(engine, item)
        assert len(written) == 3
        assert all(n.key.startswith(row.idempotency_key + ":") for n in written)
        engine.run_due()  # delivers the row (nothing more to write), then sends
        engine.run_due()
        assert [r.delivered_at is not None for r in engine.outbox(item)] == [True]
        after = notices_of(engine, item)
    assert [n.id for n in after] == [n.id for n in written]
    assert all(n.status == "sent" for n in after)
    assert sorted(m["To"] for m in box.mails) == ["li@lib.example.cn", "wang@lib.example.cn"]


class Refuses(Extension):
    """Fails every ``send`` after the notifications wrote its notices."""

    def after_change(self, tx: Any, change: Change) -> None:
        if change.final.state == "sent":
            raise RuntimeError("the database went away")


def test_a_command_that_does_not_commit_leaves_no_notice(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    with open_engine(db_url, home, clock, told(box, hook), Refuses()) as engine:
        item = engine.start("memo", actor=LEAD).id
        with pytest.raises(RuntimeError, match="went away"):
            engine.fire(item, "send", actor=LEAD)
        engine.run_due()
        assert engine.get(item).state == "draft"
        assert [r for r in engine.outbox(item) if r.kind == "notify"] == []
        assert notices_of(engine, item) == []
    assert box.mails == []


def test_a_row_queued_without_the_notifications_gets_the_same_notices_at_delivery(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    # an engine without the notifications file queues the row (no mark) ...
    with open_engine(db_url, home, clock, inline=False) as plain:
        old = plain.start("memo", actor=LEAD).id
        plain.fire(old, "send", actor=LEAD)
        [row] = [r for r in plain.outbox(old) if r.kind == "notify"]
        assert NOTICED not in row.payload
    with open_engine(db_url, home, clock, told(box, hook), inline=False) as engine:
        assert notices_of(engine, old) == []
        # ... and the runner that has one writes its notices when it delivers it
        engine.run_due()
        at_delivery = notices_of(engine, old)
        new = engine.start("memo", actor=LEAD).id
        engine.fire(new, "send", actor=LEAD)
        with_command = notices_of(engine, new)
    assert len(at_delivery) == 3
    assert told_as(with_command) == told_as(at_delivery)


RELAY = """\
id: relay
label: {zh: 转交, en: Relay}
roles:
  lead: {zh: 组长, en: Lead}
  editor: {zh: 编辑, en: Editor}
data:
  assignees: {type: list, required: false, label: {zh: 承办人, en: Assignees}}
  channels: {type: list, required: false, label: {zh: 渠道, en: Channels}}
start: {state: new, roles: [lead]}
states:
  new:
    type: userTask
    label: {zh: 待派发, en: New}
    transitions:
      - trigger: assign
        target: assigned
        roles: [lead]
        notify: [editor]
        form:
          assignees: {type: list, min: 1}
      - {trigger: flag, target: flagged, roles: [lead], notify: [editor]}
  assigned:
    type: userTask
    label: {zh: 已派发, en: Assigned}
    assignee: assignees
    transitions:
      - {trigger: done, target: finished, roles: [editor]}
  flagged:
    type: userTask
    label: {zh: 待处理, en: Flagged}
    transitions:
      - {trigger: done, target: finished, roles: [editor]}
  finished:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def notified(notices: list[NoticeRow]) -> set[str]:
    """Who a ``notify:``'s notices tell (the new task's notices left out)."""
    return {n.person_id for n in notices if n.event == "notify"}


@pytest.mark.parametrize("with_command", [True, False], ids=["with-command", "at-delivery"])
def test_a_transitions_notify_tells_the_assignees_it_names_not_every_holder(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook, with_command: bool
) -> None:
    """``assign`` names wang in ``assignees`` and notifies the editors: the state's
    assignee is told first (docs/how-to-notify.md), not li, the file's other editor — the
    same whether the notices are written with the command or when the row is delivered."""
    (home / "workflows" / "relay.yaml").write_text(RELAY, encoding="utf-8")
    # at delivery: an engine without the notifications queues the row and leaves it
    first = [told(box, hook)] if with_command else []
    with open_engine(db_url, home, clock, *first, inline=with_command) as engine:
        item = engine.start("relay", actor=LEAD).id
        engine.fire(item, "assign", actor=LEAD, data={"assignees": ["wang"]})
    with open_engine(db_url, home, clock, told(box, hook), inline=False) as engine:
        engine.run_due()
        assert notified(notices_of(engine, item)) == {"wang"}


def test_a_transitions_notify_tells_the_holders_whose_post_covers_the_item(
    db_url: str, home: Path, clock: FakeClock, box: Mailbox, hook: Hook
) -> None:
    """Without an assignee, the register's holders of the role whose post covers the
    item's channel: not zhou, whose post is weibo's."""
    import datetime as dt

    from cmc_workflow.staff.register import PersonEntry, PostEntry, Register

    (home / "workflows" / "relay.yaml").write_text(RELAY, encoding="utf-8")
    qualified: dict[str, Any] = {"education": "bachelor", "experience_years": 3}
    with open_engine(db_url, home, clock, told(box, hook)) as engine:
        register = Register(engine.store, clock=clock)
        day = clock().date() - dt.timedelta(days=30)
        for name, person, channels in [("王芳", "wang", ["wechat"]), ("周杰", "zhou", ["weibo"])]:
            entry = PersonEntry(name, person, email=f"{person}@lib.example.cn", **qualified)
            register.add(Actor("hr1"), entry, [PostEntry("editor", {"channels": channels}, day)])
        item = engine.start("relay", actor=LEAD, data={"channels": ["wechat"]}).id
        engine.fire(item, "flag", actor=LEAD)
        assert notified(notices_of(engine, item)) == {"wang"}
