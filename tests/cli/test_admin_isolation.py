"""Isolation (issue 17): one broken workflow file disables the workflows in it, with a
warning repeated on every command, and nothing else. Items of every workflow stay
readable from their stored versions; no command acts on a disabled workflow (its policy
rules were left out with the file: fail closed); a broken policy file still stops
everything."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.exits import Exit
from cmc_workflow.language import load_isolated
from tests.helpers.cli import Result, run_cli
from tests.helpers.records import register_application, train_staff

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Actor("ma", {"operator"})
FAULT: dict[str, Any] = {
    "application": "app-7",
    "system_name": "预约系统",
    "symptom": "预约提交后一直转圈，数据未写入",
}
PROPOSAL = {
    "title": "秋季读书节",
    "outline": "三场讲座与一次书展",
    "channels": ["pc", "wechat"],
    "content_type": "activity_preview",
}
EDITOR = ["--actor", "wang", "--role", "editor"]


@dataclass(frozen=True)
class Site:
    """A working folder with the bundled definitions, a database holding a fault report
    (item ``fault``) and a publishing item (item ``piece``), and faults.yaml broken."""

    cwd: Path
    db: str
    fault: int
    piece: int

    def __call__(self, *args: str) -> Result:
        return run_cli(*args, "--db", self.db, cwd=self.cwd)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(db, workflows=tmp_path / "workflows", policies=tmp_path / "policies") as e:
        train_staff(e, OPERATOR, valid_until="2099-12-31")
        register_application(e, "app-7")
        fault = e.start("faults", actor=OPERATOR, data=dict(FAULT))
        piece = e.start("publishing", actor=Actor("wang", {"editor"}), data=dict(PROPOSAL))
    faults = tmp_path / "workflows" / "faults.yaml"
    text = faults.read_text(encoding="utf-8")
    faults.write_text(text.replace("\nid:", "\nid：", 1), encoding="utf-8")  # a slip
    return Site(tmp_path, db, fault.id, piece.id)


def test_a_broken_file_disables_only_its_workflows(site: Site) -> None:
    assert load_isolated([ROOT / "workflows", ROOT / "policies"]).disabled == {}
    loaded = load_isolated([site.cwd / "workflows", site.cwd / "policies"])
    assert loaded.problems == []
    # the patrol starts a fault report when it finds one: it cannot run without it
    assert sorted(loaded.disabled) == ["faults", "system_patrol"]
    assert len(loaded.workflows) >= 15
    assert {w.code for w in loaded.warnings} == {"W-DISABLED"}


def test_start_of_another_workflow_works_with_a_repeated_warning(site: Site) -> None:
    for _ in range(2):  # the warning comes on every command, until the file is fixed
        done = site("start", "publishing", *EDITOR, "--data", json.dumps(PROPOSAL), "--json")
        assert done.exit_code == Exit.OK, done.stderr
        assert done.json()["state"] == "proposed"
        assert "W-DISABLED" in done.stderr
        assert "workflows/faults.yaml" in done.stderr
        assert "E-FULLWIDTH-COLON" in done.stderr
        assert "已停用" in done.stderr


def test_fire_of_another_workflow_works(site: Site) -> None:
    lead = ["--actor", "zhao", "--role", "channel_lead"]
    done = site("fire", str(site.piece), "edit", *lead, "--json")
    assert done.exit_code == Exit.OK, done.stderr
    assert done.json()["state"] == "proposed"


def test_items_of_the_disabled_workflow_stay_readable(site: Site) -> None:
    shown = site("show", str(site.fault), "--json")
    assert shown.exit_code == Exit.OK, shown.stderr
    assert shown.json()["workflow"] == "faults"
    history = site("history", str(site.fault), "--json")
    assert history.exit_code == Exit.OK
    assert history.json()[0]["kind"] == "start"
    inbox = site("inbox", "--actor", "zhao", "--role", "channel_lead", "--json")
    assert inbox.exit_code == Exit.OK
    assert [i["id"] for i in inbox.json()] == [site.piece]


def test_nothing_acts_on_a_disabled_workflow(site: Site) -> None:
    started = site("start", "faults", "--actor", "ma", "--role", "operator", "--data", "{}")
    assert started.exit_code == Exit.PROBLEMS
    assert "faults.yaml" in started.stderr
    assert "已停用" in started.stderr
    integrator = ["--actor", "chen", "--role", "integrator", "--attr", "application=app-7"]
    form = json.dumps({"responsible": "integrator", "assessment": "接口超时"})
    fired = site("fire", str(site.fault), "acknowledge", *integrator, "--data", form)
    assert fired.exit_code == Exit.USAGE
    assert "workflow_disabled" in fired.stderr


def test_a_workflow_whose_policy_reads_a_disabled_one_is_disabled_too(site: Site) -> None:
    training = site.cwd / "workflows" / "training.yaml"
    text = training.read_text(encoding="utf-8")
    training.write_text(text.replace("\nid:", "\nid：", 1), encoding="utf-8")
    loaded = load_isolated([site.cwd / "workflows", site.cwd / "policies"])
    assert loaded.problems == []
    # the publishing policy asks for training records (TRN-3): it cannot be judged
    assert "publishing" in loaded.disabled
    assert loaded.disabled["training"].endswith("training.yaml")
    done = site("start", "publishing", *EDITOR, "--data", json.dumps(PROPOSAL))
    assert done.exit_code == Exit.PROBLEMS
    assert "training.yaml" in done.stderr


def test_a_broken_policy_file_still_stops_every_command(site: Site) -> None:
    policy = site.cwd / "policies" / "publishing.yaml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("workflows:", "workflowz:", 1),
        encoding="utf-8",
    )
    done = site("show", str(site.piece))
    assert done.exit_code == Exit.PROBLEMS
    assert "policies/publishing.yaml" in done.stderr
