"""Self-media accounts (SM 5.2, ACC-1..4) and their quarterly qualification re-check (INS-8)
walked end to end on the bundled ``workflows/accounts.yaml``,
``workflows/inspections/ins_08_qualification_recheck.yaml`` and the bundled policies,
through the public API and a controlled clock (Fri 2025-09-26 15:00 Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import FormInvalid, GuardRejected, NotPermitted
from cmc_workflow.policy import Masker
from cmc_workflow.policy.masking import personal_fields
from cmc_workflow.schedules import Schedules
from cmc_workflow.testing import FakeClock
from tests.helpers import EDITOR, OPS, POLICIES, PUBLISHING, TOPIC, WORKFLOWS, ok_handler, walk
from tests.helpers.records import (
    QUALIFICATION_RECHECK,
    RECORD_WORKFLOWS,
    qualify_account,
    train_editors,
)

POLICY_FILES = [POLICIES / f"{name}.yaml" for name in ("roles", "publishing", "accounts")]
DEFINITIONS = [PUBLISHING, *RECORD_WORKFLOWS, QUALIFICATION_RECHECK]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
ASSISTANT = Actor("xu", {"ops_assistant"})
NEW_MANAGER = Actor("zhang", {"ops_manager"})
AUTHORITY = Actor("gov", {"authority"})
REGISTRATION: dict[str, Any] = {
    "account_id": "fslib-wechat",
    "platform": "wechat",
    "name": "佛山市图书馆",
    "registrant_name": "张三",
    "registrant_id_number": "440602199001011234",
    "registrant_phone": "13800138000",
    "custodian": OPS.id,
}


@pytest.fixture
def engine_options(clocks: Clocks) -> dict[str, Any]:
    return {
        "workflows": DEFINITIONS,
        "policies": POLICY_FILES,
        "handlers": {"publish_to_channels": ok_handler},
        "extensions": [clocks],
    }


def signed(engine: Engine, *accounts: str) -> Item:
    """A piece for ``accounts``, reviewed and signed off: waiting to be released to them."""
    item = engine.start("publishing", actor=EDITOR, data={**TOPIC, "accounts": list(accounts)})
    item = engine.fire(walk(engine, item, "signoff").id, "sign", actor=OPS)
    assert item.state == "release"
    return item


# -- ACC-1 registration and certification -------------------------------------------------------
@pytest.mark.req("ACC-1")
def test_acc_1_an_account_is_registered_with_a_fixed_persons_identity_and_certified(
    engine: Engine,
) -> None:
    without = {k: v for k, v in REGISTRATION.items() if k != "registrant_id_number"}
    with pytest.raises(FormInvalid, match="registrant_id_number"):
        engine.start("accounts", actor=OPS, data=without)
    with pytest.raises(NotPermitted):  # operations management registers the accounts
        engine.start("accounts", actor=ASSISTANT, data=dict(REGISTRATION))
    account = engine.start("accounts", actor=OPS, data=dict(REGISTRATION))
    assert account.state == "certifying"
    with pytest.raises(FormInvalid, match="qualified_until"):
        engine.fire(account.id, "certify", actor=OPS, data={"certification": "WX-2025-001"})
    account = engine.fire(
        account.id,
        "certify",
        actor=OPS,
        data={"certification": "WX-2025-001", "qualified_until": "2026-09-30"},
    )
    assert (account.state, account.data["certification"]) == ("operating", "WX-2025-001")
    # the registrant's identity is personal data: masked wherever it leaves the system
    fields = personal_fields(engine.workflow("accounts").definition)
    assert {"registrant_name", "registrant_id_number", "registrant_phone"} <= fields
    masked = Masker(fields).value(dict(account.data))
    assert masked["registrant_id_number"] != REGISTRATION["registrant_id_number"]
    assert masked["account_id"] == "fslib-wechat"
    # a change of registrant is recorded like the registration
    engine.fire(
        account.id,
        "change_registrant",
        actor=OPS,
        data={
            "registrant_name": "李四",
            "registrant_id_number": "440602198801012345",
            "registrant_phone": "13900139000",
            "reason": "原注册人调岗",
        },
    )
    assert engine.get(account.id).data["registrant_name"] == "李四"


@pytest.mark.req("ACC-1")
@pytest.mark.enforces(
    "ACC-1", element="policies/publishing.yaml#workflows.publishing.requires_record[2]"
)
@pytest.mark.enforces("ACC-1", element="workflows/accounts.yaml#data.registrant_id_number")
def test_acc_1_an_account_not_yet_certified_cannot_be_published_to(engine: Engine) -> None:
    train_editors(engine)
    without = {k: v for k, v in REGISTRATION.items() if k != "registrant_id_number"}
    with pytest.raises(FormInvalid, match="registrant_id_number"):  # a fixed person's identity
        engine.start("accounts", actor=OPS, data=without)
    account = engine.start("accounts", actor=OPS, data=dict(REGISTRATION))
    assert account.state == "certifying"
    # a piece for the library's own site that also names the account: released to it only
    # once the account is officially certified
    item = engine.start(
        "publishing", actor=EDITOR, data={**TOPIC, "channels": ["pc"], "accounts": ["fslib-wechat"]}
    )
    item = engine.fire(walk(engine, item, "signoff").id, "sign", actor=OPS)
    assert item.state == "release"
    with pytest.raises(PolicyDenied) as refused:
        engine.fire(item.id, "release", actor=OPS)
    assert refused.value.rule == "account_qualified"
    with pytest.raises(FormInvalid, match="certification"):  # certified means a certificate
        engine.fire(account.id, "certify", actor=OPS, data={"qualified_until": "2026-09-30"})
    engine.fire(
        account.id,
        "certify",
        actor=OPS,
        data={"certification": "WX-2025-001", "qualified_until": "2026-09-30"},
    )
    assert engine.fire(item.id, "release", actor=OPS).state == "published"


# -- ACC-2 qualification re-checked; an expired account stops operating ------------------------
@pytest.mark.req("ACC-2")
def test_acc_2_publishing_to_an_account_whose_qualification_expired_is_refused(
    engine: Engine, clock: FakeClock
) -> None:
    train_editors(engine)
    qualify_account(engine, "fslib-wechat", qualified_until="2025-09-30")
    weibo = qualify_account(engine, "fslib-weibo", platform="weibo")
    first = signed(engine, "fslib-wechat", "fslib-weibo")
    second = signed(engine, "fslib-wechat", "fslib-weibo")
    assert engine.fire(first.id, "release", actor=OPS).state == "published"
    clock.now = dt.datetime(2025, 10, 1, 9, 0, tzinfo=SHANGHAI)  # the wechat account lapsed
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(second.id, "release", actor=OPS)
    assert denied.value.rule == "account_qualified"
    assert denied.value.reason_en.startswith("fslib-wechat: no record found")
    assert "fslib-weibo" not in denied.value.reason_en
    assert engine.get(second.id).state == "release"
    second = engine.fire(
        second.id,
        "change_accounts",
        actor=OPS,
        data={"accounts": ["fslib-weibo"], "reason": "微信公众号资质过期"},
    )
    assert engine.fire(second.id, "release", actor=OPS).state == "published"
    # a re-check that finds the qualification lapsed stops the account at once
    weibo = engine.fire(weibo.id, "recheck", actor=OPS)
    assert weibo.state == "rechecking"
    third = signed(engine, "fslib-weibo")  # still operating while it is re-checked
    weibo = engine.fire(weibo.id, "lapse", actor=OPS, data={"reason": "认证未年审"})
    assert weibo.state == "suspended"
    assert ("notify", "authority") in [(o.kind, o.name) for o in engine.outbox(weibo.id)]
    with pytest.raises(PolicyDenied, match="fslib-weibo: no record found"):
        engine.fire(third.id, "release", actor=OPS)
    engine.fire(
        weibo.id,
        "recertify",
        actor=OPS,
        data={"certification": "WB-2025-009", "qualified_until": "2026-10-31"},
    )
    assert engine.fire(third.id, "release", actor=OPS).state == "published"
    # a piece for no self-media account goes out at the sign-off, as before
    plain = engine.start("publishing", actor=EDITOR, data={**TOPIC, "channels": ["pc", "app"]})
    plain = walk(engine, plain, "signoff")
    assert engine.fire(plain.id, "sign", actor=OPS).state == "published"


# -- ACC-3 one named password custodian -----------------------------------------------------------
@pytest.mark.req("ACC-3")
@pytest.mark.enforces(
    "ACC-3", element="workflows/accounts.yaml#states.operating.transitions[2].guard"
)
def test_acc_3_a_custodian_change_shows_in_the_history_with_who_and_when(
    engine: Engine, clock: FakeClock
) -> None:
    account = qualify_account(engine, "fslib-wechat")
    assert account.data["custodian"] == OPS.id
    handover = {"custodian": NEW_MANAGER.id, "reason": "原保管人调岗"}
    with pytest.raises(NotPermitted):  # only operations management keeps passwords
        engine.fire(account.id, "change_custodian", actor=ASSISTANT, data=dict(handover))
    with pytest.raises(GuardRejected):  # the incoming custodian takes over themselves
        engine.fire(account.id, "change_custodian", actor=OPS, data=dict(handover))
    with pytest.raises(GuardRejected):  # nor names someone else (not a manager, unknown)
        engine.fire(
            account.id,
            "change_custodian",
            actor=NEW_MANAGER,
            data={"custodian": ASSISTANT.id, "reason": "代管"},
        )
    clock.advance(days=4, hours=2)
    account = engine.fire(account.id, "change_custodian", actor=NEW_MANAGER, data=dict(handover))
    assert (account.state, account.data["custodian"]) == ("operating", NEW_MANAGER.id)
    custodians = [
        (h.actor, h.at, h.form["custodian"])
        for h in engine.history(account.id)
        if "custodian" in h.form
    ]
    assert custodians == [
        (OPS.id, dt.datetime(2025, 9, 26, 7, 0, tzinfo=dt.UTC), OPS.id),  # registered
        (NEW_MANAGER.id, clock.now, NEW_MANAGER.id),  # taken over, by whom and when
    ]
    last = engine.history(account.id)[-1]
    assert (last.trigger, last.form["reason"], last.roles) == (
        "change_custodian",
        "原保管人调岗",
        ("ops_manager",),
    )


# -- ACC-4 invalid or retired QR codes replaced promptly ----------------------------------------
@pytest.mark.req("ACC-4")
@pytest.mark.enforces("ACC-4", element="workflows/accounts.yaml#states.qr_replacement.deadline")
def test_acc_4_an_invalid_qr_code_is_replaced_within_two_working_days(
    engine: Engine, clock: FakeClock, clocks: Clocks
) -> None:
    train_editors(engine)
    account = qualify_account(engine, "fslib-wechat")
    account = engine.fire(
        account.id,
        "report_qr_invalid",
        actor=ASSISTANT,
        data={"problem": "retired", "where_used": "馆内海报"},
    )
    assert account.state == "qr_replacement"
    (clock_view,) = [c for c in clocks.clocks(account.id) if c.state == "qr_replacement"]
    # Fri 15:00 + 2 working days: Sun 28 is an adjusted working day, so Mon 29 17:30
    assert clock_view.due_at == dt.datetime(2025, 9, 29, 17, 30, tzinfo=SHANGHAI)
    piece = signed(engine, "fslib-wechat")  # the account keeps operating meanwhile
    assert engine.fire(piece.id, "release", actor=OPS).state == "published"
    clock.now = dt.datetime(2025, 9, 29, 17, 31, tzinfo=SHANGHAI)
    engine.run_due()
    (late,) = [c for c in clocks.clocks(account.id) if c.state == "qr_replacement"]
    assert late.status == "breached"
    assert late.escalated_at is not None
    escalations = [o for o in engine.outbox(account.id) if o.name == "ops_manager"]
    assert any("escalate" in o.payload["reason"] for o in escalations)
    with pytest.raises(FormInvalid, match="qr_code"):
        engine.fire(account.id, "replace_qr", actor=ASSISTANT)
    account = engine.fire(
        account.id, "replace_qr", actor=ASSISTANT, data={"qr_code": "qr/fslib-wechat-2025.png"}
    )
    assert (account.state, account.data["qr_code"]) == ("operating", "qr/fslib-wechat-2025.png")


# -- INS-8 the periodic qualification re-check ----------------------------------------------------
@pytest.mark.req("INS-8", "ACC-2")
@pytest.mark.enforces(
    "INS-8", element="workflows/schedules.yaml#schedules.ins_08_qualification_recheck"
)
def test_ins_8_the_quarterly_recheck_sends_every_operating_account_to_its_recheck(
    tmp_path: Path, clock: FakeClock, clocks: Clocks
) -> None:
    # the bundled schedule entry, on its own (the other entries need the other inspections)
    bundled = yaml.safe_load((WORKFLOWS / "schedules.yaml").read_text(encoding="utf-8"))
    entry = bundled["schedules"]["ins_08_qualification_recheck"]
    assert entry["workflow"] == "qualification_recheck"
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "schedules.yaml").write_text(
        yaml.safe_dump(
            {"kind": "schedules", "timezone": bundled["timezone"], "schedules": {"ins_08": entry}},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    paths = [*DEFINITIONS, folder]
    schedules = Schedules.from_loaded(load_paths(paths), WorkingCalendar())
    with Engine.open(
        f"sqlite:///{tmp_path / 'cmc.db'}",
        workflows=paths,
        policies=POLICY_FILES,
        clock=clock,
        extensions=[clocks, schedules],
    ) as engine:
        engine.run_due()  # Fri 26 Sep: the schedule is first seen; nothing due yet
        wechat = qualify_account(engine, "fslib-wechat", qualified_until="2025-12-31")
        weibo = qualify_account(engine, "fslib-weibo", platform="weibo")
        douyin = qualify_account(engine, "fslib-douyin", platform="douyin")
        engine.fire(douyin.id, "report_qr_invalid", actor=ASSISTANT, data={"problem": "invalid"})
        clock.now = dt.datetime(2025, 10, 15, 10, 0, 30, tzinfo=SHANGHAI)  # the quarter's day
        engine.run_due()
        (round_,) = [i for i in engine.inbox(OPS) if i.workflow == "qualification_recheck"]
        assert (round_.state, round_.created_by) == ("checking", "schedule:ins_08")
        assert round_.data["scheduled_for"] == "2025-10-15T10:00:00+08:00"
        assert round_.data["accounts_due"] == 2  # the account replacing its QR code waits
        for account in (wechat, weibo):
            now = engine.get(account.id)
            assert (now.state, now.data["recheck_batch"]) == ("rechecking", round_.id)
        assert engine.get(douyin.id).state == "qr_replacement"
        # each account is confirmed or lapses on its own item
        wechat = engine.fire(
            wechat.id,
            "confirm",
            actor=OPS,
            data={"certification": "WX-2026-001", "qualified_until": "2026-12-31"},
        )
        assert (wechat.state, wechat.data["qualified_until"]) == ("operating", "2026-12-31")
        assert engine.fire(weibo.id, "lapse", actor=OPS, data={"reason": "未年审"}).state == (
            "suspended"
        )
        with pytest.raises(NotPermitted):
            engine.fire(round_.id, "report_expired", actor=AUTHORITY, data={"accounts": ["x"]})
        round_ = engine.fire(
            round_.id, "report_expired", actor=OPS, data={"accounts": ["fslib-weibo"]}
        )
        assert (round_.state, round_.is_open) == ("expired", False)
        assert ("notify", "authority") in [(o.kind, o.name) for o in engine.outbox(round_.id)]
        # an account left in its re-check is escalated to the authority after 5 working days
        engine.fire(wechat.id, "recheck", actor=OPS)
        clock.now = dt.datetime(2025, 10, 23, 9, 0, tzinfo=SHANGHAI)
        engine.run_due()
        (check,) = [c for c in clocks.clocks(wechat.id) if not c.stopped]
        assert (check.state, check.escalated_at is not None) == ("rechecking", True)
