"""``Engine.query``: the Python face of the query API, on SQLite and PostgreSQL — role
queues and assignees from the definitions, SLA clocks, policies that hide items, sorted
keyset pages, and bad input refused with the field that is wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.errors import IdentityRefused, InputInvalid, ItemNotFound
from cmc_workflow.testing import FakeClock
from tests.helpers import EngineFactory

TICKET = """\
id: ticket
label: {zh: 工单, en: Ticket}
roles:
  clerk: {zh: 受理员, en: Clerk}
  handler: {zh: 处理人, en: Handler}
  integrator: {zh: 接入方, en: Integrator}
data:
  title: {type: string}
  application: {type: string}
  handler: {type: string, required: false}
  priority: {type: integer, required: false}
start: {state: open, roles: [clerk, integrator]}
states:
  open:
    type: userTask
    label: {zh: 受理, en: Open}
    transitions:
      - trigger: assign
        target: handling
        roles: [clerk]
        form:
          handler: {type: string}
  handling:
    type: userTask
    label: {zh: 处理, en: Handling}
    assignee: handler
    deadline: {within: 1 working days}
    transitions:
      - {trigger: close, target: closed, roles: [handler, integrator]}
  closed:
    type: endEvent
    label: {zh: 办结, en: Closed}
"""

SCOPING = """\
kind: policy
id: ticket_scope
label: {zh: 工单范围, en: Ticket scope}
workflows:
  ticket:
    scoping:
      - id: integrators_own_tickets
        roles: [integrator]
        attribute: application
        field: application
"""

CLERK = Actor("chen", {"clerk"})


@pytest.fixture
def engine(engine_factory: EngineFactory, tmp_path: Path) -> Engine:
    (tmp_path / "ticket.yaml").write_text(TICKET, encoding="utf-8")
    (tmp_path / "scope.yaml").write_text(SCOPING, encoding="utf-8")
    return engine_factory(workflows=tmp_path / "ticket.yaml", policies=tmp_path / "scope.yaml")


def ids(page: object) -> list[int]:
    return [i.id for i in page.items]  # type: ignore[attr-defined]  # an ItemPage


def test_role_queues_assignees_and_clocks(engine: Engine, clock: FakeClock) -> None:
    a = engine.start("ticket", actor=CLERK, data={"title": "Printer", "application": "app-7"})
    b = engine.start("ticket", actor=CLERK, data={"title": "Wi-Fi", "application": "app-8"})
    c = engine.start("ticket", actor=CLERK, data={"title": "Door", "application": "app-7"})
    engine.fire(a.id, "assign", actor=CLERK, data={"handler": "Wang"})
    engine.fire(b.id, "assign", actor=CLERK, data={"handler": "li"})
    assert ids(engine.query(role="clerk")) == [c.id]
    assert ids(engine.query(role="handler")) == [a.id, b.id]
    assert ids(engine.query(assignee="wang")) == [a.id]  # Wang as the person reads it
    assert ids(engine.query(assignee="WANG")) == [a.id]
    assert ids(engine.query(assignee="zhao")) == []
    assert ids(engine.query(sla="running")) == [a.id, b.id]
    assert ids(engine.query(overdue=True)) == []
    clock.advance(days=5)
    assert ids(engine.query(overdue=True)) == [a.id, b.id]
    engine.fire(b.id, "close", actor=Actor("li", {"handler"}))
    assert ids(engine.query(overdue=True)) == [a.id]
    assert ids(engine.query(open=False)) == [b.id]
    assert ids(engine.query(data={"application": "app-7"})) == [a.id, c.id]
    assert ids(engine.query(title="wi-fi")) == [b.id]
    assert ids(engine.query(states=["open"], workflow="ticket")) == [c.id]


def test_pages_walk_every_item_once_while_items_arrive(engine: Engine, clock: FakeClock) -> None:
    made = []
    for n in range(7):
        made.append(
            engine.start("ticket", actor=CLERK, data={"title": f"T{n}", "application": "x"}).id
        )
        clock.advance(minutes=1)
    seen: list[int] = []
    cursor = None
    while True:
        page = engine.query(sort="created_at", descending=True, limit=3, cursor=cursor)
        seen += ids(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # a new item arrives between pages: it is newer than every page still to come
        engine.start("ticket", actor=CLERK, data={"title": "late", "application": "x"})
    assert seen == list(reversed(made))
    by_update = engine.query(sort="updated_at", limit=500)
    assert len(by_update.items) == 7 + 2
    assert by_update.next_cursor is None


def test_an_actor_sees_only_what_the_policies_let_them(engine: Engine) -> None:
    mine = engine.start("ticket", actor=CLERK, data={"title": "a", "application": "app-7"})
    engine.start("ticket", actor=CLERK, data={"title": "b", "application": "app-8"})
    integrator = Actor("app7-bot", {"integrator"}, {"application": "app-7"})
    assert ids(engine.query(actor=integrator)) == [mine.id]
    assert len(engine.query(actor=CLERK).items) == 2
    assert len(engine.query().items) == 2  # the embedding host itself: no actor, no scoping
    with pytest.raises(IdentityRefused):
        engine.query(actor=Actor("system", {"clerk"}))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"sort": "title"}, "sort"),
        ({"sla": "late"}, "sla"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "not-ours"}, "cursor"),
        ({"data": {"a.b": 1}}, "data.a.b"),
        ({"data": {"x": [1]}}, "data.x"),
        ({"created_from": dt.datetime(2026, 1, 1)}, "created_from"),  # naive
    ],
)
def test_bad_input_names_its_field(
    engine: Engine, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InputInvalid) as refused:
        engine.query(**arguments)  # type: ignore[arg-type]  # wrong on purpose
    assert [e.field for e in refused.value.errors] == [field]
    assert refused.value.errors[0].message_zh


def test_a_cursor_is_kept_to_its_sort_order(engine: Engine) -> None:
    for n in range(3):
        engine.start("ticket", actor=CLERK, data={"title": f"T{n}", "application": "x"})
    cursor = engine.query(limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InputInvalid, match="sort order"):
        engine.query(limit=1, cursor=cursor, descending=True)
    with pytest.raises(InputInvalid, match="sort order"):
        engine.query(limit=1, cursor=cursor, sort="id")


def test_reading_one_item_as_an_actor_keeps_to_what_they_may_see(engine: Engine) -> None:
    mine = engine.start("ticket", actor=CLERK, data={"title": "a", "application": "app-7"})
    theirs = engine.start("ticket", actor=CLERK, data={"title": "b", "application": "app-8"})
    integrator = Actor("app7-bot", {"integrator"}, {"application": "app-7"})
    assert engine.get(mine.id, actor=integrator).id == mine.id
    assert [h.seq for h in engine.history(mine.id, actor=integrator)] == [1]
    for read in (engine.get, engine.history, engine.children, engine.outbox, engine.audit_trail):
        with pytest.raises(ItemNotFound) as hidden:
            read(theirs.id, actor=integrator)
        assert hidden.value.rule == "not_visible"
    assert engine.get(theirs.id).id == theirs.id  # the host itself reads everything
    assert engine.get(theirs.id, actor=CLERK).id == theirs.id
    refused = [r for r in engine.audit_trail(theirs.id) if r["outcome"] == "refused"]
    assert [r["command"] for r in refused] == [
        "get",
        "history",
        "children",
        "outbox",
        "audit_trail",
    ]
    assert {r["rule"] for r in refused} == {"not_visible"}
    with pytest.raises(IdentityRefused):
        engine.get(mine.id, actor=Actor("system", {"clerk"}))
