"""Scenarios of fault handling (CMC 9.2, 8.2.5): FLT-1..5 and the daily patrol (INS-1).

Each test walks one clause end to end through the public API, on the bundled
``workflows/faults.yaml`` and ``workflows/inspections/ins_01_patrol.yaml`` with the bundled
policies (``policies/roles.yaml`` for SEC-5, ``policies/faults.yaml``), on SQLite and
PostgreSQL, with the FakeClock of ``cmc_workflow.testing`` (Fri 2025-09-26 15:00
Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmc_workflow import Actor, DefinitionError, Engine, Item, PolicyDenied
from cmc_workflow.calendar import WorkingCalendar
from cmc_workflow.definition.loader import load_paths
from cmc_workflow.errors import FormInvalid, GuardRejected, InvalidTrigger, NotPermitted
from cmc_workflow.model import engine_actor
from cmc_workflow.schedules import Schedules
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS

FAULTS = WORKFLOWS / "faults.yaml"
PATROL = WORKFLOWS / "inspections" / "ins_01_patrol.yaml"
DEFINITIONS = [FAULTS, PATROL]
POLICY_FILES = [POLICIES / "roles.yaml", POLICIES / "faults.yaml"]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

OPERATOR = Actor("li", {"operator"})
OTHER_OPERATOR = Actor("zhou", {"operator"})
INTEGRATOR = Actor("chen", {"integrator"}, {"application": "app-7"})
OTHER_INTEGRATOR = Actor("wu", {"integrator"}, {"application": "app-9"})
AUTHORITY = Actor("gao", {"authority"})
SCHEDULER = engine_actor("schedule:ins_01_daily_patrol", {"system"})  # as the scheduler acts

REPORT: dict[str, Any] = {
    "application": "app-7",
    "system_name": "预约系统",
    "symptom": "预约提交后一直转圈，数据未写入",
}
ANALYSIS: dict[str, Any] = {
    "technical_causes": "连接池耗尽，超时配置过长",
    "management_causes": "上线前未做压测，变更未经评审",
    "corrective_actions": ["调整连接池与超时", "上线前压测纳入变更流程"],
}


@pytest.fixture
def engine_options() -> dict[str, Any]:
    return {"workflows": DEFINITIONS, "policies": POLICY_FILES}


def notified(engine: Engine, item_id: int) -> list[tuple[str, str]]:
    """The notifications queued for an item: (role, the state it reached), in order."""
    return [(r.name, r.payload["state"]) for r in engine.outbox(item_id) if r.kind == "notify"]


def report(engine: Engine, **data: Any) -> Item:
    return engine.start("faults", actor=OPERATOR, data={**REPORT, **data})


def acknowledged(engine: Engine, responsible: str = "integrator", **data: Any) -> Item:
    item = report(engine, **data)
    return engine.fire(
        item.id,
        "acknowledge",
        actor=INTEGRATOR,
        data={"responsible": responsible, "assessment": "接口超时"},
    )


@pytest.mark.req("FLT-1", "SEC-5")
@pytest.mark.enforces(
    "FLT-1", element="workflows/faults.yaml#states.reported.transitions[0].notify"
)
def test_flt_1_an_anomaly_is_reported_to_the_integrator_and_the_authority_at_once(
    engine: Engine, clock: FakeClock
) -> None:
    with pytest.raises(FormInvalid) as missing:
        engine.start("faults", actor=OPERATOR, data={"system_name": "预约系统"})
    assert {e.field for e in missing.value.errors} == {"application", "symptom"}
    with pytest.raises(NotPermitted):
        engine.start("faults", actor=INTEGRATOR, data=REPORT)

    item = report(engine)
    # the report and both notifications are one transaction: nothing waits for a person
    assert item.state == "acknowledging"
    assert notified(engine, item.id) == [
        ("integrator", "acknowledging"),
        ("authority", "acknowledging"),
    ]
    assert [h.kind for h in engine.history(item.id)] == ["start", "route"]

    # SEC-5: the integrator of another application neither sees nor acknowledges it
    assert [i.id for i in engine.inbox(INTEGRATOR)] == [item.id]
    assert engine.inbox(OTHER_INTEGRATOR) == []
    with pytest.raises(PolicyDenied) as foreign:
        engine.fire(
            item.id,
            "acknowledge",
            actor=OTHER_INTEGRATOR,
            data={"responsible": "integrator", "assessment": "不是我们的"},
        )
    assert foreign.value.rule == "integrators_own_applications"

    # unacknowledged after 2 working hours (Fri 17:00): escalated to the operations manager
    clock.advance(hours=2, minutes=1)
    engine.run_due()
    assert ("ops_manager", "acknowledging") in notified(engine, item.id)
    assert engine.get(item.id).state == "acknowledging"

    item = engine.fire(
        item.id,
        "acknowledge",
        actor=INTEGRATOR,
        data={"responsible": "integrator", "assessment": "接口超时"},
    )
    assert item.state == "fixing"
    assert item.data["responsible"] == "integrator"


@pytest.mark.req("FLT-2")
def test_flt_2_a_suspended_service_reopens_only_after_a_verified_fix(engine: Engine) -> None:
    item = acknowledged(engine)
    assert item.state == "fixing"
    with pytest.raises(NotPermitted):
        engine.fire(item.id, "suspend", actor=INTEGRATOR, data={"suspension_reason": "x"})
    item = engine.fire(
        item.id, "suspend", actor=OPERATOR, data={"suspension_reason": "数据写入异常，暂停预约"}
    )
    assert item.state == "suspended"
    assert notified(engine, item.id)[-2:] == [
        ("integrator", "suspended"),
        ("authority", "suspended"),
    ]
    # a suspended service has no way back but through verification
    assert {a.trigger for a in engine.allowed(item.id, OPERATOR)} == {"fix"}

    item = engine.fire(item.id, "fix", actor=INTEGRATOR, data={"fix": "扩容连接池"})
    assert item.state == "verifying"
    with pytest.raises(NotPermitted):
        engine.fire(item.id, "reopen", actor=INTEGRATOR, data={})
    with pytest.raises(FormInvalid) as unverified:
        engine.fire(item.id, "reopen", actor=OPERATOR, data={"verified_by": "李工"})
    assert [e.field for e in unverified.value.errors] == ["verification"]

    item = engine.fire(
        item.id,
        "reject_fix",
        actor=OPERATOR,
        data={"verified_by": "李工", "verification": "并发 100 时仍超时"},
    )
    assert item.state == "suspended"
    item = engine.fire(item.id, "fix", actor=INTEGRATOR, data={"fix": "修复慢查询"})
    item = engine.fire(
        item.id,
        "reopen",
        actor=OPERATOR,
        data={"verified_by": "李工", "verification": "并发 500 压测通过，预约数据正确写入"},
    )
    assert item.state == "analysis"
    assert notified(engine, item.id)[-2:] == [("integrator", "analysis"), ("authority", "analysis")]
    reopened = engine.history(item.id)[-1]
    assert (reopened.trigger, reopened.actor) == ("reopen", OPERATOR.id)
    assert reopened.form["verified_by"] == "李工"


@pytest.mark.req("FLT-2")
@pytest.mark.enforces("FLT-2", element="policies/faults.yaml#workflows.faults.distinct_actors[0]")
def test_flt_2_whoever_fixed_the_platform_does_not_verify_the_fix(engine: Engine) -> None:
    item = acknowledged(engine, responsible="operator", suspend_now=True)
    assert item.state == "suspended"  # suspended when reported, from acknowledgement on
    item = engine.fire(item.id, "fix", actor=OPERATOR, data={"fix": "重启网关"})
    with pytest.raises(PolicyDenied) as own:
        engine.fire(
            item.id, "reopen", actor=OPERATOR, data={"verified_by": "li", "verification": "好了"}
        )
    assert own.value.rule == "fixer_does_not_verify"
    item = engine.fire(
        item.id,
        "reopen",
        actor=OTHER_OPERATOR,
        data={"verified_by": "zhou", "verification": "网关健康检查与预约提交均正常"},
    )
    assert item.state == "analysis"


@pytest.mark.req("FLT-3")
@pytest.mark.enforces(
    "FLT-3",
    element="workflows/faults.yaml#states.analysis.transitions[0].form.management_causes",
)
def test_flt_3_the_responsible_party_fixes_and_analyses_technical_and_management_causes(
    engine: Engine,
) -> None:
    item = acknowledged(engine)
    # the operator is not the responsible party for this application's fault
    with pytest.raises(GuardRejected):
        engine.fire(item.id, "fix", actor=OPERATOR, data={"fix": "我来修"})
    item = engine.fire(item.id, "fix", actor=INTEGRATOR, data={"fix": "扩容连接池"})
    assert item.state == "analysis"

    without_management = {k: v for k, v in ANALYSIS.items() if k != "management_causes"}
    with pytest.raises(FormInvalid) as refused:
        engine.fire(item.id, "analyse", actor=INTEGRATOR, data=without_management)
    assert [e.field for e in refused.value.errors] == ["management_causes"]
    assert "management_causes" in str(refused.value)
    with pytest.raises(FormInvalid) as blank:
        engine.fire(
            item.id,
            "analyse",
            actor=INTEGRATOR,
            data={**ANALYSIS, "technical_causes": "", "corrective_actions": []},
        )
    assert [e.field for e in blank.value.errors] == ["technical_causes", "corrective_actions"]
    with pytest.raises(PolicyDenied):
        engine.fire(item.id, "analyse", actor=OTHER_INTEGRATOR, data=ANALYSIS)
    assert engine.get(item.id).state == "analysis"

    item = engine.fire(item.id, "analyse", actor=INTEGRATOR, data=ANALYSIS)
    assert item.state == "feedback"
    assert item.data["management_causes"] == ANALYSIS["management_causes"]
    assert item.data["corrective_actions"] == ANALYSIS["corrective_actions"]


@pytest.mark.req("FLT-4")
@pytest.mark.enforces(
    "FLT-4", element="workflows/faults.yaml#states.feedback.transitions[0].notify"
)
def test_flt_4_a_fault_closes_only_after_the_analysis_and_the_feedback(engine: Engine) -> None:
    item = acknowledged(engine)
    with pytest.raises(InvalidTrigger):
        engine.fire(item.id, "feed_back", actor=OPERATOR, data={"outcome": "已处理"})
    item = engine.fire(item.id, "fix", actor=INTEGRATOR, data={"fix": "扩容连接池"})
    # fixed, but not analysed: the item cannot close yet
    assert "feed_back" not in {a.trigger for a in engine.allowed(item.id, OPERATOR)}
    with pytest.raises(InvalidTrigger) as early:
        engine.fire(item.id, "feed_back", actor=OPERATOR, data={"outcome": "已处理"})
    assert "analyse" in str(early.value)
    item = engine.fire(item.id, "analyse", actor=INTEGRATOR, data=ANALYSIS)

    with pytest.raises(NotPermitted):
        engine.fire(item.id, "feed_back", actor=INTEGRATOR, data={"outcome": "已处理"})
    before = len(notified(engine, item.id))
    item = engine.fire(
        item.id, "feed_back", actor=OPERATOR, data={"outcome": "已修复，整改措施已落实"}
    )
    assert item.state == "closed"
    assert not item.is_open
    assert notified(engine, item.id)[before:] == [("integrator", "closed"), ("authority", "closed")]
    assert [h.trigger for h in engine.history(item.id) if h.kind == "fire"] == [
        "acknowledge",
        "fix",
        "analyse",
        "feed_back",
    ]


@pytest.mark.req("FLT-3", "FLT-4")
@pytest.mark.enforces("FLT-3", element="policies/faults.yaml#workflows.faults.required_stages[0]")
@pytest.mark.enforces("FLT-4", element="policies/faults.yaml#workflows.faults.required_stages[0]")
def test_flt_4_a_shortcut_to_closing_is_refused_when_the_definitions_load(
    tmp_path: Path,
) -> None:
    text = FAULTS.read_text(encoding="utf-8")
    shortcut = (
        "      - trigger: close_early\n"
        "        target: closed\n"
        "        roles: [operator]\n"
        "      - trigger: suspend\n"
    )
    assert text.count("      - trigger: suspend\n") == 1
    (tmp_path / "faults.yaml").write_text(
        text.replace("      - trigger: suspend\n", shortcut), encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as refused:
        Engine.open(
            f"sqlite:///{tmp_path / 'x.db'}",
            workflows=[tmp_path / "faults.yaml"],
            policies=POLICY_FILES,
        )
    assert refused.value.codes == ["E-POLICY-BYPASS"]
    assert "analysed_and_fed_back" in str(refused.value)


@pytest.mark.req("FLT-5", "FLT-1", "INS-1")
@pytest.mark.enforces(
    "FLT-5", element="workflows/inspections/ins_01_patrol.yaml#states.due.transitions[1].starts"
)
def test_flt_5_an_anomaly_found_on_the_patrol_opens_a_fault_item(engine: Engine) -> None:
    patrol = engine.start(
        "system_patrol",
        actor=SCHEDULER,
        data={"scheduled_for": dt.datetime(2025, 9, 26, 9, 0, tzinfo=SHANGHAI)},
    )
    assert patrol.state == "due"
    with pytest.raises(FormInvalid):  # an incomplete report opens nothing
        engine.fire(patrol.id, "report_anomaly", actor=OPERATOR, data={"application": "app-7"})
    assert engine.children(patrol.id) == []

    patrol = engine.fire(
        patrol.id, "report_anomaly", actor=OPERATOR, data={**REPORT, "suspend_now": True}
    )
    patrol = engine.fire(
        patrol.id,
        "report_anomaly",
        actor=OPERATOR,
        data={"application": "app-9", "system_name": "数据交换", "symptom": "数据同步中断"},
    )
    assert patrol.state == "anomalies_found"
    faults = engine.children(patrol.id)
    assert [(f.workflow, f.state, f.parent_id, f.created_by) for f in faults] == [
        ("faults", "acknowledging", patrol.id, OPERATOR.id),
        ("faults", "acknowledging", patrol.id, OPERATOR.id),
    ]
    assert dict(faults[0].data) == {**REPORT, "suspend_now": True, "source": "patrol"}
    assert faults[1].data["application"] == "app-9"
    for fault in faults:  # each fault reports itself at once (FLT-1)
        assert notified(engine, fault.id) == [
            ("integrator", "acknowledging"),
            ("authority", "acknowledging"),
        ]
    # scoping follows the fault's application (SEC-5)
    assert [i.id for i in engine.inbox(INTEGRATOR)] == [faults[0].id]
    fault = engine.fire(
        faults[0].id,
        "acknowledge",
        actor=INTEGRATOR,
        data={"responsible": "integrator", "assessment": "写库超时"},
    )
    assert fault.state == "suspended"  # the patrol suspended the service (FLT-2)

    patrol = engine.fire(patrol.id, "finish", actor=OPERATOR, data={"systems_checked": 12})
    assert patrol.state == "anomaly_reported"
    assert engine.get(faults[1].id).is_open  # tracked in its own workflow


@pytest.mark.req("INS-1")
def test_ins_1_the_daily_patrol_starts_each_morning_and_closes_when_all_is_normal(
    tmp_path: Path, clock: FakeClock
) -> None:
    # the bundled schedule entry, on its own (the other entries need the other inspections)
    bundled = yaml.safe_load((WORKFLOWS / "schedules.yaml").read_text(encoding="utf-8"))
    entry = bundled["schedules"]["ins_01_daily_patrol"]
    assert entry["workflow"] == "system_patrol"
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "schedules.yaml").write_text(
        yaml.safe_dump(
            {"kind": "schedules", "timezone": bundled["timezone"], "schedules": {"patrol": entry}},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    paths = [*DEFINITIONS, folder]
    schedules = Schedules.from_loaded(load_paths(paths), WorkingCalendar())
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(
        url, workflows=paths, policies=POLICY_FILES, clock=clock, extensions=[schedules]
    ) as engine:
        engine.run_due()  # Fri 15:00: the schedule is first seen; nothing due yet
        assert engine.inbox(OPERATOR) == []
        clock.now = dt.datetime(2025, 9, 27, 9, 0, 30, tzinfo=SHANGHAI)  # Saturday 09:00
        engine.run_due()
        (patrol,) = engine.inbox(OPERATOR)
        assert (patrol.workflow, patrol.state, patrol.created_by) == (
            "system_patrol",
            "due",
            "schedule:patrol",
        )
        assert patrol.data["scheduled_for"] == "2025-09-27T09:00:00+08:00"
        with pytest.raises(FormInvalid):
            engine.fire(patrol.id, "all_normal", actor=OPERATOR, data={"systems_checked": 0})
        patrol = engine.fire(patrol.id, "all_normal", actor=OPERATOR, data={"systems_checked": 12})
        assert patrol.state == "done"
        assert engine.children(patrol.id) == []
