"""What the command line loads before it answers, pinned without timing anything.

- the table of commands (:data:`cmc_workflow.cli.COMMANDS`) names every command of every
  command module, and ``--help`` still lists them all;
- ``cmc-workflow validate`` and ``import cmc_workflow.cli``, in fresh processes, load no
  database, engine or scheduler code (the measured cost is in ``benchmarks/startup.py``);
- the bundled definitions are composed by libyaml where PyYAML has it, and without
  libyaml ``validate`` prints exactly the same thing.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any

import click
import pytest

import cmc_workflow.cli
from cmc_workflow import located
from cmc_workflow.cli import COMMANDS, load_command
from cmc_workflow.language import load_paths
from tests.helpers.cli import run_cli
from tests.helpers.processes import run

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = [str(ROOT / "workflows"), str(ROOT / "policies")]
BROKEN = ROOT / "tests" / "broken"

NOT_FOR_VALIDATE = (
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "psycopg",
    "transitions",
    "cmc_workflow.engine",
    "cmc_workflow.store",
    "cmc_workflow.runner",
    "cmc_workflow.schemas",
    "cmc_workflow.notify.config",
    "cmc_workflow.migration.plan",
    "structlog",
    "asyncio",
)
"""What ``validate`` must not load: it opens no database and fires no transition; nor
the JSON Schemas, nor the models of a kind of file it is not given (the bundle has no
notifications file nor migration plan); nor structlog (and its ``asyncio``), since it
logs nothing: the command line's logging is configured by the first event that passes."""

NOT_FOR_IMPORT = ("sqlalchemy", "alembic", "apscheduler", "psycopg", "cmc_workflow.engine")
"""What importing the command line's entry module must not load."""

_PROBE = """\
import gc, json, sys
out = sys.argv.pop(1)
if sys.argv.pop(1) == "no-libyaml":
    sys.modules["yaml._yaml"] = None  # as if PyYAML had been built without libyaml
try:
    from cmc_workflow.cli import main
    main(prog_name="cmc-workflow")
finally:
    from cmc_workflow import i18n, located
    with open(out, "w", encoding="utf-8") as file:
        probe = {"modules": sorted(sys.modules), "libyaml": located.C_LOADER}
        probe["catalogue"] = i18n._catalogue is not None  # read on the first message
        json.dump({**probe, "frozen": gc.get_freeze_count()}, file)
"""


def _loaded(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]


def _cli(
    tmp_path: Path, *args: str, libyaml: bool = True, env: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """``cmc-workflow ARGS`` in a fresh interpreter: the finished process, and what it
    had imported when the command ended."""
    out = tmp_path / "probe.json"
    done = run(
        [sys.executable, "-c", _PROBE, str(out), "libyaml" if libyaml else "no-libyaml", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    return done, json.loads(out.read_text(encoding="utf-8"))


# -- the table of commands ---------------------------------------------------------------------
def _modules_with_commands() -> dict[str, list[click.Command]]:
    found = {}
    for info in pkgutil.iter_modules(cmc_workflow.cli.__path__):
        module = importlib.import_module(f"cmc_workflow.cli.{info.name}")
        if hasattr(module, "COMMANDS"):
            found[info.name] = list(module.COMMANDS)
    return found


def test_the_table_names_every_command_of_every_command_module() -> None:
    declared = {c.name: name for name, cs in _modules_with_commands().items() for c in cs}
    assert declared == COMMANDS
    for command_name, module in COMMANDS.items():
        command = load_command(command_name)
        assert command.name == command_name
        assert command.callback is not None
        assert command.callback.__module__.startswith(f"cmc_workflow.cli.{module}")


def test_the_schema_command_offers_every_schema() -> None:
    from cmc_workflow.cli.definitions import SCHEMA_KINDS
    from cmc_workflow.schemas import SCHEMAS

    assert list(SCHEMA_KINDS) == sorted(SCHEMAS)
    assert run_cli("schema", "--kind", "notifications").exit_code == 0


def test_help_lists_every_command_and_an_unknown_one_is_refused() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:\n", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ")]
    assert names == sorted(COMMANDS)
    unknown = run_cli("valdate", "workflows")
    assert unknown.exit_code == 2
    assert "No such command 'valdate'" in unknown.stderr


# -- what a fresh process loads ----------------------------------------------------------------
def test_validate_loads_no_database_engine_nor_scheduler(tmp_path: Path) -> None:
    done, probe = _cli(tmp_path, "validate", *BUNDLE)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert _loaded(probe["modules"], NOT_FOR_VALIDATE) == []
    assert "cmc_workflow.cli.definitions" in probe["modules"]
    assert "cmc_workflow.cli.items" not in probe["modules"]  # only the command's module


def test_a_clean_validate_reads_no_catalogue_and_a_problem_reads_it(tmp_path: Path) -> None:
    """The message catalogue is read on the first message (a few ms): a bundle without
    problems never pays for it, in a Chinese locale too."""
    chinese = {**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LANGUAGE": ""}
    done, probe = _cli(tmp_path, "validate", *BUNDLE, env=chinese)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert probe["catalogue"] is False
    broken = tmp_path / "wf.yaml"
    broken.write_text("id\uff1a x\n", encoding="utf-8")
    done, probe = _cli(tmp_path, "validate", str(broken), env=chinese)
    assert done.returncode == 1
    assert "E-FULLWIDTH-COLON 键“id”" in done.stdout  # the Chinese, from the catalogue
    assert probe["catalogue"] is True


def test_the_console_script_hides_its_objects_from_the_collector_at_exit(
    tmp_path: Path,
) -> None:
    """The process ends with the command: the interpreter's shutdown need not walk every
    object the imports made (it took 0.1-0.4 s). In-process runs are left alone."""
    done, probe = _cli(tmp_path, "schema")
    assert done.returncode == 0, done.stderr
    assert probe["frozen"] > 10_000
    assert run_cli("schema").exit_code == 0
    assert gc.get_freeze_count() == 0


def test_importing_the_command_line_loads_no_database_nor_engine(tmp_path: Path) -> None:
    code = "import sys, json, cmc_workflow.cli; print(json.dumps(sorted(sys.modules)))"
    done = run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _loaded(json.loads(done.stdout), NOT_FOR_IMPORT) == []


def test_a_database_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The probe sees imports: the engine's modules arrive with a command that opens it."""
    url = f"sqlite:///{tmp_path / 'cmc.db'}"
    done, probe = _cli(tmp_path, "db", "upgrade", "--db", url)
    assert done.returncode == 0, done.stderr
    assert _loaded(probe["modules"], ("sqlalchemy", "alembic")) != []


# -- libyaml -----------------------------------------------------------------------------------
def test_the_bundle_is_composed_by_libyaml_where_pyyaml_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not located.C_LOADER:
        pytest.skip("PyYAML was built without libyaml")

    def pure(text: str, file: str) -> object:
        raise AssertionError(f"{file} was composed in Python")

    monkeypatch.setattr(located, "compose_pure", pure)
    located.forget_parsed()  # parsed by earlier tests of this process: compose them again
    loaded = load_paths(BUNDLE)
    assert loaded.problems == []
    assert len(loaded.workflows) > 15


def test_without_libyaml_validate_prints_the_same_problems(tmp_path: Path) -> None:
    with_c, probe_c = _cli(tmp_path, "validate", str(BROKEN), *BUNDLE)
    without, probe = _cli(tmp_path, "validate", str(BROKEN), *BUNDLE, libyaml=False)
    assert probe["libyaml"] is False
    assert "yaml.cyaml" not in probe["modules"]
    assert probe_c["libyaml"] is located.C_LOADER
    assert with_c.returncode == without.returncode == 1
    assert without.stdout == with_c.stdout
    assert without.stdout.count("\n") > 50
    assert "Traceback" not in without.stderr
