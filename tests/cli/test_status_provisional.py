"""``status`` says when a schedule's next run falls in a year without calendar data
(issue 17: the next monthly review was listed on a 2027 date with no word that 2027 has
no official arrangement yet)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cmc_workflow import Engine
from cmc_workflow.cli import main

TASK = """\
id: task
label: {zh: 待办事项, en: Task}
roles:
  clerk: {zh: 办事员, en: Clerk}
start: {state: open, roles: [clerk]}
states:
  open:
    type: userTask
    label: {zh: 待办, en: Open}
    transitions:
      - {trigger: close, target: closed, roles: [clerk]}
  closed:
    type: endEvent
    label: {zh: 已办结, en: Closed}
"""

SCHEDULES = """\
kind: schedules
schedules:
  daily:
    workflow: task
    cron: "0 9 * * *"
    role: clerk
  far:
    workflow: task
    every: 12 months
    from: 2031-01-06
    role: clerk
"""


def test_a_next_run_in_a_year_without_data_is_marked_provisional(tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "task.yaml").write_text(TASK, encoding="utf-8")
    (folder / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    Engine.open(url, workflows=folder).close()
    runner = CliRunner()

    done = runner.invoke(main, ["status", "--db", url, "--workflows", str(folder), "--json"])
    assert done.exit_code == 0, done.output
    found = {s["schedule"]: s for s in json.loads(done.stdout)["schedules"]}
    assert found["far"]["next_due"].startswith("2031-01-06")
    assert found["far"]["next_provisional"] is True
    assert found["daily"]["next_provisional"] is False  # tomorrow: this year's data

    done = runner.invoke(main, ["status", "--db", url, "--workflows", str(folder)])
    assert done.exit_code == 0, done.output
    [far] = [line for line in done.stdout.splitlines() if line.startswith("far ")]
    assert far.endswith("(provisional / 暂定)")
    assert "provisional: 2031 has neither official data nor a calendars/ file" in done.stdout
    assert "暂定：2031 年既无官方数据" in done.stdout
