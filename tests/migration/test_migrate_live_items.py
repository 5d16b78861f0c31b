"""Migrating the bundled long-lived items (self-media accounts, emergency plans, training
records) onto a changed definition, on SQLite and PostgreSQL: the dry run matches the
run, every move is in the item's history and audit chain, clocks are kept or recomputed,
a failure in the middle of a batch is resumed without moving an item twice, and the audit
verification passes afterwards (issue 16)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cmc_workflow import Engine
from cmc_workflow.clocks import Clocks
from cmc_workflow.errors import StoreError
from cmc_workflow.migration.judge import Prepared
from cmc_workflow.migration.plan import load_plan
from cmc_workflow.migration.run import dry_run, migrate_engine, plan_for
from cmc_workflow.store import audit as audit_log
from cmc_workflow.store.database import open_database
from cmc_workflow.testing import FakeClock
from tests.helpers import OPS, check_invariants
from tests.helpers.records import TRAINER
from tests.migration.live import (
    accounts,
    changed,
    definitions,
    open_engine,
    plan_in_force,
    record_in,
)


def verify(url: str) -> audit_log.Verification:
    db = open_database(url)
    try:
        with db.connect() as conn:
            return audit_log.verify(conn)
    finally:
        db.dispose()


def write_plan(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def prepared(engine: Engine, path: Path, folders: tuple[Path, Path] | None = None) -> Prepared:
    plan, doc, problems = load_plan(path)
    assert problems == []
    assert plan is not None
    assert doc is not None
    paths = None if folders is None else [*folders]
    return plan_for(engine, plan, doc, definitions=paths)


def clocks_of(engine: Engine) -> Clocks:
    (clocks,) = (e for e in engine.extensions if isinstance(e, Clocks))
    return clocks


def migrate_steps(engine: Engine, item_id: int) -> list[dict[str, object]]:
    return [dict(h.form) for h in engine.history(item_id) if h.kind == "migrate"]


@pytest.fixture
def v1(tmp_path: Path) -> tuple[Path, Path]:
    return definitions(tmp_path / "v1")


@pytest.fixture
def v2(tmp_path: Path) -> tuple[Path, Path]:
    return changed(tmp_path / "v2")


@pytest.fixture
def engine_v1(db_url: str, clock: FakeClock, v1: tuple[Path, Path]) -> Iterator[Engine]:
    with open_engine(db_url, clock, v1) as engine:
        yield engine


ACCOUNTS_PLAN = """\
kind: migration
workflow: accounts
from: 1
to: 2
states:
  qr_replacement: qr_renewal
map_equal: true
defaults:
  owner_unit: 新媒体部
clocks: keep
batch: 2
"""


def test_accounts_plans_and_training_records_follow_the_new_version(
    db_url: str, clock: FakeClock, engine_v1: Engine, v2: tuple[Path, Path], tmp_path: Path
) -> None:
    made = accounts(engine_v1, 5, replacing=2)
    plan = plan_in_force(engine_v1)
    records = {
        state: record_in(engine_v1, f"p-{state}", state)
        for state in ("planned", "assessment", "passed")
    }
    old_qr_clock = clocks_of(engine_v1).clocks(made[0].id)[-1]
    old_plan_clock = clocks_of(engine_v1).clocks(plan.id)[-1]
    old_exam_clock = clocks_of(engine_v1).clocks(records["assessment"].id)[-1]
    engine_v1.close()
    clock.advance(hours=1)
    with open_engine(db_url, clock, v2) as engine:
        assert [v.revision for v in engine.versions("accounts")] == [1, 2]
        # -- accounts: a renamed state, a new required field, clocks kept ------------------
        path = write_plan(tmp_path, "accounts.yaml", ACCOUNTS_PLAN)
        ready = prepared(engine, path, v2)
        rehearsal = dry_run(engine.store, ready)
        assert {m.item_id for m in rehearsal.moves} == {a.id for a in made}
        assert {m.to_state for m in rehearsal.moves[:2]} == {"qr_renewal"}
        assert all(m.data_added == {"owner_unit": "新媒体部"} for m in rehearsal.moves)
        assert [a.revision for a in map(engine.get, [x.id for x in made])] == [1] * 5
        done = migrate_engine(engine, ready)
        assert done.moves == rehearsal.moves  # what the dry run said is what the run did
        assert (done.batches, done.dry_run) == (3, False)
        for account in made:
            now = engine.get(account.id)
            assert now.revision == 2
            assert now.data["owner_unit"] == "新媒体部"
            (step,) = migrate_steps(engine, account.id)
            assert step["run"] == ready.run_id
            assert (step["from_revision"], step["to_revision"]) == (1, 2)
            trail = [r for r in engine.audit_trail(account.id) if r["command"] == "migrate"]
            assert len(trail) == 1
            assert trail[0]["actor"] == "system"
        assert engine.get(made[0].id).state == "qr_renewal"
        # the kept clock: the old due time, under the new state's name, still firing
        kept = clocks_of(engine).clocks(made[0].id)[-1]
        assert (kept.state, kept.due_at) == ("qr_renewal", old_qr_clock.due_at)
        # the moved account works on under the new version
        after = engine.fire(made[0].id, "replace_qr", actor=OPS, data={"qr_code": "qr-9"})
        assert after.state == "operating"
        # a rerun finds nothing left to do
        again = migrate_engine(engine, prepared(engine, path, v2))
        assert again.moves == ()
        assert check_invariants(db_url) == []  # (before timers fire: their warnings are
        # audited without a history row, which this helper does not expect)

        # -- emergency plans: in_force renamed, the drill cycle carries on -----------------
        path = write_plan(
            tmp_path,
            "plans.yaml",
            "kind: migration\nworkflow: emergency_plans\nfrom: 1\nto: 2\n"
            "states: {in_force: effective}\nclocks: keep\n",
        )
        ready = prepared(engine, path, v2)
        rehearsal = dry_run(engine.store, ready)
        done = migrate_engine(engine, ready)
        assert done.moves == rehearsal.moves
        assert [(m.item_id, m.to_state) for m in done.moves] == [(plan.id, "effective")]
        kept = clocks_of(engine).clocks(plan.id)[-1]
        assert (kept.state, kept.due_at) == ("effective", old_plan_clock.due_at)
        clock.now = old_plan_clock.started_at + dt.timedelta(days=190)
        engine.run_due()  # the 6-month step fires on the migrated plan: a drill opens
        assert [c.workflow for c in engine.children(plan.id)] == ["emergency_drill"]
        assert engine.get(plan.id).state == "effective"

        # -- training records: one state mapped, clocks recomputed, the rest listed -------
        path = write_plan(
            tmp_path,
            "training.yaml",
            "kind: migration\nworkflow: training\nfrom: [1]\nto: 2\n"
            "states: {assessment: examination}\nclocks: recompute\n",
        )
        ready = prepared(engine, path, v2)
        rehearsal = dry_run(engine.store, ready)
        assert {(x.item_id, x.state) for x in rehearsal.left} >= {
            (records["planned"].id, "planned"),
            (records["passed"].id, "passed"),
        }
        done = migrate_engine(engine, ready)
        assert done.moves == rehearsal.moves
        exam = records["assessment"].id
        assert [m.item_id for m in done.moves] == [exam]
        views = clocks_of(engine).clocks(exam)
        (stopped,) = (v for v in views if v.id == old_exam_clock.id)
        # stopped at the migration, half a year after its 10 working days ran out
        assert (stopped.status, stopped.stopped_at) == ("breached", clock.now)
        assert (views[-1].state, views[-1].within) == ("examination", "15 working days")
        assert views[-1].started_at == clock.now
        assert engine.get(records["planned"].id).revision == 1  # not covered: left alone
    result = verify(db_url)
    assert result.ok, [str(f) for f in result.findings]


def _install_failure(url: str, item_id: int) -> None:
    """A real failure inside a batch: the database refuses moving one item's version."""
    db = open_database(url)
    try:
        with db.begin() as conn:
            if db.dialect.name == "sqlite":
                conn.execute(
                    text(
                        "CREATE TRIGGER refuse_move BEFORE UPDATE OF definition_id ON items "
                        f"WHEN NEW.id = {item_id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE FUNCTION refuse_move() RETURNS trigger AS $$ BEGIN "
                        "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER refuse_move BEFORE UPDATE OF definition_id ON items "
                        f"FOR EACH ROW WHEN (NEW.id = {item_id}) EXECUTE FUNCTION refuse_move()"
                    )
                )
    finally:
        db.dispose()


def _remove_failure(url: str) -> None:
    db = open_database(url)
    try:
        with db.begin() as conn:
            if db.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER refuse_move"))
            else:
                conn.execute(text("DROP TRIGGER refuse_move ON items"))
                conn.execute(text("DROP FUNCTION refuse_move()"))
    finally:
        db.dispose()


def test_a_failure_in_the_middle_of_a_batch_is_resumed_without_moving_an_item_twice(
    db_url: str, clock: FakeClock, engine_v1: Engine, v2: tuple[Path, Path], tmp_path: Path
) -> None:
    made = accounts(engine_v1, 7, replacing=3)
    engine_v1.close()
    path = write_plan(tmp_path, "accounts.yaml", ACCOUNTS_PLAN)
    with open_engine(db_url, clock, v2) as engine:
        ready = prepared(engine, path, v2)
        rehearsal = dry_run(engine.store, ready)
        # batches of 2: the 4th item fails in the second batch, after the first committed
        _install_failure(db_url, made[3].id)
        committed: list[int] = []
        with pytest.raises(StoreError):
            migrate_engine(engine, ready, after_batch=lambda n, _moves: committed.append(n))
        assert committed == [1]
        revisions = [engine.get(a.id).revision for a in made]
        assert revisions == [2, 2, 1, 1, 1, 1, 1]  # the failed batch rolled back whole
        assert migrate_steps(engine, made[2].id) == []
        _remove_failure(db_url)
        # the same plan again: the same run, resumed where it stopped
        resumed = prepared(engine, path, v2)
        assert resumed.run_id == ready.run_id
        assert set(resumed.candidates) == {a.id for a in made[2:]}
        done = migrate_engine(engine, resumed)
        assert [m.item_id for m in done.moves] == [a.id for a in made[2:]]
        assert done.moves == rehearsal.moves[2:]
        for account in made:
            assert engine.get(account.id).revision == 2
            assert len(migrate_steps(engine, account.id)) == 1
    assert check_invariants(db_url) == []
    result = verify(db_url)
    assert result.ok, [str(f) for f in result.findings]


def test_an_engine_on_the_memory_store_migrates_the_same_way(tmp_path: Path) -> None:
    """The in-memory store (tests, simulations) implements the port the same way: the
    new version registered by a reload, the training record moved, its clock kept."""
    from cmc_workflow.language import load_paths
    from cmc_workflow.testing import memory_engine

    v1 = definitions(tmp_path / "v1")
    v2 = changed(tmp_path / "v2")
    clock = FakeClock()
    engine = memory_engine(workflows=v1[0], policies=v1[1], clock=clock)
    try:
        record = record_in(engine, "p-1", "assessment")
        due = clocks_of(engine).clocks(record.id)[-1].due_at
        assert "training" in engine.reload(load_paths([v2[0]]).workflows)
        path = write_plan(
            tmp_path,
            "plan.yaml",
            "kind: migration\nworkflow: training\nfrom: 1\nto: 2\n"
            "states: {assessment: examination}\n",
        )
        ready = prepared(engine, path, v2)
        rehearsal = dry_run(engine.store, ready)
        done = migrate_engine(engine, ready)
        assert done.moves == rehearsal.moves
        assert [(m.item_id, m.to_state) for m in done.moves] == [(record.id, "examination")]
        moved = engine.get(record.id)
        assert (moved.state, moved.revision) == ("examination", 2)
        kept = clocks_of(engine).clocks(record.id)[-1]
        assert (kept.state, kept.due_at) == ("examination", due)
        passed = engine.fire(
            record.id,
            "assess",
            actor=TRAINER,
            data={"result": "pass", "score": 90, "valid_until": "2026-09-30"},
        )
        assert passed.state == "passed"
        assert [h.kind for h in engine.history(record.id)] == [
            "start",
            "fire",
            "fire",
            "migrate",
            "fire",
        ]
    finally:
        engine.close()
