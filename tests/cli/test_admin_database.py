"""Clear database errors (issue 17): a PostgreSQL address without the driver names the
extra to install, ``mysql://`` says it is not supported, the daemon exits with the
database code (3), and read-only commands never create a database at a mistyped path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cmc_workflow.exits import Exit
from tests.helpers.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgresql://postgres@127.0.0.1:5432/cmc_absent"


@pytest.fixture
def no_psycopg(tmp_path: Path) -> dict[str, str]:
    """The environment of a process in which ``import psycopg`` fails as it does where
    the ``postgres`` extra was not installed (the README's plain install)."""
    shadow = tmp_path / "shadow" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), str(ROOT)])
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cmc_workflow", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [["show", "1"], ["status"], ["db", "upgrade"], ["run", "--once"]],
    ids=["show", "status", "db-upgrade", "daemon"],
)
def test_a_postgres_address_without_the_driver_names_the_extra(
    args: list[str], no_psycopg: dict[str, str], tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    done = _cli([*args, "--db", PG_URL], no_psycopg, tmp_path)
    assert done.returncode == Exit.DATABASE, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'cmc-workflow[postgres]'" in done.stderr
    assert "E-DB-DRIVER" in done.stderr


@pytest.mark.parametrize("args", [["show", "1"], ["status"], ["db", "upgrade"]])
def test_mysql_is_refused_as_unsupported(args: list[str], tmp_path: Path) -> None:
    done = run_cli(*args, "--db", "mysql://root@127.0.0.1/cmc", cwd=tmp_path)
    assert done.exit_code == Exit.DATABASE
    assert "E-DB-UNSUPPORTED" in done.stderr
    assert "postgresql://" in done.stderr


@pytest.mark.parametrize(
    "args",
    [["show", "1"], ["history", "1"], ["inbox", "--actor", "wang", "--role", "editor"], ["status"]],
    ids=["show", "history", "inbox", "status"],
)
def test_read_only_commands_never_create_a_database(args: list[str], tmp_path: Path) -> None:
    done = run_cli(*args, "--db", "sqlite:///typo.db", cwd=tmp_path)
    assert done.exit_code == Exit.DATABASE
    assert "typo.db" in done.stderr
    assert str(tmp_path / "typo.db") in done.stderr or "E-DB-MISSING" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_show_names_the_missing_path_in_both_languages(tmp_path: Path) -> None:
    done = run_cli("show", "1", "--db", "sqlite:///typo.db", "--json", cwd=tmp_path)
    assert done.exit_code == Exit.DATABASE
    assert "E-DB-MISSING" in done.stderr
    assert str(tmp_path / "typo.db") in done.stderr
    assert "不存在" in done.stderr
    assert done.json()["error"]["exit_code"] == Exit.DATABASE
