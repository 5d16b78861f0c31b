"""``cmc-workflow task`` and ``staff leave`` in-process (tests/helpers/cli.py), on SQLite:
claim, delegate, hand back, reassign and the split inbox; refusals exit 2 with the rule
in both languages (docs/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmc_workflow.exits import Exit
from tests.helpers import POLICIES, TOPIC, UNGUARDED_PUBLISHING
from tests.helpers.cli import run_cli


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    for name, who, post in (
        ("王芳", "wang", "editor"),
        ("李雷", "li", "channel_lead"),
        ("赵敏", "zhao", "channel_lead"),
        ("孙明", "sun", "ops_manager"),
    ):
        done = run_cli(
            "staff", "add", name, "--id", who, "--education", "本科", "--years", "5",
            "--post", post, "--from", "2025-09-01", "--actor", "hr1", "--db", url,
        )  # fmt: skip
        assert done.exit_code == Exit.OK, done.stderr
    return url


def cli(db: str, *args: str) -> tuple[int, str, str]:
    done = run_cli(
        *args, "--db", db, "--workflows", str(UNGUARDED_PUBLISHING),
        "--policies", str(POLICIES / "roles.yaml"),
    )  # fmt: skip
    return done.exit_code, done.stdout, done.stderr


def test_a_teams_day_on_the_command_line(db: str) -> None:
    code, out, err = cli(
        db, "start", "publishing", "--actor", "wang", "--data", json.dumps(TOPIC), "--json"
    )
    assert code == Exit.OK, err
    item = str(json.loads(out)["id"])
    code, out, _ = cli(db, "task", "inbox", "--actor", "li", "--json")
    assert [i["id"] for i in json.loads(out)["queue"]] == [int(item)]
    code, out, _ = cli(db, "task", "claim", item, "--actor", "li")
    assert code == Exit.OK
    assert "已认领" in out
    code, _, err = cli(db, "task", "claim", item, "--actor", "zhao")
    assert code == Exit.USAGE
    assert "task_claimed" in err
    assert "已由 li 认领" in err
    code, _, err = cli(db, "task", "delegate", item, "--to", "wang", "--actor", "li")
    assert code == Exit.USAGE
    assert "task_target_not_holder" in err
    assert cli(db, "task", "delegate", item, "--to", "zhao", "--actor", "li")[0] == Exit.OK
    code, out, _ = cli(db, "task", "inbox", "--actor", "zhao")
    assert "我的任务 (1)" in out
    assert cli(db, "task", "hand-back", item, "--actor", "zhao")[0] == Exit.OK
    code, _, err = cli(db, "task", "reassign", item, "--to", "zhao", "--actor", "wang")
    assert code == Exit.USAGE
    assert "task_not_lead" in err
    assert cli(db, "task", "reassign", item, "--to", "zhao", "--actor", "sun")[0] == Exit.OK
    code, out, _ = cli(db, "history", item, "--json")
    ops = [(h["form"]["op"], h["actor"]) for h in json.loads(out) if h["kind"] == "task"]
    assert ops == [("claim", "li"), ("delegate", "li"), ("hand_back", "zhao"), ("reassign", "sun")]


@pytest.mark.req("STF-5")
def test_staff_leave_records_the_leave_and_refuses_bad_dates(db: str) -> None:
    done = run_cli(
        "staff", "leave", "li", "--from", "2026-01-05", "--to", "2026-01-09",
        "--substitute", "zhao", "--actor", "hr1", "--db", db, "--json",
    )  # fmt: skip
    assert done.exit_code == Exit.OK, done.stderr
    leave = json.loads(done.stdout)
    assert (leave["person_id"], leave["substitute"]) == ("li", "zhao")
    assert leave["starts_on"] == "2026-01-05"
    done = run_cli(
        "staff", "leave", "li", "--from", "2026-01-09", "--to", "2026-01-05",
        "--actor", "hr1", "--db", db,
    )  # fmt: skip
    assert done.exit_code == Exit.USAGE
    assert "E-STAFF-DATES" in done.stderr
    assert "早于" in done.stderr
