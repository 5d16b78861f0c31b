"""Side effects: serviceTask handlers and notifications, delivered from the outbox after
commit, at least once, with the same idempotency key on every attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from cmc_workflow import Engine, HandlerContext, HandlerRegistry, Item
from cmc_workflow.engine import OUTBOX_LEASE
from cmc_workflow.engine.marks import DeliveryMarks
from cmc_workflow.errors import DefinitionError, MissingHandlerError
from cmc_workflow.store import Store
from cmc_workflow.store.database import open_database
from cmc_workflow.store.port import OutboxMessage
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    EDITOR,
    LEAD,
    OPS,
    TOPIC,
    check_invariants,
    ok_handler,
    walk,
)
from tests.helpers import (
    UNGUARDED_PUBLISHING as PUBLISHING,
)
from tests.helpers.processes import wait_until


class FlakyPublisher:
    """A publish_to_channels handler that fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[HandlerContext] = []

    def __call__(self, ctx: HandlerContext) -> str | None:
        self.calls.append(ctx)
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"weibo is down (attempt {ctx.attempt})")
        return None


def to_signoff(engine: Engine) -> Item:
    return walk(engine, engine.start("publishing", actor=EDITOR, data=TOPIC), "signoff")


def sign(engine: Engine, item: Item) -> Item:
    return engine.fire(item.id, "sign", actor=OPS)


@pytest.mark.req("PUB-7", "SEC-4")
def test_a_failing_handler_leaves_the_transition_standing_and_is_retried(
    db_url: str, clock: FakeClock
) -> None:
    publisher = FlakyPublisher(failures=2)
    with Engine.open(
        db_url, workflows=PUBLISHING, clock=clock, handlers={"publish_to_channels": publisher}
    ) as engine:
        item = sign(engine, to_signoff(engine))
        failed_at = clock.now
        # the sign-off is accepted although publishing failed: no exception, item waits
        assert item.state == "publishing"
        assert engine.history(item.id)[-1].trigger == "sign"
        assert len(publisher.calls) == 1
        (row,) = [r for r in engine.outbox(item.id) if r.kind == "handler"]
        assert (row.name, row.attempts, row.delivered_at) == ("publish_to_channels", 1, None)
        assert row.last_error == "ConnectionError: weibo is down (attempt 1)"
        assert row.available_at > clock.now

        assert engine.run_due().delivered == 0  # not due yet: nothing is tried
        assert len(publisher.calls) == 1

        clock.now = row.available_at
        report = engine.run_due()
        assert (report.delivered, report.failed) == (0, 1)
        (row2,) = [r for r in engine.outbox(item.id) if r.kind == "handler"]
        assert row2.attempts == 2
        assert "attempt 2" in (row2.last_error or "")
        assert row2.available_at - clock.now > row.available_at - failed_at  # backs off
        assert engine.get(item.id).state == "publishing"

        clock.now = row2.available_at
        assert engine.deliver_outbox().delivered == 1
        assert engine.get(item.id).state == "published"
        keys = {ctx.idempotency_key for ctx in publisher.calls}
        assert len(keys) == 1
        assert keys == {row.idempotency_key}
        assert [ctx.attempt for ctx in publisher.calls] == [1, 2, 3]
        assert all(ctx.state == "publishing" and ctx.item_id == item.id for ctx in publisher.calls)
        assert publisher.calls[0].data["channels"] == TOPIC["channels"]
        (done,) = [r for r in engine.outbox(item.id) if r.kind == "handler"]
        assert done.delivered_at == clock.now
        assert done.attempts == 3

        history = engine.history(item.id)
        assert [(h.kind, h.trigger, h.to_state) for h in history[-2:]] == [
            ("fire", "sign", "publishing"),
            ("handler", "done", "published"),
        ]
        clock.advance(hours=2)
        assert engine.run_due().delivered == 0  # delivered rows are never sent again
        assert len(publisher.calls) == 3
    assert check_invariants(db_url) == []


def test_a_handler_this_engine_lacks_waits_for_a_runner_that_has_it(
    db_url: str, clock: FakeClock
) -> None:
    publisher = FlakyPublisher(failures=0)
    with (
        Engine.open(db_url, workflows=PUBLISHING, clock=clock, runner="web") as web,
        Engine.open(
            db_url,
            workflows=PUBLISHING,
            clock=clock,
            handlers={"publish_to_channels": publisher},
            runner="daemon",
        ) as daemon,
    ):
        item = sign(web, to_signoff(web))
        assert item.state == "publishing"
        assert web.run_due().delivered == 0
        (row,) = [r for r in web.outbox(item.id) if r.kind == "handler"]
        assert (row.attempts, row.delivered_at, row.last_error) == (0, None, None)

        assert daemon.run_due().delivered == 1
        assert web.get(item.id).state == "published"
        assert [ctx.item_id for ctx in publisher.calls] == [item.id]


def test_strict_handlers_refuse_to_open_without_every_handler(
    db_url: str, clock: FakeClock
) -> None:
    with pytest.raises(MissingHandlerError) as caught:
        Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers={})
    assert isinstance(caught.value, DefinitionError)
    assert caught.value.codes == ["E-HANDLER-NOT-REGISTERED"]
    message = str(caught.value)
    assert "publishing" in message
    assert "publish_to_channels" in message
    assert caught.value.problems[0].file.endswith("publishing.yaml")
    registry = HandlerRegistry()
    registry.register("publish_to_channels", ok_handler)
    with pytest.raises(ValueError, match="registered already"):
        registry.register("publish_to_channels", ok_handler)
    with Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers=registry) as engine:
        assert engine.handlers.names() == ["publish_to_channels"]


def test_a_claim_of_a_runner_that_died_expires(db_url: str, clock: FakeClock) -> None:
    """A runner that claimed a row and died holds it for the lease only; then another
    runner delivers it (at least once), under the same idempotency key."""
    publisher = FlakyPublisher(failures=0)
    with (
        Engine.open(db_url, workflows=PUBLISHING, clock=clock, runner="web") as web,
        Engine.open(
            db_url,
            workflows=PUBLISHING,
            clock=clock,
            handlers={"publish_to_channels": publisher},
            runner="daemon",
        ) as daemon,
    ):
        item = sign(web, to_signoff(web))
        with web.store.write() as tx:  # what a runner killed mid-delivery leaves behind
            (claimed,) = tx.claim_outbox(
                clock.now,
                "dead-runner",
                OUTBOX_LEASE,
                10,
                handler_names=["publish_to_channels"],
            )
        assert daemon.run_due().delivered == 0
        clock.advance(seconds=OUTBOX_LEASE.total_seconds() - 1)
        assert daemon.run_due().delivered == 0
        clock.advance(seconds=2)
        assert daemon.run_due().delivered == 1
        assert [ctx.idempotency_key for ctx in publisher.calls] == [claimed.idempotency_key]
        assert web.get(item.id).state == "published"
        with web.store.write() as tx:  # the dead runner's late finish changes nothing
            assert not tx.finish_outbox(claimed.id, "dead-runner", clock.now)
    assert check_invariants(db_url) == []


@pytest.mark.req("PUB-3", "PUB-5", "PUB-6")
def test_notifications_go_through_the_notifier(db_url: str, clock: FakeClock) -> None:
    sent: list[tuple[str, HandlerContext]] = []
    failures = [RuntimeError("smtp down")]

    def notifier(role: str, ctx: HandlerContext) -> None:
        if failures:
            raise failures.pop()
        sent.append((role, ctx))

    registry = HandlerRegistry({"publish_to_channels": ok_handler}, notifier=notifier)
    with Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers=registry) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        item = engine.fire(item.id, "approve", actor=LEAD)
        item = engine.fire(
            item.id, "assign", actor=LEAD, data={"assignees": ["wang"], "due_date": "2025-10-10"}
        )
        assert sent == []  # the first delivery failed; the assignment stands
        assert item.state == "assigned"
        (row,) = engine.outbox(item.id)
        assert (row.kind, row.name, row.attempts) == ("notify", "editor", 1)
        assert row.last_error == "RuntimeError: smtp down"
        clock.now = row.available_at
        assert engine.run_due().delivered == 1
        walk(engine, item, "published")
        roles = [role for role, _ctx in sent]
        assert roles == ["editor", "reviewer", "ops_manager"]
        first = sent[0][1]
        assert first.idempotency_key == row.idempotency_key
        assert (first.item_id, first.workflow, first.state) == (item.id, "publishing", "assigned")
        assert first.payload["reason"] == "assign: selected -> assigned"
        assert first.attempt == 2
        assert len({ctx.idempotency_key for _role, ctx in sent}) == 3
        assert all(r.delivered_at is not None for r in engine.outbox(item.id))


def test_a_handler_outcome_for_a_state_already_left_is_ignored(
    db_url: str, clock: FakeClock
) -> None:
    """At-least-once: a late delivery must not move an item that moved on meanwhile."""
    calls: list[int] = []

    def publisher(ctx: HandlerContext) -> str | None:
        calls.append(ctx.visit)
        return None

    options: dict[str, Any] = {"workflows": PUBLISHING, "clock": clock}
    with (
        Engine.open(db_url, **options, runner="web") as web,
        Engine.open(
            db_url, **options, handlers={"publish_to_channels": publisher}, runner="daemon"
        ) as daemon,
    ):
        item = sign(web, to_signoff(web))
        # the item leaves `publishing` by another way before the daemon gets to the row:
        # here a timer (fire_system) fenced by the state visit takes the default outcome
        moved = web.fire_system(
            item.id, "done", state="publishing", visit=item.visit, reason="test"
        )
        assert moved is not None
        assert moved.state == "published"
        assert (
            web.fire_system(item.id, "done", state="publishing", visit=item.visit, reason="x")
            is None
        )
        assert daemon.run_due().delivered == 1
        assert calls == [item.visit]
        after = web.get(item.id)
        assert (after.state, after.version) == ("published", moved.version)
        assert "handler" not in [h.kind for h in web.history(item.id)]
        assert all(r.delivered_at is not None for r in web.outbox(item.id))
    assert check_invariants(db_url) == []


POLL = """\
id: poll
label: {zh: 轮询, en: Poll}
roles:
  editor: {zh: 编辑, en: Editor}
handlers:
  check: {description: Asks whether the channel has taken the post yet.}
start: {state: draft, roles: [editor]}
states:
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: submit, target: waiting, roles: [editor]}
  waiting:
    type: serviceTask
    label: {zh: 等待, en: Waiting}
    handler: check
    transitions:
      - {trigger: ready, target: done, default: true}
      - {trigger: not_yet, target: waiting}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""


def test_an_outcome_that_reenters_the_service_task_runs_it_again(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "poll.yaml").write_text(POLL, encoding="utf-8")
    keys: list[str] = []

    def check(ctx: HandlerContext) -> str | None:
        keys.append(ctx.idempotency_key)
        return "not_yet" if len(keys) < 3 else None

    with Engine.open(db_url, workflows=tmp_path, clock=clock, handlers={"check": check}) as engine:
        item = engine.start("poll", actor=EDITOR)
        item = engine.fire(item.id, "submit", actor=EDITOR)
        assert item.state == "done"  # inline: checked three times, ready the third
        assert len(keys) == 3
        assert len(set(keys)) == 3
        rows = engine.outbox(item.id)
        assert [(r.attempts, r.last_error) for r in rows] == [(1, None)] * 3
        triggers = [h.trigger for h in engine.history(item.id)]
        assert triggers == [None, "submit", "not_yet", "not_yet", "ready"]
    assert check_invariants(db_url) == []


def test_a_service_task_loop_does_not_run_away_inline(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A handler that never says ready must not recurse inside the caller's fire():
    a bounded number of runs happen inline, the rest waits for the delivery passes."""
    (tmp_path / "poll.yaml").write_text(POLL, encoding="utf-8")
    runs: list[int] = []

    def never_ready(ctx: HandlerContext) -> str:
        runs.append(ctx.attempt)
        return "not_yet"

    handlers = {"check": never_ready}
    with Engine.open(db_url, workflows=tmp_path, clock=clock, handlers=handlers) as engine:
        item = engine.start("poll", actor=EDITOR)
        assert engine.fire(item.id, "submit", actor=EDITOR).state == "waiting"
        inline = len(runs)
        assert 1 <= inline <= 10
        pending = [r for r in engine.outbox(item.id) if r.delivered_at is None]
        assert [(r.attempts, r.last_error) for r in pending] == [(0, None)]
        engine.run_due()
        assert inline < len(runs) <= 2 * inline + 1
        assert all(attempt == 1 for attempt in runs)  # every run succeeded first time
    assert check_invariants(db_url) == []


def test_an_outcome_the_state_does_not_have_is_retried_not_taken(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "poll.yaml").write_text(POLL, encoding="utf-8")
    answers = ["publish_now", None]

    def check(_ctx: HandlerContext) -> str | None:
        return answers.pop(0)

    with Engine.open(db_url, workflows=tmp_path, clock=clock, handlers={"check": check}) as engine:
        item = engine.start("poll", actor=EDITOR)
        assert engine.fire(item.id, "submit", actor=EDITOR).state == "waiting"
        (row,) = engine.outbox(item.id)
        assert (row.attempts, row.delivered_at) == (1, None)
        assert "publish_now" in (row.last_error or "")
        assert "ready" in (row.last_error or "")  # the message names the possible outcomes
        clock.now = row.available_at
        assert engine.run_due().delivered == 1
        assert engine.get(item.id).state == "done"
    assert check_invariants(db_url) == []


def test_a_database_failure_while_delivering_does_not_fail_the_accepted_command(
    db_url: str, clock: FakeClock
) -> None:
    """Inline delivery runs after the command's commit: when the database fails there,
    fire still returns the item as committed (an exception would tell the caller the
    command was refused, and a retry would fire it twice); run_due delivers later."""
    database = open_database(db_url)

    def rename(old: str, new: str) -> None:
        with database.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    def sabotaging_publisher(_ctx: HandlerContext) -> None:
        rename("outbox", "outbox_away")  # the delivery's own bookkeeping now fails
        raise ConnectionError("weibo is down")

    handlers = {"publish_to_channels": sabotaging_publisher}
    try:
        with Engine.open(db_url, workflows=PUBLISHING, clock=clock, handlers=handlers) as engine:
            item = to_signoff(engine)
            try:
                signed = sign(engine, item)
            finally:
                rename("outbox_away", "outbox")
            assert signed.state == "publishing"
            assert engine.history(item.id)[-1].trigger == "sign"
            engine.handlers = HandlerRegistry({"publish_to_channels": ok_handler})
            clock.advance(minutes=10)  # past the claim's lease
            assert engine.run_due().delivered == 1
            assert engine.get(item.id).state == "published"
    finally:
        database.dispose()
    assert check_invariants(db_url) == []


def test_an_idle_delivery_pass_takes_no_write_lock(tmp_path: Path, clock: FakeClock) -> None:
    # a daemon polls the outbox every few seconds; on SQLite a write transaction would
    # queue every idle poll behind (and block) the users' commands
    with Engine.open(
        f"sqlite:///{tmp_path / 'cmc.db'}",
        workflows=PUBLISHING,
        clock=clock,
        handlers={"publish_to_channels": FlakyPublisher(failures=0)},
    ) as engine:
        engine.start("publishing", actor=EDITOR, data=TOPIC)
        begins: list[str] = []

        @event.listens_for(engine.store.engine, "before_cursor_execute")
        def record(*args: Any) -> None:
            statement = args[2]
            if statement.startswith("BEGIN"):
                begins.append(statement)

        report = engine.deliver_outbox()
        assert (report.delivered, report.failed) == (0, 0)
        assert begins == ["BEGIN"]  # one deferred (read) transaction, no BEGIN IMMEDIATE


def test_a_notification_costs_no_transaction_of_its_own(db_url: str, clock: FakeClock) -> None:
    """Delivering a notification inline writes its mark with the engine's next write: the
    command that queued it commits once, and the next command carries the mark."""
    with Engine.open(
        db_url, workflows=PUBLISHING, clock=clock, handlers={"publish_to_channels": ok_handler}
    ) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        item = engine.fire(item.id, "approve", actor=LEAD)
        commits: list[int] = []
        event.listen(engine.store.engine, "commit", lambda *_: commits.append(1))
        assigned = engine.fire(
            item.id, "assign", actor=LEAD, data={"assignees": [EDITOR.id], "due_date": "2099-01-01"}
        )
        assert len(commits) == 1  # the command; the editor's notification took none
        assert len(engine._core.marks) == 1  # delivered, its mark waits
        engine.fire(assigned.id, "accept", actor=EDITOR)
        assert len(commits) == 2
        assert len(engine._core.marks) == 0  # carried by the accept
        (notified,) = [r for r in engine.outbox(item.id) if r.name == "editor"]
        assert (notified.delivered_at, notified.attempts) == (clock.now, 1)


def test_marks_without_a_next_write_are_written_when_idle(sqlite_url: str) -> None:
    """No other write comes: the timer writes the marks alone, inside the claim's lease,
    so no other runner delivers the notification again."""
    store = Store.open(sqlite_url)
    try:
        now = FakeClock().now
        with store.write() as tx:
            definition = tx.insert_definition("wf", "a" * 64, 1, "wf.yaml", "id: wf", now).id
            item_id = tx.insert_item(
                {
                    "workflow_id": "wf",
                    "definition_id": definition,
                    "state": "s",
                    "data": {},
                    "visit": 1,
                    "seq": 0,
                    "version": 1,
                    "created_at": now,
                    "created_by": "a",
                    "updated_at": now,
                    "closed_at": None,
                    "parent_id": None,
                }
            )
            message = OutboxMessage(
                item_id=item_id,
                kind="notify",
                name="lead",
                payload={},
                idempotency_key="k",
                created_at=now,
                available_at=now,
                claimed_by="me",
                claimed_until=now + OUTBOX_LEASE,
            )
            (outbox_id,) = tx.insert_outbox([message])
        marks = DeliveryMarks(store, "me", idle_flush=0.05)
        marks.add(outbox_id, now)

        def marked() -> bool:
            with store.read() as tx:
                return tx.outbox_of(item_id)[0].delivered_at == now

        wait_until(marked, "the idle timer writes the mark")
        assert len(marks) == 0
        marks.close()
    finally:
        store.close()
