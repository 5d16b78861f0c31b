"""Run ``cmc-workflow`` in-process, the way the console script runs it.

Most CLI tests check what a command prints and how it exits, not that a child process
starts: :func:`run_cli` invokes the click group with :class:`click.testing.CliRunner` in
a given working directory, without the test process's ``CMC_`` variables, and returns
the exit code, stdout and stderr apart. A few tests still launch the real program
(the console script, ``run`` and SIGTERM, an argument that is not UTF-8).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cmc_workflow.cli import main


@dataclass(frozen=True)
class Result:
    """One finished command: its exit code, stdout and stderr."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def returncode(self) -> int:
        """The exit code, under the name :class:`subprocess.CompletedProcess` gives it."""
        return self.exit_code

    def json(self) -> Any:
        """stdout parsed as exactly one JSON document."""
        return json.loads(self.stdout)


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Result:
    """``cmc-workflow ARGS`` run in-process in ``cwd`` (default: the current directory),
    with ``stdin`` as its standard input and no ``CMC_`` variable set."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CMC_")}
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        done = CliRunner().invoke(
            main,
            list(args),
            input=stdin,
            env=unset,
            prog_name="cmc-workflow",
            catch_exceptions=False,
        )
    return Result(done.exit_code, done.stdout, done.stderr)
