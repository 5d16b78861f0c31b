"""The engine's contract through the public API, run against every store (``db_url``).

Each test opens its own engine on an empty database and checks what the caller sees
(items, history, errors) and what is recorded (audit, outbox) — never the engine's
internals.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmc_workflow import Actor, Engine, Extension, HandlerContext, PolicyDenied
from cmc_workflow.errors import (
    ConflictError,
    FormInvalid,
    GuardRejected,
    InvalidTrigger,
    ItemNotFound,
    NotPermitted,
    StoreError,
    WorkflowNotFound,
)
from cmc_workflow.extensions import Command
from cmc_workflow.store import Tx
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    HAPPY_PATH,
    LEAD,
    OPS,
    OTHER_EDITOR,
    REVIEWER,
    TOPIC,
    audit_rows,
    check_invariants,
    ok_handler,
    walk,
)
from tests.helpers import (
    UNGUARDED_PUBLISHING as PUBLISHING,
)


def open_publishing(db_url: str, clock: FakeClock, **options: Any) -> Engine:
    options.setdefault("handlers", {"publish_to_channels": ok_handler})
    options.setdefault("workflows", PUBLISHING)
    return Engine.open(db_url, clock=clock, **options)


def refusals(engine: Engine, item_id: int) -> list[dict[str, Any]]:
    return [a for a in engine.audit_trail(item_id) if a["outcome"] == "refused"]


# -- the publishing lifecycle ----------------------------------------------------------


@pytest.mark.req("PUB-1", "PUB-2", "PUB-3", "PUB-4", "PUB-5", "PUB-6", "PUB-7", "PUB-9", "SEC-1")
def test_publishing_lifecycle_is_recorded_step_by_step(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        assert (item.state, item.revision, item.version, item.visit) == ("proposed", 1, 1, 1)
        assert item.is_open
        assert item.created_by == EDITOR.id
        assert item.data == TOPIC
        for state, trigger, actor, form in HAPPY_PATH:
            assert item.state == state
            clock.advance(minutes=5)
            version = item.version
            item = engine.fire(item.id, trigger, actor=actor, data=dict(form))
            assert engine.get(item.id) == item
            if trigger == "sign":  # the handler ran inline and took the default outcome
                assert item.state == "published"
                assert item.version == version + 2
            else:
                assert item.version == version + 1
        assert item.state == "archived"
        assert not item.is_open
        assert item.closed_at == clock.now

        history = engine.history(item.id)
        assert [h.seq for h in history] == list(range(1, len(history) + 1))
        assert [(h.kind, h.trigger, h.from_state, h.to_state) for h in history] == [
            ("start", None, None, "proposed"),
            ("fire", "approve", "proposed", "selected"),
            ("fire", "assign", "selected", "assigned"),
            ("fire", "accept", "assigned", "drafting"),
            ("fire", "submit", "drafting", "first_review"),
            ("fire", "approve", "first_review", "second_review"),
            ("fire", "approve", "second_review", "signoff"),
            ("fire", "sign", "signoff", "publishing"),
            ("handler", "done", "publishing", "published"),
            ("fire", "archive", "published", "archived"),
        ]
        assert [h.visit for h in history] == list(range(1, 11))
        assert [h.actor for h in history][:2] == [EDITOR.id, LEAD.id]
        assert history[8].actor == "system"
        assert history[5].roles == ("reviewer",)
        assert history[4].form == {"content": "正文"}
        assert history[5].form == CHECKLIST
        assert [h.at for h in history] == sorted(h.at for h in history)

        audit = engine.audit_trail(item.id)
        assert [(a["command"], a["trigger"], a["outcome"]) for a in audit] == [
            ("start", None, "accepted"),
            *[("fire", t, "accepted") for _s, t, _a, _f in HAPPY_PATH[:7]],
            ("handler", "done", "accepted"),
            ("fire", "archive", "accepted"),
        ]
        assert audit[1]["actor"] == LEAD.id
        assert audit[1]["roles"] == ["channel_lead"]
    assert check_invariants(db_url) == []


@pytest.mark.req("SEC-1")
def test_a_refused_command_is_audited_and_changes_nothing(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        history = engine.history(item.id)
        attempts: list[tuple[str, Actor, dict[str, Any], type[Exception]]] = [
            ("approve", EDITOR, {}, NotPermitted),
            ("publish", LEAD, {}, InvalidTrigger),
            ("return", LEAD, {}, FormInvalid),
        ]
        for trigger, actor, form, error in attempts:
            with pytest.raises(error):
                engine.fire(item.id, trigger, actor=actor, data=form)
        assert engine.get(item.id) == item
        assert engine.history(item.id) == history
        refused = refusals(engine, item.id)
        assert [(a["command"], a["trigger"], a["actor"], a["rule"]) for a in refused] == [
            ("fire", "approve", EDITOR.id, "NotPermitted"),
            ("fire", "publish", LEAD.id, "InvalidTrigger"),
            ("fire", "return", LEAD.id, "FormInvalid"),
        ]
        assert all(a["reason"] and a["detail"]["state"] == "proposed" for a in refused)
        assert refused[2]["detail"]["fields"] == {"reason": "is required"}
    assert check_invariants(db_url) == []


@pytest.mark.req("PUB-5")
def test_a_bad_form_names_every_bad_field(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = walk(engine, engine.start("publishing", actor=EDITOR, data=TOPIC), "first_review")
        form = {**CHECKLIST, "truthful": "yes", "checked_by": "zhao"}
        del form["copyright_cleared"]
        with pytest.raises(FormInvalid) as caught:
            engine.fire(item.id, "approve", actor=REVIEWER, data=form)
        errors = {e.field: e.message for e in caught.value.errors}
        assert set(errors) == {"truthful", "checked_by", "copyright_cleared"}
        assert errors["copyright_cleared"] == "is required"  # every checklist point is answered
        assert "true or false" in errors["truthful"]
        assert "not a field" in errors["checked_by"]
        assert caught.value.item_id == str(item.id)
        assert caught.value.trigger == "approve"
        assert "truthful" in str(caught.value)
        assert "checked_by" in str(caught.value)

        with pytest.raises(FormInvalid) as caught:
            engine.fire(item.id, "reject", actor=REVIEWER, data={})
        assert [(e.field, e.message) for e in caught.value.errors] == [("reason", "is required")]
        assert engine.get(item.id) == item

        item = engine.fire(item.id, "reject", actor=REVIEWER, data={"reason": "来源不明"})
        assert item.state == "drafting"
        assert item.data["reason"] == "来源不明"


@pytest.mark.req("PUB-2")
def test_a_form_cannot_break_the_items_data(db_url: str, clock: FakeClock) -> None:
    """The channel lead's edit form makes every field optional, but a value it submits
    becomes the item's data, which must stay as valid as it was at start."""
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        with pytest.raises(FormInvalid) as caught:
            engine.fire(item.id, "edit", actor=LEAD, data={"title": "", "channels": []})
        assert {e.field: e.message for e in caught.value.errors} == {
            "title": "is required",
            "channels": "is required",
        }
        with pytest.raises(FormInvalid) as caught:
            engine.fire(item.id, "edit", actor=LEAD, data={"title": "长" * 201})
        assert [e.field for e in caught.value.errors] == ["title"]
        assert engine.get(item.id) == item
        item = engine.fire(item.id, "edit", actor=LEAD, data={"channels": ["app"]})
        assert item.data["channels"] == ["app"]
        assert item.data["title"] == TOPIC["title"]


@pytest.mark.req("PUB-1")
def test_start_data_is_validated(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        bad = {"outline": "", "channels": ["wechat", "tiktok"], "colour": "red", "repost": 1}
        with pytest.raises(FormInvalid) as caught:
            engine.start("publishing", actor=EDITOR, data=bad)
        errors = {e.field: e.message for e in caught.value.errors}
        assert set(errors) == {"title", "outline", "channels", "colour", "repost"}
        assert errors["title"] == "is required"
        assert "tiktok" in errors["channels"]
        assert caught.value.trigger == "start"

        with pytest.raises(NotPermitted, match="editor"):
            engine.start("publishing", actor=LEAD, data=TOPIC)
        with pytest.raises(WorkflowNotFound, match="publishing"):
            engine.start("publishin", actor=EDITOR, data=TOPIC)
        with pytest.raises(ItemNotFound):
            engine.get(404)

        date_given = engine.start(
            "publishing", actor=EDITOR, data={**TOPIC, "due_date": "2025-10-10"}
        )
        assert date_given.data["due_date"] == "2025-10-10"
    refused = audit_rows(db_url, "outcome = 'refused' AND command = 'start'")
    assert [(r.actor, r.rule, r.workflow_id, r.item_id) for r in refused] == [
        (EDITOR.id, "FormInvalid", "publishing", None),
        (LEAD.id, "NotPermitted", "publishing", None),
        (EDITOR.id, "WorkflowNotFound", "publishin", None),
    ]
    assert set(refused[0].detail["fields"]) == {"title", "outline", "channels", "colour", "repost"}
    assert audit_rows(db_url, "outcome = 'accepted' AND command = 'start'")[0].item_id is not None


def test_invalid_trigger_lists_the_possible_triggers(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        with pytest.raises(InvalidTrigger) as caught:
            engine.fire(item.id, "sign", actor=OPS)
        message = str(caught.value)
        for trigger in ("edit", "approve", "return", "delete"):
            assert trigger in message
        assert caught.value.state == "proposed"
        assert caught.value.trigger == "sign"
        with pytest.raises(ItemNotFound):
            engine.fire(item.id + 1000, "approve", actor=LEAD)


def test_not_permitted_names_the_roles(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        with pytest.raises(NotPermitted) as caught:
            engine.fire(item.id, "approve", actor=Actor("nobody"))
        assert "channel_lead" in str(caught.value)
        assert "nobody" in str(caught.value)
        item = walk(engine, item, "published")
        with pytest.raises(NotPermitted) as caught:
            engine.fire(item.id, "archive", actor=REVIEWER, data={"category": "x"})
        assert "editor" in str(caught.value)
        assert "ops_manager" in str(caught.value)


@pytest.mark.req("PUB-2", "PUB-9")
def test_a_closed_item_refuses_everything(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        item = engine.fire(item.id, "delete", actor=LEAD, data={"reason": "重复选题"})
        assert item.state == "deleted"
        assert not item.is_open
        everyone = Actor("root", {"editor", "channel_lead", "reviewer", "ops_manager"})
        assert engine.allowed(item.id, everyone) == []
        for trigger in ("approve", "delete", "edit", "archive"):
            with pytest.raises(InvalidTrigger, match="closed"):
                engine.fire(item.id, trigger, actor=everyone, data={"reason": "x"})
        assert engine.get(item.id) == item
        assert len(engine.history(item.id)) == 2
        assert {a["rule"] for a in refusals(engine, item.id)} == {"InvalidTrigger"}


@pytest.mark.req("PUB-2")
def test_allowed_answers_with_reasons(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        for_lead = {a.trigger: a for a in engine.allowed(item.id, LEAD)}
        assert list(for_lead) == ["edit", "approve", "return", "delete"]
        assert all(a.allowed and not a.reasons for a in for_lead.values())
        assert for_lead["approve"].target == "selected"
        assert for_lead["approve"].label == "入选题库"
        assert for_lead["return"].form == ("reason",)
        for_editor = engine.allowed(item.id, EDITOR)
        assert [a.trigger for a in for_editor] == ["edit", "approve", "return", "delete"]
        assert not any(a.allowed for a in for_editor)
        assert all("channel_lead" in a.reasons[0] for a in for_editor)
        assert {a.rules for a in for_editor} == {("NotPermitted",)}
        assert engine.get(item.id) == item  # asking changes nothing


@pytest.mark.req("PUB-3")
def test_inbox_by_role_and_by_assignee(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        first = engine.start("publishing", actor=EDITOR, data=TOPIC)
        second = engine.start("publishing", actor=OTHER_EDITOR, data=TOPIC)
        third = engine.start("publishing", actor=EDITOR, data=TOPIC)
        engine.fire(third.id, "delete", actor=LEAD, data={"reason": "重复"})

        def inbox(actor: Actor) -> list[int]:
            return [i.id for i in engine.inbox(actor)]

        assert inbox(LEAD) == [first.id, second.id]  # proposals wait on the channel lead
        assert inbox(EDITOR) == []
        assert inbox(REVIEWER) == []

        walk(engine, first, "assigned")  # assigned to EDITOR by name
        assert inbox(EDITOR) == [first.id]
        assert inbox(OTHER_EDITOR) == []
        assert inbox(LEAD) == [second.id]
        engine.fire(
            first.id,
            "reassign",
            actor=LEAD,
            data={"assignees": [OTHER_EDITOR.id, "wu"], "due_date": "2025-10-12"},
        )
        assert inbox(EDITOR) == []
        assert inbox(OTHER_EDITOR) == [first.id]
        assert inbox(Actor("wu", {"editor"})) == [first.id]

        item = engine.fire(first.id, "accept", actor=OTHER_EDITOR)
        item = engine.fire(item.id, "submit", actor=OTHER_EDITOR, data={"content": "稿"})
        assert inbox(OTHER_EDITOR) == []
        assert inbox(REVIEWER) == [first.id]
        assert [i.state for i in engine.inbox(REVIEWER)] == ["first_review"]


@pytest.mark.req("SEC-1")
def test_a_stale_expected_version_is_a_retryable_conflict(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        seen = item.version
        moved = engine.fire(
            item.id, "edit", actor=LEAD, data={"title": "新标题"}, expected_version=seen
        )
        assert moved.version == seen + 1
        assert moved.state == "proposed"
        assert moved.visit == item.visit  # a self-loop stays in the same visit
        assert moved.data["title"] == "新标题"
        with pytest.raises(ConflictError) as caught:
            engine.fire(item.id, "approve", actor=LEAD, expected_version=seen)
        assert caught.value.retryable
        assert caught.value.item_id == str(item.id)
        assert str(item.id) in str(caught.value)
        assert engine.get(item.id) == moved
        assert refusals(engine, item.id)[-1]["rule"] == "ConflictError"
        current = engine.get(item.id).version
        assert engine.fire(item.id, "approve", actor=LEAD, expected_version=current).state == (
            "selected"
        )


# -- a guarded workflow ------------------------------------------------------------------

GRANTS = """\
id: grants
version: 1
label: {zh: 经费申请, en: Grant requests}
roles:
  applicant: {zh: 申请人, en: Applicant}
  approver: {zh: 审批人, en: Approver}
handlers:
  check_budget: {description: Checks the remaining budget.}
data:
  amount: {type: integer, min: 1}
  urgent: {type: boolean, required: false}
start: {state: draft, roles: [applicant]}
states:
  draft:
    type: userTask
    label: {zh: 草稿, en: Draft}
    transitions:
      - {trigger: submit, target: triage, roles: [applicant]}
      - trigger: fast_track
        target: approved
        roles: [applicant]
        guard: data.urgent == true and data.amount < 100
  triage:
    type: exclusiveGateway
    label: {zh: 分流, en: Triage}
    transitions:
      - {guard: data.amount >= 1000, target: board}
      - {default: true, target: budget_check}
  board:
    type: userTask
    label: {zh: 委员会审批, en: Board}
    transitions:
      - trigger: decide
        target: approved
        roles: [approver]
        guard: form.score >= 5
        form:
          score: {type: integer, min: 0, max: 10}
      - trigger: decide
        target: draft
        roles: [approver]
        guard: form.score < 5
        form:
          score: {type: integer, min: 0, max: 10}
  budget_check:
    type: serviceTask
    label: {zh: 预算核对, en: Budget check}
    handler: check_budget
    transitions:
      - {trigger: ok, target: approved, default: true}
      - {trigger: over, target: draft}
  approved:
    type: endEvent
    label: {zh: 已批准, en: Approved}
"""
APPLICANT = Actor("chen", {"applicant"})
APPROVER = Actor("he", {"approver"})


def budget(ctx: HandlerContext) -> str | None:
    """Over budget above 500: the handler names the outcome; otherwise the default."""
    return "over" if ctx.data["amount"] > 500 else None


@pytest.fixture
def grants_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "grants"
    folder.mkdir()
    (folder / "grants.yaml").write_text(GRANTS, encoding="utf-8")
    return folder


def open_grants(db_url: str, clock: FakeClock, folder: Path) -> Engine:
    return Engine.open(db_url, workflows=folder, clock=clock, handlers={"check_budget": budget})


def test_guards_gateways_and_handler_outcomes(
    db_url: str, clock: FakeClock, grants_dir: Path
) -> None:
    with open_grants(db_url, clock, grants_dir) as engine:
        small = engine.start("grants", actor=APPLICANT, data={"amount": 200})
        with pytest.raises(GuardRejected) as caught:
            engine.fire(small.id, "fast_track", actor=APPLICANT)
        assert "data.urgent" in str(caught.value)
        assert caught.value.item_id == str(small.id)
        assert engine.get(small.id) == small
        assert refusals(engine, small.id)[-1]["rule"] == "GuardRejected"
        fast_track = {a.trigger: a for a in engine.allowed(small.id, APPLICANT)}["fast_track"]
        assert not fast_track.allowed
        assert fast_track.rules == ("GuardRejected",)

        done = engine.fire(small.id, "submit", actor=APPLICANT)
        assert done.state == "approved"
        assert not done.is_open
        assert [
            (h.kind, h.trigger, h.from_state, h.to_state) for h in engine.history(small.id)
        ] == [
            ("start", None, None, "draft"),
            ("fire", "submit", "draft", "triage"),
            ("route", None, "triage", "budget_check"),
            ("handler", "ok", "budget_check", "approved"),
        ]

        over = engine.start("grants", actor=APPLICANT, data={"amount": 700})
        back = engine.fire(over.id, "submit", actor=APPLICANT)
        assert back.state == "draft"
        assert engine.history(over.id)[-1].trigger == "over"
        assert back.visit == 4  # draft, triage, budget_check, draft again

        urgent = engine.start("grants", actor=APPLICANT, data={"amount": 50, "urgent": True})
        assert engine.fire(urgent.id, "fast_track", actor=APPLICANT).state == "approved"

        big = engine.start("grants", actor=APPLICANT, data={"amount": 5000})
        big = engine.fire(big.id, "submit", actor=APPLICANT)
        assert big.state == "board"
        assert [i.id for i in engine.inbox(APPROVER)] == [big.id]
        with pytest.raises(FormInvalid) as bad:
            engine.fire(big.id, "decide", actor=APPROVER, data={"score": 11})
        assert [e.field for e in bad.value.errors] == ["score"]
        assert engine.fire(big.id, "decide", actor=APPROVER, data={"score": 3}).state == "draft"
        again = engine.fire(big.id, "submit", actor=APPLICANT)
        assert engine.fire(again.id, "decide", actor=APPROVER, data={"score": 8}).state == (
            "approved"
        )
    assert check_invariants(db_url) == []


def test_allowed_is_optimistic_about_guards_the_form_decides(
    db_url: str, clock: FakeClock, grants_dir: Path
) -> None:
    """`decide` is guarded on the submitted score: before the form is filled in, the
    approver may fire it (fire judges the guard); others still may not, and a guard on
    the item's data alone is still judged (fast_track, above)."""
    with open_grants(db_url, clock, grants_dir) as engine:
        item = engine.start("grants", actor=APPLICANT, data={"amount": 5000})
        item = engine.fire(item.id, "submit", actor=APPLICANT)
        (decide,) = engine.allowed(item.id, APPROVER)
        assert (decide.trigger, decide.allowed, decide.reasons) == ("decide", True, ())
        assert decide.form == ("score",)
        (refused,) = engine.allowed(item.id, APPLICANT)
        assert not refused.allowed
        assert refused.rules == ("NotPermitted",)


def test_a_missing_parent_item_is_not_found(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock) as engine:
        with pytest.raises(ItemNotFound) as caught:
            engine.start("publishing", actor=EDITOR, data=TOPIC, parent_id=999)
        assert not getattr(caught.value, "retryable", False)
        parent = engine.start("publishing", actor=EDITOR, data=TOPIC)
        child = engine.start("publishing", actor=EDITOR, data=TOPIC, parent_id=parent.id)
        assert child.parent_id == parent.id
    refused = audit_rows(db_url, "outcome = 'refused'")
    assert [(r.command, r.rule) for r in refused] == [("start", "ItemNotFound")]


def test_only_a_lost_race_is_a_retryable_conflict(db_url: str, clock: FakeClock) -> None:
    """The store translates a duplicate key (another command got there first) into a
    ConflictError, and a write the schema refuses for good into a StoreError."""
    with open_publishing(db_url, clock) as engine:
        item = engine.start("publishing", actor=EDITOR, data=TOPIC)
        duplicate = {
            "item_id": item.id,
            "seq": 1,
            "at": clock.now,
            "kind": "fire",
            "trigger": "edit",
            "from_state": "proposed",
            "to_state": "proposed",
            "visit": 1,
            "actor": LEAD.id,
            "roles": ["channel_lead"],
            "form": {},
        }
        with pytest.raises(ConflictError), engine.store.write() as tx:
            tx.insert_history([duplicate])
        with pytest.raises(StoreError) as caught, engine.store.write() as tx:
            tx.insert_history([{**duplicate, "seq": 2, "item_id": item.id + 1000}])
        assert not isinstance(caught.value, ConflictError)
        assert len(engine.history(item.id)) == 1


class NoMonetization(Extension):
    """PUB-12 as a tiny policy: a publication that declares monetization is refused."""

    def check(self, command: Command, tx: Tx) -> None:
        if command.workflow.id == "publishing" and command.data.get("monetization"):
            raise PolicyDenied(
                "PUB-12-no-monetization",
                "accounts must not enable ad or paid-content revenue",
                "不得开通流量主、付费等盈利功能",
                item_id=str(command.item.id) if command.item else None,
                trigger=command.trigger,
            )


@pytest.mark.req("PUB-12", "SEC-1")
def test_a_policy_refusal_is_audited_with_its_rule(db_url: str, clock: FakeClock) -> None:
    with open_publishing(db_url, clock, extensions=[NoMonetization()]) as engine:
        with pytest.raises(PolicyDenied) as caught:
            engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": True})
        assert caught.value.rule == "PUB-12-no-monetization"
        assert caught.value.reason_zh
        item = engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": False})
        assert item.state == "proposed"
    refused = audit_rows(db_url, "outcome = 'refused'")
    assert [(r.command, r.rule) for r in refused] == [("start", "PUB-12-no-monetization")]
    assert "paid-content" in refused[0].reason


# -- versions ----------------------------------------------------------------------------


def _bundled_version() -> int:
    """The bundled publishing workflow's version label."""
    version = yaml.safe_load(PUBLISHING.read_text(encoding="utf-8"))["version"]
    assert isinstance(version, int)
    return version


def _publishing_v2(folder: Path) -> None:
    """Version 2 drops the `returned` state (and the `return` trigger that led there)."""
    doc = yaml.safe_load(PUBLISHING.read_text(encoding="utf-8"))
    doc["version"] = _bundled_version() + 1
    del doc["states"]["returned"]
    proposed = doc["states"]["proposed"]
    proposed["transitions"] = [t for t in proposed["transitions"] if t["trigger"] != "return"]
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    (folder / "publishing.yaml").write_text(text, encoding="utf-8")


def test_items_stay_on_the_version_they_started_with(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(PUBLISHING, folder / "publishing.yaml")
    with open_publishing(db_url, clock, workflows=folder) as engine:
        old = engine.start("publishing", actor=EDITOR, data=TOPIC)
        old = engine.fire(old.id, "return", actor=LEAD, data={"reason": "角度不清"})
        assert (old.state, old.revision) == ("returned", 1)
        also_old = engine.start("publishing", actor=EDITOR, data=TOPIC)
    with open_publishing(db_url, clock, workflows=folder) as engine:  # same text: same version
        assert [v.revision for v in engine.versions("publishing")] == [1]

    _publishing_v2(folder)
    clock.advance(days=1)
    with open_publishing(db_url, clock, workflows=folder) as engine:
        new = engine.start("publishing", actor=EDITOR, data=TOPIC)
        assert new.revision == 2
        with pytest.raises(InvalidTrigger):
            engine.fire(new.id, "return", actor=LEAD, data={"reason": "x"})
        assert engine.get(old.id).revision == 1
        # the old item still moves by its own definition, out of a state v2 does not have
        assert "resubmit" in [a.trigger for a in engine.allowed(old.id, EDITOR)]
        old = engine.fire(old.id, "resubmit", actor=EDITOR, data={"title": "改后的标题"})
        assert (old.state, old.revision) == ("proposed", 1)
        old = engine.fire(old.id, "return", actor=LEAD, data={"reason": "还是不清楚"})
        assert old.state == "returned"
        assert [i.id for i in engine.inbox(EDITOR)] == [old.id]
        engine.fire(also_old.id, "delete", actor=LEAD, data={"reason": "重复"})

        versions = engine.versions("publishing")
        assert [(v.revision, v.version_label, v.open_items, v.current) for v in versions] == [
            (1, _bundled_version(), 1, False),
            (2, _bundled_version() + 1, 1, True),
        ]
        assert versions[1].loaded_at == clock.now
        assert versions[0].content_hash != versions[1].content_hash
        with pytest.raises(WorkflowNotFound):
            engine.versions("nothing")
    # a later runner that loads only v2 still runs the v1 items from the stored text
    with open_publishing(db_url, clock, workflows=folder) as engine:
        assert engine.fire(old.id, "withdraw", actor=EDITOR).state == "deleted"
        assert [v.open_items for v in engine.versions("publishing")] == [0, 1]
    assert check_invariants(db_url) == []
