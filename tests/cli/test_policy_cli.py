"""The policy and audit commands, run in-process: ``validate``, ``policy check``,
``who-can``, ``explain-denial``, ``audit verify`` and ``audit export``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from cmc_workflow import Actor, Engine, PolicyDenied
from cmc_workflow.store.database import open_database
from cmc_workflow.store.tables import audit
from cmc_workflow.testing import FakeClock
from tests.helpers import (
    CHECKLIST,
    EDITOR,
    PUBLISHING,
    PUBLISHING_POLICIES,
    REVIEWER,
    ROOT,
    TOPIC,
    ok_handler,
    walk,
)
from tests.helpers.cli import Result, run_cli
from tests.helpers.records import RECORD_WORKFLOWS, train

POLICIES = ROOT / "policies"
Cli = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Runs the command line in ``tmp_path``, where ``policies/`` holds the bundled policies
    that judge publishing (the others name workflows these tests do not load) and
    ``workflows/`` the publishing workflow and those whose records the policies read."""
    for folder, files in [("policies", PUBLISHING_POLICIES), ("workflows", PUBLISHING_SET)]:
        (tmp_path / folder).mkdir()
        for path in files:
            shutil.copy(path, tmp_path / folder / path.name)

    def run(*args: str) -> Result:
        return run_cli(*args, cwd=tmp_path)

    return run


PUBLISHING_SET = [PUBLISHING, *RECORD_WORKFLOWS]
DEFS = ["--workflows", "workflows", "--policies", "policies"]


@pytest.mark.req("PUB-5", "PUB-6")
def test_policy_check_and_validate_pass_on_the_bundle_and_name_a_bypass(
    cli: Cli, tmp_path: Path
) -> None:
    done = cli("policy", "check", *DEFS)
    assert done.returncode == 0, done.stderr
    assert "proven on the graph of publishing" in done.stdout
    assert cli("validate", str(ROOT / "workflows"), str(POLICIES)).returncode == 0
    anchor = "          original_author: {type: string, required: false,"
    text = PUBLISHING.read_text(encoding="utf-8")
    cut = text.index("\n", text.index(anchor)) + 1
    shortcut = (
        text[:cut] + "      - {trigger: shortcut, target: signoff, roles: [editor]}\n" + text[cut:]
    )
    broken = tmp_path / "workflows" / "publishing.yaml"
    broken.write_text(shortcut, encoding="utf-8")
    done = cli("policy", "check", *DEFS)
    assert done.returncode == 1
    assert "E-POLICY-BYPASS" in done.stderr
    assert "drafting -shortcut-> signoff -sign-> publishing" in done.stderr


@pytest.mark.req("PUB-5")
def test_who_can_names_roles_and_rules(cli: Cli) -> None:
    done = cli("who-can", "publishing", "first_review", *DEFS, "--json")
    assert done.returncode == 0, done.stderr
    entries = {e["trigger"]: e for e in json.loads(done.stdout)["triggers"]}
    assert entries["approve"]["may_fire"] == ["reviewer"]
    assert [r["rule"] for r in entries["approve"]["rules"]] == [
        "review_authority",
        "review_authority_by_content_type",
        "review_authority_by_stage",
        "no_monetization",
        "review_checklist",
        "author_does_not_review",
        "distinct_reviewers",
        "corrector_does_not_review",
    ]
    assert [r["rule"] for r in entries["reject"]["rules"]] == [
        "review_authority",
        "review_authority_by_content_type",
        "review_authority_by_stage",
        "no_monetization",
    ]
    text = cli("who-can", "publishing", "signoff", *DEFS)
    assert "ops_manager 运营管理岗" in text.stdout
    assert "reviewed_and_signed_off" in text.stdout


@pytest.mark.req("PUB-5", "SEC-1")
def test_explain_denial_gives_the_rule_in_both_languages(
    cli: Cli, tmp_path: Path, clock: FakeClock
) -> None:
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(
        db,
        workflows=PUBLISHING_SET,
        policies=PUBLISHING_POLICIES,
        clock=clock,
        handlers={"publish_to_channels": ok_handler},
    ) as engine:
        train(engine, EDITOR.id)
        item = walk(
            engine, engine.start("publishing", actor=EDITOR, data=dict(TOPIC)), "second_review"
        )
        with pytest.raises(PolicyDenied):
            engine.fire(item.id, "approve", actor=Actor(REVIEWER.id, {"reviewer"}), data=CHECKLIST)
    args = ["explain-denial", str(item.id), "approve", "--db", db, *DEFS]
    done = cli(*args, "--actor", REVIEWER.id, "--role", "reviewer")
    assert done.returncode == 2, done.stderr
    assert "distinct_reviewers" in done.stdout
    assert "zhao 已担任本事项的初审人，复审人须由他人担任" in done.stdout
    assert "the second reviewer must be someone else" in done.stdout
    assert "last refusal recorded" in done.stdout
    done = cli(*args, "--actor", "qian", "--role", "reviewer", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["allowed"] is True


@pytest.mark.req("SEC-2", "SEC-3")
def test_audit_verify_and_export(cli: Cli, tmp_path: Path, clock: FakeClock) -> None:
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    with Engine.open(
        db, workflows=PUBLISHING_SET, policies=PUBLISHING_POLICIES, clock=clock
    ) as engine:
        item = engine.start("publishing", actor=EDITOR, data=dict(TOPIC))
        with pytest.raises(PolicyDenied):
            engine.start("publishing", actor=EDITOR, data={**TOPIC, "monetization": True})
    done = cli("audit", "verify", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "2 records in 2 chains: intact" in done.stdout
    out = tmp_path / "audit.jsonl"
    done = cli("audit", "export", "--db", db, "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["actor"], r["outcome"], r["rule"]) for r in lines] == [
        (EDITOR.id, "accepted", None),
        (EDITOR.id, "refused", "no_monetization"),
    ]
    engine_db = open_database(db)
    with engine_db.begin() as conn:
        conn.execute(update(audit).where(audit.c.item_id == item.id).values(outcome="refused"))
    engine_db.dispose()
    done = cli("audit", "verify", "--db", db, "--json")
    assert done.returncode == 1
    findings = json.loads(done.stdout)["findings"]
    assert [f["kind"] for f in findings] == ["edited", "deleted"]
