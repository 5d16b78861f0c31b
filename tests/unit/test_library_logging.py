"""The library is quiet in a host that configured no logging (issue 17: 21 info lines on
stdout at every ``Engine.open``), reaches a host's standard ``logging`` when it has one,
and structlog's configuration when the host (or the command line) made one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

OPEN = """
import sys
{setup}
from cmc_workflow import Engine
with Engine.open(sys.argv[1], workflows={workflows!r}, policies={policies!r}):
    pass
"""


def _open_in_a_host(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    script = OPEN.format(
        setup=setup, workflows=str(ROOT / "workflows"), policies=str(ROOT / "policies")
    )
    return subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'host.db'}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


def test_an_unconfigured_host_hears_nothing_of_an_ordinary_open(tmp_path: Path) -> None:
    done = _open_in_a_host(tmp_path, "")
    assert done.stdout == ""
    assert done.stderr == ""


def test_a_host_with_standard_logging_gets_the_events_under_the_librarys_names(
    tmp_path: Path,
) -> None:
    setup = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')"
    )
    done = _open_in_a_host(tmp_path, setup)
    lines = [line for line in done.stdout.splitlines() if "workflow_loaded" in line]
    assert len(lines) >= 20, done.stdout
    assert all(line.startswith("cmc_workflow.registry event='workflow_loaded'") for line in lines)
    assert done.stderr == ""


def test_a_host_that_configured_structlog_gets_the_events_through_it(tmp_path: Path) -> None:
    setup = (
        "import structlog\n"
        "structlog.configure(processors=[structlog.processors.JSONRenderer()],"
        " logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))"
    )
    done = _open_in_a_host(tmp_path, setup)
    assert done.stdout == ""
    assert '"event": "workflow_loaded"' in done.stderr
