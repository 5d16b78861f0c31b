"""The operator CLI: JSON outputs, exit codes, clean stdout.

Each test runs ``cmc-workflow`` in-process (:func:`tests.helpers.cli.run_cli`) in a
temporary working directory against a SQLite file and, when ``CMC_TEST_POSTGRES_URL`` is
set, PostgreSQL (the shared ``db_url`` fixture). Exit codes: 0 done, 1 definition
problems, 2 refused or malformed, 3 database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow.calendar import CalendarSettings, WorkingCalendar
from cmc_workflow.clocks import Clocks
from cmc_workflow.engine import Engine
from cmc_workflow.store import schema
from tests.helpers import ROOT, UNGUARDED_PUBLISHING
from tests.helpers.cli import run_cli
from tests.helpers.databases import PG_ENV, postgres_admin_url, postgres_database

PUBLISHING = UNGUARDED_PUBLISHING  # only what the tests walk: fewer files to load

LEAD = ["--actor", "li", "--role", "channel_lead"]
EDITOR = ["--actor", "wang", "--role", "editor"]
PROPOSAL = {"title": "秋季读书节", "outline": "三场讲座与一次书展", "channels": ["pc", "wechat"]}


@dataclass(frozen=True)
class Run:
    """One finished CLI process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as exactly one JSON document."""
        return json.loads(self.out)


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """Run ``cmc-workflow ARGS`` in an empty working directory."""
    work = tmp_path / "cwd"
    work.mkdir()

    def run(*args: str, db: str | None = None, stdin: str | None = None) -> Run:
        done = run_cli(*args, *(["--db", db] if db is not None else []), cwd=work, stdin=stdin)
        return Run(done.exit_code, done.stdout, done.stderr)

    return run


def _item_args(*args: str) -> list[str]:
    return [*args, "--workflows", str(PUBLISHING), "--json"]


@pytest.mark.req("PUB-1", "PUB-2", "PUB-3")
def test_walk_start_approve_assign(cli: Any, db_url: str, tmp_path: Path) -> None:
    form = tmp_path / "proposal.json"
    form.write_text(json.dumps(PROPOSAL, ensure_ascii=False), encoding="utf-8")
    started = cli(*_item_args("start", "publishing", *EDITOR, "--data-file", str(form)), db=db_url)
    assert started.code == 0, started.err
    item = started.json()
    item_id = str(item["id"])
    assert (item["state"], item["version"], item["is_open"]) == ("proposed", 1, True)
    assert item["data"] == PROPOSAL
    assert item["created_by"] == "wang"
    assert dt.datetime.fromisoformat(item["created_at"]).utcoffset() == dt.timedelta(0)

    approved = cli(*_item_args("fire", item_id, "approve", *LEAD), db=db_url)
    assert approved.code == 0, approved.err
    assert (approved.json()["state"], approved.json()["version"]) == ("selected", 2)

    assignment = json.dumps({"assignees": ["wang"], "due_date": "2025-10-10"})
    assigned = cli(
        *_item_args("fire", item_id, "assign", *LEAD, "--data", assignment),
        "--expected-version",
        "2",
        db=db_url,
    )
    assert assigned.code == 0, assigned.err
    after = assigned.json()
    assert (after["state"], after["state_label"], after["version"]) == ("assigned", "已派发", 3)
    assert after["state_label_en"] == "Assigned"
    assert after["data"]["assignees"] == ["wang"]

    shown = cli(*_item_args("show", item_id), db=db_url)
    assert shown.code == 0, shown.err
    assert shown.json() == after

    history = cli(*_item_args("history", item_id), db=db_url).json()
    assert [h["seq"] for h in history] == [1, 2, 3]
    assert [(h["trigger"], h["to_state"], h["actor"]) for h in history] == [
        (None, "proposed", "wang"),
        ("approve", "selected", "li"),
        ("assign", "assigned", "li"),
    ]
    assert history[2]["roles"] == ["channel_lead"]
    assert history[2]["form"] == {"assignees": ["wang"], "due_date": "2025-10-10"}

    inbox = cli(*_item_args("inbox", "--actor", "wang", "--role", "editor"), db=db_url).json()
    assert int(item_id) in [i["id"] for i in inbox]

    allowed = cli(*_item_args("allowed", item_id, "--actor", "wang", "--role", "editor"), db=db_url)
    verdicts = {a["trigger"]: a for a in allowed.json()}
    assert verdicts["accept"]["allowed"] is True
    assert verdicts["reassign"]["allowed"] is False
    assert verdicts["reassign"]["rules"] == ["NotPermitted"]

    versions = cli(*_item_args("versions", "publishing"), db=db_url).json()
    assert [v["current"] for v in versions][-1] is True
    assert versions[-1]["open_items"] >= 1
    assert len(versions[-1]["content_hash"]) == 64

    # the CLI's engine carries the daemon's SLA clocks: entering a state with a deadline
    # started its clock in the command's transaction, leaving the state stopped it
    clocks = Clocks(WorkingCalendar(CalendarSettings()))
    with Engine.open(db_url, workflows=PUBLISHING, extensions=[clocks]) as engine:
        views = clocks.clocks(int(item_id), now=engine.clock())
    assert [(v.state, v.stopped, v.within) for v in views] == [
        ("proposed", True, "3 working days"),
        ("assigned", False, "1 working day"),
    ]


@pytest.mark.req("PUB-2", "SEC-1")
def test_refused_commands_exit_2_and_name_the_rule(cli: Any, db_url: str) -> None:
    item = cli(
        *_item_args("start", "publishing", *EDITOR, "--data", json.dumps(PROPOSAL)), db=db_url
    ).json()
    item_id = str(item["id"])

    refused = cli(*_item_args("fire", item_id, "approve", *EDITOR), db=db_url)
    assert refused.code == 2
    assert "refused (NotPermitted)" in refused.err
    assert "channel_lead" in refused.err
    error = refused.json()["error"]
    assert (error["rule"], error["item_id"], error["trigger"]) == (
        "NotPermitted",
        item_id,
        "approve",
    )

    stale = cli(
        *_item_args("fire", item_id, "approve", *LEAD, "--expected-version", "7"), db=db_url
    )
    assert stale.code == 2
    assert stale.json()["error"]["rule"] == "ConflictError"
    assert "not 7" in stale.err

    bad_form = cli(*_item_args("fire", item_id, "return", *LEAD, "--data", "{}"), db=db_url)
    assert bad_form.code == 2
    assert bad_form.json()["error"]["fields"].keys() == {"reason"}

    with Engine.open(db_url, workflows=PUBLISHING) as engine:
        assert engine.get(int(item_id)).version == 1  # nothing moved
        trail = engine.audit_trail(int(item_id))
    assert [(a["outcome"], a["rule"]) for a in trail] == [
        ("accepted", None),
        ("refused", "NotPermitted"),
        ("refused", "ConflictError"),
        ("refused", "FormInvalid"),
    ]


def test_unknown_item_exits_2(cli: Any, db_url: str) -> None:
    fired = cli("fire", "987654", "approve", *LEAD, "--json", db=db_url)
    assert fired.code == 2
    assert fired.json()["error"]["type"] == "ItemNotFound"
    # the test's locale (C) names no language: both, English first (docs/translations.md)
    assert fired.err.strip() == (
        "refused (ItemNotFound): no item 987654\n已拒绝（ItemNotFound）：没有事项 987654"
    )


def test_bad_data_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    broken = cli(*_item_args("start", "publishing", *EDITOR, "--data", '{"title": '), db=db)
    assert (broken.code, broken.out) == (2, "")
    assert "--data" in broken.err
    assert "not valid JSON" in broken.err
    listed = cli(*_item_args("start", "publishing", *EDITOR, "--data", "[1, 2]"), db=db)
    assert listed.code == 2
    assert "must be a JSON object" in listed.err
    fax = json.dumps({**PROPOSAL, "channels": ["fax"]})
    invalid = cli(*_item_args("start", "publishing", *EDITOR, "--data", fax), db=db)
    assert invalid.code == 2
    assert "channels" in invalid.json()["error"]["fields"]
    piped = cli(
        *_item_args("start", "publishing", *EDITOR, "--data-file", "-"),
        db=db,
        stdin=json.dumps(PROPOSAL),
    )
    assert piped.code == 0, piped.err
    assert piped.json()["data"]["title"] == PROPOSAL["title"]


def test_definition_problems_exit_1_with_places(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(ROOT / "tests" / "broken" / "bad_id.yaml", folder / "mini.yaml")
    done = cli(
        "start", "mini", *EDITOR, "--workflows", str(folder), db=f"sqlite:///{tmp_path}/x.db"
    )
    assert done.code == 1
    assert re.search(r"mini\.yaml:9:3: E-BAD-ID", done.err), done.err


def test_database_errors_exit_3(cli: Any, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    done = cli("show", "1", "--json", db=missing)
    assert done.code == 3
    assert done.err.startswith("database error:")
    assert done.json()["error"]["exit_code"] == 3


def test_logs_go_to_stderr_only(cli: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cmc.db'}"
    args = _item_args("start", "publishing", *EDITOR, "--data", json.dumps(PROPOSAL))
    done = cli(*args, "--log-level", "info", db=db)
    assert done.code == 0, done.err
    assert done.json()["state"] == "proposed"  # stdout is one clean JSON document
    events = [json.loads(line)["event"] for line in done.err.splitlines()]
    assert "item_started" in events


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any schema: a new SQLite file, or a throw-away PostgreSQL one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    with postgres_database(admin_url, "cmc_cli") as url:
        yield url


def test_db_upgrade_and_current(cli: Any, empty_db: str) -> None:
    head = schema.head_revision()
    before = cli("db", "current", "--json", db=empty_db)
    if empty_db.startswith("sqlite"):  # not created by asking; a new file migrates itself
        assert before.code == 3
        assert "no database file" in before.err
    else:
        assert before.code == 0, before.err
        assert before.json() == {"current": None, "head": head, "up_to_date": False}
        refused = cli("show", "1", db=empty_db)
        assert refused.code == 3
        assert "cmc-workflow db upgrade" in refused.err

    upgraded = cli("db", "upgrade", db=empty_db)
    assert upgraded.code == 0, upgraded.err
    assert upgraded.out.strip() == f"(empty) -> {head}"
    again = cli("db", "upgrade", "--json", db=empty_db)
    assert again.json() == {"from": head, "to": head, "changed": False}
    assert cli("db", "current", db=empty_db).out.strip() == f"{head} (head)"
