"""Migration plan files: their shape (pure), and what the database refutes in them; every
problem placed at file:line:col with a fix, and nothing changed by a refused plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from sqlalchemy import text

from cmc_workflow import Engine
from cmc_workflow.errors import DefinitionError, Problem
from cmc_workflow.language import load_paths
from cmc_workflow.located import load_located
from cmc_workflow.migration.plan import (
    MigrationPlan,
    load_plan,
    migration_schema,
    render_migration_schema,
)
from cmc_workflow.migration.run import plan_for
from cmc_workflow.store.database import open_database
from cmc_workflow.testing import FakeClock
from tests.helpers.chinese import assert_reads_in_chinese
from tests.migration.live import accounts, changed, definitions, open_engine, plan_in_force

ROOT = Path(__file__).resolve().parents[2]


def problems_of(tmp_path: Path, body: str) -> list[Problem]:
    path = tmp_path / "plan.yaml"
    path.write_text(body, encoding="utf-8")
    plan, _doc, problems = load_plan(path)
    assert (plan is None) == bool(problems)
    assert_reads_in_chinese(problems)
    return problems


GOOD = "kind: migration\nworkflow: accounts\nfrom: 1\nto: 2\nstates: {a: b}\n"


def test_a_good_plan_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(GOOD, encoding="utf-8")
    plan, doc, problems = load_plan(path)
    assert problems == []
    assert isinstance(plan, MigrationPlan)
    assert doc is not None
    assert (plan.from_, plan.to, plan.clocks, plan.batch, plan.map_equal) == (
        [1],
        2,
        "keep",
        100,
        False,
    )
    assert plan.target_of("a", frozenset({"b"})) == "b"
    assert plan.target_of("c", frozenset({"c"})) is None  # map_equal is off


@pytest.mark.parametrize(
    ("body", "code", "line", "column"),
    [
        (GOOD.replace("states:", "mapping:"), "E-UNKNOWN-KEY", 5, 1),
        (GOOD + "clocks: maybe\n", "E-BAD-VALUE", 6, 9),
        (GOOD.replace("to: 2", "to: 1"), "E-MIGRATION-REVISION", 4, 5),
        (GOOD.replace("from: 1", "from: [0]"), "E-BAD-VALUE", 3, 8),
        (GOOD.replace("to: 2\n", ""), "E-MISSING-KEY", 1, 1),
        (GOOD.replace("states: {a: b}\n", ""), "E-MIGRATION-EMPTY", 1, 1),
        (GOOD.replace("{a: b}", "{A: b}"), "E-BAD-ID", 5, 10),
        (GOOD + "map_equal: yes\n", "E-YAML-BOOL", 6, 12),
        (GOOD + "batch: 0\n", "E-BAD-VALUE", 6, 8),
        (GOOD + "states: {c: d}\n", "E-DUPLICATE-KEY", 6, 1),
    ],
)
def test_a_malformed_plan_is_refused_at_its_place(
    tmp_path: Path, body: str, code: str, line: int, column: int
) -> None:
    problems = problems_of(tmp_path, body)
    assert [(p.code, p.line, p.column) for p in problems][:1] == [(code, line, column)], problems
    assert all(p.file.endswith("plan.yaml") for p in problems)


def test_a_plan_is_a_file_kind_of_the_language(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(GOOD, encoding="utf-8")
    loaded = load_paths([tmp_path])
    assert loaded.problems == []
    ((_doc, plan),) = loaded.others["migration"]
    assert isinstance(plan, MigrationPlan)
    (tmp_path / "plan.yaml").write_text(GOOD + "clocks: later\n", encoding="utf-8")
    assert [p.code for p in load_paths([tmp_path]).problems] == ["E-BAD-VALUE"]


def test_the_checked_in_schema_is_fresh_and_agrees_with_the_loader(tmp_path: Path) -> None:
    checked_in = ROOT / "schema" / "migration.schema.json"
    assert checked_in.read_text(encoding="utf-8") == render_migration_schema(), (
        "schema/migration.schema.json is stale: regenerate it with "
        "`cmc-workflow schema --kind migration > schema/migration.schema.json`"
    )
    validator = Draft7Validator(migration_schema())
    Draft7Validator.check_schema(json.loads(render_migration_schema()))
    doc, _ = load_located(GOOD, "plan.yaml")
    assert list(validator.iter_errors(doc.data)) == []
    doc, _ = load_located(GOOD + "clocks: later\n", "plan.yaml")
    assert list(validator.iter_errors(doc.data)) != []


# -- what the database refutes ---------------------------------------------------------------
def snapshot(url: str) -> dict[str, Any]:
    """Everything a migration could change."""
    db = open_database(url)
    try:
        with db.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(text(query))]
                for name, query in {
                    "items": "SELECT id, state, definition_id, version, seq, data FROM items "
                    "ORDER BY id",
                    "history": "SELECT count(*) FROM history",
                    "audit": "SELECT count(*) FROM audit",
                    "clocks": "SELECT id, state, status, due_at FROM clocks ORDER BY id",
                    "timers": "SELECT id, state, visit, status FROM timers ORDER BY id",
                }.items()
            }
    finally:
        db.dispose()


@pytest.fixture
def engine(db_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Engine]:
    with open_engine(db_url, clock, definitions(tmp_path / "v1")) as first:
        accounts(first, 3, replacing=1)
        plan_in_force(first)
    with open_engine(db_url, clock, changed(tmp_path / "v2")) as second:
        yield second


ACCOUNTS = "kind: migration\nworkflow: accounts\nfrom: 1\nto: 2\nmap_equal: true\n"
DEFAULTS = "defaults: {owner_unit: 新媒体部}\n"
REFUSED = [
    # (plan, code, line of the first problem, what its message names)
    (
        ACCOUNTS + DEFAULTS + "states: {qr_replacement: qr_gone}\n",
        "E-MIGRATION-STATE",
        7,
        "qr_gone",
    ),
    (ACCOUNTS + DEFAULTS + "states:\n  qr_lost: qr_renewal\n", "E-MIGRATION-STATE", 8, "qr_lost"),
    (ACCOUNTS + "states: {qr_replacement: qr_renewal}\n", "E-MIGRATION-DEFAULT", 4, "owner_unit"),
    (ACCOUNTS + "defaults: {owner_unit: 5}\n", "E-MIGRATION-DEFAULT", 6, "owner_unit"),
    (ACCOUNTS + DEFAULTS + "defaults:\n  owner: x\n", "E-DUPLICATE-KEY", 7, "defaults"),
    (ACCOUNTS + "defaults: {owner_unit: a, owner: x}\n", "E-MIGRATION-DEFAULT", 6, "owner"),
    (ACCOUNTS.replace("to: 2", "to: 9") + DEFAULTS, "E-MIGRATION-REVISION", 4, "revision 9"),
    (ACCOUNTS.replace("from: 1", "from: [1, 5]") + DEFAULTS, "E-MIGRATION-REVISION", 3, "5"),
    (
        ACCOUNTS.replace("accounts", "accounts_x") + DEFAULTS,
        "E-MIGRATION-WORKFLOW",
        2,
        "accounts_x",
    ),
    (
        "kind: migration\nworkflow: emergency_plans\nfrom: 1\nto: 2\n"
        "states:\n  in_force: drill_due\n",
        "E-MIGRATION-NO-WAY-FORWARD",
        6,
        "gateway",
    ),
    (  # a draft put in force by a migration, past the authority's approval (EMG-2)
        "kind: migration\nworkflow: emergency_plans\nfrom: 1\nto: 2\n"
        "states:\n  drafting: effective\n",
        "E-MIGRATION-POLICY",
        6,
        "plan_in_force",
    ),
    (  # back onto revision 1, which the policies the engine enforces no longer fit
        "kind: migration\nworkflow: emergency_plans\nfrom: 2\nto: 1\nmap_equal: true\n",
        "E-MIGRATION-POLICY",
        4,
        "revision 1",
    ),
]


@pytest.mark.parametrize("case", range(len(REFUSED)))
def test_a_plan_the_database_refutes_is_refused_with_places_and_changes_nothing(
    engine: Engine, db_url: str, tmp_path: Path, case: int
) -> None:
    body, code, line, named = REFUSED[case]
    path = tmp_path / "plan.yaml"
    path.write_text(body, encoding="utf-8")
    before = snapshot(db_url)
    plan, doc, problems = load_plan(path)
    if problems:  # refused by its shape already
        found = problems
    else:
        assert plan is not None
        assert doc is not None
        with pytest.raises(DefinitionError) as caught:
            plan_for(engine, plan, doc)
        found = list(caught.value.problems)
    first = found[0]
    assert (first.code, first.line) == (code, line), found
    assert named in first.message, first
    assert first.file == str(path)
    assert first.hint or first.code == "E-DUPLICATE-KEY"
    assert snapshot(db_url) == before


def test_a_target_version_the_policies_refute_is_refused(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The policies of version 1 still name qr_replacement, which version 2 renamed: the
    policies' checks on the target version fail, and the plan with them."""
    old_policies = definitions(tmp_path / "old")[1]
    new_workflows = tmp_path / "v2" / "workflows"
    path = tmp_path / "plan.yaml"
    path.write_text(
        ACCOUNTS + DEFAULTS + "states: {qr_replacement: qr_renewal}\n", encoding="utf-8"
    )
    plan, doc, problems = load_plan(path)
    assert problems == []
    assert plan is not None
    assert doc is not None
    before = snapshot(db_url)
    with pytest.raises(DefinitionError) as caught:
        plan_for(engine, plan, doc, definitions=[new_workflows, old_policies])
    codes = caught.value.codes
    assert "E-MIGRATION-POLICY" in codes
    assert "E-UNKNOWN-STATE" in codes  # the policy file's own problem, at its place
    placed = [p for p in caught.value.problems if p.code == "E-UNKNOWN-STATE"]
    assert all(p.file.startswith(str(old_policies)) for p in placed)
    assert snapshot(db_url) == before
    # with the policies changed too, the same plan passes
    plan_for(engine, plan, doc, definitions=[new_workflows, tmp_path / "v2" / "policies"])
