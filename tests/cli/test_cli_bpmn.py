"""``cmc-workflow bpmn``: one workflow to stdout or a file, every workflow into a folder,
labels in either language, and what it refuses (exit codes of ``docs/cli.md``)."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from cmc_workflow.bpmn import to_bpmn
from cmc_workflow.definition.models import Workflow
from cmc_workflow.language import load_paths
from tests.helpers.cli import run_cli
from tests.helpers.processes import run

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "broken"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _definition(ident: str) -> Workflow:
    return load_paths([ROOT / "workflows"], across=False).workflows[ident].definition


def test_one_workflow_goes_to_stdout_in_chinese_by_default() -> None:
    done = run_cli("bpmn", "publishing", cwd=ROOT)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == to_bpmn(_definition("publishing"))
    process = ET.fromstring(done.stdout).find(f"{BPMN}process")
    assert process is not None
    assert process.get("name") == "内容选题与发布"


def test_english_labels_on_request_and_a_file_by_path(tmp_path: Path) -> None:
    done = run_cli("bpmn", str(ROOT / "workflows" / "faults.yaml"), "--lang", "en", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    process = ET.fromstring(done.stdout).find(f"{BPMN}process")
    assert process is not None
    assert process.get("name") == _definition("faults").label.en


def test_output_writes_the_file_and_says_so_twice_differently(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "publishing.bpmn"
    first = run_cli("bpmn", "publishing", "-o", str(out), cwd=ROOT)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == f"wrote {out} | 已写出：{out}\n"  # the locale names no language
    assert out.read_text(encoding="utf-8") == to_bpmn(_definition("publishing"))
    again = run_cli("bpmn", "publishing", "-o", str(out), cwd=ROOT)
    assert again.stdout == f"unchanged {out} | 未变：{out}\n"


def test_all_exports_every_workflow_into_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "bpmn"
    done = run_cli("bpmn", "--all", str(folder), "--workflows", str(ROOT / "workflows"))
    assert done.exit_code == 0, done.stderr
    ids = sorted(load_paths([ROOT / "workflows"], across=False).workflows)
    assert sorted(p.stem for p in folder.iterdir()) == ids
    assert len(ids) > 15
    assert done.stdout.count("wrote ") == len(ids)
    for ident in ids:
        root = ET.parse(folder / f"{ident}.bpmn").getroot()
        process = root.find(f"{BPMN}process")
        assert process is not None
        assert process.get("id") == ident


def test_a_broken_definition_prints_its_located_problems_and_writes_nothing(
    tmp_path: Path,
) -> None:
    shutil.copy(BROKEN / "unknown_state.yaml", tmp_path / "unknown_state.yaml")
    single = run_cli("bpmn", "unknown_state.yaml", cwd=tmp_path)
    assert single.exit_code == 1
    assert single.stdout == ""
    assert "unknown_state.yaml:" in single.stderr
    assert "E-UNKNOWN-STATE" in single.stderr
    out = tmp_path / "out"
    every = run_cli("bpmn", "--all", str(out), "--workflows", str(tmp_path), cwd=tmp_path)
    assert every.exit_code == 1
    assert "E-UNKNOWN-STATE" in every.stderr
    assert not out.exists()


def test_warnings_are_said_and_the_export_goes_on(tmp_path: Path) -> None:
    text = (ROOT / "workflows" / "faults.yaml").read_text(encoding="utf-8")
    marked = text.replace("label: {zh: 故障处理,", "label: {zh: “故障处理”,", 1)
    assert marked != text
    (tmp_path / "faults.yaml").write_text(marked, encoding="utf-8")
    out = tmp_path / "out"
    done = run_cli("bpmn", "--all", str(out), "--workflows", str(tmp_path), cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert "W-FULLWIDTH-QUOTE" in done.stderr
    process = ET.parse(out / "faults.bpmn").getroot().find(f"{BPMN}process")
    assert process is not None
    assert process.get("name") == "“故障处理”"


def test_the_command_line_must_name_one_thing_to_export(tmp_path: Path) -> None:
    neither = run_cli("bpmn", cwd=ROOT)
    assert neither.exit_code == 2
    assert "give WORKFLOW or --all DIR" in neither.stderr
    assert "请给出" in neither.stderr
    both = run_cli("bpmn", "publishing", "--all", str(tmp_path), cwd=ROOT)
    assert both.exit_code == 2
    output_with_all = run_cli("bpmn", "--all", str(tmp_path), "-o", "x.bpmn", cwd=ROOT)
    assert output_with_all.exit_code == 2
    assert "-o/--output exports one WORKFLOW" in output_with_all.stderr
    unknown = run_cli("bpmn", "no_such_workflow", cwd=ROOT)
    assert unknown.exit_code == 2
    assert "no workflow 'no_such_workflow'" in unknown.stderr
    assert list(tmp_path.iterdir()) == []


_PROBE = """\
import json, sys
try:
    from cmc_workflow.cli import main
    main(["bpmn", "publishing", "-o", sys.argv[1]], prog_name="cmc-workflow")
finally:
    print(json.dumps(sorted(sys.modules)))
"""


def test_the_export_loads_no_database_engine_nor_scheduler(tmp_path: Path) -> None:
    """The export is a pure function of the definition: like ``validate``, it opens no
    database and fires nothing."""
    out = tmp_path / "publishing.bpmn"
    done = run([sys.executable, "-c", _PROBE, str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.splitlines()[-1])
    heavy = ("sqlalchemy", "alembic", "apscheduler", "psycopg", "transitions", "lxml")
    ours = ("cmc_workflow.engine", "cmc_workflow.store", "cmc_workflow.runner")
    loaded = [m for m in modules if m.split(".")[0] in heavy or m.startswith(ours)]
    assert loaded == []
    assert "cmc_workflow.bpmn.writer" in modules
    assert out.is_file()
