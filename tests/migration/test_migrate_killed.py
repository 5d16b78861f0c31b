"""A ``cmc-workflow migrate`` process killed (SIGKILL, by its pid) in the middle of a
batch: the batches before it stay committed, the one it was in leaves no trace, and the
same plan run again moves the rest, no item twice (issue 16)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from cmc_workflow import Engine
from cmc_workflow.store.database import open_database
from cmc_workflow.testing import FakeClock
from tests.helpers import check_invariants
from tests.helpers.cli import run_cli
from tests.helpers.processes import start, wait_exit, wait_until
from tests.migration.live import accounts, changed, definitions, open_engine

PLAN = """\
kind: migration
workflow: accounts
from: 1
to: 2
states: {qr_replacement: qr_renewal}
map_equal: true
defaults: {owner_unit: 新媒体部}
batch: 2
"""


def _slow_down(url: str, item_id: int) -> None:
    """Make moving one item take minutes, inside its batch's transaction: the process is
    then surely in the middle of that batch when it is killed."""
    db = open_database(url)
    try:
        with db.begin() as conn:
            if db.dialect.name == "sqlite":  # no sleep in SQLite: a long count instead
                joins = ", ".join(f"audit a{i}" for i in range(8))
                conn.execute(
                    text(
                        "CREATE TRIGGER slow_move BEFORE UPDATE OF definition_id ON items "
                        f"WHEN NEW.id = {item_id} BEGIN SELECT count(*) FROM {joins}; END"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE FUNCTION slow_move() RETURNS trigger AS $$ BEGIN "
                        "PERFORM pg_sleep(600); RETURN NEW; END $$ LANGUAGE plpgsql"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER slow_move BEFORE UPDATE OF definition_id ON items "
                        f"FOR EACH ROW WHEN (NEW.id = {item_id}) EXECUTE FUNCTION slow_move()"
                    )
                )
    finally:
        db.dispose()


def _back_to_normal(url: str) -> None:
    """Drop the trigger; on PostgreSQL first end the killed client's server session (it
    would sleep on, holding its row locks, until it next talks to the client)."""
    db = open_database(url)
    try:
        with db.begin() as conn:
            if db.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER slow_move"))
            else:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                conn.execute(text("DROP TRIGGER slow_move ON items"))
                conn.execute(text("DROP FUNCTION slow_move()"))
    finally:
        db.dispose()


@pytest.mark.slow
def test_a_migration_killed_mid_batch_is_resumed_without_moving_an_item_twice(
    db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    with open_engine(db_url, clock, definitions(tmp_path / "v1")) as first:
        made = [a.id for a in accounts(first, 6, replacing=2)]
    workflows, policies = changed(tmp_path / "v2")
    open_engine(db_url, clock, (workflows, policies)).close()
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    common = ["--db", db_url, "--workflows", str(workflows), "--policies", str(policies)]
    rehearsal = run_cli("migrate", "--plan", str(plan), "--dry-run", *common, "--json").json()
    _slow_down(db_url, made[3])  # the second item of the second batch
    err = tmp_path / "migrate.err"
    with err.open("w") as sink:
        process = start(
            [sys.executable, "-m", "cmc_workflow", "migrate", "--plan", str(plan), *common],
            stdout=sink,
            stderr=sink,
        )
    wait_until(
        lambda: "batch 1:" in err.read_text(encoding="utf-8") or process.poll() is not None,
        "the first batch to commit",
    )
    assert process.poll() is None, err.read_text(encoding="utf-8")
    process.send_signal(signal.SIGKILL)
    assert wait_exit(process) == -signal.SIGKILL
    _back_to_normal(db_url)

    with Engine.open(db_url, workflows=workflows, policies=policies, clock=clock) as engine:
        revisions = [engine.get(i).revision for i in made]
        assert revisions == [2, 2, 1, 1, 1, 1]  # batch 2 left no trace
        assert [h.kind for h in engine.history(made[2])][-1] != "migrate"
    resumed = run_cli("migrate", "--plan", str(plan), *common, "--json")
    assert resumed.exit_code == 0, resumed.stderr
    done = resumed.json()
    assert done["run_id"] == rehearsal["run_id"]
    assert [m["item_id"] for m in done["moves"]] == made[2:]
    assert done["moves"] == rehearsal["moves"][2:]
    with Engine.open(db_url, workflows=workflows, policies=policies, clock=clock) as engine:
        for item_id in made:
            assert engine.get(item_id).revision == 2
            assert [h.kind for h in engine.history(item_id)].count("migrate") == 1
    assert check_invariants(db_url) == []
    verified = run_cli("audit", "verify", "--db", db_url)
    assert verified.exit_code == 0, verified.stdout + verified.stderr
