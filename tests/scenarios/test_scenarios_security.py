"""Scenarios of security and audit (SEC-1..SEC-5, CMC 10.1 and 4.1), each walked end to
end through the public API and the command line on the bundled definitions, with a
controlled clock.

The heavier proofs live next to the code they prove and carry the same markers: the hash
chain's every kind of tampering in tests/engine/test_audit.py, a runner killed at random instants
over many commands in tests/engine/test_engine_crash.py (SEC-4, ``slow``). The scenarios here
walk each clause once, as an operator would meet it.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from click.testing import CliRunner
from sqlalchemy import text, update

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.cli import main
from cmc_workflow.errors import FormInvalid, GuardRejected, ItemNotFound, NotPermitted
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    EDITOR,
    LEAD,
    OPS,
    POLICIES,
    PUBLISHING,
    PUBLISHING_POLICIES,
    ROOT,
    TOPIC,
    WORKFLOWS,
    check_invariants,
)
from tests.helpers.processes import run
from tests.helpers.records import (
    RECORD_WORKFLOWS,
    qualify_account,
    register_application,
    train_staff,
)

SH = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2025, 9, 26, 15, 0, tzinfo=SH)
STRANGER = Actor("nobody", {"visitor"})
AUTHORITY = Actor("gao", {"authority"})
OPERATOR = Actor("ma", {"operator"})
APP7 = Actor("app7-admin", {"integrator"}, {"application": "app-7"})
APP8 = Actor("app8-admin", {"integrator"}, {"application": "app-8"})


def cli(*args: str) -> Any:
    """The command line, in this process (``cmc-workflow ARGS``). The commands configure
    structlog for a terminal; the test session's configuration is put back afterwards."""
    saved = structlog.get_config()
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        structlog.configure(**saved)


def export(url: str) -> list[dict[str, Any]]:
    """``cmc-workflow audit export``: one JSON line per audit record, personal data masked."""
    done = cli("audit", "export", "--db", url, "--workflows", str(WORKFLOWS))
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()]


def utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


@dataclass
class Center:
    """One engine on every bundled definition for the module; scenarios start their items."""

    engine: Engine
    url: str
    clock: FakeClock


@pytest.fixture(scope="module")
def center(module_db_url: str) -> Iterator[Center]:
    clock = FakeClock(START)
    url = module_db_url
    with Engine.open(url, workflows=WORKFLOWS, policies=POLICIES, clock=clock) as engine:
        train_staff(engine, OPS, OPERATOR, APP7, APP8)  # TRN-3 (policies/training.yaml)
        yield Center(engine, url, clock)


@pytest.fixture
def engine(center: Center) -> Engine:
    center.clock.now = START
    return center.engine


# -- SEC-1 a unified log of every command ---------------------------------------------------------
@pytest.mark.req("SEC-1")
@pytest.mark.enforces("SEC-1", element="cmc_workflow/engine/audit.py")
def test_sec_1_every_command_allowed_or_refused_is_audited_with_who_what_when_item_outcome(
    engine: Engine, center: Center
) -> None:
    def later(minutes: int) -> dt.datetime:
        center.clock.now = START + dt.timedelta(minutes=minutes)
        return center.clock.now

    item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
    t1 = later(1)
    with pytest.raises(NotPermitted):
        engine.fire(item.id, "approve", actor=STRANGER)
    t2 = later(2)
    engine.fire(item.id, "approve", actor=LEAD)
    t3 = later(3)
    with pytest.raises(PolicyDenied):  # TRN-3: nobody was trained
        engine.fire(
            item.id,
            "assign",
            actor=LEAD,
            data={"assignees": ["untrained"], "due_date": "2025-10-10"},
        )
    t4 = later(4)
    with pytest.raises(FormInvalid):
        engine.fire(item.id, "assign", actor=LEAD, data={"assignees": []})
    t5 = later(5)
    with pytest.raises(PolicyDenied):  # a refused start has no item
        engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": True})
    with pytest.raises(ItemNotFound):
        engine.fire(999_999, "approve", actor=STRANGER)

    trail = [
        (r["at"], r["actor"], r["command"], r["trigger"], r["outcome"], r["rule"])
        for r in engine.audit_trail(item.id)
    ]
    assert trail == [
        (START, EDITOR.id, "start", None, "accepted", None),
        (t1, STRANGER.id, "fire", "approve", "refused", "NotPermitted"),
        (t2, LEAD.id, "fire", "approve", "accepted", None),
        (t3, LEAD.id, "fire", "assign", "refused", "assignees_trained"),
        (t4, LEAD.id, "fire", "assign", "refused", "FormInvalid"),
    ]
    refused = [r for r in engine.audit_trail(item.id) if r["outcome"] == "refused"]
    assert all(r["reason"] and r["workflow_id"] == "publishing" for r in refused)
    assert refused[0]["roles"] == ["visitor"]
    # commands on no item are logged too, under their actor, with the same columns
    elsewhere = [
        (r["actor"], r["command"], r["item_id"], r["outcome"], r["rule"], r["at"])
        for r in export(center.url)
        if r["item_id"] is None or r["item_id"] == 999_999
    ]
    assert (EDITOR.id, "start", None, "refused", "no_monetization", utc(t5)) in elsewhere
    assert any(e[0] == STRANGER.id and e[3:5] == ("refused", "ItemNotFound") for e in elsewhere)


# -- SEC-2 tamper-evident and exportable ----------------------------------------------------------
@pytest.mark.req("SEC-2")
def test_sec_2_the_trail_is_exportable_and_audit_verify_names_an_edited_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(
        url,
        workflows=[PUBLISHING, *RECORD_WORKFLOWS],
        policies=PUBLISHING_POLICIES,
        clock=clock,
    ) as engine:
        item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
        with pytest.raises(NotPermitted):
            engine.fire(item.id, "approve", actor=STRANGER)
        engine.fire(item.id, "approve", actor=LEAD)
        with pytest.raises(PolicyDenied):
            engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": True})

    done = cli("audit", "verify", "--db", url)
    assert done.exit_code == 0, done.output
    assert "4 records in 2 chains: intact" in done.stdout
    records = export(url)
    assert [(r["actor"], r["outcome"]) for r in records] == [
        (EDITOR.id, "accepted"),
        (STRANGER.id, "refused"),
        (LEAD.id, "accepted"),
        (EDITOR.id, "refused"),
    ]
    assert records[1]["prev_hash"] == records[0]["hash"]  # chained per item

    # someone with database access rewrites who approved the topic
    forged = records[2]["id"]
    database = open_database(url)
    try:
        with database.begin() as conn:
            conn.execute(update(audit).where(audit.c.id == forged).values(actor="mallory"))
    finally:
        database.dispose()
    done = cli("audit", "verify", "--db", url)
    assert done.exit_code == 1
    assert f"record id {forged}" in done.stdout
    assert "1 finding(s)" in done.stdout
    done = cli("audit", "verify", "--db", url, "--json")
    findings = json.loads(done.stdout)["findings"]
    assert [(f["kind"], f["audit_id"]) for f in findings] == [("edited", forged)]


# -- SEC-3 personal information masked ------------------------------------------------------------
@pytest.mark.req("SEC-3")
@pytest.mark.enforces("SEC-3", element="cmc_workflow/policy/masking.py")
def test_sec_3_personal_fields_are_masked_in_logs_and_exports(
    engine: Engine, center: Center
) -> None:
    account = qualify_account(engine, "fslib-sec3")
    personal = [
        account.data[k] for k in ("registrant_name", "registrant_id_number", "registrant_phone")
    ]
    with structlog.testing.capture_logs() as logged:
        with pytest.raises(FormInvalid, match="expected text"):  # a phone given as a number
            engine.start(
                "accounts",
                actor=OPS,
                data={**account.data, "account_id": "fslib-x", "registrant_phone": 13800138000},
            )
        with pytest.raises(FormInvalid, match=account.data["registrant_phone"]):
            engine.fire(  # a form that quotes the registrant's phone
                account.id,
                "change_registrant",
                actor=OPS,
                data={account.data["registrant_phone"]: "?", "reason": "?"},
            )
    # the registrant changes: the refusal above still quotes the former phone number
    engine.fire(
        account.id,
        "change_registrant",
        actor=OPS,
        data={
            "registrant_name": "钱七",
            "registrant_id_number": "440604199001010022",
            "registrant_phone": "13900139000",
            "reason": "岗位调整",
        },
    )
    refusals = [e for e in logged if e["event"] == "command_refused"]
    assert len(refusals) == 2
    assert "registrant_phone: ***" in refusals[0]["reason"]
    assert "registrant_id_number: ***" in refusals[1]["reason"]  # (it was missing)
    # neither log line repeats a personal value, even where a message quotes one verbatim
    assert not any(value in str(refusal) for value in personal for refusal in refusals)

    lines = [r for r in export(center.url) if r["workflow_id"] == "accounts"]
    exported = json.dumps(lines, ensure_ascii=False)
    assert not any(value in exported for value in [*personal, "13900139000", "钱七"])
    (bad_phone,) = [r for r in lines if r["command"] == "start" and r["outcome"] == "refused"]
    assert bad_phone["detail"]["fields"] == {"registrant_phone": "***"}
    assert bad_phone["reason"] == "form of 'start' is invalid: registrant_phone: ***"
    (quoted,) = [
        r for r in lines if r["trigger"] == "change_registrant" and r["outcome"] == "refused"
    ]
    assert quoted["rule"] == "FormInvalid"
    assert "13*******00" in quoted["reason"]  # a stub: a quarter of each end at most


# -- SEC-4 nothing accepted is lost ---------------------------------------------------------------
CHILD = """\
import os, signal, sys
from cmc_workflow import Actor, Engine
from cmc_workflow.log import configure_logging

configure_logging(level="warning")
url, workflow = sys.argv[1], sys.argv[2]
engine = Engine.open(url, workflows=workflow)
assistant = Actor("xu", {"ops_assistant"})
item = engine.start("publishing_cadence_check", actor=assistant, data={"interval_days": 7})
item = engine.fire(
    item.id, "raise_alert", actor=assistant, data={"accounts": ["fslib-wb"], "days_silent": 9}
)
print(item.id, item.version, item.state, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: the process just ends
"""


@pytest.mark.req("SEC-4")
def test_sec_4_a_committed_transition_survives_the_process_being_killed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    cadence = WORKFLOWS / "inspections" / "ins_11_publishing_cadence.yaml"
    done = run(
        [sys.executable, "-c", CHILD, url, str(cadence)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -9, done.stderr  # killed by SIGKILL
    item_id, version, state = done.stdout.split()
    assert state == "alerted"
    with Engine.open(url, workflows=cadence) as engine:
        item = engine.get(int(item_id))
        assert (item.state, item.version) == ("alerted", int(version))
        assert [h.trigger for h in engine.history(item.id)] == [None, "raise_alert"]
        assert [r["outcome"] for r in engine.audit_trail(item.id)] == ["accepted", "accepted"]
    assert check_invariants(url) == []
    database = open_database(url)
    try:
        with database.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
    finally:
        database.dispose()
    assert cli("audit", "verify", "--db", url).exit_code == 0


# -- SEC-5 role separation -------------------------------------------------------------------------
@pytest.mark.req("SEC-5")
@pytest.mark.enforces("SEC-5", element="policies/roles.yaml#scoping[0]")
def test_sec_5_an_integrator_acts_only_on_its_own_application(engine: Engine) -> None:
    register_application(engine, "app-7")
    review = engine.start("monthly_metrics_review", actor=AUTHORITY)
    engine.fire(
        review.id,
        "raise_findings",
        actor=AUTHORITY,
        data={
            "summary": "预约应用指标未达标",
            "application": "app-7",
            "findings": ["预约成功率低于 90%"],
            "due_date": "2025-10-31",
        },
    )
    (finding,) = engine.children(review.id)
    assert finding.data["application"] == "app-7"

    # the other application's integrator neither sees it nor acts on it
    assert finding.id not in [i.id for i in engine.inbox(APP8)]
    (start_work,) = [a for a in engine.allowed(finding.id, APP8) if a.trigger == "start_work"]
    assert (start_work.allowed, start_work.rules) == (False, ("integrators_own_applications",))
    with pytest.raises(PolicyDenied) as denied:
        engine.fire(finding.id, "start_work", actor=APP8, data={"cause": "x", "measures": "y"})
    assert denied.value.rule == "integrators_own_applications"
    assert "接入方只能处理本方应用" in denied.value.reason_zh
    # nor does it open items for an application not its own, or act with no application
    with pytest.raises(PolicyDenied):
        engine.start(
            "rectification",
            actor=APP8,
            data={
                "finding": "x",
                "source": "other",
                "responsible": "integrator",
                "application": "app-7",
                "due_date": "2025-10-31",
            },
        )
    anonymous = Actor("ghost", {"integrator"})
    with pytest.raises(PolicyDenied):
        engine.fire(finding.id, "start_work", actor=anonymous, data={"cause": "x", "measures": "y"})
    # the platform's work stays the operator's: an integrator runs no inspection
    with pytest.raises(NotPermitted):
        engine.start("device_inspection", actor=APP7)

    # its own application's integrator does the work
    assert finding.id in [i.id for i in engine.inbox(APP7)]
    engine.fire(
        finding.id, "start_work", actor=APP7, data={"cause": "接口超时", "measures": "扩容"}
    )
    with pytest.raises(GuardRejected):  # the operator is not the responsible party here
        engine.fire(finding.id, "report_done", actor=OPERATOR, data={"actions_taken": "x"})
    done = engine.fire(finding.id, "report_done", actor=APP7, data={"actions_taken": "已扩容"})
    assert done.state == "done"
    history = engine.history(finding.id)
    assert [(h.trigger, h.actor, h.roles) for h in history[1:]] == [
        ("start_work", APP7.id, ("integrator",)),
        ("report_done", APP7.id, ("integrator",)),
    ]
