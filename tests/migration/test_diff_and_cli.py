"""What changed between two versions (pure, against the database, on the command line),
and ``cmc-workflow migrate`` run as an operator runs it: the dry run, the run, a refused
plan (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmc_workflow.definition.loader import load_workflow_text
from cmc_workflow.language import load_paths
from cmc_workflow.migration.diff import PolicyView, diff_versions, diff_workflows
from cmc_workflow.testing import FakeClock
from tests.helpers.cli import run_cli
from tests.migration.live import accounts, changed, definitions, open_engine, plan_in_force


def test_the_diff_names_each_kind_of_change() -> None:
    root = Path(__file__).resolve().parents[2] / "workflows" / "accounts.yaml"
    text = root.read_text(encoding="utf-8")
    old = load_workflow_text(text, "old.yaml").definition
    edited = (
        text.replace("within: 2 working days", "within: 3 working days")
        .replace("where_used: {type: text, required: false,", "where_used: {type: string,")
        .replace("\ndata:\n", "\ndata:\n  unit: {type: string, required: false}\n", 1)
    )
    new = load_workflow_text(edited, "new.yaml").definition
    found = {(c.what, c.how, c.key): c for c in diff_workflows(old, new)}
    assert ("field", "added", "data.unit") in found
    assert found[("field", "added", "data.unit")].detail == "string, optional"
    where = found[("field", "changed", "operating.report_qr_invalid.form.where_used")]
    assert where.detail == "required, type"
    deadline = found[("deadline", "changed", "qr_replacement")]
    assert deadline.detail == "within 2 working days -> within 3 working days"
    assert not [c for c in found.values() if c.what == "state"]
    assert diff_workflows(old, old) == []


@pytest.fixture
def folders(db_url: str, clock: FakeClock, tmp_path: Path) -> tuple[Path, Path]:
    """A database with accounts (one replacing its QR code) and a plan in force on version
    1, and version 2 stored; returns version 2's (workflows, policies)."""
    with open_engine(db_url, clock, definitions(tmp_path / "v1")) as first:
        accounts(first, 3, replacing=1)
        plan_in_force(first)
    v2 = changed(tmp_path / "v2")
    open_engine(db_url, clock, v2).close()
    return v2


def test_the_diff_counts_the_live_items_of_each_removed_or_changed_state(
    db_url: str, folders: tuple[Path, Path]
) -> None:
    from cmc_workflow.store import Store

    store = Store.open(db_url)
    try:
        diff = diff_versions(store, "accounts", 1, 2, policies=PolicyView([*folders]))
        live = {c.key: c.live for c in diff.of("state")}
        assert live == {"operating": 2, "qr_replacement": 1, "qr_renewal": None}
        assert [c.how for c in diff.of("state")] == ["changed", "added", "removed"]
        assert [c.key for c in diff.of("deadline")] == ["qr_renewal", "qr_replacement"]
        assert [c.key for c in diff.of("field", "added")] == ["data.owner_unit"]
        # the policies given were written for version 2: version 1 is not compared
        assert [c.how for c in diff.of("policy")] == ["unchecked"]
        same = diff_versions(store, "emergency_plans", 1, 1)
        assert same.changes == ()
        loaded = load_paths([folders[0]], across=False).workflows["training"]
        from_file = diff_versions(store, "training", 1, loaded)
        assert from_file.new == 2  # the file is stored already: named by its revision
        assert {c.key for c in from_file.of("state")} == {"assessment", "examination", "training"}
    finally:
        store.close()


def test_versions_diff_on_the_command_line(db_url: str, folders: tuple[Path, Path]) -> None:
    workflows, policies = folders
    common = ("--db", db_url, "--workflows", str(workflows), "--policies", str(policies))
    shown = run_cli("versions", "diff", "accounts", "1", "2", *common)
    assert shown.exit_code == 0, shown.stderr
    assert "流程 accounts：第 1 版 → 第 2 版" in shown.stdout
    assert "workflow accounts: revision 1 -> revision 2" in shown.stdout
    assert "删除 removed" in shown.stdout
    data = run_cli("versions", "diff", "accounts", "1", "2", *common, "--json").json()
    removed = [c for c in data["changes"] if (c["what"], c["how"]) == ("state", "removed")]
    assert removed == [
        {
            "what": "state",
            "how": "removed",
            "key": "qr_replacement",
            "detail": "userTask",
            "detail_zh": "二维码待更换",
            "live": 1,
        }
    ]
    from_file = run_cli(
        "versions", "diff", "accounts", "1", "--new-from", str(workflows), "--db", db_url
    )
    assert from_file.exit_code == 0, from_file.stderr
    assert "第 2 版" in from_file.stdout
    both = run_cli("versions", "diff", "accounts", "1", "2", "--new-from", str(workflows))
    assert both.exit_code == 2
    missing = run_cli("versions", "diff", "accounts", "1", "7", "--db", db_url)
    assert missing.exit_code == 2
    assert "no stored revision 7" in missing.stderr
    listed = run_cli("versions", "accounts", *common, "--json").json()  # the old form
    assert [v["revision"] for v in listed] == [1, 2]
    assert run_cli("versions", "list", "accounts", *common).exit_code == 0


PLAN = """\
kind: migration
workflow: accounts
from: 1
to: 2
states: {qr_replacement: qr_renewal}
map_equal: true
defaults: {owner_unit: 新媒体部}
"""


def test_migrate_on_the_command_line(
    db_url: str, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    workflows, policies = folders
    common = ("--db", db_url, "--workflows", str(workflows), "--policies", str(policies))
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("defaults: {owner_unit: 新媒体部}\n", ""), encoding="utf-8")
    refused = run_cli("migrate", "--plan", str(plan), "--dry-run", *common)
    assert refused.exit_code == 1
    assert f"{plan}:4:5: E-MIGRATION-DEFAULT" in refused.stderr  # at to:
    plan.write_text(PLAN, encoding="utf-8")
    rehearsal = run_cli("migrate", "--plan", str(plan), "--dry-run", *common, "--json")
    assert rehearsal.exit_code == 0, rehearsal.stderr
    said = rehearsal.json()
    assert said["dry_run"] is True
    assert [m["to_state"] for m in said["moves"]] == ["qr_renewal", "operating", "operating"]
    text = run_cli("migrate", "--plan", str(plan), "--dry-run", *common)
    assert "would move: 3; left: 0\n将迁移：3；未涉及：0" in text.stdout
    done = run_cli("migrate", "--plan", str(plan), "--batch", "2", *common, "--json")
    assert done.exit_code == 0, done.stderr
    did = done.json()
    assert did["moves"] == said["moves"]
    assert (did["dry_run"], did["batches"], did["run_id"]) == (False, 2, said["run_id"])
    assert "batch 2: 1 moved | 第 2 批：已迁移 1 个" in done.stderr
    again = run_cli("migrate", "--plan", str(plan), *common, "--json").json()
    assert again["moves"] == []
    verified = run_cli("audit", "verify", "--db", db_url)
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    schema = run_cli("migrate", "--schema")
    assert schema.exit_code == 0
    assert '"title": "MigrationPlan"' in schema.stdout
