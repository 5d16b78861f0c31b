"""The bundled long-lived items and a changed definition of their workflows, for the
migration tests.

:func:`definitions` copies the bundled workflows and policies that self-media accounts,
emergency plans and training records need into a folder; :func:`changed` writes the
second version an administrator might make of them:

- ``accounts``: ``qr_replacement`` renamed ``qr_renewal`` (and in the policies that name
  it), and a new required data field ``owner_unit``;
- ``emergency_plans``: ``in_force`` renamed ``effective`` (and in the policies);
- ``training``: ``assessment`` renamed ``examination``, its deadline 10 -> 15 working days.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

from cmc_workflow import Actor, Engine, Item
from cmc_workflow.testing import FakeClock
from tests.helpers import OPS, POLICIES, WORKFLOWS
from tests.helpers.records import TRAINER, qualify_account

WORKFLOW_FILES = [
    "publishing.yaml",
    "training.yaml",
    "training_plan.yaml",
    "accounts.yaml",
    "emergency_plans.yaml",
    "hot_event_notice.yaml",
    "inspections/ins_08_qualification_recheck.yaml",
    "inspections/ins_09_emergency_drill.yaml",
]
POLICY_FILES = ["roles.yaml", "publishing.yaml", "accounts.yaml", "emergency.yaml"]

OPERATOR = Actor("li", {"operator"})
AUTHORITY = Actor("gao", {"authority"})
PLAN: dict[str, Any] = {
    "title": "预约系统宕机应急预案",
    "organization": "运营方值班经理任总指挥",
    "resources": "备用服务器两台",
    "risk_identification": "数据库故障、网络中断",
    "risk_assessment": "等级：重大",
    "prevention": "每日巡检",
    "response": "30 分钟内切换备用系统",
}


def definitions(root: Path) -> tuple[Path, Path]:
    """Copies of the bundled definitions under ``root``: (workflows, policies)."""
    workflows, policies = root / "workflows", root / "policies"
    for name in WORKFLOW_FILES:
        (workflows / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(WORKFLOWS / name, workflows / name)
    policies.mkdir(parents=True)
    for name in POLICY_FILES:
        shutil.copy(POLICIES / name, policies / name)
    return workflows, policies


def _rename(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    renamed = re.sub(rf"\b{old}\b", new, text)
    assert renamed != text, f"{old} not found in {path}"
    path.write_text(renamed, encoding="utf-8")


def changed(root: Path, *, policies_too: bool = True) -> tuple[Path, Path]:
    """The second version of the definitions, under ``root``: (workflows, policies)."""
    workflows, policies = definitions(root)
    accounts = workflows / "accounts.yaml"
    _rename(accounts, "qr_replacement", "qr_renewal")
    text = accounts.read_text(encoding="utf-8")
    text = text.replace(
        "\ndata:\n",
        "\ndata:\n  owner_unit: {type: string, max: 64, label: {zh: 责任部门, en: Owner unit}}\n",
        1,
    )
    accounts.write_text(text, encoding="utf-8")
    _rename(workflows / "emergency_plans.yaml", "in_force", "effective")
    training = workflows / "training.yaml"
    _rename(training, "assessment", "examination")
    text = training.read_text(encoding="utf-8")
    assert "within: 10 working days" in text
    training.write_text(text.replace("within: 10 working days", "within: 15 working days"))
    if policies_too:
        for policy in sorted(policies.glob("*.yaml")):
            text = policy.read_text(encoding="utf-8")
            text = re.sub(r"\bqr_replacement\b", "qr_renewal", text)
            if policy.name == "emergency.yaml":
                text = re.sub(r"\bin_force\b", "effective", text)
            policy.write_text(text, encoding="utf-8")
    return workflows, policies


def open_engine(url: str, clock: FakeClock, folders: tuple[Path, Path]) -> Engine:
    workflows, policies = folders
    return Engine.open(url, workflows=workflows, policies=policies, clock=clock)


def plan_in_force(engine: Engine) -> Item:
    item = engine.start("emergency_plans", actor=OPERATOR, data=PLAN)
    engine.fire(item.id, "submit", actor=OPERATOR)
    return engine.fire(item.id, "approve", actor=AUTHORITY, data={"opinion": "同意实施"})


def record_in(engine: Engine, person: str, until: str) -> Item:
    """A training record of ``person`` walked until state ``until``."""
    record = engine.start(
        "training",
        actor=TRAINER,
        data={"trainee": person, "post": "editor", "course": "post_basics", "reason": "onboarding"},
    )
    for trigger, state in (("begin", "training"), ("finish", "assessment")):
        if record.state == until:
            break
        record = engine.fire(record.id, trigger, actor=TRAINER)
        assert record.state == state
    if until == "passed":
        form = {"result": "pass", "score": 90, "valid_until": "2026-09-30"}
        record = engine.fire(record.id, "assess", actor=TRAINER, data=form)
    assert record.state == until, record.state
    return record


def accounts(engine: Engine, n: int, *, replacing: int = 0) -> list[Item]:
    """``n`` operating accounts, the first ``replacing`` of them with a QR code to replace."""
    made = []
    for i in range(n):
        account = qualify_account(engine, f"acct-{i}")
        if i < replacing:
            account = engine.fire(
                account.id,
                "report_qr_invalid",
                actor=OPS,
                data={"problem": "invalid"},
            )
            assert account.state == "qr_replacement", account.state
        made.append(account)
    return made


def later(clock: FakeClock, **delta: float) -> None:
    clock.now = clock.now + dt.timedelta(**delta)
