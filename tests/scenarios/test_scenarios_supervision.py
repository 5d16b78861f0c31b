"""The application register (APP-1), the metric set (MON-2) and each integrator's own
monthly analysis (INS-4) walked end to end on the bundled workflows and policies, through
the public API and a controlled clock (Fri 2025-09-26 15:00 Asia/Shanghai)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cmc_workflow import Actor, Engine, Item, PolicyDenied
from cmc_workflow.errors import GuardRejected, NotPermitted
from cmc_workflow.testing import FakeClock
from tests.helpers import POLICIES, WORKFLOWS

INSPECTIONS = WORKFLOWS / "inspections"
DEFINITIONS = [
    WORKFLOWS / "applications.yaml",
    WORKFLOWS / "metric_set.yaml",
    WORKFLOWS / "metrics_analysis.yaml",
    WORKFLOWS / "rectification.yaml",
    WORKFLOWS / "faults.yaml",
    WORKFLOWS / "hot_event_notice.yaml",
    INSPECTIONS / "ins_04_monthly_metrics.yaml",
]
POLICY_FILES = [POLICIES / "roles.yaml", POLICIES / "applications.yaml"]

OPERATOR = Actor("ma", {"operator"})
AUTHORITY = Actor("gao", {"authority"})
APP7 = Actor("app7-team", {"integrator"}, attributes={"application": "app-7"})
METRICS = ["monthly_active_users", "booking_success_rate", "availability"]


@pytest.fixture
def engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    with Engine.open(db_url, workflows=DEFINITIONS, policies=POLICY_FILES, clock=clock) as opened:
        yield opened


def register(engine: Engine, application: str, *, live: bool = True) -> Item:
    """An application of the register, put into operation unless ``live`` is false."""
    item = engine.start(
        "applications",
        actor=OPERATOR,
        data={"application": application, "name": f"应用 {application}", "integrator": "某公司"},
    )
    if live:
        item = engine.fire(item.id, "go_live", actor=OPERATOR)
    return item


def metric_set(engine: Engine, version: str, metrics: list[str]) -> Item:
    return engine.start(
        "metric_set",
        actor=AUTHORITY,
        data={
            "scope": "platform",
            "set_version": version,
            "metrics": metrics,
            "definitions": "按管理方口径统计",
        },
    )


def analysis(metrics: list[str]) -> dict[str, Any]:
    return {"metrics": metrics, "analysis": "本月各项指标平稳"}


# -- APP-1 the application register ------------------------------------------------------------
@pytest.mark.req("APP-1")
@pytest.mark.enforces(
    "APP-1", element="policies/applications.yaml#workflows.faults.requires_record[0]"
)
def test_app_1_a_fault_names_an_application_of_the_register_and_not_one_offline(
    engine: Engine,
) -> None:
    fault: dict[str, Any] = {"system_name": "预约系统", "symptom": "无法预约"}
    with pytest.raises(PolicyDenied) as unknown:
        engine.start("faults", actor=OPERATOR, data={**fault, "application": "app-7"})
    assert unknown.value.rule == "fault_of_a_registered_application"
    assert "APP-1" in unknown.value.reason_en
    assert "APP-1" in unknown.value.reason_zh
    app = register(engine, "app-7")
    with pytest.raises(PolicyDenied):  # one live register entry per application
        register(engine, "app-7")
    assert engine.start("faults", actor=OPERATOR, data={**fault, "application": "app-7"})
    engine.fire(app.id, "take_offline", actor=OPERATOR, data={"reason": "停止服务"})
    with pytest.raises(PolicyDenied):  # offline: no longer on the platform
        engine.start("faults", actor=OPERATOR, data={**fault, "application": "app-7"})
    with pytest.raises(NotPermitted):  # the operator keeps the register
        engine.start(
            "applications",
            actor=APP7,
            data={"application": "app-9", "name": "x", "integrator": "y"},
        )


# -- INS-4 and MON-2 each integrator's own monthly analysis against the metric set -----------
@pytest.mark.req("INS-4", "APP-1")
@pytest.mark.enforces(
    "INS-4",
    element="workflows/inspections/ins_04_monthly_metrics.yaml#states.gathering.transitions[0].collects",
)
@pytest.mark.enforces(
    "APP-1", element="policies/applications.yaml#workflows.metrics_analysis.requires_record[0]"
)
def test_ins_4_the_monthly_review_opens_one_analysis_per_running_application(
    engine: Engine,
) -> None:
    app7 = register(engine, "app-7")
    register(engine, "app-8")
    register(engine, "app-9", live=False)  # still onboarding: not analysed yet
    gone = register(engine, "app-6")
    engine.fire(gone.id, "take_offline", actor=OPERATOR, data={"reason": "下线"})

    review = engine.start("monthly_metrics_review", actor=AUTHORITY)
    assert (review.state, review.data["applications_due"]) == ("review", 2)
    analyses = [c for a in (app7,) for c in engine.children(a.id)]
    assert [(c.workflow, c.data["application"], c.data["review"]) for c in analyses] == [
        ("metrics_analysis", "app-7", review.id)
    ]
    opened = {i.data["application"] for i in engine.query(workflow="metrics_analysis").items}
    assert opened == {"app-7", "app-8"}
    # next month, another one each: the schedule forces it, not findings
    engine.start("monthly_metrics_review", actor=AUTHORITY)
    assert len(engine.query(workflow="metrics_analysis").items) == 4
    # an analysis opened by hand names a running application of the register
    with pytest.raises(PolicyDenied) as denied:
        engine.start(
            "metrics_analysis",
            actor=AUTHORITY,
            data={"application": "app-9", "metric_scope": "platform"},
        )
    assert denied.value.rule == "analysis_of_a_registered_application"


@pytest.mark.req("MON-2", "INS-4")
@pytest.mark.enforces(
    "MON-2",
    element="policies/applications.yaml#workflows.metrics_analysis.requires_record[1].covers",
)
@pytest.mark.enforces(
    "MON-2", element="policies/applications.yaml#workflows.metric_set.unique_start[0]"
)
def test_mon_2_an_analysis_is_judged_against_every_metric_of_the_set_in_force(
    engine: Engine,
) -> None:
    register(engine, "app-7")
    engine.start("monthly_metrics_review", actor=AUTHORITY)
    (item,) = engine.query(workflow="metrics_analysis").items
    with pytest.raises(PolicyDenied) as no_set:  # nothing to judge it against yet
        engine.fire(item.id, "submit", actor=APP7, data=analysis(METRICS))
    assert no_set.value.rule == "judged_against_the_metric_set_in_force"

    first = metric_set(engine, "2025-01", METRICS)
    with pytest.raises(PolicyDenied) as twice:  # one version in force at a time
        metric_set(engine, "2025-02", [*METRICS, "complaints"])
    assert twice.value.rule == "one_metric_set_in_force"
    with pytest.raises(PolicyDenied) as short:
        engine.fire(item.id, "submit", actor=APP7, data=analysis(METRICS[:2]))
    assert short.value.rule == "judged_against_the_metric_set_in_force"
    assert "availability" in short.value.reason_en
    assert "availability" in short.value.reason_zh
    other = Actor("app8-team", {"integrator"}, attributes={"application": "app-8"})
    with pytest.raises(PolicyDenied) as not_theirs:  # SEC-5: its own application's only
        engine.fire(item.id, "submit", actor=other, data=analysis(METRICS))
    assert not_theirs.value.rule == "integrators_own_applications"
    item = engine.fire(item.id, "submit", actor=APP7, data=analysis(METRICS))
    assert item.state == "reviewing"

    # a new version adds a metric: an analysis still under review is judged by it
    engine.fire(first.id, "supersede", actor=AUTHORITY, data={"reason": "增加投诉指标"})
    metric_set(engine, "2025-02", [*METRICS, "complaints"])
    with pytest.raises(PolicyDenied, match="complaints"):
        engine.fire(item.id, "accept", actor=AUTHORITY)
    item = engine.fire(item.id, "return", actor=AUTHORITY, data={"reason": "按新指标集补充"})
    item = engine.fire(item.id, "submit", actor=APP7, data=analysis([*METRICS, "complaints"]))
    assert engine.fire(item.id, "accept", actor=AUTHORITY).state == "done"


@pytest.mark.req("INS-4")
def test_ins_4_the_authority_raises_findings_from_an_analysis_and_waits_for_them(
    engine: Engine,
) -> None:
    register(engine, "app-7")
    metric_set(engine, "2025-01", METRICS)
    engine.start("monthly_metrics_review", actor=AUTHORITY)
    (item,) = engine.query(workflow="metrics_analysis").items
    item = engine.fire(item.id, "submit", actor=APP7, data=analysis(METRICS))
    item = engine.fire(
        item.id,
        "raise_findings",
        actor=AUTHORITY,
        data={"findings": ["预约成功率低于 90%"], "due_date": "2025-10-31"},
    )
    (finding,) = engine.children(item.id)
    assert (finding.workflow, finding.data["application"]) == ("rectification", "app-7")
    with pytest.raises(GuardRejected):
        engine.fire(item.id, "close", actor=AUTHORITY)
