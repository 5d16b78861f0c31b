"""Levels at run time (issue 13, part 1): a *should* (宜) is recorded, warned about and
reported, never refused by default; an administrator raises it to a refusal in a policy
file; a *must* is never lowered.

Walked on the bundled definitions (``tests.helpers.WORKFLOWS``/``POLICIES``) with the
monthly self-media statistics (INS-5, SM 5.6.1 "应按月统计……，宜截图保存平台关注量数据"):
the followers of each platform listed are a must (the workflow's guard), their screenshot
a should (``policies/statistics.yaml``, rule ``followers_screenshot_kept``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.definition import load_paths
from cmc_workflow.reports import build_report
from tests.helpers import POLICIES, WORKFLOWS, EngineFactory
from tests.helpers.records import train_staff

ASSISTANT = Actor("xu", {"ops_assistant"})
MANAGER = Actor("sun", {"ops_manager"})
AUTHORITY = Actor("gao", {"authority"})
OPERATOR = Actor("ma", {"operator"})
RULE = "followers_screenshot_kept"

MONTH: dict[str, Any] = {
    "platforms": ["wechat", "weibo"],
    "followers_wechat": 52310,
    "screenshot_wechat": "stats/2025-09/wechat-followers.png",
    "followers_weibo": 18020,  # listed without its screenshot: a should unmet
    "publications": 46,
    "reads": 120400,
}


def _engine(engine_factory: EngineFactory, policies: Path = POLICIES) -> Engine:
    engine = engine_factory(workflows=WORKFLOWS, policies=policies)
    train_staff(engine, ASSISTANT, MANAGER, OPERATOR)
    return engine


def _policies_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the bundled policies with ``old`` replaced by ``new`` in statistics.yaml."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    target = folder / "statistics.yaml"
    text = target.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {target}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def _submit_audit(engine: Engine, item_id: int) -> dict[str, Any]:
    (record,) = [r for r in engine.audit_trail(item_id) if r["trigger"] == "submit"]
    return record


@pytest.mark.req("INS-5")
@pytest.mark.enforces(
    "INS-5", element="policies/statistics.yaml#workflows.self_media_statistics.forbid_data[0]"
)
def test_a_should_unmet_is_accepted_and_its_warning_recorded(
    engine_factory: EngineFactory,
) -> None:
    engine = _engine(engine_factory)
    item = engine.start("self_media_statistics", actor=ASSISTANT)
    item = engine.fire(item.id, "submit", actor=ASSISTANT, data=MONTH)
    assert item.state == "confirming"  # accepted: a should never refuses by default
    record = _submit_audit(engine, item.id)
    assert record["outcome"] == "accepted"
    (warning,) = record["detail"]["warnings"]
    assert warning["rule"] == RULE
    assert warning["implements"] == ["INS-5"]
    assert warning["level"] == "should"
    assert "截图" in warning["reason_zh"]
    assert "screenshot" in warning["reason"]
    # Engine.allowed offers the step: a should is no refusal
    allowed = {a.trigger: a for a in engine.allowed(item.id, MANAGER)}
    assert allowed["confirm"].allowed


@pytest.mark.req("INS-5")
def test_a_should_met_records_no_warning(engine_factory: EngineFactory) -> None:
    engine = _engine(engine_factory)
    item = engine.start("self_media_statistics", actor=ASSISTANT)
    month = {**MONTH, "screenshot_weibo": "stats/2025-09/weibo-followers.png"}
    item = engine.fire(item.id, "submit", actor=ASSISTANT, data=month)
    assert "warnings" not in _submit_audit(engine, item.id)["detail"]


@pytest.mark.req("INS-5")
def test_an_administrator_raises_a_should_to_a_refusal(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    raised = _policies_with(tmp_path, "level: should\n", "level: should\n        enforce: refuse\n")
    engine = _engine(engine_factory, raised)
    item = engine.start("self_media_statistics", actor=ASSISTANT)
    with pytest.raises(PolicyDenied) as refused:
        engine.fire(item.id, "submit", actor=ASSISTANT, data=MONTH)
    assert refused.value.rule == RULE
    assert engine.get(item.id).state == "collecting"
    (record,) = [r for r in engine.audit_trail(item.id) if r["trigger"] == "submit"]
    assert (record["outcome"], record["rule"]) == ("refused", RULE)
    month = {**MONTH, "screenshot_weibo": "weibo.png"}
    assert engine.fire(item.id, "submit", actor=ASSISTANT, data=month).state == "confirming"


@pytest.mark.req("INS-5")
def test_the_warnings_are_reported_per_requirement_and_month(
    engine_factory: EngineFactory,
) -> None:
    engine = _engine(engine_factory)
    for _ in range(2):
        item = engine.start("self_media_statistics", actor=ASSISTANT)
        engine.fire(item.id, "submit", actor=ASSISTANT, data=MONTH)
    report = build_report(engine, sections=["should_warnings"])
    rows = report.rows("should_warnings")
    month = engine.clock().astimezone(ZoneInfo(report.timezone)).strftime("%Y-%m")
    assert rows == [
        {
            "requirement": "INS-5",
            "month": month,
            "rule": RULE,
            "workflow": "self_media_statistics",
            "warnings": 2,
        }
    ]


@pytest.mark.req("RPT-3")
@pytest.mark.enforces(
    "RPT-3", element="policies/evaluation.yaml#workflows.annual_evaluation.forbid_data[0]"
)
def test_rpt_3_an_evaluation_without_a_survey_goes_ahead_with_a_warning(
    engine_factory: EngineFactory,
) -> None:
    engine = _engine(engine_factory)
    evaluation = engine.start("annual_evaluation", actor=AUTHORITY)
    figures = {"report": "2025 年度运营自评", "statistics_confirmed": True}
    item = engine.fire(evaluation.id, "submit", actor=OPERATOR, data=figures)
    assert item.state == "evaluation"  # the survey is a should (SM 6.2 宜), not a refusal
    (warning,) = _submit_audit(engine, item.id)["detail"]["warnings"]
    assert (warning["rule"], warning["implements"]) == ("satisfaction_survey_held", ["RPT-3"])


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        # a must is never lowered: level: should on a rule citing a must id
        ("implements: [INS-5]", "implements: [INS-5, PUB-12]", "level"),
        # ... nor enforce: warn on a rule that is a must
        ("level: should\n", "enforce: warn\n", "enforce"),
    ],
    ids=["should-on-a-must-id", "warn-on-a-must-rule"],
)
def test_a_must_is_never_lowered(tmp_path: Path, old: str, new: str, key: str) -> None:
    folder = _policies_with(tmp_path, old, new)
    if key == "enforce":  # the rule then cites PUB-12 (a must) without a level
        target = folder / "statistics.yaml"
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace("[INS-5]", "[PUB-12]"), encoding="utf-8")
    loaded = load_paths([WORKFLOWS, folder])
    problems = [p for p in loaded.problems if p.code == "E-POLICY-LEVEL"]
    assert len(problems) == 1, loaded.problems
    (problem,) = problems
    lines = (folder / "statistics.yaml").read_text(encoding="utf-8").splitlines()
    assert problem.file.endswith("statistics.yaml")
    assert lines[problem.line - 1].lstrip().startswith(f"{key}:"), problem
    assert "must" in problem.message
    assert "必须" in problem.message_zh
