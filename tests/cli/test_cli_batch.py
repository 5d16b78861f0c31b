"""``cmc-workflow start-many`` (the reader-message intake) and ``fire-many``: JSON lines in,
one outcome per line out, exit 0 / 2 / 3 as every item command.

Run in-process (:func:`tests.helpers.cli.run_cli`) against SQLite and, when
``CMC_TEST_POSTGRES_URL`` is set, PostgreSQL, with the bundled comments workflow and the
bundled policies (the assistant needs a passed post-basics record: TRN-3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Actor, Engine
from cmc_workflow.engine import batch
from tests.helpers import POLICIES, WORKFLOWS
from tests.helpers.cli import Result, run_cli
from tests.helpers.records import train_staff

DEFINITIONS = ["--workflows", str(WORKFLOWS), "--policies", str(POLICIES)]
ASSISTANT = ["--actor", "li", "--role", "ops_assistant"]


def message(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "channel": "weibo",
        "reader": f"reader_{n}",
        "text": f"第 {n} 条留言",
        "received_at": "2025-09-26T15:00+08:00",
        **changes,
    }


def lines(*objects: Any) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


@dataclass(frozen=True)
class Cli:
    """``cmc-workflow ARGS`` with the bundled definitions on ``db``."""

    db: str
    work: Path

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return run_cli(*args, *DEFINITIONS, "--db", self.db, cwd=self.work, stdin=stdin)


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    """The command line on the test's database, the assistant trained."""
    with Engine.open(db_url, workflows=WORKFLOWS, policies=POLICIES) as engine:
        train_staff(engine, Actor("li", {"ops_assistant"}), valid_until="2099-12-31")
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(db_url, work)


@pytest.mark.req("CMT-1")
def test_start_many_registers_every_line_and_reports_each(cli: Cli, tmp_path: Path) -> None:
    intake = tmp_path / "burst.jsonl"
    intake.write_text(lines(message(1), message(2)) + "\n" + lines(message(3)), encoding="utf-8")

    done = cli("start-many", "comments", "--file", str(intake), *ASSISTANT, "--json")

    assert done.exit_code == 0, done.stderr
    report = done.json()
    assert (report["accepted"], report["refused"]) == (3, 0)
    assert [r["line"] for r in report["results"]] == [1, 2, 4]  # the blank line is skipped
    assert [r["item"]["state"] for r in report["results"]] == ["classify"] * 3

    table = cli("start-many", "comments", "--file", str(intake), *ASSISTANT)
    assert table.exit_code == 0
    assert "留言分类 (classify)" in table.stdout
    assert "3 accepted, 0 refused | 已接受 3 行，已拒绝 0 行" in table.stdout


@pytest.mark.req("CMT-1", "SEC-1")
def test_a_refused_line_exits_2_and_the_others_are_committed(cli: Cli) -> None:
    done = cli(
        "start-many",
        "comments",
        "--file",
        "-",
        *ASSISTANT,
        "--json",
        stdin=lines(message(1), message(2, channel="fax"), message(3)),
    )

    assert done.exit_code == 2
    report = done.json()
    assert (report["accepted"], report["refused"]) == (2, 1)
    refused = report["results"][1]
    assert (refused["line"], refused["accepted"]) == (2, False)
    assert refused["refusal"]["error"] == "FormInvalid"
    assert "1 行被拒绝；其余各行已提交" in done.stderr
    ids = [r["item"]["id"] for r in report["results"] if r["accepted"]]
    for item_id in ids:
        assert cli("show", str(item_id), "--json").json()["state"] == "classify"

    verify = run_cli("audit", "verify", "--db", cli.db)
    assert verify.exit_code == 0, verify.stdout


@pytest.mark.req("CMT-1", "CMT-2")
def test_fire_many_classifies_a_burst_in_file_order(cli: Cli) -> None:
    started = cli(
        "start-many",
        "comments",
        "--file",
        "-",
        *ASSISTANT,
        "--json",
        stdin=lines(message(1), message(2)),
    ).json()
    first, second = (r["item"]["id"] for r in started["results"])
    commands = lines(
        {"item": first, "trigger": "classify", "data": {"category": "consultation"}},
        {"item": first, "trigger": "reply", "data": {"reply": "正常开放"}},
        {"item": second, "trigger": "close"},
    )

    done = cli("fire-many", "--file", "-", *ASSISTANT, stdin=commands)

    assert done.exit_code == 2  # the third line: close is not possible in classify
    assert "InvalidTrigger" in done.stdout
    assert "已答复 (answered)" in done.stdout
    assert cli("show", str(first), "--json").json()["state"] == "answered"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"item": 1, "trigger": "classify"}\nnot json\n', "line 2"),
        ('{"item": "one", "trigger": "classify"}\n', "line 1"),
        ('{"item": 1, "trigger": "classify", "actor": "root"}\n', "line 1"),
    ],
)
def test_a_malformed_line_is_a_usage_error_and_nothing_runs(
    cli: Cli, text: str, named: str
) -> None:
    done = cli("fire-many", "--file", "-", *ASSISTANT, stdin=text)
    assert done.exit_code == 2
    assert named in done.stderr
    assert "accepted" not in done.stdout


def test_a_long_file_goes_in_batches_of_the_bound(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "MAX_BATCH", 2)
    monkeypatch.setattr("cmc_workflow.cli.batch.MAX_BATCH", 2)
    done = cli(
        "start-many",
        "comments",
        "--file",
        "-",
        *ASSISTANT,
        "--json",
        stdin=lines(*(message(n) for n in range(5))),
    )
    assert done.exit_code == 0, done.stderr
    report = done.json()
    assert [r["line"] for r in report["results"]] == [1, 2, 3, 4, 5]
    ids = [r["item"]["id"] for r in report["results"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
